//! HTTPS for ktx's own downloads (uv, index metadata): the system's CA roots or the bundle that
//! SSL_CERT_FILE names, plus NODE_EXTRA_CA_CERTS and npm's cafile (what npm users behind a
//! TLS-intercepting proxy already set); HTTPS_PROXY / HTTP_PROXY / ALL_PROXY with NO_PROXY; timeouts; retries with
//! backoff on transient failures.

use crate::error::{Error, Result};
use std::sync::Arc;
use std::time::Duration;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
const ATTEMPTS: u32 = 3;

fn add_pem_file(store: &mut rustls::RootCertStore, path: &std::ffi::OsStr) {
    if let Ok(bytes) = std::fs::read(path) {
        for cert in rustls_pemfile::certs(&mut bytes.as_slice()).flatten() {
            let _ = store.add(cert);
        }
    }
}

fn root_store() -> rustls::RootCertStore {
    let mut store = rustls::RootCertStore::empty();
    match std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
        Some(file) => add_pem_file(&mut store, &file),
        None => {
            if let Ok(certs) = rustls_native_certs::load_native_certs() {
                for cert in certs {
                    let _ = store.add(cert);
                }
            }
        }
    }
    // What npm users behind a TLS-intercepting proxy already set: Node's extra CAs, and npm's
    // `cafile` (npm passes its config to the programs npx runs as npm_config_* variables).
    for var in ["NODE_EXTRA_CA_CERTS", "npm_config_cafile"] {
        if let Some(extra) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            add_pem_file(&mut store, &extra);
        }
    }
    store
}

/// The system's CA roots as PEM text (empty when they cannot be read).
pub fn native_roots_pem() -> String {
    use base64::Engine;
    let Ok(certs) = rustls_native_certs::load_native_certs() else {
        return String::new();
    };
    let mut out = String::new();
    for cert in certs {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(root_store())
        .with_no_client_auth();
    Arc::new(config)
}

/// Whether NO_PROXY exempts `host` (exact, suffix `.example.com` / `example.com`, or `*`).
pub fn no_proxy_matches(no_proxy: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            let entry = entry.to_ascii_lowercase();
            let entry = entry.split(':').next().unwrap_or("");
            entry == "*"
                || host == entry.trim_start_matches('.')
                || host.ends_with(&format!(".{}", entry.trim_start_matches('.')))
        })
}

fn env_any(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

/// An agent for `url`: proxied unless NO_PROXY exempts its host.
pub fn agent_for(url: &str) -> Result<ureq::Agent> {
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?']).next())
        .map(|authority| authority.rsplit_once('@').map_or(authority, |(_, h)| h))
        .map(|h| {
            if h.starts_with('[') {
                h.split(']').next().unwrap_or(h).trim_start_matches('[')
            } else {
                h.split(':').next().unwrap_or(h)
            }
        })
        .unwrap_or("");
    let mut builder = ureq::AgentBuilder::new()
        .timeout_connect(CONNECT_TIMEOUT)
        .timeout_read(READ_TIMEOUT)
        .user_agent(&format!("ktx/{}", crate::VERSION))
        .tls_config(tls_config());
    let exempt = env_any(&["NO_PROXY", "no_proxy"]).is_some_and(|np| no_proxy_matches(&np, host));
    let proxy_var = if url.starts_with("https://") {
        env_any(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"])
    } else {
        env_any(&["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
    };
    if let (Some(proxy), false) = (proxy_var, exempt) {
        let proxy = ureq::Proxy::new(&proxy).map_err(|e| {
            Error::other(
                format!("the proxy {proxy} is not usable: {e}"),
                "fix HTTPS_PROXY / HTTP_PROXY (form: http://user:pass@host:port)",
            )
        })?;
        builder = builder.proxy(proxy);
    }
    Ok(builder.build())
}

/// Whether an error is worth another attempt (network trouble, 5xx, 429).
fn transient(err: &ureq::Error) -> bool {
    match err {
        ureq::Error::Status(code, _) => *code >= 500 || *code == 429,
        ureq::Error::Transport(t) => !matches!(
            t.kind(),
            ureq::ErrorKind::InvalidUrl
                | ureq::ErrorKind::UnknownScheme
                | ureq::ErrorKind::InvalidProxyUrl
        ),
    }
}

/// Why a GET failed: the server answered with an error status, or it could not be reached.
#[derive(Debug)]
pub enum FetchError {
    Status(u16),
    Network(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Status(code) => write!(f, "the server answered HTTP {code}"),
            FetchError::Network(msg) => write!(f, "{msg}"),
        }
    }
}

/// GET with retries (3 attempts, 0.5 s then 1 s backoff) on transient failures.
pub fn get(url: &str, accept: Option<&str>) -> std::result::Result<ureq::Response, FetchError> {
    let agent = agent_for(url).map_err(|e| FetchError::Network(e.to_string()))?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut req = agent.get(url);
        if let Some(a) = accept {
            req = req.set("Accept", a);
        }
        match req.call() {
            Ok(r) => return Ok(r),
            Err(e) if attempt < ATTEMPTS && transient(&e) => {
                std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
            }
            Err(ureq::Error::Status(code, _)) => return Err(FetchError::Status(code)),
            Err(ureq::Error::Transport(t)) => return Err(FetchError::Network(t.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_matches_hosts_domains_and_wildcards() {
        assert!(no_proxy_matches("localhost,127.0.0.1", "127.0.0.1"));
        assert!(no_proxy_matches(".corp.example", "pypi.corp.example"));
        assert!(no_proxy_matches("corp.example", "pypi.corp.example"));
        assert!(no_proxy_matches("*", "pypi.org"));
        assert!(!no_proxy_matches("corp.example", "pypi.org"));
        assert!(!no_proxy_matches("", "pypi.org"));
    }
}
