//! A KTX project: where it is and what `ktx.yaml` says about its connections.
//!
//! ```text
//! <project>/ktx.yaml                            connections: {<id>: {driver: sqlite, path: ...}}
//! <project>/semantic-layer/<id>/*.yaml          the sources of connection <id> (see `sources`)
//! <project>/semantic-layer/<id>/_schema/*.yaml  its table catalogue shards
//! ```
//!
//! The project is `--project-dir`, else `KTX_PROJECT_DIR`, else the nearest directory upward
//! from the working directory that holds `ktx.yaml` (KTX's rule). One found upward is trusted
//! only when the user owns it and no other user can write its directory (git's
//! `safe.directory` rule): a `ktx.yaml` planted above the user's working directory by another
//! user is refused, and naming the directory accepts it knowingly. Other keys of `ktx.yaml`
//! (storage, ingest, agent, ...) belong to KTX and are left alone.
//!
//! Every project YAML file is a regular file under `MAX_FILE_BYTES` whose nesting is checked
//! (`nesting`) before it is parsed. Errors name files and references, never what a referenced
//! file or variable holds.

mod nesting;

use crate::error::{Error, Result};
pub use nesting::MAX_NESTING;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

pub const PROJECT_FILE: &str = "ktx.yaml";
/// The directory of semantic-layer sources, one subdirectory per connection.
pub const SL_DIR: &str = "semantic-layer";
/// Files larger than this are refused rather than parsed (a project file is small text).
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// A file a `file:` setting points at holds a path or a secret: a few hundred bytes. Larger,
/// or not a regular file (`/dev/zero`, a FIFO), it is refused rather than read.
pub const MAX_REFERENCE_BYTES: u64 = 64 << 10;

#[derive(Debug, Clone)]
pub struct Project {
    pub dir: PathBuf,
    /// In the order of `ktx.yaml`.
    pub connections: Vec<Connection>,
}

#[derive(Debug, Clone)]
pub struct Connection {
    pub id: String,
    pub driver: String,
    /// Everything else under `connections.<id>` (path, url, host, ...).
    pub settings: Map<String, Value>,
}

