//! The native binaries of the package: `native/targets.json`, which says what each
//! `native/<dir>/ktx` is (its target, its C library and, for glibc builds, the oldest glibc it
//! runs on: what the launcher compares with the running glibc), and the checks of one binary
//! against its target (executable format, machine, the glibc floor), read from its bytes.

use crate::glibc::{self, GlibcNeeds, GlibcVersion, Machine};
use ktx_bootstrap::targets::{self, Target};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// A native binary for one platform directory of the package (`native/<npm_dir>/ktx`).
#[derive(Debug, Clone)]
pub struct NativeBinary {
    pub npm_dir: String,
    pub path: PathBuf,
}

/// The C library a target's binary links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libc {
    /// glibc, dynamically: the binary needs the glibc floor or newer.
    Glibc,
    /// musl, statically: it needs no C library on the system.
    Musl,
    /// macOS and Windows: the system's own.
    System,
}

pub fn libc(t: &Target) -> Libc {
    if t.triple.ends_with("-linux-gnu") {
        Libc::Glibc
    } else if t.triple.ends_with("-linux-musl") {
        Libc::Musl
    } else {
        Libc::System
    }
}

/// Where the record is in the package.
pub const RECORD_PATH: &str = "native/targets.json";

/// `(dir, file)` when the tarball entry `name` is a native binary, `package/native/<dir>/ktx`
/// or `ktx.exe`.
pub fn binary_entry(name: &str) -> Option<(&str, &str)> {
    let (dir, file) = name.strip_prefix("package/native/")?.split_once('/')?;
    (file == "ktx" || file == "ktx.exe").then_some((dir, file))
}

/// The C library a packed binary uses, as the launcher reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LibcName {
    Glibc,
    Musl,
    System,
}

impl From<Libc> for LibcName {
    fn from(l: Libc) -> LibcName {
        match l {
            Libc::Glibc => LibcName::Glibc,
            Libc::Musl => LibcName::Musl,
            Libc::System => LibcName::System,
        }
    }
}

/// One platform directory of `native/targets.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The Rust target triple.
    pub target: String,
    pub libc: LibcName,
    /// glibc builds: the oldest glibc the binary runs on (`2.17`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibc: Option<String>,
}

/// `native/targets.json`: npm dir -> entry.
pub type Record = BTreeMap<String, Entry>;

/// An executable's format and machine, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Elf(Machine),
    MachO(Machine),
    /// A universal (fat) Mach-O: several machines.
    MachOUniversal,
    Pe(Machine),
    Unknown,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Elf(m) => write!(f, "an ELF {m} binary"),
            Format::MachO(m) => write!(f, "a Mach-O {m} binary"),
            Format::MachOUniversal => f.write_str("a universal Mach-O binary"),
            Format::Pe(m) => write!(f, "a Windows PE {m} binary"),
            Format::Unknown => f.write_str("not an executable this package knows"),
        }
    }
}

fn u16le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The format of an executable from its headers (ELF, 64-bit Mach-O, PE).
pub fn format(bytes: &[u8]) -> Format {
    if bytes.starts_with(b"\x7fELF") {
        return match u16le(bytes, 18) {
            Some(62) => Format::Elf(Machine::X86_64),
            Some(183) => Format::Elf(Machine::Aarch64),
            Some(m) => Format::Elf(Machine::Other(m)),
            None => Format::Unknown,
        };
    }
    if bytes.starts_with(&[0xcf, 0xfa, 0xed, 0xfe]) {
        return match u32le(bytes, 4) {
            Some(0x0100_0007) => Format::MachO(Machine::X86_64),
            Some(0x0100_000c) => Format::MachO(Machine::Aarch64),
            Some(m) => Format::MachO(Machine::Other(m as u16)),
            None => Format::Unknown,
        };
    }
    if bytes.starts_with(&[0xca, 0xfe, 0xba, 0xbe]) {
        return Format::MachOUniversal;
    }
    if bytes.starts_with(b"MZ") {
        let pe = u32le(bytes, 0x3c).map(|o| o as usize);
        if let Some(o) = pe.filter(|o| bytes.get(*o..*o + 4) == Some(b"PE\0\0")) {
            return match u16le(bytes, o + 4) {
                Some(0x8664) => Format::Pe(Machine::X86_64),
                Some(0xaa64) => Format::Pe(Machine::Aarch64),
                Some(m) => Format::Pe(Machine::Other(m)),
                None => Format::Unknown,
            };
        }
    }
    Format::Unknown
}

/// The format a target's binary must have.
pub fn expected_format(t: &Target) -> Format {
    let machine = if t.triple.starts_with("x86_64-") {
        Machine::X86_64
    } else {
        Machine::Aarch64
    };
    if t.triple.contains("-linux-") {
        Format::Elf(machine)
    } else if t.triple.contains("-apple-") {
        Format::MachO(machine)
    } else {
        Format::Pe(machine)
    }
}

