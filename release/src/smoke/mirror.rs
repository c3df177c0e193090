//! A loopback mirror of managed Python builds, for cells with no suitable Python (no
//! internet needed): a CPython archive in python-build-standalone's layout built from this
//! machine's interpreter (`scripts/standalone-python`), and the downloads list uv reads
//! (`KTX_PYTHON_DOWNLOADS_JSON`), served on 127.0.0.1 (cells run on the host network).

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

pub struct PythonMirror {
    /// What KTX_PYTHON_DOWNLOADS_JSON is set to in the cells.
    pub downloads_url: String,
}

impl PythonMirror {
    /// Build the archive under `out` (reused when present) and serve it until the process ends.
    pub fn start(repo: &Path, out: &Path) -> Result<PythonMirror> {
        let dir = out.join("python-mirror");
        if !dir.join("archive.json").is_file() {
            eprintln!("==> smoke: building a managed-Python archive from /usr/bin/python3");
            let st = std::process::Command::new("/usr/bin/python3")
                .arg(repo.join("scripts/standalone-python"))
                .arg(&dir)
                .stdout(std::process::Stdio::null())
                .status()
                .context("cannot run scripts/standalone-python")?;
            if !st.success() {
                bail!("scripts/standalone-python failed ({st})");
            }
        }
        let meta: Value = serde_json::from_slice(&std::fs::read(dir.join("archive.json"))?)?;
        let file = meta["file"].as_str().context("archive.json has no file")?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let base = format!("http://127.0.0.1:{port}");
        let key = format!(
            "cpython-{}.{}.{}-linux-{}-gnu",
            meta["major"],
            meta["minor"],
            meta["patch"],
            meta["arch"].as_str().unwrap_or("x86_64")
        );
        let list = json!({ key: {
            "name": "cpython",
            "arch": {"family": meta["arch"], "variant": null},
            "os": "linux",
            "libc": "gnu",
            "major": meta["major"],
            "minor": meta["minor"],
            "patch": meta["patch"],
            "prerelease": "",
            "url": format!("{base}/{file}"),
            "sha256": meta["sha256"],
            "variant": null,
        }});
        std::fs::write(
            dir.join("downloads.json"),
            serde_json::to_vec_pretty(&list)?,
        )?;
        std::thread::spawn(move || serve(listener, dir));
        Ok(PythonMirror {
            downloads_url: format!("{base}/downloads.json"),
        })
    }
}

/// GET of the files directly in `dir`; anything else is 404.
fn serve(listener: TcpListener, dir: PathBuf) {
    for stream in listener.incoming().flatten() {
        let dir = dir.clone();
        std::thread::spawn(move || {
            let Ok(clone) = stream.try_clone() else {
                return;
            };
            let mut reader = BufReader::new(clone);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                return;
            }
            let name = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let safe = !name.is_empty() && !name.contains('/') && !name.starts_with('.');
            let mut stream = stream;
            match std::fs::read(dir.join(&name)).ok().filter(|_| safe) {
                Some(body) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(&body);
                }
                None => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
            }
        });
    }
}