impl Project {
    /// Find and load the project: `--project-dir`, `KTX_PROJECT_DIR`, or upward from here.
    pub fn locate(flag: Option<&Path>) -> Result<Project> {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::io("cannot read the working directory", ".", e))?;
        let dir = match flag {
            Some(p) if p.as_os_str().is_empty() => {
                return Err(Error::usage(
                    "--project-dir is empty",
                    "pass the directory that holds ktx.yaml",
                ))
            }
            Some(p) => cwd.join(p),
            None => match std::env::var_os("KTX_PROJECT_DIR") {
                Some(v) if v.to_string_lossy().trim().is_empty() => {
                    return Err(Error::usage(
                        "KTX_PROJECT_DIR is set but empty",
                        "unset it, or set it to the directory that holds ktx.yaml",
                    ))
                }
                Some(v) => cwd.join(v),
                None => {
                    let dir = nearest(&cwd).ok_or_else(|| {
                        Error::usage(
                            format!(
                                "no {PROJECT_FILE} in {} or any directory above it",
                                cwd.display()
                            ),
                            "pass --project-dir DIR (or set KTX_PROJECT_DIR); `ktx setup demo` writes a project to try",
                        )
                    })?;
                    trust_found(&dir)?;
                    dir
                }
            },
        };
        if !dir.join(PROJECT_FILE).is_file() {
            return Err(Error::usage(
                format!(
                    "{} is not a KTX project (no {PROJECT_FILE})",
                    dir.display()
                ),
                "pass --project-dir of a directory with ktx.yaml; `ktx setup demo` writes a project to try",
            ));
        }
        Project::load(&dir)
    }

    /// Load `<dir>/ktx.yaml`.
    pub fn load(dir: &Path) -> Result<Project> {
        let path = dir.join(PROJECT_FILE);
        let text = read_text(&path, PROJECT_FILE)?;
        let config: Value = parse_yaml(&text, PROJECT_FILE)?;
        let reject = |m: String| Error::Rejected {
            message: format!("{PROJECT_FILE}: {m}"),
        };
        let config = match config {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            _ => return Err(reject("must be a mapping (connections: ...)".into())),
        };
        let raw = match config.get("connections") {
            Some(Value::Object(m)) if !m.is_empty() => m,
            Some(Value::Object(_)) | None | Some(Value::Null) => {
                return Err(reject(
                    "defines no connections; add one, e.g. `connections: {warehouse: {driver: sqlite, path: data.db}}`".into(),
                ))
            }
            Some(_) => return Err(reject("connections must be a mapping of id -> settings".into())),
        };
        let mut connections = Vec::new();
        for (id, settings) in raw {
            if !valid_connection_id(id) {
                return Err(reject(format!(
                    "connection id '{id}' must start with a letter or digit and hold only letters, digits, '_' and '-'"
                )));
            }
            let Value::Object(settings) = settings else {
                return Err(reject(format!(
                    "connections.{id} must be a mapping (driver, path, ...)"
                )));
            };
            let driver = match settings.get("driver") {
                Some(Value::String(d)) if !d.trim().is_empty() => d.trim().to_ascii_lowercase(),
                _ => {
                    return Err(reject(format!(
                    "connections.{id} has no driver (sqlite, postgres, snowflake, bigquery, ...)"
                )))
                }
            };
            let mut settings = settings.clone();
            settings.remove("driver");
            connections.push(Connection {
                id: id.clone(),
                driver,
                settings,
            });
        }
        Ok(Project {
            dir: dir.to_path_buf(),
            connections,
        })
    }

    /// The connection named by `--connection-id`, or the only one.
    pub fn connection(&self, id: Option<&str>) -> Result<&Connection> {
        let known = || {
            self.connections
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match id {
            Some(id) => self.connections.iter().find(|c| c.id == id).ok_or_else(|| {
                Error::usage(
                    format!("unknown connection '{id}'; {PROJECT_FILE} has: {}", known()),
                    "pass one of them with --connection-id",
                )
            }),
            None if self.connections.len() == 1 => Ok(&self.connections[0]),
            None => Err(Error::usage(
                format!("{PROJECT_FILE} has several connections ({})", known()),
                "say which with --connection-id",
            )),
        }
    }

    /// `semantic-layer/<id>/`.
    pub fn sources_dir(&self, conn: &Connection) -> PathBuf {
        self.dir.join(SL_DIR).join(&conn.id)
    }
}

