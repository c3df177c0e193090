//! The test harness: a fresh HOME and runtime root per test, the staged npm package and the
//! shared uv that scripts/test prepared, and the real `ktx` binary.
#![allow(dead_code)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn required(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) => PathBuf::from(v),
        None => panic!("{var} is not set: run the tests through ./scripts/test, which stages the package and the test uv"),
    }
}

/// The staged @kaelio/ktx package (wheel, runtime-manifest.json, demo).
pub fn package() -> PathBuf {
    required("KTX_TEST_PACKAGE")
}

/// A uv the tests may use (the machine has none on PATH).
pub fn uv() -> PathBuf {
    required("KTX_TEST_UV")
}

/// `ktx sl query` on the sandbox's demo project (`demo/`, one connection): add measures,
/// dimensions and flags after it.
pub const DEMO_QUERY: &[&str] = &["sl", "query", "--project-dir", "demo"];

/// The query users try first: revenue by country.
pub const REVENUE_BY_COUNTRY: &[&str] = &[
    "--measure",
    "orders.revenue",
    "--dimension",
    "customers.country",
];

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("ktx-test-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Sandbox { dir }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn root(&self) -> PathBuf {
        self.path().join("runtime")
    }
    pub fn version_dir(&self) -> PathBuf {
        self.root().join(env!("CARGO_PKG_VERSION"))
    }
    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }
    /// `ktx` (std) with this sandbox's HOME and runtime root, the test package, no uv.
    pub fn std_ktx_without_uv(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ktx"));
        cmd.env("HOME", self.home())
            .env("XDG_DATA_HOME", self.home().join(".local/share"))
            .env("KTX_RUNTIME_DIR", self.root())
            .env("KTX_PACKAGE_ROOT", package())
            .env("KTX_DAEMON_IDLE_TIMEOUT", "120")
            // No daemon unless a test asks (--daemon, runtime start, or KTX_DAEMON=auto for
            // bursts): tests that run many commands stay one-shot and deterministic.
            .env("KTX_DAEMON", "never")
            .env_remove("KTX_UV")
            .env_remove("KTX_YES")
            .env_remove("KTX_NO_INPUT")
            .env_remove("KTX_UV_SOURCE")
            .current_dir(self.path());
        cmd
    }
    /// As above, with the shared test uv (for spawning in parallel).
    pub fn std_ktx(&self) -> std::process::Command {
        let mut cmd = self.std_ktx_without_uv();
        cmd.env("KTX_UV", uv());
        cmd
    }
    /// `ktx` for assertions, without uv.
    pub fn ktx_without_uv(&self) -> Command {
        Command::from_std(self.std_ktx_without_uv())
    }
    /// `ktx` for assertions, with the shared test uv.
    pub fn ktx(&self) -> Command {
        Command::from_std(self.std_ktx())
    }
    /// Write the demo project (at `demo/`) and return its directory.
    pub fn demo(&self) -> PathBuf {
        let dir = self.path().join("demo");
        if !dir.exists() {
            self.ktx()
                .args(["setup", "demo", "--project-dir"])
                .arg(&dir)
                .assert()
                .success();
        }
        dir
    }
    /// `ktx sl query` on the demo project (written first) with `args` after it.
    pub fn query(&self, args: &[&str]) -> Command {
        self.demo();
        let mut cmd = self.ktx();
        cmd.args(DEMO_QUERY).args(args);
        cmd
    }
    /// Install the core runtime.
    pub fn install(&self) {
        self.ktx().args(["runtime", "install"]).assert().success();
    }
    /// The installed runtime's manifest.json.
    pub fn manifest(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.version_dir().join("manifest.json")).unwrap())
            .unwrap()
    }
    pub fn install_logs(&self) -> usize {
        std::fs::read_dir(self.version_dir().join("logs"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // A failing test shows what the runtime wrote: the newest install log and the daemon log.
        if std::thread::panicking() {
            let newest = std::fs::read_dir(self.version_dir().join("logs"))
                .map(|rd| rd.flatten().map(|e| e.path()).max())
                .ok()
                .flatten();
            for log in newest
                .into_iter()
                .chain(Some(self.version_dir().join("daemon.log")))
            {
                if let Ok(text) = std::fs::read_to_string(&log) {
                    let lines: Vec<&str> = text.lines().collect();
                    eprintln!("--- {} (last 40 lines) ---", log.display());
                    for l in &lines[lines.len().saturating_sub(40)..] {
                        eprintln!("  | {l}");
                    }
                }
            }
        }
        // Never leave a daemon behind: stop whatever this sandbox started.
        let _ = self.ktx().args(["runtime", "stop", "--all"]).output();
    }
}

/// A manifest.json as ktx writes it, for version `v` (an old runtime for prune and status).
pub fn ktx_manifest(v: &str) -> String {
    serde_json::json!({
        "cliVersion": v,
        "wheel": {"file": format!("kaelio_ktx-{v}-py3-none-any.whl"), "sha256": "0".repeat(64)},
        "python": {"executable": "/nonexistent/python", "version": "3.11.2",
                   "base": "/usr/bin/python3", "source": "system"},
        "daemon": "/nonexistent/ktx-daemon",
        "features": ["core"],
        "uv": {"path": "/nonexistent/uv", "version": "0.13.9", "source": "PATH"},
        "installedAt": "2026-01-01T00:00:00Z"
    })
    .to_string()
}

/// Make `dir`'s manifest.json name version `v` (a copied runtime posing as another version).
pub fn set_manifest_version(dir: &Path, v: &str) {
    let path = dir.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m["cliVersion"] = v.into();
    std::fs::write(path, m.to_string()).unwrap();
}

/// The runtime host started by hand as ktx starts the daemon of the version directory `dir`
/// (its venv's python, its lock, state and log files, `token`), logging into `dir/daemon.log`;
/// `isolated: false` leaves out `-I`, as an old or tampered starter would.
pub fn host_serve_http(
    dir: &Path,
    wheel_sha256: &str,
    token: &str,
    isolated: bool,
) -> std::process::Command {
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let mut cmd = std::process::Command::new(venv_python(&dir.join("venv")));
    if isolated {
        cmd.arg("-I");
    }
    cmd.args([
        "-m",
        "ktx_host",
        "serve-http",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ])
    .args([
        "--idle-timeout",
        "120",
        "--features",
        "core",
        "--reason",
        "start",
    ])
    .args(["--wheel-sha256", wheel_sha256])
    .arg("--lock-file")
    .arg(dir.join(".daemon.lock"))
    .arg("--state-file")
    .arg(dir.join("daemon.json"))
    .arg("--log-file")
    .arg(dir.join("daemon.log"))
    .env("KTX_DAEMON_TOKEN", token)
    .stdout(log.try_clone().unwrap())
    .stderr(log);
    cmd
}

/// What a tree takes on disk (files' lengths, symlinks not followed).
pub fn tree_size(p: &Path) -> u64 {
    let mut total = 0;
    walk(p, &mut |f| {
        if let Ok(m) = std::fs::symlink_metadata(f) {
            if m.is_file() {
                total += m.len();
            }
        }
    });
    total
}

/// Every path under `p` (and `p`), symlinks not followed.
pub fn walk(p: &Path, f: &mut dyn FnMut(&Path)) {
    f(p);
    if std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                walk(&e.path(), f);
            }
        }
    }
}

