//! The glibc floor of the Linux gnu binaries: the one declared floor (`FLOOR`), and what a
//! binary needs, read from the symbol versions of its ELF dynamic symbols (`object`; no objdump).
//!
//! A gnu binary linked on a new distribution asks for that distribution's glibc
//! (`__libc_start_main@GLIBC_2.34` from any glibc >= 2.34), and the loader of an older one
//! refuses to start it ("version `GLIBC_2.34' not found"). `ktx-release binary` links the gnu
//! targets against the floor's glibc (cargo-zigbuild, `<triple>.<floor>`); `verify` refuses a
//! package whose gnu binary asks for more, naming the symbols.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The oldest glibc the Linux gnu binaries run on. 2.17 is manylinux2014's floor (the uv wheels
/// the runtime downloads are tagged manylinux_2_17 too) and Rust's own minimum for the
/// `*-linux-gnu` targets: RHEL/CentOS 7 (2.17), RHEL 8 (2.28), Amazon Linux 2 (2.26), Ubuntu
/// 20.04 and Debian bullseye (2.31) all run it. The one place it is declared: the build, `verify`,
/// the package's `native/targets.json` (which the launcher reads) and the smoke checks take it
/// from here.
pub const FLOOR: GlibcVersion = GlibcVersion::new(2, 17);

/// A glibc symbol version (`GLIBC_2.2.5` is 2.2.5, `GLIBC_2.17` is 2.17.0), ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlibcVersion([u32; 3]);

impl GlibcVersion {
    pub const fn new(major: u32, minor: u32) -> GlibcVersion {
        GlibcVersion([major, minor, 0])
    }

    /// `2.17`, `2.2.5` (also accepts the `GLIBC_` prefix); None for anything else
    /// (`GLIBC_PRIVATE`, `2`, `2.x`).
    pub fn parse(text: &str) -> Option<GlibcVersion> {
        let text = text.strip_prefix("GLIBC_").unwrap_or(text);
        let parts: Vec<&str> = text.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return None;
        }
        let mut v = [0u32; 3];
        for (slot, part) in v.iter_mut().zip(&parts) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            *slot = part.parse().ok()?;
        }
        Some(GlibcVersion(v))
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.0;
        if c == 0 {
            write!(f, "{a}.{b}")
        } else {
            write!(f, "{a}.{b}.{c}")
        }
    }
}

/// What an ELF binary asks of glibc: each `GLIBC_x.y` version it needs and the undefined dynamic
/// symbols bound to it (a version needed by no symbol is listed with none).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GlibcNeeds {
    pub versions: BTreeMap<GlibcVersion, BTreeSet<String>>,
    /// Symbols bound to `GLIBC_PRIVATE` (glibc's internals: no other glibc provides them).
    pub private: BTreeSet<String>,
}

impl GlibcNeeds {
    /// The newest glibc version the binary needs (None: it needs no versioned glibc symbol, as
    /// a static or musl binary).
    pub fn highest(&self) -> Option<GlibcVersion> {
        self.versions.keys().next_back().copied()
    }

    /// The versions above `floor`, newest first, each with its symbols.
    pub fn above(&self, floor: GlibcVersion) -> Vec<(GlibcVersion, &BTreeSet<String>)> {
        self.versions
            .iter()
            .rev()
            .filter(|(v, _)| **v > floor)
            .map(|(v, s)| (*v, s))
            .collect()
    }

