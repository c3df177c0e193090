//! Running one Python operation: `ktx-daemon <op>` with a JSON request on stdin and a JSON
//! response on stdout. Exit 3 from ktx-daemon (a refused request) stays exit 3 here.
//!
//! ktx runs ktx-daemon as `<venv python> -m ktx_daemon`: no launcher script (uv's relocatable
//! ones call `dirname` and `realpath` from PATH), nothing looked up on PATH.

use crate::error::{Error, Result};
use crate::manifest::RuntimeManifest;
use crate::paths::Layout;
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

/// `<python> -I -m ktx_daemon` from `dir`, as every ktx-daemon run starts (`isolation`: the
/// user's directory never reaches `sys.path`). The venv is ktx's: what Python compiles on first
/// use is kept for the next run.
pub fn ktx_daemon(python: &Path, dir: &Path) -> Command {
    crate::isolation::python(python, dir, ["-m", "ktx_daemon"])
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
pub fn run(layout: &Layout, m: &RuntimeManifest, op: Op, request: &Value) -> Result<Value> {
    let mut cmd = ktx_daemon(Path::new(&m.python.executable), &layout.version_dir());
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
        Some(1) if error_message(&out.stdout).is_none() && refused_ktx_style(&out.stderr) => {
            Err(Error::Rejected {
                message: one_line(&out.stderr),
            })
        }
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

/// KTX's own ktx-daemon exits 1 for every failure and tells them apart on stderr: a refused
/// request (ValueError, pydantic's ValidationError, bad JSON) is printed as its bare message,
/// anything else as `TypeName: message` (or a traceback). The first is our exit 3.
fn refused_ktx_style(stderr: &[u8]) -> bool {
    let text = String::from_utf8_lossy(stderr);
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return false;
    };
    if first.starts_with("Traceback ") {
        return false;
    }
    let typed = first.split_once(": ").is_some_and(|(name, _)| {
        let name = name.rsplit('.').next().unwrap_or(name);
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && ["Error", "Exception", "Exit", "Interrupt", "Warning"]
                .iter()
                .any(|s| name.ends_with(s))
    });
    !typed
}

/// A message of several lines as one (KTX's pydantic errors span three), at most 600 chars.
fn one_line(bytes: &[u8]) -> String {
    let joined = String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For further information visit"))
        .collect::<Vec<_>>()
        .join("; ");
    match joined.char_indices().nth(600) {
        Some((i, _)) => format!("{}...", &joined[..i]),
        None => joined,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ktx_style_failures_are_refusals_when_bare_and_internal_when_typed() {
        for refused in [
            "unknown measure 'orders.nope'\n",
            "1 validation error for SemanticLayerQueryRequest\nquery\n  Field required [type=missing]\n",
            "Expecting value: line 1 column 1 (char 0)\n",
        ] {
            assert!(refused_ktx_style(refused.as_bytes()), "{refused}");
        }
        for internal in [
            "KeyError: 'sources'\n",
            "sqlglot.errors.ParseError: bad\n",
            "Traceback (most recent call last):\n  File x\nValueError: y\n",
            "",
        ] {
            assert!(!refused_ktx_style(internal.as_bytes()), "{internal}");
        }
        assert_eq!(
            one_line(b"1 validation error for Q\nquery\n  Field required\nFor further information visit https://x\n"),
            "1 validation error for Q; query; Field required"
        );
    }
}
