//! Where a cell's steps run. `Local`: a clean-machine sandbox on this host (fresh HOME, XDG and
//! npm directories, a PATH without uv; the uv cache is shared, no check here is about cold
//! speed). `Container`: a container of the cell's image on the host network (see `container`).

use anyhow::{Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct StepOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
    pub timed_out: bool,
}

pub trait Sandbox {
    /// Run `script` with `sh -c` in the work directory (which holds the tarball).
    fn run(&mut self, script: &str, timeout: Duration) -> Result<StepOutput>;
    /// Where the logs of this cell are, for failure messages.
    fn describe(&self) -> String;
}

/// Shell that prints the newest install log and the daemon log of the cell's runtime.
pub const DIAGNOSE: &str = r#"r="${XDG_DATA_HOME:-$HOME/.local/share}/kaelio/ktx/runtime"; for f in $(ls -t "$r"/*/logs/*.log 2>/dev/null | head -1) "$r"/*/daemon.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }; done; true"#;

pub struct Local {
    pub dir: PathBuf,
    env: Vec<(String, String)>,
}

/// PATH without any directory that holds a uv (the cells and cold benchmarks are about a
/// machine without uv), with `first` put in front when given.
pub fn path_without_uv(first: Option<&Path>) -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = first
        .map(Path::to_path_buf)
        .into_iter()
        .chain(std::env::split_paths(&path).filter(|d| !d.join("uv").exists()));
    std::env::join_paths(dirs)
        .map(|p| p.to_string_lossy().to_string())
        .unwrap_or_default()
}

impl Local {
    pub fn new(
        dir: &Path,
        tarball: &Path,
        registry: &str,
        extra_env: &[(String, String)],
    ) -> Result<Local> {
        let _ = std::fs::remove_dir_all(dir);
        for sub in [
            "home",
            "work",
            "npm-prefix/bin",
            "npm-cache",
            "xdg/data",
            "xdg/config",
            "xdg/cache",
        ] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let name = tarball.file_name().context("tarball has no name")?;
        std::fs::copy(tarball, dir.join("work").join(name))?;
        let npmrc = dir.join("home/.npmrc");
        std::fs::write(
            &npmrc,
            format!("registry={registry}\nupdate-notifier=false\nfund=false\naudit=false\n"),
        )?;
        let d = |s: &str| dir.join(s).display().to_string();
        let mut env = vec![
            ("HOME".to_string(), d("home")),
            (
                "PATH".to_string(),
                path_without_uv(Some(&dir.join("npm-prefix/bin"))),
            ),
            ("XDG_DATA_HOME".to_string(), d("xdg/data")),
            ("XDG_CONFIG_HOME".to_string(), d("xdg/config")),
            ("XDG_CACHE_HOME".to_string(), d("xdg/cache")),
            ("npm_config_prefix".to_string(), d("npm-prefix")),
            ("npm_config_cache".to_string(), d("npm-cache")),
            (
                "npm_config_userconfig".to_string(),
                npmrc.display().to_string(),
            ),
            ("npm_config_registry".to_string(), registry.to_string()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
        ];
        // Shared with the host on purpose: the uv cache (speed), CA bundles and proxies (the
        // network users have).
        let cache = std::env::var("UV_CACHE_DIR")
            .ok()
            .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.cache/uv")));
        if let Some(c) = cache {
            env.push(("UV_CACHE_DIR".into(), c));
        }
        for k in [
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "NODE_EXTRA_CA_CERTS",
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "NO_PROXY",
            "https_proxy",
            "http_proxy",
            "no_proxy",
            "UV_DEFAULT_INDEX",
            "UV_INDEX_URL",
            "PIP_INDEX_URL",
            "TMPDIR",
        ] {
            if let Ok(v) = std::env::var(k) {
                env.push((k.to_string(), v));
            }
        }
        env.extend(extra_env.iter().cloned());
        Ok(Local {
            dir: dir.to_path_buf(),
            env,
        })
    }
}

/// Run a command with a deadline, capturing its output.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<StepOutput> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().context("cannot start sh")?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if start.elapsed() > timeout {
            timed_out = true;
            #[cfg(unix)]
            // SAFETY: kills the process group this step started.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.kill();
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(StepOutput {
        code: status.and_then(|s| s.code()),
        stdout: String::from_utf8_lossy(&t_out.join().unwrap_or_default()).to_string(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap_or_default()).to_string(),
        took: start.elapsed(),
        timed_out,
    })
}

impl Sandbox for Local {
    fn run(&mut self, script: &str, timeout: Duration) -> Result<StepOutput> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .current_dir(self.dir.join("work"))
            .env_clear();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        run_with_timeout(cmd, timeout)
    }

    fn describe(&self) -> String {
        format!(
            "local sandbox {} (runtime under xdg/data/kaelio/ktx/runtime)",
            self.dir.display()
        )
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // Leave no daemon behind.
        let _ = self.run(
            "npx --yes @kaelio/ktx runtime stop >/dev/null 2>&1; true",
            Duration::from_secs(60),
        );
    }
}
