//! The row groups of the table, one method of `Bench` each, in table order (the npm install
//! modes are in `launcher`): each says what it compares, builds the commands and hands them
//! to the row builder (`Bench::compare`, or `time` then `row` when one timing feeds rows).

use super::setup::{check, dir_size, python313};
use super::{median_ms, query_args, Bench, Cmd, Stats, Verdict};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Queries in the burst row.
const BURST: usize = 50;

impl Bench<'_> {
    /// Warm one-shot `ktx sl query` against `ktx-daemon semantic-query` fed the same request:
    /// what ktx adds around the Python process.
    pub fn warm_oneshot(&mut self) -> Result<()> {
        eprintln!("==> bench: warm one-shot ktx sl query vs ktx-daemon directly");
        let direct = Cmd::new("ktx-daemon semantic-query", self.env.daemon_exe())
            .arg("semantic-query")
            .stdin(&self.env.request);
        let t = self.compare(
            "oneshot-overhead",
            "warm one-shot query: ktx vs ktx-daemon directly",
            &self.query(),
            Some(&direct),
            self.runs,
            2,
            Verdict::Adds {
                word: "overhead",
                max: Some(15.0),
            },
        )?;
        self.oneshot = Some(t[0].stats.clone());
        Ok(())
    }

    /// The same query through the npm launcher (`node dist/bin.js`) and the native binary.
    pub fn launcher_query(&mut self) -> Result<()> {
        eprintln!("==> bench: the npm launcher vs the native binary (sl query)");
        let launcher = self
            .as_user(Cmd::new("node dist/bin.js sl query", "node"))
            .arg(self.env.package.join("dist/bin.js"))
            .args(query_args(&self.env.demo))
            .env("KTX_UV", &self.env.uv)
            .cwd(&self.env.dir);
        self.compare(
            "launcher",
            "the npm launcher's cost (sl query)",
            &launcher,
            Some(&self.query()),
            self.runs,
            1,
            Verdict::Adds {
                word: "launcher adds",
                max: None,
            },
        )?;
        Ok(())
    }

    /// Warm `ktx sl query` against `uvx --from <wheel> ktx-daemon` answering the same request.
    pub fn uvx_vs_ktx(&mut self) -> Result<()> {
        eprintln!("==> bench: uvx --from <wheel> vs ktx, warm");
        let uvx = Cmd::new("uvx --from <wheel> ktx-daemon", &self.env.uv)
            .args(["tool", "run", "--from"])
            .arg(&self.env.wheel)
            .args(["ktx-daemon", "semantic-query"])
            .stdin(&self.env.request);
        self.compare(
            "vs-uvx",
            "warm query: ktx vs uvx --from <wheel>",
            &self.query(),
            Some(&uvx),
            self.runs,
            2,
            Verdict::Faster {
                who: "ktx",
                min: Some(1.0),
            },
        )?;
        Ok(())
    }

    /// `ktx runtime status` and `ktx --version` of the native binary, alone.
    pub fn status_version(&mut self) -> Result<()> {
        eprintln!("==> bench: runtime status and --version");
        for (id, label, args, max) in [
            (
                "status",
                "ktx runtime status",
                &["runtime", "status"][..],
                Some(5.0),
            ),
            ("version", "ktx --version", &["--version"][..], None),
        ] {
            let c = self.ktx_in(&self.env.root, label, args);
            self.compare(id, label, &c, None, self.runs, 2, Verdict::Ms { max })?;
        }
        Ok(())
    }

    /// `ktx <args>` against the daemon rows' root (a daemon may run there).
    fn ktx_daemon(&self, label: &str, args: &[&str]) -> Cmd {
        self.ktx_in(&self.daemon_root, label, args)
            .env_remove("KTX_DAEMON")
    }

    fn stop_daemon(&self) {
        let _ = self
            .ktx_daemon("ktx runtime stop", &["runtime", "stop"])
            .check();
    }

    /// A query through a running daemon against the one-shot query; then daemon start to
    /// healthy (after a stop, untimed).
    pub fn daemon(&mut self) -> Result<()> {
        eprintln!("==> bench: daemon query vs one-shot, and daemon start to healthy");
        self.ktx_daemon("ktx runtime install", &["runtime", "install"])
            .check()
            .context("cannot install the daemon rows' runtime; hint: run `ktx runtime install` by hand with KTX_RUNTIME_DIR set to see why")?;
        self.ktx_daemon("ktx runtime start", &["runtime", "start"])
            .check()
            .context("cannot start the daemon; hint: see `ktx runtime status`")?;
        let mut q = query_args(&self.env.demo);
        q.push("--daemon".into());
        let daemon_q = self.ktx_in(&self.daemon_root, "ktx sl query --daemon", &q);
        self.compare(
            "daemon-vs-oneshot",
            "warm query: through the daemon vs one-shot",
            &daemon_q,
            Some(&self.query()),
            self.runs,
            2,
            Verdict::Faster {
                who: "daemon",
                min: Some(10.0),
            },
        )?;
        let start = self
            .ktx_daemon("ktx runtime start", &["runtime", "start"])
            .reset(self.ktx_daemon("ktx runtime stop", &["runtime", "stop"]))
            .after("after `ktx runtime stop`, untimed");
        self.compare(
            "daemon-start",
            "daemon start to healthy",
            &start,
            None,
            self.runs.min(5),
            1,
            Verdict::Ms { max: Some(2000.0) },
        )?;
        self.stop_daemon();
        Ok(())
    }

    /// `BURST` queries in a row from a cold state with `KTX_DAEMON=auto` (the third starts the
    /// daemon), per query, against the warm one-shot query.
    pub fn burst(&mut self) -> Result<()> {
        eprintln!("==> bench: a burst of {BURST} queries from a cold state (KTX_DAEMON=auto)");
        let burst = self
            .ktx_in(
                &self.daemon_root,
                &format!("{BURST} x ktx sl query (KTX_DAEMON=auto)"),
                query_args(&self.env.demo),
            )
            .env("KTX_DAEMON", "auto");
        let version_dir = self.daemon_root.join(ktx_bootstrap::VERSION);
        let mut per_query = Vec::new();
        for _ in 0..self.cold_runs {
            // Cold: no daemon, no record of recent commands.
            self.stop_daemon();
            for f in [".recent-runs", ".burst-start", ".daemon-failed"] {
                let _ = std::fs::remove_file(version_dir.join(f));
            }
            for _ in 0..BURST {
                per_query.push(burst.run_once()?);
            }
        }
        self.stop_daemon();
        let b = Stats::of(per_query);
        let oneshot = self
            .oneshot
            .clone()
            .context("the burst row needs the one-shot row first (a bug in the bench)")?;
        let ours = super::Timed {
            label: burst.label.clone(),
            shown: format!(
                "{} ({BURST} in a row after `ktx runtime stop`; the third starts the daemon)",
                burst.shown()
            ),
            stats: b.clone(),
        };
        let peer = super::Timed {
            label: "ktx sl query (one-shot)".into(),
            shown: self.query().shown(),
            stats: oneshot.clone(),
        };
        self.row(
            "burst",
            format!("a burst of {BURST} queries from a cold state, per query"),
            &ours,
            Some(&peer),
            Verdict::Custom {
                result: format!(
                    "{:.1} ms per query, one-shot {:.1} ms",
                    median_ms(&b),
                    median_ms(&oneshot)
                ),
                target: "<= 25 ms".into(),
                met: Some(median_ms(&b) <= 25.0),
            },
            None,
        );
        Ok(())
    }

    /// A first run on a machine without uv (`ktx bootstrap`, empty root) against doing it by
    /// hand (pip install uv, uv venv, uv pip install) and against uvx with the package not cached.
    pub fn cold_first_run(&mut self) -> Result<()> {
        eprintln!("==> bench: cold first run without uv vs by hand, warm uv cache");
        let cold_root = self.env.dir.join("cold");
        let cold = self
            .ktx_in(
                &cold_root,
                "ktx bootstrap (no uv, empty root)",
                ["bootstrap", "--yes"],
            )
            .env_remove("KTX_UV")
            .env_remove("KTX_DAEMON")
            .env("PATH", crate::smoke::sandbox::path_without_uv(None))
            .wipe(&cold_root)
            .after("after rm -rf the root");
        let hand = self.env.dir.join("by-hand");
        let script = format!(
            "python3 -m venv {h}/tools && {h}/tools/bin/pip install -q uv=={v} && {h}/tools/bin/uv venv -q {h}/venv && {h}/tools/bin/uv pip install -q --python {h}/venv/bin/python {w}",
            h = hand.display(),
            v = crate::uvpin::UV_VERSION,
            w = self.env.wheel.display()
        );
        let by_hand = Cmd::new("pip install uv + uv venv + uv pip install", "sh")
            .args(["-c", &script])
            .wipe(&hand)
            .after(format!("after rm -rf {}", hand.display()));
        let uvx_cold = Cmd::new("uvx --from <wheel> (package not cached)", &self.env.uv)
            .args(["tool", "run", "--isolated", "--from"])
            .arg(&self.env.wheel)
            .args(["ktx-daemon", "--version"])
            .reset(Cmd::new("uv cache clean", &self.env.uv).args(["cache", "clean", "kaelio-ktx"]))
            .after("after `uv cache clean kaelio-ktx`; uvx needs uv installed already");
        let t = self.time(&[&cold, &by_hand, &uvx_cold], self.cold_runs, 1)?;
        self.row(
            "cold-vs-hand",
            "cold first run (no uv) vs by hand",
            &t[0],
            Some(&t[1]),
            Verdict::Of {
                peer: "by hand",
                max: Some(1.2),
            },
            None,
        );
        self.row(
            "cold-vs-uvx",
            "cold first run (no uv) vs uvx, package not cached",
            &t[0],
            Some(&t[2]),
            Verdict::Of {
                peer: "uvx",
                max: None,
            },
            None,
        );
        Ok(())
    }

    /// `ktx-release wheel` against `uv build --wheel` and `python -m build --wheel`.
    pub fn wheel_build(&mut self) -> Result<()> {
        eprintln!("==> bench: ktx-release wheel vs uv build vs python -m build");
        let me = std::env::current_exe().context("cannot find this ktx-release's own path")?;
        let dir = &self.env.dir;
        let ours = Cmd::new("ktx-release wheel", me)
            .arg("--out")
            .arg(dir.join("wheel-ours"))
            .arg("wheel");
        let python = self.repo.join("python");
        let uvb = Cmd::new("uv build --wheel", &self.env.uv)
            .args(["build", "--wheel", "-q", "-o"])
            .arg(dir.join("wheel-uv"))
            .arg(&python);
        let pyb = Cmd::new("python -m build --wheel", self.env.py.join("bin/python"))
            .args(["-m", "build", "--wheel", "--no-isolation", "-o"])
            .arg(dir.join("wheel-pybuild"))
            .arg(&python);
        let t = self.time(&[&ours, &uvb, &pyb], self.runs, 1)?;
        self.row(
            "wheel-vs-uv-build",
            "wheel build: ktx-release vs uv build",
            &t[0],
            Some(&t[1]),
            Verdict::Faster {
                who: "",
                min: Some(5.0),
            },
            None,
        );
        self.row(
            "wheel-vs-python-build",
            "wheel build: ktx-release vs python -m build",
            &t[0],
            Some(&t[2]),
            Verdict::Faster { who: "", min: None },
            None,
        );
        Ok(())
    }

    /// Opt-in (`--with-embeddings`): `ktx embed` when the daemon starts and loads the model,
    /// against the same call with the daemon warm.
    pub fn embeddings(&mut self) -> Result<()> {
        eprintln!("==> bench: embeddings, first call vs second call through the daemon");
        let model = crate::smoke::embedding_model(&self.env.dir)?;
        let embed = |label: &str, args: &[&str]| {
            self.ktx_daemon(label, args)
                .env("KTX_EMBEDDING_MODEL", &model)
        };
        embed(
            "install local-embeddings",
            &[
                "runtime",
                "install",
                "--feature",
                "local-embeddings",
                "--yes",
            ],
        )
        .check()
        .context(
            "cannot install the local-embeddings feature; hint: it needs the network for torch",
        )?;
        let texts = ["embed", "revenue by country", "sales per nation"];
        let first = embed("ktx embed (daemon starts, loads the model)", &texts)
            .reset(embed("ktx runtime stop", &["runtime", "stop"]))
            .after("after `ktx runtime stop`, untimed");
        let second = embed("ktx embed (daemon warm)", &texts);
        let t = self.time(&[&first, &second], self.cold_runs, 0)?;
        self.stop_daemon();
        self.row(
            "embeddings",
            "embeddings: first call vs second call",
            &t[1],
            Some(&t[0]),
            Verdict::Faster {
                who: "second",
                min: Some(20.0),
            },
            None,
        );
        Ok(())
    }

    /// The payload in KTX's real shape (python/ + fixtures/payloads/heavy: numpy, pandas,
    /// orjson, psycopg; Requires-Python at least 3.13): a first install by ktx against uvx of
    /// the same wheel, with a warm uv cache and with an empty one.
    pub fn heavy(&mut self) -> Result<()> {
        eprintln!("==> bench: the heavy payload (python/ + fixtures/payloads/heavy)");
        let dir = self.env.dir.join("heavy");
        let projects = [
            PathBuf::from("python"),
            PathBuf::from("fixtures/payloads/heavy"),
        ];
        let (wheel, package) = self.stage_payload(&projects, &dir)?;
        let py = python313()?;
        // Only that interpreter and the system's tools: uv finds it, as a user's PATH would.
        let path = format!(
            "{}:/usr/local/bin:/usr/bin:/bin",
            py.parent().unwrap_or(Path::new("/")).display()
        );
        let root = dir.join("runtime");
        let warm_cache = dir.join("uv-cache");
        let cold_cache = dir.join("uv-cache-cold");
        let install = |label: &str, cache: &Path| {
            self.ktx_in(&root, label, ["runtime", "install", "--yes"])
                .env("KTX_PACKAGE_ROOT", &package)
                .env("UV_CACHE_DIR", cache)
                .env("PATH", &path)
                .env_remove("KTX_DAEMON")
                .cwd(&dir)
                .wipe(&root)
        };
        let uvx = |label: &str, cache: &Path| {
            Cmd::new(label, &self.env.uv)
                .args(["tool", "run", "--isolated", "--from"])
                .arg(&wheel)
                .args(["ktx-daemon", "--version"])
                .env("UV_CACHE_DIR", cache)
                .env("PATH", &path)
        };
        // Fill the warm cache once.
        check(
            install("fill", &warm_cache)
                .command()
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status(),
            "ktx runtime install (heavy payload)",
        )?;
        let ours = install(
            "ktx runtime install (empty root, warm uv cache)",
            &warm_cache,
        )
        .after("after rm -rf the root");
        let peer = uvx(
            "uvx --isolated --from <wheel> ktx-daemon --version (warm uv cache)",
            &warm_cache,
        );
        let warm = [ours, peer];
        let cold = [
            install(
                "ktx runtime install (empty root, empty uv cache)",
                &cold_cache,
            )
            .wipe(&cold_cache)
            .after("after rm -rf the root and the cache"),
            uvx(
                "uvx --isolated --from <wheel> ktx-daemon --version (empty uv cache)",
                &cold_cache,
            )
            .wipe(&root)
            .wipe(&cold_cache)
            .after("after rm -rf the cache"),
        ];
        self.compare(
            "heavy-first-run",
            "heavy payload, first run with a warm uv cache: ktx vs uvx",
            &warm[0],
            Some(&warm[1]),
            self.runs.min(5),
            0,
            Verdict::Of {
                peer: "uvx",
                max: Some(1.2),
            },
        )?;
        let t = self.time(&[&cold[0], &cold[1]], self.runs.min(2), 0)?;
        let downloaded = dir_size(&cold_cache);
        let r = t[0].stats.median.as_secs_f64() / t[1].stats.median.as_secs_f64().max(1e-9);
        self.row(
            "heavy-first-run-cold",
            "heavy payload, first run with an empty uv cache: ktx vs uvx",
            &t[0],
            Some(&t[1]),
            Verdict::Custom {
                result: format!(
                    "{r:.2}x of uvx; uv cache after: {} MB",
                    downloaded.div_ceil(1 << 20)
                ),
                target: "-".into(),
                met: None,
            },
            None,
        );
        let _ = std::fs::remove_dir_all(&root);
        Ok(())
    }

    /// Build the wheel of `projects` into `<dir>/dist` and stage a package around it and the
    /// bench's ktx at `<dir>/package`: the wheel's path and the package root.
    pub(super) fn stage_payload(
        &self,
        projects: &[PathBuf],
        dir: &Path,
    ) -> Result<(PathBuf, PathBuf)> {
        let layout = crate::layout::ReleaseLayout::of(self.repo);
        let pipeline = crate::pipeline::Pipeline::new(&layout, projects);
        let wheel = pipeline.wheel(&dir.join("dist"))?;
        let native = crate::native::NativeBinary {
            npm_dir: ktx_bootstrap::targets::host()
                .context(
                    "no npm directory for this host; hint: bench on a platform the package carries",
                )?
                .npm_dir
                .to_string(),
            path: self.env.ktx.clone(),
        };
        let package = dir.join("package");
        pipeline.stage(&wheel, std::slice::from_ref(&native), &package)?;
        Ok((wheel.path, package))
    }
}