pub fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}
pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A small HTTP file server on 127.0.0.1 for download tests: serves `files` by path and counts
/// the requests of each path.
type Files = std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>>;

pub struct FileServer {
    pub port: u16,
    pub hits: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>,
    files: Files,
}

impl FileServer {
    pub fn start(files: Vec<(String, Vec<u8>)>) -> FileServer {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let files: Files = std::sync::Arc::new(std::sync::Mutex::new(files.into_iter().collect()));
        let served = files.clone();
        let hits = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
        let h = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let files = served.clone();
                let hits = h.clone();
                std::thread::spawn(move || {
                    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                    }
                    *hits.lock().unwrap().entry(path.clone()).or_insert(0) += 1;
                    let mut stream = stream;
                    let body = files.lock().unwrap().get(&path).cloned();
                    match body {
                        Some(body) => {
                            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n", body.len());
                            let _ = stream.write_all(&body);
                        }
                        None => {
                            let _ = write!(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        }
                    }
                });
            }
        });
        FileServer { port, hits, files }
    }

    /// Serve `body` at `path` from now on.
    pub fn put(&self, path: &str, body: Vec<u8>) {
        self.files.lock().unwrap().insert(path.to_string(), body);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// A CPython archive in python-build-standalone's layout, built by scripts/test from this
/// machine's python3 (scripts/standalone-python): (archive path, its archive.json).
pub fn standalone_python() -> (PathBuf, serde_json::Value) {
    let dir = required("KTX_TEST_STANDALONE_PYTHON");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("archive.json")).unwrap()).unwrap();
    (dir.join(meta["file"].as_str().unwrap()), meta)
}