impl Connection {
    /// The sqlglot dialect of this connection's driver (KTX's table; postgres when unknown).
    pub fn dialect(&self) -> &'static str {
        match self.driver.as_str() {
            "postgres" | "postgresql" => "postgres",
            "bigquery" => "bigquery",
            "snowflake" => "snowflake",
            "mysql" => "mysql",
            "sqlserver" | "mssql" => "tsql",
            "sqlite" => "sqlite",
            "duckdb" => "duckdb",
            "clickhouse" => "clickhouse",
            "databricks" => "databricks",
            _ => "postgres",
        }
    }

    /// A string setting, with KTX's references resolved: `env:NAME` (an environment variable)
    /// and, except for `url`, `file:PATH` (a file's contents, trimmed). None when it is absent,
    /// empty, or names an unset variable.
    pub fn setting(&self, key: &str) -> Result<Option<Setting>> {
        let Some(raw) = self.settings.get(key).and_then(Value::as_str) else {
            return Ok(None);
        };
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        if let Some(var) = raw.strip_prefix("env:") {
            return Ok(std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|value| Setting {
                    value,
                    origin: Origin::Env(var.to_string()),
                }));
        }
        if key != "url" {
            if let Some(file) = raw.strip_prefix("file:") {
                let value = read_reference(Path::new(file)).map_err(|why| Error::Rejected {
                    message: format!(
                        "{PROJECT_FILE}: connections.{}.{key} points at file:{file}, which {why}",
                        self.id
                    ),
                })?;
                return Ok((!value.is_empty()).then(|| Setting {
                    value,
                    origin: Origin::File(PathBuf::from(file)),
                }));
            }
        }
        Ok(Some(Setting {
            value: raw.to_string(),
            origin: Origin::Literal,
        }))
    }

    /// The SQLite database file of a `driver: sqlite` connection (`path`, or a `file:` /
    /// `sqlite:` `url`), relative to the project.
    pub fn sqlite_path(&self, project_dir: &Path) -> Result<PathBuf> {
        if self.driver != "sqlite" {
            return Err(Error::Rejected {
                message: format!(
                    "cannot execute: connection '{}' uses driver '{}'; ktx executes sqlite connections only (leave out --execute to get the SQL)",
                    self.id, self.driver
                ),
            });
        }
        let (path, origin) = match (self.setting("path")?, self.setting("url")?) {
            (Some(p), _) => (p.value, p.origin),
            (None, Some(url)) => (
                url.value
                    .strip_prefix("file://")
                    .or_else(|| url.value.strip_prefix("sqlite://"))
                    .or_else(|| url.value.strip_prefix("file:"))
                    .or_else(|| url.value.strip_prefix("sqlite:"))
                    .unwrap_or(&url.value)
                    .to_string(),
                url.origin,
            ),
            (None, None) => {
                return Err(Error::Rejected {
                    message: format!(
                        "cannot execute: connections.{} in {PROJECT_FILE} has no path (the SQLite file)",
                        self.id
                    ),
                })
            }
        };
        let path = PathBuf::from(path);
        let path = if path.is_absolute() {
            path
        } else {
            project_dir.join(path)
        };
        if !path.is_file() {
            // A referenced value may be a secret (the file or variable was not meant to hold a
            // path): name the reference, never what it holds.
            let what = match &origin {
                Origin::Literal => path.display().to_string(),
                Origin::Env(var) => format!("the path in env:{var} names no file"),
                Origin::File(file) => format!(
                    "the contents of file:{} name no file (not shown)",
                    file.display()
                ),
            };
            return Err(Error::Rejected {
                message: format!(
                    "cannot execute: the SQLite database of connection '{}' is not there: {what}",
                    self.id
                ),
            });
        }
        Ok(path)
    }
}

/// A resolved setting and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub origin: Origin,
}

/// Where a setting's value came from: messages show a `Literal` and only name the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Literal,
    Env(String),
    File(PathBuf),
}

/// The trimmed text of a `file:` reference; the error says what is wrong, never the contents.
fn read_reference(path: &Path) -> std::result::Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot be read ({e})"))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    if meta.len() > MAX_REFERENCE_BYTES {
        return Err(format!(
            "is over the limit of {} KiB for a referenced value",
            MAX_REFERENCE_BYTES >> 10
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot be read ({e})"))?;
    let text = String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())?;
    Ok(text.trim().to_string())
}

fn nearest(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join(PROJECT_FILE).is_file())
        .map(Path::to_path_buf)
}

/// A project found upward is used only when the user running ktx owns its `ktx.yaml` (the file
/// and, for a symlink, the link) and no other user can write its directory: world-writable
/// and owned by someone else, as /tmp is, anyone could have put it there. Root included, as
/// git does. Naming the directory (`--project-dir`, `KTX_PROJECT_DIR`) accepts it knowingly.
#[cfg(unix)]
fn trust_found(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let file = dir.join(PROJECT_FILE);
    let stat = |p: &Path, follow: bool| {
        if follow {
            std::fs::metadata(p)
        } else {
            std::fs::symlink_metadata(p)
        }
        .map_err(|e| Error::io("cannot read", p, e))
    };
    let why = if let Some(owner) = [stat(&file, false)?, stat(&file, true)?]
        .iter()
        .map(|m| m.uid())
        .find(|&uid| uid != me)
    {
        Some(format!("is owned by {}, not by you", user_name(owner)))
    } else {
        let d = stat(dir, true)?;
        (d.mode() & 0o002 != 0 && d.uid() != me).then(|| {
            format!(
                "sits in a directory every user can write, owned by {}",
                user_name(d.uid())
            )
        })
    };
    match why {
        None => Ok(()),
        Some(why) => Err(Error::Untrusted {
            message: format!(
                "{}, found upward from the working directory, {why}; ktx does not use it unless told to",
                file.display()
            ),
            hint: format!(
                "if you trust it, name it: --project-dir {} (or KTX_PROJECT_DIR); otherwise run ktx from your own project",
                crate::output::shell_quote(&dir.display().to_string())
            ),
        }),
    }
}

