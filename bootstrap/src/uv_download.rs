//! Getting uv when none is installed: the pinned version from `python/runtime-manifest.json`,
//! from the Python package index (default), GitHub, or a mirror (`KTX_UV_SOURCE`). The download
//! is streamed to a temporary file and hashed on the way; a digest that is not the pin's is exit
//! 5 and nothing is kept. The binary is extracted, made executable, smoke-run (`uv --version`
//! must print the pinned version) and renamed into `<root>/tools/uv/<version>/`, under a lock so
//! that concurrent bootstraps download once.

use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::lock;
use crate::package::{hex, Artefact, Package};
use crate::targets;
use crate::uv::{self, Uv, UvSource};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Where the uv download comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The configured Python package index (and the variable that configured it).
    Index {
        url: String,
        from: &'static str,
    },
    Github,
    /// A base URL serving the index artefacts by file name.
    Mirror(String),
}

/// Downloads are HTTPS; plain HTTP only to this machine (a test server, a local mirror).
pub fn check_transport(url: &str, what: &str) -> Result<()> {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| url.starts_with(p) && url[p.len()..].starts_with([':', '/']));
    if url.starts_with("https://") || loopback {
        Ok(())
    } else {
        Err(Error::usage(
            format!("{what} {url} is not HTTPS"),
            "ktx downloads executables over HTTPS only (plain http only from 127.0.0.1); use an https:// URL",
        ))
    }
}

impl Source {
    pub fn from_env() -> Result<Source> {
        match std::env::var("KTX_UV_SOURCE")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .as_deref()
            .map(str::trim)
        {
            None | Some("index") => {
                let (url, from) = crate::index::configured_index();
                Ok(Source::Index { url, from })
            }
            Some("github") => Ok(Source::Github),
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                Ok(Source::Mirror(url.trim_end_matches('/').to_string()))
            }
            Some(other) => Err(Error::usage(
                format!("KTX_UV_SOURCE={other} is not a uv source"),
                "use `index` (default), `github`, or the https:// base URL of a mirror",
            )),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Index { url, from } => format!("the package index {url} ({from})"),
            Source::Github => "GitHub releases".to_string(),
            Source::Mirror(url) => format!("the mirror {url} (KTX_UV_SOURCE)"),
        }
    }
}

/// Return the uv ktx downloaded before, or download it now.
pub fn obtain(ctx: &Ctx, pkg: &Package) -> Result<Uv> {
    let version = pkg.manifest.uv.version.clone();
    let final_dir = ctx.layout.uv_dir(&version);
    let exe = final_dir.join(uv::exe_name());
    if exe.is_file() {
        return Ok(Uv {
            path: exe,
            source: UvSource::Downloaded,
        });
    }
    let host = targets::host().ok_or_else(|| {
        Error::other(
            "ktx cannot download uv for this platform",
            "install uv yourself (https://docs.astral.sh/uv/) and set KTX_UV or put it on PATH",
        )
    })?;
    let source = Source::from_env()?;
    let pins = pkg.manifest.uv.targets.get(host.triple);
    let key = if source == Source::Github {
        "github"
    } else {
        "index"
    };
    let pin = pins.and_then(|p| p.get(key)).ok_or_else(|| {
        Error::other(
            format!(
                "this package pins no uv {version} artefact for {} from {key}",
                host.triple
            ),
            "use KTX_UV_SOURCE=index (the default), or install uv yourself and set KTX_UV",
        )
    })?;
    let tools = ctx.layout.tools_uv();
    std::fs::create_dir_all(&tools).map_err(|e| Error::io("cannot create", &tools, e))?;
    let _lock = lock::exclusive(&ctx.layout.uv_lock(), || {
        errln!("ktx: another ktx is downloading uv; waiting for it")
    })?;
    // What killed downloads left: no download is under way while this lock is held.
    if let Ok(rd) = std::fs::read_dir(&tools) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(".download-") || name.starts_with(".staging-") {
                let _ = crate::disk::discard(&e.path());
            }
        }
    }
    if exe.is_file() {
        return Ok(Uv {
            path: exe,
            source: UvSource::Downloaded,
        });
    }
    if let Source::Index { url, from } = &source {
        check_transport(url, &format!("the package index ({from})"))?;
    }
    if let Source::Mirror(url) = &source {
        check_transport(url, "KTX_UV_SOURCE")?;
    }
    let url = artefact_url(&source, &version, pin)?;
    check_transport(&url, "the uv download")?;
    errln!("ktx: downloading uv {version} from {url}");
    let download = tempfile::Builder::new()
        .prefix(".download-")
        .tempfile_in(&tools)
        .map_err(|e| Error::io("cannot create a temporary file in", &tools, e))?;
    let sha = fetch_to(&url, download.as_file(), &source)?;
    if sha != pin.sha256 {
        return Err(Error::Integrity {
            path: url,
            expected: pin.sha256.clone(),
            actual: sha,
        });
    }
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&tools)
        .map_err(|e| Error::io("cannot create a temporary directory in", &tools, e))?;
    let staged_exe = staging.path().join(uv::exe_name());
    extract(download.path(), &pin.file, &staged_exe)?;
    let reported = uv::version(&staged_exe)?;
    if reported != version {
        return Err(Error::other(
            format!("the downloaded uv reports version {reported}, the package pins {version}"),
            "the source serves another uv under the pinned name; check KTX_UV_SOURCE",
        ));
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &final_dir)
        .map_err(|e| Error::io("cannot move uv into place", &final_dir, e))?;
    errln!(
        "ktx: uv {version} verified (sha256 {}) and installed at {}",
        &pin.sha256[..12],
        exe.display()
    );
    Ok(Uv {
        path: exe,
        source: UvSource::Downloaded,
    })
}

