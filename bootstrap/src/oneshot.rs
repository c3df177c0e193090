//! Running one Python operation: `ktx-daemon <op>` with a JSON request on stdin and a JSON
//! response on stdout. Exit 3 from ktx-daemon (a refused request) stays exit 3 here.
//!
//! ktx runs ktx-daemon as `<venv python> -m ktx_daemon`: no launcher script (uv's relocatable
//! ones call `dirname` and `realpath` from PATH), nothing looked up on PATH.

use crate::error::{Error, Result};
use crate::manifest::RuntimeManifest;
use crate::protocol::Op;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// The error object ktx-daemon writes on stdout when it fails.
fn error_message(stdout: &[u8]) -> Option<(String, String)> {
    let v: Value = serde_json::from_slice(stdout).ok()?;
    let e = v.get("error")?;
    Some((
        e.get("kind")?.as_str()?.to_string(),
        e.get("message")?.as_str()?.to_string(),
    ))
}

/// `<python> -m ktx_daemon`, as every ktx-daemon run starts. The venv is ktx's: what Python
/// compiles on first use is kept for the next run, even where PYTHONDONTWRITEBYTECODE is set.
pub fn ktx_daemon(python: &Path) -> Command {
    let mut cmd = Command::new(python);
    cmd.args(["-m", "ktx_daemon"])
        .env_remove("PYTHONDONTWRITEBYTECODE");
    cmd
}

/// Read a child's pipe to the end on a thread of its own.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Run `op` one-shot. The child is supervised (`process`): if ktx is interrupted or
/// terminated meanwhile, the op stops with it and ktx exits 130.
pub fn run(m: &RuntimeManifest, op: Op, request: &Value) -> Result<Value> {
    let mut cmd = ktx_daemon(Path::new(&m.python.executable));
    cmd.arg(op.name())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::process::supervise(&mut cmd);
    crate::process::guarded(|| run_child(cmd, op, request))
}

fn run_child(mut cmd: Command, op: Op, request: &Value) -> Result<Value> {
    let mut child = cmd.spawn().map_err(|e| {
        Error::other(
            format!("cannot run {:?} -m ktx_daemon: {e}", cmd.get_program()),
            "the runtime looks broken; run `ktx runtime doctor --fix`",
        )
    })?;
    let body = serde_json::to_vec(request).expect("serializable");
    let stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            // A daemon that exits early closes the pipe; its exit status tells the story.
            let _ = stdin.write_all(&body);
        }
    });
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = crate::process::wait(&mut child).map_err(|e| {
        Error::other(
            format!("ktx-daemon {op} did not finish: {e}"),
            "run `ktx runtime doctor`",
        )
    })?;
    let _ = writer.join();
    let out = std::process::Output {
        status: match status {
            Ok(s) => s,
            Err(_signal) => {
                return Err(Error::Interrupted {
                    state: format!("ktx-daemon {op} was stopped with it"),
                })
            }
        },
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    match out.status.code() {
        Some(0) => serde_json::from_slice(&out.stdout).map_err(|e| {
            Error::other(
                format!("ktx-daemon {op} printed something that is not JSON: {e}"),
                "run `ktx runtime doctor --fix`; if it persists, report it with KTX_DEBUG=1",
            )
        }),
        Some(3) => Err(Error::Rejected {
            message: error_message(&out.stdout)
                .map(|(_, m)| m)
                .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string()),
        }),
        code => {
            let detail = error_message(&out.stdout)
                .map(|(_, m)| m)
                .unwrap_or_else(|| last_line(&out.stderr));
            Err(Error::other(
                format!(
                    "ktx-daemon {op} failed (exit {}): {detail}",
                    code.map_or("signal".into(), |c| c.to_string())
                ),
                "set KTX_DEBUG=1 for the Python traceback, or run `ktx runtime doctor`",
            ))
        }
    }
}

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string()
}
