//! Shared by the release tests: a packed tarball rewritten with one defect.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

pub fn required(var: &str) -> PathBuf {
    PathBuf::from(
        std::env::var_os(var)
            .unwrap_or_else(|| panic!("{var} is not set: run the tests through ./scripts/test")),
    )
}

/// Copy the tarball `src` to `dst`, letting `edit` change each file (false drops it).
pub fn rewrite_tarball(
    src: &Path,
    dst: &Path,
    edit: impl Fn(&str, &mut tar::Header, &mut Vec<u8>) -> bool,
) {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(src).unwrap(),
    ));
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(dst).unwrap(),
        flate2::Compression::default(),
    ));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().to_string();
        let mut header = entry.header().clone();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if !edit(&name, &mut header, &mut bytes) {
            continue;
        }
        header.set_size(bytes.len() as u64);
        header.set_cksum();
        builder.append(&header, bytes.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

/// This host's release binary, as `ktx-release binary` builds it (Linux: cargo-zigbuild against
/// the glibc floor; the first call builds it, cargo makes later ones a no-op).
pub fn release_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("ktx-release"))
                .arg("binary")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::inherit())
                .output()
                .unwrap();
            assert!(out.status.success(), "ktx-release binary failed");
            let line = String::from_utf8_lossy(&out.stdout).to_string();
            PathBuf::from(line.split_whitespace().next().expect("it names the binary"))
        })
        .clone()
}

/// `ktx-release pack` of the default payload with `binary` as this host's platform into `out`;
/// returns the tarball.
pub fn pack_with(binary: &Path, out: &Path) -> PathBuf {
    let host = std::process::Command::new(assert_cmd::cargo::cargo_bin("ktx-release"))
        .arg("host-target")
        .output()
        .unwrap();
    let host = String::from_utf8_lossy(&host.stdout).trim().to_string();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("ktx-release"))
        .arg("--out")
        .arg(out)
        .arg("pack")
        .arg("--binary")
        .arg(format!("{host}={}", binary.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pack failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .trim(),
    )
}
