//! A real local npm registry for the smoke matrix: verdaccio from the npm registry, on a
//! loopback port, with empty storage and no uplinks; the package is published to it as the
//! release workflow publishes it: in the platforms layout (`npm_layout`: a single-layout tarball
//! is split first), every platform package before the main one. Checks that install by name get
//! what npm users get; checks that run the tarball by path get the single tarball, whose
//! optional dependencies npm resolves from this registry. Stopped when dropped.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    pub url: String,
    child: Child,
    pub log: PathBuf,
    npmrc: PathBuf,
    work: PathBuf,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Install verdaccio (once) under `tools`, from fixtures/registry/package.json.
fn install(repo: &Path, tools: &Path) -> Result<PathBuf> {
    let bin = tools.join("node_modules/.bin/verdaccio");
    let manifest = std::fs::read(repo.join("fixtures/registry/package.json"))?;
    if bin.exists()
        && std::fs::read(tools.join("package.json")).ok().as_deref() == Some(&manifest[..])
    {
        return Ok(bin);
    }
    eprintln!("  installing verdaccio from the npm registry (fixtures/registry/package.json)");
    std::fs::create_dir_all(tools)?;
    std::fs::write(tools.join("package.json"), &manifest)?;
    let out = Command::new(crate::pack::npm_command())
        .args(["install", "--no-audit", "--no-fund", "--silent"])
        .current_dir(tools)
        .output()
        .context("cannot run npm")?;
    if !out.status.success() || !bin.exists() {
        bail!(
            "npm install of verdaccio failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(bin)
}

impl Registry {
    pub fn start(repo: &Path, work: &Path) -> Result<Registry> {
        let bin = install(repo, &repo.join("target/smoke/verdaccio"))?;
        let storage = work.join("registry");
        let _ = std::fs::remove_dir_all(&storage);
        std::fs::create_dir_all(&storage)?;
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let template = std::fs::read_to_string(repo.join("fixtures/registry/config.yaml"))?;
        let config = storage.join("config.yaml");
        std::fs::write(
            &config,
            template
                .replace("{storage}", &storage.display().to_string())
                .replace("{listen}", &listen),
        )?;
        let log = work.join("registry.log");
        let out = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .spawn()
            .context("cannot start verdaccio")?;
        let url = format!("http://{listen}/");
        let mut reg = Registry {
            url,
            child,
            log,
            npmrc: work.join("registry.npmrc"),
            work: work.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && ureq::get(&format!("{}-/ping", reg.url)).call().is_ok()
            {
                break;
            }
            if let Ok(Some(st)) = reg.child.try_wait() {
                bail!("verdaccio exited ({st}); see {}", reg.log.display());
            }
            if Instant::now() > deadline {
                bail!(
                    "verdaccio did not answer within 60 s; see {}",
                    reg.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        reg.login()?;
        Ok(reg)
    }

    /// Create a publisher account (CouchDB user API, as `npm adduser` does) and keep its token.
    fn login(&mut self) -> Result<()> {
        let resp = ureq::put(&format!("{}-/user/org.couchdb.user:smoke", self.url))
            .send_json(serde_json::json!({"name": "smoke", "password": "smoke-password", "type": "user", "roles": []}))
            .context("cannot create the registry user")?;
        let body: serde_json::Value = resp.into_json()?;
        let token = body["token"]
            .as_str()
            .context("the registry gave no token")?;
        let host = self.url.trim_start_matches("http:");
        std::fs::write(
            &self.npmrc,
            format!("registry={}\n{host}:_authToken={token}\n", self.url),
        )?;
        Ok(())
    }

    /// Publish the package of `tarball` in the platforms layout, platform packages first;
    /// returns the tarballs published, in order.
    pub fn publish(&self, tarball: &Path) -> Result<Vec<PathBuf>> {
        let set = crate::pack::release_set(tarball, &self.work.join("published"))?;
        let order = set.publish_order();
        for t in &order {
            self.publish_one(t)?;
        }
        Ok(order)
    }

    fn publish_one(&self, tarball: &Path) -> Result<()> {
        let out = Command::new(crate::pack::npm_command())
            .args(["publish", "--access", "public", "--userconfig"])
            .arg(&self.npmrc)
            .arg("--registry")
            .arg(&self.url)
            .arg(tarball)
            .output()
            .context("cannot run npm publish")?;
        if !out.status.success() {
            bail!(
                "npm publish of {} to {} failed:\n{}",
                tarball.display(),
                self.url,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
