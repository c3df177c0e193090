//! Talking to the daemon: one HTTP/1.1 request on 127.0.0.1 with the bearer token
//! (`Connection: close`, chunked bodies decoded), `/health` read into `Health`, and an op's
//! request (a 400 is a refusal: exit 3).

use super::DaemonState;
use crate::error::{Error, Result};
use serde_json::Value;
use std::io::{Read as _, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One HTTP/1.1 request to the daemon on 127.0.0.1; (status, body).
pub fn request(
    port: u16,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> std::io::Result<(u16, Vec<u8>)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let body = body.unwrap_or(b"");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf)?;
    parse_response(&buf)
}

/// (status, body) of a complete HTTP/1.1 response.
pub fn parse_response(buf: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP response"))?;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let mut payload = buf[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        payload = dechunk(&payload);
    }
    Ok((status, payload))
}

/// The body of a chunked transfer encoding (extensions ignored; stops at the last chunk or at
/// what is truncated).
pub fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&data[..pos]);
        let hex = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(hex, 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        let start = pos + 2;
        let end = (start + size).min(data.len());
        out.extend_from_slice(&data[start..end]);
        data = &data[(end + 2).min(data.len())..];
    }
    out
}

/// What `/health` says.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub pid: u32,
    pub version: String,
    pub wheel_sha256: String,
    pub features: Vec<String>,
    /// Where the daemon imported each of its top-level packages from (`modules`: package ->
    /// directory), the proof of which code it serves.
    pub modules: Vec<(String, std::path::PathBuf)>,
    pub body: Value,
}

/// How a `/health` request went.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// 200 with a body that names a pid: the daemon that holds our token.
    Answered(Health),
    /// Something answered, but not as our daemon (wrong token, not ktx-daemon).
    Stranger(String),
    /// Nothing answered in time (busy, stopped, or not listening).
    NoAnswer(String),
}

pub fn health(s: &DaemonState, timeout: Duration) -> Probe {
    match request(s.port, &s.token, "GET", "/health", None, timeout) {
        Err(e) => Probe::NoAnswer(e.to_string()),
        Ok((200, body)) => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let Some(pid) = v["pid"].as_u64() else {
                return Probe::Stranger(format!("port {} answered without a pid", s.port));
            };
            Probe::Answered(Health {
                pid: pid as u32,
                version: v["version"].as_str().unwrap_or_default().to_string(),
                wheel_sha256: v["wheelSha256"].as_str().unwrap_or_default().to_string(),
                features: v["features"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|f| f.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                modules: v["modules"]
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .filter_map(|(k, d)| Some((k.clone(), d.as_str()?.into())))
                            .collect()
                    })
                    .unwrap_or_default(),
                body: v,
            })
        }
        Ok((code, _)) => Probe::Stranger(format!("port {} answered HTTP {code}", s.port)),
    }
}

/// POST an op's request; `Ok(Err(why))` when the daemon did not answer it (the caller may run
/// the op one-shot), `Err` for a refusal (HTTP 400, exit 3) or an answer that is not JSON.
pub fn call(
    s: &DaemonState,
    path: &str,
    body: &Value,
    timeout: Duration,
) -> Result<std::result::Result<Value, String>> {
    let bytes = serde_json::to_vec(body).expect("serializable");
    match request(s.port, &s.token, "POST", path, Some(&bytes), timeout) {
        Ok((200, b)) => serde_json::from_slice(&b).map(Ok).map_err(|e| {
            Error::other(
                format!("the daemon answered {path} with invalid JSON: {e}"),
                "run `ktx runtime stop` and try again",
            )
        }),
        Ok((400, b)) => {
            let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
            Err(Error::Rejected {
                message: v["detail"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| String::from_utf8_lossy(&b).to_string()),
            })
        }
        Ok((code, b)) => Ok(Err(format!(
            "HTTP {code}: {}",
            String::from_utf8_lossy(&b)
                .chars()
                .take(200)
                .collect::<String>()
        ))),
        Err(e) => Ok(Err(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined_and_extensions_ignored() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n"),
            b"Wikipedia"
        );
        assert_eq!(dechunk(b"0\r\n\r\n"), b"");
        // Truncated: what arrived, no panic.
        assert_eq!(dechunk(b"a\r\nabc"), b"abc");
        assert_eq!(dechunk(b"zz\r\nabc\r\n"), b"");
    }

    #[test]
    fn responses_are_split_into_status_and_body() {
        let (code, body) =
            parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((code, body.as_slice()), (200, &b"{}"[..]));
        let (code, body) = parse_response(
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nno\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((code, body.as_slice()), (400, &b"no"[..]));
        assert!(parse_response(b"garbage").is_err());
    }
}