/// Why a packed binary is not what its directory says it is.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    #[error("{file}: native/{dir} is not a platform the package supports; hint: name each binary by its npm directory ({dirs})")]
    UnknownDir {
        file: String,
        dir: String,
        dirs: String,
    },
    #[error("{file} is {found}, but native/{dir} is for {triple} ({want}); hint: pack the binary `ktx-release binary --target {triple}` builds")]
    Format {
        file: String,
        dir: String,
        triple: &'static str,
        found: Format,
        want: Format,
    },
    #[error("{file} cannot be read as an ELF binary: {source}; hint: pack the binary `ktx-release binary --target {triple}` builds")]
    Elf {
        file: String,
        triple: &'static str,
        #[source]
        source: glibc::ElfError,
    },
    #[error("{file} needs glibc {needs}, above the floor {floor} (release/src/glibc.rs): {detail}; it would not start on an older glibc (\"version `GLIBC_{needs}' not found\"); hint: build it with `ktx-release binary --target {triple}` (cargo-zigbuild for {triple}.{floor}): a plain `cargo build` links against the build machine's glibc")]
    AboveFloor {
        file: String,
        triple: &'static str,
        needs: GlibcVersion,
        floor: GlibcVersion,
        detail: String,
    },
    #[error("{file} uses glibc's private symbols ({symbols}), which only the glibc it was linked against provides; hint: build it with `ktx-release binary --target {triple}`")]
    PrivateGlibc {
        file: String,
        triple: &'static str,
        symbols: String,
    },
    #[error("{file} is a musl build for {triple} but needs glibc ({detail}), which musl systems do not have; hint: build it with `ktx-release binary --target {triple}` (static musl)")]
    GlibcInMusl {
        file: String,
        triple: &'static str,
        detail: String,
    },
}

/// What a checked binary needs.
#[derive(Debug, Clone)]
pub struct Inspected {
    pub target: &'static Target,
    /// glibc builds: what the binary asks of glibc.
    pub glibc: Option<GlibcNeeds>,
}

impl Inspected {
    /// The oldest glibc this binary runs on: the floor, or more if it needs more.
    pub fn glibc_needed(&self) -> Option<GlibcVersion> {
        self.glibc
            .as_ref()
            .map(|n| n.highest().map_or(glibc::FLOOR, |h| h.max(glibc::FLOOR)))
    }

    /// The entry `native/targets.json` gets for this binary.
    pub fn entry(&self) -> Entry {
        Entry {
            target: self.target.triple.to_string(),
            libc: libc(self.target).into(),
            glibc: self.glibc_needed().map(|v| v.to_string()),
        }
    }

    /// The error for a glibc build above the floor, if it is one.
    pub fn above_floor(&self, file: &str) -> Option<NativeError> {
        let needs = self.glibc.as_ref()?;
        let highest = needs.highest()?;
        (highest > glibc::FLOOR).then(|| NativeError::AboveFloor {
            file: file.to_string(),
            triple: self.target.triple,
            needs: highest,
            floor: glibc::FLOOR,
            detail: needs.describe_above(glibc::FLOOR, 4),
        })
    }
}

/// The target of the platform directory `dir`.
pub fn target_of(file: &str, dir: &str) -> Result<&'static Target, NativeError> {
    targets::TARGETS
        .iter()
        .find(|t| t.npm_dir == dir)
        .ok_or_else(|| NativeError::UnknownDir {
            file: file.to_string(),
            dir: dir.to_string(),
            dirs: targets::TARGETS
                .iter()
                .map(|t| t.npm_dir)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Check the binary `bytes` (named `file` in messages) for `native/<dir>`: the format and machine
/// of its target; glibc builds read for what they need (the floor is the caller's to enforce:
/// `Inspected::above_floor`); musl builds must need no glibc; no build may use glibc's private
/// symbols.
pub fn inspect(file: &str, dir: &str, bytes: &[u8]) -> Result<Inspected, NativeError> {
    let target = target_of(file, dir)?;
    let want = expected_format(target);
    let found = format(bytes);
    if found != want {
        return Err(NativeError::Format {
            file: file.to_string(),
            dir: dir.to_string(),
            triple: target.triple,
            found,
            want,
        });
    }
    let kind = libc(target);
    if kind == Libc::System {
        return Ok(Inspected {
            target,
            glibc: None,
        });
    }
    let facts = glibc::read_elf(bytes).map_err(|source| NativeError::Elf {
        file: file.to_string(),
        triple: target.triple,
        source,
    })?;
    let needs = facts.glibc;
    if !needs.private.is_empty() {
        return Err(NativeError::PrivateGlibc {
            file: file.to_string(),
            triple: target.triple,
            symbols: needs.private.iter().cloned().collect::<Vec<_>>().join(", "),
        });
    }
    match kind {
        Libc::Musl if !needs.versions.is_empty() => Err(NativeError::GlibcInMusl {
            file: file.to_string(),
            triple: target.triple,
            detail: needs.describe_above(GlibcVersion::new(0, 0), 3),
        }),
        Libc::Musl => Ok(Inspected {
            target,
            glibc: None,
        }),
        _ => Ok(Inspected {
            target,
            glibc: Some(needs),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_apart_by_their_headers() {
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[18] = 183;
        assert_eq!(format(&elf), Format::Elf(Machine::Aarch64));
        let mut macho = vec![0xcf, 0xfa, 0xed, 0xfe];
        macho.extend(0x0100_000cu32.to_le_bytes());
        assert_eq!(format(&macho), Format::MachO(Machine::Aarch64));
        let mut pe = vec![0u8; 0x100];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        pe[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
        assert_eq!(format(&pe), Format::Pe(Machine::X86_64));
        assert_eq!(format(b"#!/bin/sh\n"), Format::Unknown);
    }

    #[test]
    fn every_target_expects_its_own_format() {
        for t in targets::TARGETS {
            let f = expected_format(t);
            match libc(t) {
                Libc::System => assert!(matches!(f, Format::MachO(_) | Format::Pe(_)), "{t:?}"),
                _ => assert!(matches!(f, Format::Elf(_)), "{t:?}"),
            }
        }
    }

    #[test]
    fn a_script_in_a_platform_dir_is_refused_naming_the_target() {
        let e = inspect("package/native/linux-x64/ktx", "linux-x64", b"#!/bin/sh\n").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("x86_64-unknown-linux-gnu") && text.contains("hint:"),
            "{text}"
        );
        let e = inspect("package/native/aix/ktx", "aix-ppc64", b"").unwrap_err();
        assert!(e.to_string().contains("linux-x64"), "{e}");
    }
}
