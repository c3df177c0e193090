//! The platforms layout (release/src/npm_layout.rs): `ktx-release pack --layout platforms` with two
//! binaries writes the main @kaelio/ktx tarball (no binary, both platform packages named in
//! optionalDependencies at its version) and one tarball per binary; `verify` checks them together
//! and names what is wrong; a platform binary run directly finds the main package beside it; the
//! download table holds a first `npx` on linux-x64 to 1.25x the one-binary package; the release
//! workflow publishes the platform packages first, with provenance.
//!
//! The second binary is a real static musl executable linked by the release's pinned zig (a
//! small C program: building ktx for musl takes minutes), so `verify` reads a real musl ELF.

mod common;

use assert_cmd::Command;
use common::rewrite_tarball;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn release() -> Command {
    Command::cargo_bin("ktx-release").unwrap()
}

fn version() -> String {
    ktx_release::workspace::Workspace::load(&ktx_release::repo_root())
        .unwrap()
        .version
}

/// This test process's own work directory: nextest runs each test in a process of its own, at
/// the same time, so what one builds or deletes must not be another's.
fn work_dir() -> PathBuf {
    ktx_release::repo_root()
        .join("target/tests-platforms")
        .join(std::process::id().to_string())
}

/// A static x86_64 musl executable, linked once (per test process) by the pinned zig.
fn musl_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let repo = ktx_release::repo_root();
            let zig = ktx_release::zig::ensure(&repo).unwrap();
            let dir = work_dir();
            std::fs::create_dir_all(&dir).unwrap();
            let src = dir.join("musl-stand-in.c");
            std::fs::write(
                &src,
                "#include <stdio.h>\nint main(void) { puts(\"musl stand-in\"); return 0; }\n",
            )
            .unwrap();
            let out = dir.join("musl-stand-in");
            let st = std::process::Command::new(zig.bin.join("python3"))
                .args([
                    "-m",
                    "ziglang",
                    "cc",
                    "-target",
                    "x86_64-linux-musl",
                    "-static",
                    "-Os",
                ])
                .arg(&src)
                .arg("-o")
                .arg(&out)
                .status()
                .unwrap();
            assert!(st.success(), "zig cc failed");
            out
        })
        .clone()
}

/// One `pack --layout platforms` with linux-x64 (the release binary) and linux-x64-musl, shared
/// by the tests: the tarballs it printed, platform packages first.
fn packed() -> &'static [PathBuf] {
    static PACKED: OnceLock<Vec<PathBuf>> = OnceLock::new();
    PACKED.get_or_init(|| {
        let out = work_dir().join("dist");
        let _ = std::fs::remove_dir_all(&out);
        let assert = release()
            .arg("--out")
            .arg(&out)
            .arg("pack")
            .arg("--layout")
            .arg("platforms")
            .arg("--binary")
            .arg(format!("linux-x64={}", common::release_binary().display()))
            .arg("--binary")
            .arg(format!("linux-x64-musl={}", musl_binary().display()))
            .assert()
            .success();
        String::from_utf8_lossy(&assert.get_output().stdout)
            .lines()
            .map(|l| PathBuf::from(l.trim()))
            .collect()
    })
}

struct File {
    mode: u32,
    bytes: Vec<u8>,
}

fn files(tgz: &Path) -> BTreeMap<String, File> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(tgz).unwrap(),
    ));
    let mut out = BTreeMap::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().to_string();
        let mode = e.header().mode().unwrap();
        let mut bytes = Vec::new();
        e.read_to_end(&mut bytes).unwrap();
        out.insert(name, File { mode, bytes });
    }
    out
}

fn package_json(tgz: &Path) -> serde_json::Value {
    serde_json::from_slice(&files(tgz)["package/package.json"].bytes).unwrap()
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().to_string()
}

