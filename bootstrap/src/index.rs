//! A Python package index as a source of files: the project page in PEP 691 JSON, or the PEP 503
//! HTML that older mirrors serve. Used for the uv wheel (download and release pins).

use crate::error::{Error, Result};
use serde::Deserialize;

pub const PYPI: &str = "https://pypi.org/simple";

/// A file listed on an index project page.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexFile {
    pub filename: String,
    pub url: String,
    pub sha256: Option<String>,
    pub size: Option<u64>,
}

/// The index to use and the variable it came from: UV_DEFAULT_INDEX, UV_INDEX_URL,
/// PIP_INDEX_URL, else PyPI. (A mirror that serves the runtime's dependencies serves uv too.)
pub fn configured_index() -> (String, &'static str) {
    for var in ["UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"] {
        if let Ok(v) = std::env::var(var) {
            if !v.trim().is_empty() {
                return (v.trim().trim_end_matches('/').to_string(), var);
            }
        }
    }
    (PYPI.to_string(), "default")
}

#[derive(Deserialize)]
struct JsonPage {
    files: Vec<JsonFile>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    size: Option<u64>,
}

/// The files of `project` on the index at `index` (a simple-API base URL).
pub fn project_files(index: &str, project: &str) -> Result<Vec<IndexFile>> {
    let page = format!("{}/{}/", index.trim_end_matches('/'), project);
    let accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1";
    let resp = crate::http::get(&page, Some(accept)).map_err(|e| {
        Error::other(
            format!("cannot read {page}: {e}"),
            "check the network, the proxy (HTTPS_PROXY) and the index (UV_DEFAULT_INDEX / UV_INDEX_URL / PIP_INDEX_URL)",
        )
    })?;
    let json = resp.content_type().contains("json");
    let body = resp
        .into_string()
        .map_err(|e| Error::other(format!("cannot read {page}: {e}"), "try again"))?;
    if json {
        let parsed: JsonPage = serde_json::from_str(&body).map_err(|e| {
            Error::other(
                format!("{page} is not a PEP 691 project page: {e}"),
                "point UV_DEFAULT_INDEX at a simple index (ending in /simple)",
            )
        })?;
        Ok(parsed
            .files
            .into_iter()
            .map(|f| IndexFile {
                url: join_url(&page, &f.url),
                sha256: f.hashes.get("sha256").cloned(),
                filename: f.filename,
                size: f.size,
            })
            .collect())
    } else {
        Ok(parse_html(&page, &body))
    }
}

/// PEP 503: `<a href="URL#sha256=HEX">FILENAME</a>`.
pub fn parse_html(page: &str, body: &str) -> Vec<IndexFile> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("<a ") {
        rest = &rest[start + 3..];
        let Some(close) = rest.find('>') else { break };
        let attrs = &rest[..close];
        let after = &rest[close + 1..];
        let Some(end) = after.find("</a>") else { break };
        let text = unescape(after[..end].trim());
        rest = &after[end..];
        let Some(href) = attr(attrs, "href") else {
            continue;
        };
        let href = unescape(&href);
        let (url, fragment) = href.split_once('#').unwrap_or((&href, ""));
        let sha256 = fragment.strip_prefix("sha256=").map(str::to_string);
        out.push(IndexFile {
            filename: text,
            url: join_url(page, url),
            sha256,
            size: None,
        });
    }
    out
}

fn attr(attrs: &str, name: &str) -> Option<String> {
    let key = format!("{name}=");
    let at = attrs.find(&key)? + key.len();
    let rest = &attrs[at..];
    let quote = rest.chars().next()?;
    if quote == '"' || quote == '\'' {
        let inner = &rest[1..];
        inner.find(quote).map(|e| inner[..e].to_string())
    } else {
        Some(rest.split_whitespace().next()?.to_string())
    }
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

/// Resolve `href` against the page URL (absolute, root-relative or relative).
pub fn join_url(page: &str, href: &str) -> String {
    if href.contains("://") {
        return href.to_string();
    }
    let (scheme, rest) = page.split_once("://").unwrap_or(("https", page));
    let authority = rest.split('/').next().unwrap_or("");
    if let Some(abs) = href.strip_prefix('/') {
        return format!("{scheme}://{authority}/{abs}");
    }
    let mut parts: Vec<&str> = rest.split('/').collect();
    parts.pop(); // the page's last segment (empty for a trailing slash)
    for seg in href.split('/') {
        match seg {
            ".." => {
                if parts.len() > 1 {
                    parts.pop();
                }
            }
            "." => {}
            s => parts.push(s),
        }
    }
    format!("{scheme}://{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_links_resolve_against_the_project_page() {
        let page = "https://mirror.example/simple/uv/";
        assert_eq!(
            join_url(page, "../../packages/uv-1.whl"),
            "https://mirror.example/packages/uv-1.whl"
        );
        assert_eq!(
            join_url(page, "/files/uv-1.whl"),
            "https://mirror.example/files/uv-1.whl"
        );
        assert_eq!(
            join_url(page, "uv-1.whl"),
            "https://mirror.example/simple/uv/uv-1.whl"
        );
        assert_eq!(
            join_url(page, "https://cdn.example/x.whl"),
            "https://cdn.example/x.whl"
        );
    }

    #[test]
    fn html_pages_give_file_names_urls_and_hashes() {
        let body = r#"<html><body><a href="https://f.example/uv-0.1-py3-none-win_amd64.whl#sha256=abc" data-requires-python="&gt;=3.8">uv-0.1-py3-none-win_amd64.whl</a><br/>
<a href='../x/uv-0.1.tar.gz'>uv-0.1.tar.gz</a></body></html>"#;
        let files = parse_html("http://127.0.0.1:1/simple/uv/", body);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].sha256.as_deref(), Some("abc"));
        assert_eq!(files[0].filename, "uv-0.1-py3-none-win_amd64.whl");
        assert_eq!(files[1].url, "http://127.0.0.1:1/simple/x/uv-0.1.tar.gz");
        assert_eq!(files[1].sha256, None);
    }
}