#[cfg(not(unix))]
fn trust_found(_dir: &Path) -> Result<()> {
    Ok(())
}

/// `name (uid N)`, or `uid N` when the user database has no name for it.
#[cfg(unix)]
fn user_name(uid: u32) -> String {
    let mut buf = vec![0u8; 4096];
    // SAFETY: a zeroed passwd is a valid out-parameter; buf outlives the call and its length
    // is passed; the name is copied out before buf is dropped.
    let name = unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        );
        (rc == 0 && !found.is_null() && !pwd.pw_name.is_null()).then(|| {
            std::ffi::CStr::from_ptr(pwd.pw_name)
                .to_string_lossy()
                .into_owned()
        })
    };
    match name {
        Some(n) => format!("{n} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

/// KTX's connection id rule: `^[a-zA-Z0-9][a-zA-Z0-9_-]*$` (it is also a directory name).
pub fn valid_connection_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Read a project file: a regular file of at most `MAX_FILE_BYTES`, UTF-8. Refusals are exit 3
/// naming the file (`rel`, relative to the project) and the rule.
pub fn read_text(path: &Path, rel: &str) -> Result<String> {
    let reject = |m: String| Error::Rejected {
        message: format!("{rel}: {m}"),
    };
    let meta = std::fs::metadata(path).map_err(|e| reject(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(reject("not a regular file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(reject(format!(
            "{} bytes is over the limit of {} MiB for a project file",
            meta.len(),
            MAX_FILE_BYTES >> 20
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| reject(format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|_| reject("not UTF-8 text".into()))
}

/// Parse YAML into JSON values (mapping keys must be strings, as every KTX file has them),
/// after checking in one pass that it nests at most `MAX_NESTING` levels.
pub fn parse_yaml(text: &str, rel: &str) -> Result<Value> {
    if let Err(deep) = nesting::check(text) {
        return Err(Error::Rejected {
            message: format!(
                "{rel}: nested more than {MAX_NESTING} levels deep (line {}); refused before parsing (KTX files nest a few levels)",
                deep.line
            ),
        });
    }
    serde_norway::from_str::<Value>(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" (line {})", l.line()))
            .unwrap_or_default();
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        Error::Rejected {
            message: format!("{rel}: invalid YAML{at}: {msg}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(yaml: &str) -> Result<Project> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PROJECT_FILE), yaml).unwrap();
        Project::load(dir.path())
    }

    #[test]
    fn connections_keep_their_order_driver_and_settings() {
        let p = project(
            "connections:\n  warehouse:\n    driver: SQLite\n    path: a.db\n  dwh:\n    driver: snowflake\nstorage: {state: sqlite}\n",
        )
        .unwrap();
        let ids: Vec<_> = p.connections.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["warehouse", "dwh"]);
        assert_eq!(p.connections[0].driver, "sqlite");
        assert_eq!(p.connections[0].dialect(), "sqlite");
        assert_eq!(p.connections[1].dialect(), "snowflake");
        assert_eq!(
            p.connections[0].setting("path").unwrap().map(|s| s.value),
            Some("a.db".into())
        );
    }

    #[test]
    fn the_only_connection_is_chosen_and_several_need_an_id() {
        let one = project("connections:\n  w:\n    driver: sqlite\n").unwrap();
        assert_eq!(one.connection(None).unwrap().id, "w");
        let two =
            project("connections:\n  a: {driver: sqlite}\n  b: {driver: postgres}\n").unwrap();
        let e = two.connection(None).unwrap_err();
        assert!(e.to_string().contains("several connections (a, b)"), "{e}");
        let e = two.connection(Some("c")).unwrap_err();
        assert!(e.to_string().contains("unknown connection 'c'"), "{e}");
        assert_eq!(e.exit_code(), crate::error::exit::USAGE);
    }

    #[test]
    fn a_project_without_connections_or_drivers_is_rejected_naming_the_file() {
        for yaml in [
            "storage: {}\n",
            "connections: {}\n",
            "connections:\n  w: {path: a.db}\n",
            "connections:\n  '-bad': {driver: sqlite}\n",
            "connections: [a]\n",
            "connections:\n  w: [\n",
        ] {
            let e = project(yaml).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::exit::REJECTED, "{yaml}: {e}");
            assert!(e.to_string().starts_with("ktx.yaml: "), "{e}");
        }
    }

    #[test]
    fn unknown_drivers_compile_as_postgres_like_ktx() {
        let p = project("connections:\n  w: {driver: oracle}\n").unwrap();
        assert_eq!(p.connections[0].dialect(), "postgres");
    }

    #[test]
    fn env_references_in_settings_are_resolved() {
        std::env::set_var("KTX_TEST_PROJECT_PATH_REF", "/tmp/x.db");
        let p =
            project("connections:\n  w: {driver: sqlite, path: 'env:KTX_TEST_PROJECT_PATH_REF'}\n")
                .unwrap();
        assert_eq!(
            p.connections[0].setting("path").unwrap(),
            Some(Setting {
                value: "/tmp/x.db".into(),
                origin: Origin::Env("KTX_TEST_PROJECT_PATH_REF".into())
            })
        );
    }

    #[test]
    fn a_file_reference_is_read_but_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "  s3cr3t-value\nline 2\n").unwrap();
        let yaml = format!(
            "connections:\n  w: {{driver: sqlite, path: 'file:{}'}}\n",
            secret.display()
        );
        let p = project(&yaml).unwrap();
        let s = p.connections[0].setting("path").unwrap().unwrap();
        assert_eq!(s.value, "s3cr3t-value\nline 2");
        assert_eq!(s.origin, Origin::File(secret.clone()));
        let e = p.connections[0].sqlite_path(dir.path()).unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        assert!(e.to_string().contains("(not shown)"), "{e}");
        for (target, why) in [
            ("/dev/zero", "is not a regular file"),
            ("/no/such/file", "cannot be read"),
        ] {
            let p = project(&format!(
                "connections:\n  w: {{driver: sqlite, path: 'file:{target}'}}\n"
            ))
            .unwrap();
            let e = p.connections[0].setting("path").unwrap_err();
            assert_eq!(e.exit_code(), crate::error::exit::REJECTED);
            assert!(e.to_string().contains(why), "{e}");
        }
    }

    #[test]
    fn nesting_past_the_cap_is_refused_before_parsing_naming_the_file_and_line() {
        let text = format!("connections:\n  w: {}\n", "[".repeat(MAX_NESTING));
        let e = parse_yaml(&text, "ktx.yaml").unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::REJECTED);
        assert_eq!(
            e.to_string(),
            "ktx.yaml: nested more than 64 levels deep (line 2); refused before parsing (KTX files nest a few levels)"
        );
    }

    #[test]
    fn a_fifo_or_an_oversized_file_is_refused_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        let e = read_text(&big, "big.yaml").unwrap_err();
        assert!(e.to_string().contains("over the limit"), "{e}");
        #[cfg(unix)]
        {
            let fifo = dir.path().join("pipe.yaml");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: mkfifo on a path in our own temporary directory.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
            let e = read_text(&fifo, "pipe.yaml").unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
    }
}