#[test]
fn packing_two_binaries_in_the_platforms_layout_writes_a_main_package_without_binaries_and_one_package_each(
) {
    let v = version();
    let tgzs = packed();
    let names: Vec<String> = tgzs.iter().map(|p| name_of(p)).collect();
    assert_eq!(
        names,
        [
            format!("kaelio-ktx-linux-x64-{v}.tgz"),
            format!("kaelio-ktx-linux-x64-musl-{v}.tgz"),
            format!("kaelio-ktx-{v}.tgz"),
        ],
        "platform packages first, the main one last"
    );
    let main = &tgzs[2];
    let main_files = files(main);
    assert!(
        !main_files
            .keys()
            .any(|n| n.starts_with("package/native/linux-")),
        "the main package carries no binary: {:?}",
        main_files.keys().collect::<Vec<_>>()
    );
    let record: serde_json::Value =
        serde_json::from_slice(&main_files["package/native/targets.json"].bytes).unwrap();
    assert_eq!(record["linux-x64"]["libc"], "glibc");
    assert_eq!(record["linux-x64-musl"]["libc"], "musl");
    for f in [
        "package/dist/bin.js",
        "package/python/runtime-manifest.json",
        "package/assets/demo/ktx.yaml",
    ] {
        assert!(main_files.contains_key(f), "{f} is in the main package");
    }
    let pkg = package_json(main);
    assert_eq!(
        pkg["optionalDependencies"],
        serde_json::json!({"@kaelio/ktx-linux-x64": v, "@kaelio/ktx-linux-x64-musl": v})
    );
    for (tgz, dir, libc) in [
        (&tgzs[0], "linux-x64", "glibc"),
        (&tgzs[1], "linux-x64-musl", "musl"),
    ] {
        let f = files(tgz);
        let p: serde_json::Value =
            serde_json::from_slice(&f["package/package.json"].bytes).unwrap();
        assert_eq!(p["name"], format!("@kaelio/ktx-{dir}"));
        assert_eq!(p["version"], v);
        assert_eq!(p["os"], serde_json::json!(["linux"]));
        assert_eq!(p["cpu"], serde_json::json!(["x64"]));
        assert_eq!(p["libc"], serde_json::json!([libc]));
        assert_eq!(p["preferUnplugged"], true);
        assert_eq!(p["license"], pkg["license"]);
        assert_eq!(p["repository"], pkg["repository"]);
        assert!(p.get("scripts").is_none(), "{dir}: no scripts");
        assert_eq!(f["package/ktx"].mode & 0o777, 0o755, "{dir}: ktx at 0755");
        let mut names: Vec<&String> = f.keys().collect();
        names.sort();
        assert_eq!(
            names,
            ["package/README.md", "package/ktx", "package/package.json"],
            "{dir}: the binary at the root, nothing else but its manifest and readme"
        );
    }
    let out = release().arg("verify").arg(main).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The release binary is at the glibc floor; the musl stand-in needs no glibc.
    assert!(
        out.status.success(),
        "verify: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("platforms linux-x64, linux-x64-musl"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("kaelio-ktx-linux-x64-musl-{v}.tgz: ok")),
        "{stdout}"
    );
}

/// An edit of one tarball entry (see `common::rewrite_tarball`).
type Edit<'a> = &'a dyn Fn(&str, &mut tar::Header, &mut Vec<u8>) -> bool;

/// A copy of the packed set in a fresh directory, `edit` applied to the tarball `which`
/// (`None`: dropped from the set); returns the main tarball of the copy.
fn altered_set(dir: &Path, which: &str, edit: Option<Edit>) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for t in packed() {
        let to = dir.join(name_of(t));
        if name_of(t) != which {
            std::fs::copy(t, &to).unwrap();
        } else if let Some(edit) = edit {
            rewrite_tarball(t, &to, edit);
        }
    }
    dir.join(format!("kaelio-ktx-{}.tgz", version()))
}

fn verify_fails(main: &Path, says: &[&str]) {
    let out = release().arg("verify").arg(main).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "verify passed a broken set");
    for s in says {
        assert!(stderr.contains(s), "stderr lacks {s:?}: {stderr}");
    }
}

fn edit_json(bytes: &mut Vec<u8>, f: impl Fn(&mut serde_json::Value)) {
    let mut p: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    f(&mut p);
    *bytes = serde_json::to_vec_pretty(&p).unwrap();
}

#[test]
fn verify_refuses_a_platform_package_of_another_version_naming_the_package_and_field() {
    let v = version();
    let tmp = tempfile::tempdir().unwrap();
    let musl = format!("kaelio-ktx-linux-x64-musl-{v}.tgz");
    let main = altered_set(
        tmp.path(),
        &musl,
        Some(&|name: &str, _: &mut tar::Header, bytes: &mut Vec<u8>| {
            if name == "package/package.json" {
                edit_json(bytes, |p| p["version"] = "9.9.9".into());
            }
            true
        }),
    );
    verify_fails(
        &main,
        &[&musl, "version is \"9.9.9\"", "@kaelio/ktx-linux-x64-musl"],
    );
}

#[test]
fn verify_refuses_a_set_missing_a_platform_tarball_naming_the_file() {
    let v = version();
    let tmp = tempfile::tempdir().unwrap();
    let gnu = format!("kaelio-ktx-linux-x64-{v}.tgz");
    let main = altered_set(tmp.path(), &gnu, None);
    verify_fails(&main, &["@kaelio/ktx-linux-x64", &gnu, "is missing"]);
}

#[test]
fn verify_refuses_a_main_package_asking_a_range_or_another_version_of_a_platform_package() {
    let v = version();
    let tmp = tempfile::tempdir().unwrap();
    let main = altered_set(
        tmp.path(),
        &format!("kaelio-ktx-{v}.tgz"),
        Some(&|name: &str, _: &mut tar::Header, bytes: &mut Vec<u8>| {
            if name == "package/package.json" {
                edit_json(bytes, |p| {
                    p["optionalDependencies"]["@kaelio/ktx-linux-x64"] = "^0.0.1".into()
                });
            }
            true
        }),
    );
    verify_fails(&main, &["@kaelio/ktx-linux-x64@\"^0.0.1\"", "not exactly"]);
}

