//! The platforms the npm package carries: one table that ties a Rust target triple to the
//! package's `native/<dir>` name, the uv wheel's platform tag on the Python package index and
//! the uv release archive on GitHub. Release (pack, pins) and runtime (uv download) both read it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Rust target triple, also the key in runtime-manifest.json.
    pub triple: &'static str,
    /// Directory under `native/` in the npm package (`<process.platform>-<process.arch>[-musl]`).
    pub npm_dir: &'static str,
    /// A platform tag the uv wheel for this target carries on the package index.
    pub wheel_tag: &'static str,
    /// The GitHub release archive of uv for this target.
    pub github_archive: &'static str,
    pub exe_suffix: &'static str,
}

pub const TARGETS: &[Target] = &[
    Target {
        triple: "x86_64-unknown-linux-gnu",
        npm_dir: "linux-x64",
        wheel_tag: "manylinux_2_17_x86_64",
        github_archive: "uv-x86_64-unknown-linux-gnu.tar.gz",
        exe_suffix: "",
    },
    Target {
        triple: "aarch64-unknown-linux-gnu",
        npm_dir: "linux-arm64",
        wheel_tag: "manylinux_2_17_aarch64",
        github_archive: "uv-aarch64-unknown-linux-gnu.tar.gz",
        exe_suffix: "",
    },
    Target {
        triple: "x86_64-unknown-linux-musl",
        npm_dir: "linux-x64-musl",
        wheel_tag: "musllinux_1_1_x86_64",
        github_archive: "uv-x86_64-unknown-linux-musl.tar.gz",
        exe_suffix: "",
    },
    Target {
        triple: "aarch64-unknown-linux-musl",
        npm_dir: "linux-arm64-musl",
        wheel_tag: "musllinux_1_1_aarch64",
        github_archive: "uv-aarch64-unknown-linux-musl.tar.gz",
        exe_suffix: "",
    },
    Target {
        triple: "x86_64-apple-darwin",
        npm_dir: "darwin-x64",
        wheel_tag: "macosx_10_12_x86_64",
        github_archive: "uv-x86_64-apple-darwin.tar.gz",
        exe_suffix: "",
    },
    Target {
        triple: "aarch64-apple-darwin",
        npm_dir: "darwin-arm64",
        wheel_tag: "macosx_11_0_arm64",
        github_archive: "uv-aarch64-apple-darwin.tar.gz",
        exe_suffix: "",
    },
    Target {
        triple: "x86_64-pc-windows-msvc",
        npm_dir: "win32-x64",
        wheel_tag: "win_amd64",
        github_archive: "uv-x86_64-pc-windows-msvc.zip",
        exe_suffix: ".exe",
    },
];

pub fn by_triple(triple: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.triple == triple)
}

/// The target this binary was built for (musl and gnu told apart at compile time).
pub fn host() -> Option<&'static Target> {
    let arch = std::env::consts::ARCH;
    let triple = match (std::env::consts::OS, arch) {
        ("linux", "x86_64") if cfg!(target_env = "musl") => "x86_64-unknown-linux-musl",
        ("linux", "aarch64") if cfg!(target_env = "musl") => "aarch64-unknown-linux-musl",
        ("linux", "x86_64") => "x86_64-unknown-linux-gnu",
        ("linux", "aarch64") => "aarch64-unknown-linux-gnu",
        ("macos", "x86_64") => "x86_64-apple-darwin",
        ("macos", "aarch64") => "aarch64-apple-darwin",
        ("windows", "x86_64") => "x86_64-pc-windows-msvc",
        _ => return None,
    };
    by_triple(triple)
}

/// Whether a wheel file name (`uv-0.1.0-py3-none-<tags>.whl`) carries `tag` as a platform tag.
pub fn wheel_has_platform_tag(file: &str, tag: &str) -> bool {
    let Some(stem) = file.strip_suffix(".whl") else {
        return false;
    };
    stem.rsplit('-')
        .next()
        .is_some_and(|plats| plats.split('.').any(|p| p == tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_a_unique_npm_dir_and_triple() {
        for (i, a) in TARGETS.iter().enumerate() {
            for b in &TARGETS[i + 1..] {
                assert_ne!(a.npm_dir, b.npm_dir);
                assert_ne!(a.triple, b.triple);
            }
        }
    }

    #[test]
    fn platform_tags_are_matched_exactly_within_compressed_tag_sets() {
        let f = "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl";
        assert!(wheel_has_platform_tag(f, "musllinux_1_1_aarch64"));
        assert!(wheel_has_platform_tag(f, "manylinux_2_17_aarch64"));
        assert!(!wheel_has_platform_tag(f, "manylinux_2_17_x86_64"));
        assert!(!wheel_has_platform_tag("uv-0.13.9.tar.gz", "win_amd64"));
    }

    #[test]
    fn this_build_knows_its_own_target() {
        assert!(host().is_some());
    }
}
