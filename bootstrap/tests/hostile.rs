//! Hostile projects, as a user meets them: a cloned repository or a shared directory whose
//! `ktx.yaml` and sources were written by someone else. Names that are not identifiers, YAML
//! nested a megabyte deep (in the project, in a source, in a parent directory), symlink loops
//! in a sources folder, a `ktx.yaml` planted above the working directory by another user or in
//! a directory every user can write, and settings that point at a secret file. Each is refused
//! in bounded time with exit 3 and a line naming the file, before any Python runs (no runtime
//! is installed in these sandboxes: reaching Python would ask to install it, exit 4).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// Generous: every command here answers in well under a second once fixed; before, the
/// nested YAML ran for minutes and the symlink loops until memory ran out.
const WATCHDOG: Duration = Duration::from_secs(20);

/// A fresh directory with a home and a runtime root of its own. No runtime is installed and
/// none is needed: every refusal here comes before Python.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("ktx-hostile-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Sandbox { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    /// `ktx` with this sandbox's home and runtime root, no uv, no daemon.
    fn std_ktx_without_uv(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ktx"));
        cmd.env("HOME", self.path().join("home"))
            .env("XDG_DATA_HOME", self.path().join("home/.local/share"))
            .env("KTX_RUNTIME_DIR", self.path().join("runtime"))
            .env("KTX_DAEMON", "never")
            .env_remove("KTX_UV")
            .env_remove("KTX_YES")
            .env_remove("KTX_NO_INPUT");
        if let Some(package) = std::env::var_os("KTX_TEST_PACKAGE") {
            cmd.env("KTX_PACKAGE_ROOT", package);
        }
        cmd
    }
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Write `files` (path relative to `dir`, text) under `dir`.
fn write(dir: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// A project with one sqlite connection `w` and the given source files under its folder.
fn project(dir: &Path, sources: &[(&str, &str)]) -> PathBuf {
    write(
        dir,
        &[(
            "ktx.yaml",
            "connections:\n  w: {driver: sqlite, path: data.db}\n",
        )],
    );
    std::fs::create_dir_all(dir.join("semantic-layer/w")).unwrap();
    for (rel, text) in sources {
        write(&dir.join("semantic-layer/w"), &[(rel, text)]);
    }
    dir.to_path_buf()
}

/// Run `cmd`; kill it and fail when it outlives the watchdog.
fn run(mut cmd: std::process::Command) -> Output {
    let started = Instant::now();
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still ran after {WATCHDOG:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `ktx <args>` from `cwd`, no uv, no input: Python is never reached in these tests.
fn ktx(sb: &Sandbox, cwd: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = sb.std_ktx_without_uv();
    cmd.current_dir(cwd)
        .env_remove("KTX_PROJECT_DIR")
        .arg("--no-input")
        .args(args);
    cmd
}

fn assert_refused(out: &Output) -> String {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");
    assert!(!err.contains("internal error"), "{err}");
    assert!(!err.contains("Traceback"), "{err}");
    err
}

/// KTX-shaped source text named `name` with a measure and a segment of the given names.
fn source(name: &str, measure: &str, segment: &str, column: &str) -> String {
    format!(
        "name: {name:?}\ntable: t\ngrain: [{column:?}]\ncolumns:\n  - {{name: {column:?}, type: number}}\nmeasures:\n  - {{name: {measure:?}, expr: 'count(*)'}}\nsegments:\n  - {{name: {segment:?}, expr: 'id > 0'}}\n"
    )
}

#[test]
fn source_measure_segment_and_column_names_that_are_not_identifiers_are_refused_naming_file_and_name(
) {
    let sb = Sandbox::new();
    let dir = project(
        &sb.path().join("p"),
        &[
            ("dot.yaml", &source(".", "m", "s", "id")),
            ("dotdot.yaml", &source("..", "m", "s", "id")),
            ("dots.yaml", &source("a..b..c", "m", "s", "id")),
            ("up.yaml", &source("../../x", "m", "s", "id")),
            // no name: the file's name is the source's
            (
                "a..b..c.yaml",
                "table: t\ngrain: [id]\ncolumns: [{name: id, type: number}]\n",
            ),
            ("measure.yaml", &source("orders", "../m", "s", "id")),
            ("segment.yaml", &source("customers", "m", "a..b", "id")),
            ("column.yaml", &source("items", "m", "s", "x.y")),
            (
                "escape.yaml",
                &source("orders", "m", "s", "id").replace("\"orders\"", "\"bad\\e[2Jname\""),
            ),
        ],
    );
    let out = run(ktx(&sb, &dir, &["sl", "validate"]));
    let err = assert_refused(&out);
    for (file, name) in [
        ("dot.yaml", "source name \".\""),
        ("dotdot.yaml", "source name \"..\""),
        ("dots.yaml", "source name \"a..b..c\""),
        ("up.yaml", "source name \"../../x\""),
        ("a..b..c.yaml", "source name \"a..b..c\""),
        ("measure.yaml", "measure name \"../m\""),
        ("segment.yaml", "segment name \"a..b\""),
        ("column.yaml", "column name \"x.y\""),
        ("escape.yaml", "source name \"bad\\u{1b}[2Jname\""),
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(&format!("semantic-layer/w/{file}: ")))
            .unwrap_or_else(|| panic!("no line for {file}: {err}"));
        assert!(line.contains(name), "{line}");
        assert!(line.contains("not an identifier") || line.contains("unqualified"));
    }
    assert!(
        !err.contains('\u{1b}'),
        "a terminal escape was printed: {err:?}"
    );
    // A query leaves every such file out, says so, and is refused with nothing left.
    let out = run(ktx(&sb, &dir, &["sl", "query", "--measure", "orders.m"]));
    let err = assert_refused(&out);
    assert!(err.contains("measure name \"../m\""), "{err}");
    assert!(err.contains("has no semantic-layer sources"), "{err}");
}

#[test]
fn identifiers_ktx_uses_are_accepted() {
    let sb = Sandbox::new();
    let dir = project(
        &sb.path().join("p"),
        &[(
            "orders.yaml",
            &source("_Orders2", "total_Revenue", "is_big", "Order Date"),
        )],
    );
    let out = run(ktx(&sb, &dir, &["sl", "validate"]));
    // Valid in Rust, so it goes on to Python, which is not installed here (exit 4, or 1
    // without the staged package).
    let err = stderr_of(&out);
    assert_ne!(out.status.code(), Some(3), "{err}");
    assert!(
        !err.contains("identifier") && !err.contains("unqualified"),
        "{err}"
    );
}

/// A megabyte of `{a: {a: ...` (libyaml is quadratic in it) and of `[[[...]]]`.
fn nested_megabyte() -> [String; 2] {
    [
        "{a: ".repeat(1 << 18),
        "[".repeat(1 << 19) + &"]".repeat(1 << 19),
    ]
}

#[test]
fn a_megabyte_of_nested_yaml_in_ktx_yaml_is_refused_before_parsing() {
    let sb = Sandbox::new();
    for (i, text) in nested_megabyte().iter().enumerate() {
        let dir = sb.path().join(format!("p{i}"));
        write(&dir, &[("ktx.yaml", text)]);
        let started = Instant::now();
        let out = run(ktx(&sb, &dir, &["sl", "validate"]));
        let err = assert_refused(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("ktx.yaml: nested more than 64 levels deep (line 1)"),
            "{err}"
        );
        eprintln!("refused in {:?}", started.elapsed());
    }
}

#[test]
fn a_nested_source_file_is_refused_and_the_others_still_load() {
    let sb = Sandbox::new();
    let [deep, _] = nested_megabyte();
    let dir = project(
        &sb.path().join("p"),
        &[
            ("deep.yaml", &format!("name: deep\ntable: t\nx: {deep}")),
            ("_schema/deep.yaml", &format!("tables:\n  t: {deep}")),
        ],
    );
    let out = run(ktx(&sb, &dir, &["sl", "validate", "--json"]));
    assert_refused(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for file in ["deep.yaml", "_schema/deep.yaml"] {
        assert!(
            errors.iter().any(|e| e.starts_with(&format!(
                "semantic-layer/w/{file}: nested more than 64 levels deep (line "
            ))),
            "{errors:?}"
        );
    }
}

#[test]
fn a_planted_parent_ktx_yaml_of_nesting_does_not_hang_commands_below_it() {
    let sb = Sandbox::new();
    let parent = sb.path().join("clone");
    let [deep, _] = nested_megabyte();
    write(&parent, &[("ktx.yaml", &deep)]);
    let below = parent.join("src/app");
    std::fs::create_dir_all(&below).unwrap();
    for args in [
        &["sl", "validate"][..],
        &["sl", "query", "--measure", "orders.revenue"],
    ] {
        let out = run(ktx(&sb, &below, args));
        let err = assert_refused(&out);
        assert!(err.contains("nested more than 64 levels"), "{err}");
    }
}

#[cfg(unix)]
#[test]
fn symlink_loops_in_a_sources_folder_are_walked_once_with_a_warning() {
    let sb = Sandbox::new();
    let dir = project(&sb.path().join("p"), &[("sub/keep.txt", "")]);
    let w = dir.join("semantic-layer/w");
    std::os::unix::fs::symlink(".", w.join("a")).unwrap();
    std::os::unix::fs::symlink(".", w.join("b")).unwrap();
    std::os::unix::fs::symlink("..", w.join("sub/up")).unwrap();
    let out = run(ktx(&sb, &dir, &["sl", "validate", "--json"]));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    for link in ["a", "b", "sub/up"] {
        assert!(
            warnings.iter().any(|w| w.starts_with(&format!(
                "semantic-layer/w/{link}: the folder semantic-layer/w again (a symlink loop"
            ))),
            "{warnings:?}"
        );
    }
    assert_eq!(warnings.len(), 3, "{warnings:?}");
}

/// The one test here that reaches Python (it needs the staged package and uv of
/// scripts/test): the demo answers from a sources folder with loops in it.
#[cfg(unix)]
#[test]
fn a_query_answers_from_a_sources_folder_with_symlink_loops() {
    let sb = common::Sandbox::new();
    let demo = sb.demo();
    let w = demo.join("semantic-layer/warehouse");
    std::os::unix::fs::symlink(".", w.join("a")).unwrap();
    std::os::unix::fs::symlink(".", w.join("b")).unwrap();
    sb.install();
    let mut cmd = sb.std_ktx();
    cmd.current_dir(&demo).args([
        "sl",
        "query",
        "--measure",
        "orders.revenue",
        "--dimension",
        "customers.country",
        "--execute",
    ]);
    let out = run(cmd);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["plan"]["execution"]["mode"], "executed");
    assert!(!v["rows"].as_array().unwrap().is_empty());
}

#[cfg(unix)]
mod other_users {
    use super::*;

    const USER: &str = "ktxhostile";

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    /// The second user (created once): uid and gid. These tests plant files as that user, so
    /// they need root; elsewhere they say so and check nothing.
    fn other_user() -> Option<(u32, u32)> {
        if !is_root() {
            eprintln!("not root: cannot plant files as another user; nothing checked");
            return None;
        }
        let id = |flag: &str| -> Option<u32> {
            let out = std::process::Command::new("id")
                .args([flag, USER])
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        if id("-u").is_none() {
            let _ = std::process::Command::new("useradd")
                .args(["-M", "-r", "-s", "/usr/sbin/nologin", USER])
                .status();
        }
        Some((id("-u")?, id("-g")?))
    }

    fn set_mode(p: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A project at `shared/` with no sources (valid without Python), the user's working
    /// directory below it.
    fn shared(sb: &Sandbox) -> (PathBuf, PathBuf) {
        let shared = project(&sb.path().join("shared"), &[]);
        let below = shared.join("team/me");
        std::fs::create_dir_all(&below).unwrap();
        (shared, below)
    }

    fn accepted_when_named(sb: &Sandbox, shared: &Path, below: &Path) {
        let named = shared.to_str().unwrap();
        let out = run(ktx(sb, below, &["sl", "validate", "--project-dir", named]));
        assert!(out.status.success(), "{}", stderr_of(&out));
        assert!(stdout_of(&out).contains("valid: 0 sources in connection 'w'"));
        let mut cmd = ktx(sb, below, &["sl", "validate"]);
        cmd.env("KTX_PROJECT_DIR", named);
        let out = run(cmd);
        assert!(out.status.success(), "{}", stderr_of(&out));
    }

    #[test]
    fn a_ktx_yaml_owned_by_another_user_above_the_working_directory_is_refused() {
        let Some((uid, gid)) = other_user() else {
            return;
        };
        let sb = Sandbox::new();
        let (shared, below) = shared(&sb);
        let file = shared.join("ktx.yaml");
        std::os::unix::fs::chown(&file, Some(uid), Some(gid)).unwrap();
        for cwd in [&below, &shared] {
            let out = run(ktx(&sb, cwd, &["sl", "validate"]));
            let err = assert_refused(&out);
            assert!(
                err.contains(&format!(
                    "{}, found upward from the working directory, is owned by {USER} (uid {uid}), not by you",
                    file.display()
                )),
                "{err}"
            );
            assert!(
                err.contains("hint: if you trust it, name it: --project-dir"),
                "{err}"
            );
            assert_eq!(err.lines().count(), 2, "{err}");
        }
        accepted_when_named(&sb, &shared, &below);
    }

    #[test]
    fn a_symlinked_ktx_yaml_planted_by_another_user_is_refused() {
        let Some((uid, gid)) = other_user() else {
            return;
        };
        let sb = Sandbox::new();
        let (shared, below) = shared(&sb);
        // The link is theirs, the file it points at is the user's own.
        let mine = shared.join("mine.yaml");
        std::fs::rename(shared.join("ktx.yaml"), &mine).unwrap();
        std::os::unix::fs::symlink(&mine, shared.join("ktx.yaml")).unwrap();
        std::os::unix::fs::lchown(shared.join("ktx.yaml"), Some(uid), Some(gid)).unwrap();
        let out = run(ktx(&sb, &below, &["sl", "validate"]));
        let err = assert_refused(&out);
        assert!(err.contains(&format!("is owned by {USER}")), "{err}");
        accepted_when_named(&sb, &shared, &below);
    }

    #[test]
    fn a_ktx_yaml_in_a_directory_every_user_can_write_is_refused_unless_named() {
        let Some((uid, gid)) = other_user() else {
            return;
        };
        for mode in [0o1777, 0o777] {
            let sb = Sandbox::new();
            let (shared, below) = shared(&sb);
            // The user's own ktx.yaml, in a directory another user owns and everyone writes.
            std::os::unix::fs::chown(&shared, Some(uid), Some(gid)).unwrap();
            set_mode(&shared, mode);
            let out = run(ktx(&sb, &below, &["sl", "validate"]));
            let err = assert_refused(&out);
            assert!(
                err.contains(&format!(
                    "sits in a directory every user can write, owned by {USER} (uid {uid})"
                )),
                "{mode:o}: {err}"
            );
            accepted_when_named(&sb, &shared, &below);
        }
    }

    #[test]
    fn the_users_own_project_in_their_own_directory_is_found_upward_as_before() {
        let sb = Sandbox::new();
        let (_, below) = shared(&sb);
        let out = run(ktx(&sb, &below, &["sl", "validate"]));
        assert!(out.status.success(), "{}", stderr_of(&out));
    }

    #[test]
    fn another_user_running_below_the_users_project_is_refused_too() {
        let Some((uid, gid)) = other_user() else {
            return;
        };
        let sb = Sandbox::new();
        let (shared, below) = shared(&sb);
        // The other user works below root's project: to them it is foreign.
        for p in [sb.path(), &shared, &shared.join("team"), &below] {
            set_mode(p, 0o755);
        }
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
        ])
        .arg(assert_cmd::cargo::cargo_bin("ktx"))
        .args(["--no-input", "sl", "validate"])
        .env("HOME", &below)
        .env("KTX_RUNTIME_DIR", below.join("runtime"))
        .env_remove("KTX_PROJECT_DIR")
        .current_dir(&below);
        let out = run(cmd);
        let err = assert_refused(&out);
        assert!(
            err.contains("is owned by root (uid 0), not by you"),
            "{err}"
        );
    }
}

#[test]
fn a_file_reference_is_never_echoed_in_an_error() {
    let sb = Sandbox::new();
    let secret = sb.path().join("secret.txt");
    std::fs::write(&secret, "hunter2-SECRET-TOKEN\nsecond line\n").unwrap();
    for (path, why) in [
        (
            format!("file:{}", secret.display()),
            format!(
                "the contents of file:{} name no file (not shown)",
                secret.display()
            ),
        ),
        (
            "env:KTX_HOSTILE_SECRET".to_string(),
            "the path in env:KTX_HOSTILE_SECRET names no file".to_string(),
        ),
        (
            "file:/dev/zero".to_string(),
            "points at file:/dev/zero, which is not a regular file".to_string(),
        ),
        (
            "file:/nonexistent/secret".to_string(),
            "points at file:/nonexistent/secret, which cannot be read".to_string(),
        ),
    ] {
        let dir = sb.path().join("p");
        let _ = std::fs::remove_dir_all(&dir);
        project(&dir, &[("orders.yaml", &source("orders", "m", "s", "id"))]);
        write(
            &dir,
            &[(
                "ktx.yaml",
                &format!("connections:\n  w: {{driver: sqlite, path: {path:?}}}\n"),
            )],
        );
        let mut cmd = ktx(
            &sb,
            &dir,
            &["sl", "query", "--measure", "orders.m", "--execute"],
        );
        cmd.env("KTX_HOSTILE_SECRET", "hunter2-SECRET-TOKEN");
        let out = run(cmd);
        let err = assert_refused(&out);
        assert!(!err.contains("hunter2"), "the secret was echoed: {err}");
        assert!(!stdout_of(&out).contains("hunter2"));
        assert!(err.contains(&why), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