#[test]
fn verify_refuses_a_platform_binary_that_is_not_executable_or_a_libc_that_does_not_match() {
    let v = version();
    let gnu = format!("kaelio-ktx-linux-x64-{v}.tgz");
    let tmp = tempfile::tempdir().unwrap();
    let main = altered_set(
        &tmp.path().join("mode"),
        &gnu,
        Some(&|name: &str, h: &mut tar::Header, _: &mut Vec<u8>| {
            if name == "package/ktx" {
                h.set_mode(0o644);
            }
            true
        }),
    );
    verify_fails(&main, &[&gnu, "package/ktx has mode 644"]);
    // The musl package without `libc` would be fetched on glibc systems too (twice the bytes).
    let musl = format!("kaelio-ktx-linux-x64-musl-{v}.tgz");
    let main = altered_set(
        &tmp.path().join("libc"),
        &musl,
        Some(&|name: &str, _: &mut tar::Header, bytes: &mut Vec<u8>| {
            if name == "package/package.json" {
                edit_json(bytes, |p| {
                    p.as_object_mut().unwrap().remove("libc");
                });
            }
            true
        }),
    );
    verify_fails(&main, &[&musl, "libc is null, expected [\"musl\"]"]);
}

fn unpack(tgz: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let st = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(tgz)
        .arg("-C")
        .arg(to)
        .arg("--strip-components=1")
        .status()
        .unwrap();
    assert!(st.success());
}

/// `ktx runtime doctor` of a platform package's binary, run directly (no launcher, no
/// KTX_PACKAGE_ROOT), with a fresh HOME: its first line says where the package is.
fn doctor_of(binary: &Path, home: &Path) -> String {
    let out = std::process::Command::new(binary)
        .args(["runtime", "doctor"])
        .env_remove("KTX_PACKAGE_ROOT")
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_platform_binary_run_directly_finds_the_main_package_beside_it_and_says_so_when_there_is_none()
{
    let tgzs = packed();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let modules = tmp.path().join("flat/node_modules/@kaelio");
    unpack(&tgzs[0], &modules.join("ktx-linux-x64"));
    let binary = modules.join("ktx-linux-x64/ktx");
    // Alone: no main package anywhere near it.
    let text = doctor_of(&binary, &home);
    assert!(
        text.contains("[fail] package") && text.contains("cannot find the bundled Python payload"),
        "{text}"
    );
    // npm's flat layout: @kaelio/ktx beside @kaelio/ktx-linux-x64.
    unpack(&tgzs[2], &modules.join("ktx"));
    let text = doctor_of(&binary, &home);
    let want = format!("[ok  ] package       {}", modules.join("ktx").display());
    assert!(text.contains(&want), "{text}");
    // npm's nested layout: the platform package inside the main package's node_modules.
    let nested = tmp.path().join("nested/node_modules/@kaelio/ktx");
    unpack(&tgzs[2], &nested);
    let inner = nested.join("node_modules/@kaelio/ktx-linux-x64");
    unpack(&tgzs[0], &inner);
    let text = doctor_of(&inner.join("ktx"), &home);
    let want = format!("[ok  ] package       {}", nested.display());
    assert!(text.contains(&want), "{text}");
}

#[test]
fn a_first_npx_on_linux_x64_fetches_at_most_a_quarter_more_than_the_one_binary_package() {
    let out = work_dir().join("sizes");
    let assert = release()
        .arg("--out")
        .arg(&out)
        .arg("download-sizes")
        .arg("--binary")
        .arg(format!("linux-x64={}", common::release_binary().display()))
        .arg("--binary")
        .arg(format!("linux-x64-musl={}", musl_binary().display()))
        .assert()
        .success();
    let table = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    let bytes = |row: &str| -> f64 {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("| {row}")))
            .unwrap_or_else(|| panic!("no row {row}: {table}"));
        line.split('|').nth(3).unwrap().trim().parse().unwrap()
    };
    let one = bytes("one binary");
    let platforms = bytes("one package per platform");
    assert!(table.contains("kaelio-ktx-linux-x64-"), "{table}");
    assert!(
        platforms <= 1.25 * one,
        "a first npx fetches {platforms} bytes, more than 1.25x {one}: {table}"
    );
}

#[test]
fn the_release_workflow_packs_the_platforms_layout_and_publishes_platform_packages_first_with_provenance(
) {
    let text =
        std::fs::read_to_string(ktx_release::repo_root().join(".github/workflows/release.yml"))
            .unwrap();
    assert!(
        text.contains("pack --layout platforms"),
        "the release packs the platforms layout"
    );
    let publish = &text[text.find("\n  publish:").expect("a publish job")..];
    let platforms = publish
        .find("for tgz in dist/kaelio-ktx-*.tgz")
        .expect("the platform packages are published");
    let main = publish
        .find("npm publish --provenance --access public \"$main\"")
        .expect("the main package is published");
    assert!(platforms < main, "platform packages first");
    for line in publish.lines().filter(|l| l.contains("npm publish")) {
        assert!(line.contains("--provenance"), "{line}");
    }
    assert!(publish.contains("id-token: write"));
}
