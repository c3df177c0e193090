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