/// A loopback mirror of managed Pythons: the archive and a downloads list for uv (what
/// KTX_PYTHON_DOWNLOADS_JSON points at). `tamper`: the served archive is not the one the list
/// pins (its sha256 differs).
pub fn python_mirror(tamper: bool) -> (FileServer, String) {
    let (archive, meta) = standalone_python();
    let mut bytes = std::fs::read(&archive).unwrap();
    if tamper {
        // Still a valid archive, with one more file in it.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        {
            let mut tar = tar::Builder::new(&mut gz);
            let mut src = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
            for entry in src.entries().unwrap() {
                let mut entry = entry.unwrap();
                let mut header = entry.header().clone();
                let path = entry.path().unwrap().to_path_buf();
                tar.append_data(&mut header, path, &mut entry).unwrap();
            }
            let mut header = tar::Header::new_ustar();
            header.set_size(9);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, "python/TAMPERED", &b"tampered\n"[..])
                .unwrap();
            tar.finish().unwrap();
        }
        bytes = gz.finish().unwrap();
    }
    let file = meta["file"].as_str().unwrap().to_string();
    let server = FileServer::start(vec![(format!("/{file}"), bytes)]);
    let key = format!(
        "cpython-{}.{}.{}-linux-{}-gnu",
        meta["major"],
        meta["minor"],
        meta["patch"],
        meta["arch"].as_str().unwrap()
    );
    let list = serde_json::json!({ key: {
        "name": "cpython",
        "arch": {"family": meta["arch"], "variant": null},
        "os": "linux",
        "libc": "gnu",
        "major": meta["major"],
        "minor": meta["minor"],
        "patch": meta["patch"],
        "prerelease": "",
        "url": format!("{}/{file}", server.url()),
        "sha256": meta["sha256"],
        "variant": null,
    }});
    server.put("/downloads.json", serde_json::to_vec(&list).unwrap());
    let url = format!("{}/downloads.json", server.url());
    (server, url)
}

/// The real uv wheel of the pinned version for this host (file name, bytes).
pub fn uv_wheel() -> (String, Vec<u8>) {
    let dir = required("KTX_TEST_UV_WHEEL_DIR");
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .expect("a uv wheel in KTX_TEST_UV_WHEEL_DIR");
    (
        path.file_name().unwrap().to_string_lossy().to_string(),
        std::fs::read(&path).unwrap(),
    )
}

/// Whether `pid` runs. A zombie counts as gone: it holds no lock, no port, no memory, and PID 1
/// of some containers never reaps it.
pub fn pid_alive(pid: u32) -> bool {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System};
    let mut sys = System::new();
    let pid = Pid::from_u32(pid);
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing(),
    );
    sys.process(pid)
        .is_some_and(|p| !matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead))
}

/// Wait up to `within` for `pid` to be gone; whether it is.
pub fn wait_gone(pid: u32, within: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    while pid_alive(pid) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    true
}

/// The live processes whose command line holds every one of `needles`.
pub fn processes_with(needles: &[&str]) -> Vec<u32> {
    use sysinfo::{ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind};
    let mut sys = System::new();
    sys.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing().with_cmd(UpdateKind::Always),
    );
    let mut pids: Vec<u32> = sys
        .processes()
        .values()
        .filter(|p| !matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead))
        .filter(|p| {
            let cmd: Vec<String> = p
                .cmd()
                .iter()
                .map(|a| a.to_string_lossy().to_string())
                .collect();
            let cmd = cmd.join(" ");
            needles.iter().all(|n| cmd.contains(n))
        })
        .map(|p| p.pid().as_u32())
        .collect();
    pids.sort();
    pids
}

/// The interpreter of a venv.
pub fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// An interpreter the tests may run for helpers (the test environment's venv).
pub fn test_python() -> PathBuf {
    venv_python(&required("KTX_TEST_PYTHON_ENV"))
}

/// Copy a tree, symlinks as symlinks (a venv's interpreter is one on Unix).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let t = e.file_type().unwrap();
        if t.is_symlink() {
            let target = std::fs::read_link(&src).unwrap();
            #[cfg(unix)]
            std::os::unix::fs::symlink(&target, &dst).unwrap();
            #[cfg(windows)]
            std::fs::copy(&src, &dst).map(|_| ()).unwrap();
        } else if t.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}