fn unreachable_hint(source: &Source) -> String {
    format!(
        "ktx tried {}. Check the network and proxy (HTTPS_PROXY), or choose another source with \
         KTX_UV_SOURCE (index, github, or a mirror's URL), or install uv yourself (pip install uv, \
         or https://docs.astral.sh/uv/getting-started/installation/) and set KTX_UV to it",
        source.describe()
    )
}

fn artefact_url(source: &Source, version: &str, pin: &Artefact) -> Result<String> {
    match source {
        Source::Github => Ok(format!(
            "https://github.com/astral-sh/uv/releases/download/{version}/{}",
            pin.file
        )),
        Source::Mirror(base) => Ok(format!("{base}/{}", pin.file)),
        Source::Index { url, .. } => {
            let files = crate::index::project_files(url, "uv").map_err(|e| {
                Error::other(format!("cannot download uv: {e}"), unreachable_hint(source))
            })?;
            files
                .into_iter()
                .find(|f| f.filename == pin.file)
                .map(|f| f.url)
                .ok_or_else(|| {
                    Error::other(
                format!("the index {url} does not list {}", pin.file),
                "use an index that mirrors uv from PyPI, or KTX_UV_SOURCE=github, or set KTX_UV",
            )
                })
        }
    }
}

/// Stream `url` into `file`, returning the sha256 of what was written.
fn fetch_to(url: &str, file: &std::fs::File, source: &Source) -> Result<String> {
    let resp = crate::http::get(url, None).map_err(|e| {
        Error::other(
            format!("cannot download uv from {url}: {e}"),
            unreachable_hint(source),
        )
    })?;
    let total: Option<u64> = resp.header("Content-Length").and_then(|v| v.parse().ok());
    let bar = crate::progress::animated().then(|| {
        let bar = indicatif::ProgressBar::new(total.unwrap_or(0));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "  {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut reader = resp.into_reader();
    let mut writer = std::io::BufWriter::new(file);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|e| {
            Error::other(
                format!("the download of {url} broke off: {e}"),
                unreachable_hint(source),
            )
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        writer
            .write_all(&buf[..n])
            .map_err(|e| Error::io("cannot write the download", PathBuf::from(url), e))?;
        if let Some(b) = &bar {
            b.inc(n as u64);
        }
    }
    writer
        .flush()
        .map_err(|e| Error::io("cannot write the download", PathBuf::from(url), e))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(hex(&hasher.finalize()))
}

/// Take the uv executable out of a wheel (`uv-<v>.data/scripts/uv`), a .tar.gz or a .zip archive.
fn extract(archive: &Path, name: &str, to: &Path) -> Result<()> {
    let exe = uv::exe_name();
    let bad = |what: String| {
        Error::other(what, "the uv artefact is not what ktx expects; report it, or set KTX_UV to a uv you installed")
    };
    let mut out = std::fs::File::create(to).map_err(|e| Error::io("cannot create", to, e))?;
    if name.ends_with(".tar.gz") {
        let file =
            std::fs::File::open(archive).map_err(|e| Error::io("cannot open", archive, e))?;
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let entries = tar.entries().map_err(|e| bad(format!("{name}: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad(format!("{name}: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| bad(format!("{name}: {e}")))?
                .to_path_buf();
            if path.file_name().is_some_and(|f| f == exe) {
                std::io::copy(&mut entry, &mut out)
                    .map_err(|e| Error::io("cannot extract uv to", to, e))?;
                return make_executable(to);
            }
        }
        Err(bad(format!("{name} holds no {exe}")))
    } else {
        let file =
            std::fs::File::open(archive).map_err(|e| Error::io("cannot open", archive, e))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(format!("{name}: {e}")))?;
        let entry_name = zip
            .file_names()
            .find(|n| {
                let n = n.replace('\\', "/");
                (n.contains(".data/scripts/") || !n.contains('/'))
                    && n.rsplit('/').next() == Some(exe)
            })
            .map(str::to_string)
            .ok_or_else(|| bad(format!("{name} holds no {exe}")))?;
        let mut entry = zip
            .by_name(&entry_name)
            .map_err(|e| bad(format!("{name}: {e}")))?;
        std::io::copy(&mut entry, &mut out)
            .map_err(|e| Error::io("cannot extract uv to", to, e))?;
        make_executable(to)
    }
}

fn make_executable(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::io("cannot make executable", path, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_are_https_or_loopback_only() {
        assert!(check_transport("https://pypi.org/simple", "x").is_ok());
        assert!(check_transport("http://127.0.0.1:8080/uv.whl", "x").is_ok());
        assert!(check_transport("http://localhost/uv.whl", "x").is_ok());
        assert!(check_transport("http://mirror.corp/uv.whl", "x").is_err());
        assert!(check_transport("http://127.0.0.1.evil.example/uv.whl", "x").is_err());
    }
}
