//! Independent rebuilds: the same sources give the same bytes whatever the directory, umask,
//! time zone, locale and file mtimes; `rebuild --against` says which artefact differs from a
//! published tarball, and where.

mod common;

use assert_cmd::Command;
use common::{required, rewrite_tarball};
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn sha(path: &Path) -> String {
    ktx_release::wheel::sha256_hex(&std::fs::read(path).unwrap())
}

/// `ktx-release --repo REPO --out OUT pack --binary linux-x64=BIN`, with `vary` applied to the
/// command; returns the tarball.
fn pack(
    repo: &Path,
    out: &Path,
    bin: &Path,
    vary: impl FnOnce(&mut std::process::Command),
) -> PathBuf {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ktx-release"));
    cmd.arg("--repo")
        .arg(repo)
        .arg("--out")
        .arg(out)
        .arg("pack")
        .arg("--binary")
        .arg(format!("linux-x64={}", bin.display()))
        .current_dir(repo);
    vary(&mut cmd);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    PathBuf::from(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .unwrap()
            .trim(),
    )
}

#[test]
fn the_wheel_and_tarball_do_not_depend_on_directory_umask_time_zone_locale_or_mtimes() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let bin = required("KTX_TEST_PACKAGE").join("native/linux-x64/ktx");
    let dir = tempfile::tempdir().unwrap();
    let first = pack(&repo(), &dir.path().join("a"), &bin, |_| {});

    // A copy of the sources elsewhere, every mtime moved to 2001, the uv pins reused (no index).
    let copy = dir.path().join("elsewhere/src");
    let n = ktx_release::rebuild::copy_sources(
        &repo(),
        &copy,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000),
    )
    .unwrap();
    assert!(n > 50, "{n} files");
    std::fs::create_dir_all(copy.join("target/ktx-release")).unwrap();
    std::fs::copy(
        repo().join("target/ktx-release/uv-pins.json"),
        copy.join("target/ktx-release/uv-pins.json"),
    )
    .unwrap();
    let second = pack(&copy, &copy.join("dist"), &bin, |cmd| {
        cmd.env("TZ", "Pacific/Chatham")
            .env("LC_ALL", "tr_TR.UTF-8")
            .env("LANG", "tr_TR.UTF-8");
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: umask is async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    libc::umask(0o077);
                    Ok(())
                });
            }
        }
    });
    let wheel = format!("kaelio_ktx-{}-py3-none-any.whl", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        sha(&dir.path().join("a").join(&wheel)),
        sha(&copy.join("dist").join(&wheel)),
        "the wheel"
    );
    assert_eq!(sha(&first), sha(&second), "the tarball");

    // A real change of an input does change it (the comparison can fail).
    let init = copy.join("python/src/ktx_daemon/__init__.py");
    let mut text = std::fs::read_to_string(&init).unwrap();
    text.push_str("\n# changed\n");
    std::fs::write(&init, text).unwrap();
    let third = pack(&copy, &copy.join("dist3"), &bin, |_| {});
    assert_ne!(sha(&first), sha(&third));
}

#[test]
fn rebuild_against_a_published_tarball_says_identical_or_names_the_entry_that_differs() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let published = common::pack_with(&common::release_binary(), &dir.path().join("published"));
    let release = || {
        let mut c = Command::cargo_bin("ktx-release").unwrap();
        c.arg("--out").arg(dir.path().join("out"));
        c
    };
    release()
        .args(["rebuild", "--print-rustc", "--against"])
        .arg(&published)
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"^\d+\.\d+\.\d+\n$").unwrap());
    let ok = release()
        .args(["rebuild", "--against"])
        .arg(&published)
        .assert()
        .success();
    let table = String::from_utf8_lossy(&ok.get_output().stdout).to_string();
    for row in ["wheel kaelio_ktx-", "native/linux-x64/ktx", "tarball "] {
        let line = table
            .lines()
            .find(|l| l.trim_start().starts_with(row))
            .unwrap_or_else(|| panic!("no row {row}: {table}"));
        assert!(line.contains("identical"), "{line}");
    }

    let altered = dir.path().join("altered.tgz");
    rewrite_tarball(&published, &altered, |name, header, _| {
        if name == "package/README.md" {
            header.set_mode(0o600);
        }
        true
    });
    let bad = release()
        .args(["rebuild", "--against"])
        .arg(&altered)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "the rebuild differs: tarball altered.tgz",
        ));
    let table = String::from_utf8_lossy(&bad.get_output().stdout).to_string();
    assert!(
        table.contains("package/README.md: mode 600") && table.contains("| mode 644"),
        "{table}"
    );
    let wheel_row = table
        .lines()
        .find(|l| l.trim_start().starts_with("wheel "))
        .unwrap();
    assert!(wheel_row.contains("identical"), "{table}");
}