    /// `GLIBC_2.34 (__libc_start_main, pthread_create), GLIBC_2.32 (...)` for the versions above
    /// `floor`, at most `per_version` symbols each.
    pub fn describe_above(&self, floor: GlibcVersion, per_version: usize) -> String {
        self.above(floor)
            .into_iter()
            .map(|(v, syms)| {
                if syms.is_empty() {
                    return format!("GLIBC_{v} (a version requirement without a symbol)");
                }
                let mut names: Vec<&str> =
                    syms.iter().map(String::as_str).take(per_version).collect();
                if syms.len() > per_version {
                    names.push("...");
                }
                format!("GLIBC_{v} ({})", names.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The machine an ELF binary was built for (the ones the package carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    X86_64,
    Aarch64,
    Other(u16),
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Machine::X86_64 => f.write_str("x86_64"),
            Machine::Aarch64 => f.write_str("aarch64"),
            Machine::Other(m) => write!(f, "ELF machine {m}"),
        }
    }
}

/// A 64-bit little-endian ELF file as far as the floor is concerned.
#[derive(Debug, Clone)]
pub struct ElfFacts {
    pub machine: Machine,
    pub glibc: GlibcNeeds,
}

/// Why an ELF file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("not an ELF file (it starts with {0:02x?})")]
    NotElf(Vec<u8>),
    #[error("a 32-bit ELF file; the package carries 64-bit binaries only")]
    Elf32,
    #[error("a malformed ELF file: {0}")]
    Malformed(#[from] object::read::Error),
}

/// Read the machine and the glibc needs of an ELF binary.
pub fn read_elf(data: &[u8]) -> Result<ElfFacts, ElfError> {
    use object::elf;
    use object::read::elf::{FileHeader, Sym};
    if data.len() < 5 || &data[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf(data.iter().take(4).copied().collect()));
    }
    if data[4] != elf::ELFCLASS64.0 {
        return Err(ElfError::Elf32);
    }
    let header = elf::FileHeader64::<object::Endianness>::parse(data)?;
    let endian = header.endian()?;
    let machine = match header.e_machine(endian) {
        elf::EM_X86_64 => Machine::X86_64,
        elf::EM_AARCH64 => Machine::Aarch64,
        other => Machine::Other(other.0),
    };
    let sections = header.sections(endian, data)?;
    let mut needs = GlibcNeeds::default();
    // Every version the file requires (some may be bound to no symbol) ...
    if let Some((mut verneeds, link)) = sections.gnu_verneed(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        while let Some((_, mut auxs)) = verneeds.next()? {
            while let Some(aux) = auxs.next()? {
                let name = String::from_utf8_lossy(aux.name(endian, strings)?).to_string();
                if let Some(v) = GlibcVersion::parse(&name) {
                    needs.versions.entry(v).or_default();
                }
            }
        }
    }
    // ... and the undefined dynamic symbols bound to each.
    let symbols = sections.symbols(endian, data, elf::SHT_DYNSYM)?;
    if let Some(versions) = sections.versions(endian, data)? {
        for (index, sym) in symbols.enumerate().skip(1) {
            if !sym.is_undefined(endian) {
                continue;
            }
            let Some(version) = versions.version(versions.version_index(endian, index).index())?
            else {
                continue;
            };
            let vname = String::from_utf8_lossy(version.name());
            let sname = String::from_utf8_lossy(sym.name(endian, symbols.strings())?).to_string();
            if vname == "GLIBC_PRIVATE" {
                needs.private.insert(sname);
            } else if let Some(v) = GlibcVersion::parse(&vname) {
                needs.versions.entry(v).or_default().insert(sname);
            }
        }
    }
    Ok(ElfFacts {
        machine,
        glibc: needs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order_numerically() {
        let v = |s| GlibcVersion::parse(s).unwrap();
        assert!(v("2.2.5") < v("2.17"));
        assert!(v("GLIBC_2.17") < v("2.34"));
        assert_eq!(v("2.17"), FLOOR);
        assert_eq!(v("GLIBC_2.2.5").to_string(), "2.2.5");
        assert_eq!(FLOOR.to_string(), "2.17");
        for bad in ["GLIBC_PRIVATE", "2", "2.x", "2..1", "1.2.3.4", ""] {
            assert_eq!(GlibcVersion::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_file_that_is_not_a_64_bit_elf_is_refused_saying_what_it_is() {
        assert!(matches!(read_elf(b"#!/bin/sh\n"), Err(ElfError::NotElf(_))));
        assert!(matches!(
            read_elf(b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0"),
            Err(ElfError::Elf32)
        ));
        assert!(matches!(
            read_elf(b"\x7fELF\x02\x01\x01\0"),
            Err(ElfError::Malformed(_))
        ));
    }

    /// The test binary itself: a plain `cargo build` on this machine, so it needs whatever this
    /// machine's glibc version is for `__libc_start_main` (2.2.5 up to 2.33, 2.34 after).
    #[test]
    fn the_running_test_binary_needs_its_glibc_for_libc_start_main() {
        if !cfg!(all(target_os = "linux", target_env = "gnu")) {
            return;
        }
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let facts = read_elf(&exe).unwrap();
        assert_eq!(
            facts.machine,
            if cfg!(target_arch = "x86_64") {
                Machine::X86_64
            } else {
                Machine::Aarch64
            }
        );
        assert!(
            facts
                .glibc
                .versions
                .values()
                .any(|s| s.contains("__libc_start_main")),
            "{:?}",
            facts.glibc
        );
        assert!(facts.glibc.highest().is_some());
    }
}
