//! The payload: one or more payload projects (`--project DIR`, default `python`) merged into the
//! one `kaelio-ktx` distribution the npm package bundles.
//!
//! Merge rules: the name is always `kaelio-ktx`; the version is the workspace's (Cargo) and
//! every project must carry it; import packages are merged (one top-level package shipped by two
//! projects is refused); dependencies and each extra's dependencies are merged and
//! de-duplicated, dropping every requirement that names a merged project (its extras, if any,
//! are expanded in place, as hatchling does for a project naming its own extras); console
//! scripts, GUI scripts and entry points are merged (one name with two targets is refused);
//! Requires-Python is the conjunction of all, simplified; description, readme, license, URLs
//! and license files come from the first project.
//!
//! The runtime host (`python/host`, package `ktx_host`) is the toolchain's, not a payload's: it
//! is merged into every payload as one more project, after the given ones (so the readme and
//! license stay the first given project's). The payload's `[tool.kaelio-ktx]` declaration (app
//! factory and one-shot module, defaults [`DEFAULT_APP`] and [`DEFAULT_ONESHOT`]) is resolved
//! here, checked against the merged packages, and written into the wheel as
//! `ktx_host/payload.json` (see [`Payload::payload_json`]), which the host reads.
//!
//! A project may be given as `DIR#pkg,pkg` to take only those of its import packages (with the
//! scripts and entry points that point into them); see [`ProjectSpec`].
//!
//! [`Payload::write_project`] writes the same payload as a standard hatchling project (what
//! KTX's own release script generates and builds with `uv build`); the tests build it and
//! compare with the wheel `wheel` builds of it.

use crate::pep508::{merge_requires_python, normalize_name, Requirement};
use crate::pyproject::{top_level, License, PyProject, Readme};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The distribution every payload is published as.
pub const DIST_NAME: &str = "kaelio-ktx";

/// The runtime host's import package; `payload.json` goes into it.
pub const HOST_PACKAGE: &str = "ktx_host";

/// The app factory the host serves when no project declares `[tool.kaelio-ktx] app` (KTX's).
pub const DEFAULT_APP: &str = "ktx_daemon.app:create_app";

/// The one-shot module when no project declares `[tool.kaelio-ktx] oneshot` (KTX's).
pub const DEFAULT_ONESHOT: &str = "ktx_daemon";

/// One `--project` argument: a project directory, and optionally which of its import packages to
/// take (`DIR#pkg,pkg`: `#` is special in neither Windows nor POSIX paths, so the first `#`
/// always starts the list; a project directory whose path holds `#` cannot be named).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectSpec {
    pub dir: PathBuf,
    /// None: every package of the project.
    pub only: Option<Vec<String>>,
}

impl ProjectSpec {
    pub fn parse(arg: &Path) -> Result<Self> {
        let text = arg.to_string_lossy();
        let Some((dir, list)) = text.split_once('#') else {
            return Ok(ProjectSpec {
                dir: arg.to_path_buf(),
                only: None,
            });
        };
        let names: Vec<String> = list.split(',').map(|n| n.trim().to_string()).collect();
        let identifier = |n: &str| {
            let mut c = n.chars();
            c.next().is_some_and(|c| c == '_' || c.is_alphabetic())
                && c.all(|c| c == '_' || c.is_alphanumeric())
        };
        if dir.is_empty() || names.iter().any(|n| !identifier(n)) {
            bail!(
                "--project {text}: after `#` comes a comma-separated list of import package names (e.g. python#semantic_layer); hint: a project directory whose path holds `#` cannot be named, rename it"
            );
        }
        Ok(ProjectSpec {
            dir: PathBuf::from(dir),
            only: Some(names),
        })
    }
}

/// What the runtime host runs of the payload: `ktx_host/payload.json` without the package list,
/// and the runtime manifest's `payload`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub app: String,
    pub oneshot: String,
}

/// One top-level import package and where it comes from.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub dir: PathBuf,
    /// The pyproject that lists it.
    pub project: PathBuf,
}

/// The readme as METADATA carries it.
#[derive(Debug, Clone)]
pub struct ReadmeBody {
    pub content_type: String,
    pub body: String,
    /// The file it was read from, relative to the first project (none for inline text).
    pub file: Option<String>,
}

/// The merged metadata and packages of the `kaelio-ktx` wheel.
#[derive(Debug, Clone)]
pub struct Payload {
    pub version: String,
    pub summary: Option<String>,
    pub urls: Vec<(String, String)>,
    pub license: Option<License>,
    /// License files at the first project's root: (name, path).
    pub license_files: Vec<(String, PathBuf)>,
    pub readme: Option<ReadmeBody>,
    pub requires_python: Option<String>,
    /// Formatted as hatchling writes them, sorted, de-duplicated.
    pub dependencies: Vec<String>,
    pub extras: BTreeMap<String, Vec<String>>,
    pub scripts: BTreeMap<String, String>,
    pub gui_scripts: BTreeMap<String, String>,
    pub entry_points: BTreeMap<String, BTreeMap<String, String>>,
    /// Sorted by name.
    pub packages: Vec<Package>,
    /// What the host serves and runs.
    pub entry: Entry,
    /// The host's package, where `payload.json` goes (none only for a payload merged without
    /// the host, which no command builds).
    pub host: Option<String>,
}

/// hatchling's default `license-files`: these prefixes, at the project root.
const LICENSE_PREFIXES: [&str; 5] = ["LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS"];

impl Payload {
    /// Load each project (taking the packages it selects) and the host, and merge them at
    /// `version`. The host given as a project too is merged once.
    pub fn load(specs: &[ProjectSpec], host: &Path, version: &str) -> Result<Self> {
        let host_dir = std::fs::canonicalize(host).with_context(|| {
            format!(
                "the runtime host project {} is missing; hint: it is part of this repository (python/host), restore it",
                host.display()
            )
        })?;
        let mut projects = Vec::new();
        for spec in specs {
            let mut p = PyProject::load(&spec.dir)?;
            if let Some(only) = &spec.only {
                p.select(only)?;
            } else if std::fs::canonicalize(&spec.dir).ok().as_ref() == Some(&host_dir) {
                continue; // merged below, once
            }
            projects.push(p);
        }
        let host = PyProject::load(&host_dir)?;
        if !host
            .import_packages()
            .iter()
            .any(|(name, _)| name == HOST_PACKAGE)
        {
            bail!(
                "{}: tool.hatch.build.targets.wheel.packages: the runtime host must ship the package `{HOST_PACKAGE}`",
                host.file().display()
            );
        }
        Self::merge(&projects, Some(&host), version)
    }

    /// Merge `projects`, then `host` (the toolchain's runtime host) as one more project: each
    /// part of the payload by its own step below.
    pub fn merge(projects: &[PyProject], host: Option<&PyProject>, version: &str) -> Result<Self> {
        let Some(first) = projects.first() else {
            bail!("no payload project given (--project DIR)");
        };
        let payload_projects = projects;
        let all: Vec<PyProject> = projects.iter().chain(host).cloned().collect();
        let projects = &all[..];
        let by_name = one_version_one_name(projects, version)?;
        let packages = merged_packages(projects)?;
        let Requirements {
            dependencies,
            extras,
        } = merged_requirements(projects, &by_name)?;
        let specs: Vec<&str> = projects
            .iter()
            .filter_map(|p| p.project.requires_python.as_deref())
            .collect();
        let requires_python = merge_requires_python(&specs)
            .map_err(|e| anyhow::anyhow!("project.requires-python: {e}"))?;
        let Scripts {
            scripts,
            gui_scripts,
            entry_points,
        } = merged_scripts(projects)?;
        let own: Vec<String> = packages
            .iter()
            .filter(|p| payload_projects.iter().any(|x| x.file() == p.project))
            .map(|p| p.name.clone())
            .collect();
        let entry = Entry {
            app: declared(payload_projects, "app", DEFAULT_APP, &own, |d| {
                d.app.as_deref()
            })?,
            oneshot: declared(payload_projects, "oneshot", DEFAULT_ONESHOT, &own, |d| {
                d.oneshot.as_deref()
            })?,
        };
        Ok(Payload {
            version: version.to_string(),
            summary: first.project.description.clone(),
            urls: first.project.urls.clone(),
            license: first.project.license.clone(),
            license_files: license_files(first)?,
            readme: readme(first)?,
            requires_python,
            dependencies,
            extras,
            scripts,
            gui_scripts,
            entry_points,
            packages,
            entry,
            host: host.map(|_| HOST_PACKAGE.to_string()),
        })
    }

    /// `ktx_host/payload.json`: app, oneshot and every top-level package of the wheel, keys
    /// sorted, one trailing newline (reproducible). None without the host.
    pub fn payload_json(&self) -> Option<(String, String)> {
        let host = self.host.as_ref()?;
        let doc: BTreeMap<&str, serde_json::Value> = BTreeMap::from([
            ("app", serde_json::Value::from(self.entry.app.clone())),
            (
                "oneshot",
                serde_json::Value::from(self.entry.oneshot.clone()),
            ),
            ("packages", serde_json::Value::from(self.package_names())),
        ]);
        let text = serde_json::to_string_pretty(&doc).expect("strings serialize") + "\n";
        Some((format!("{host}/payload.json"), text))
    }

    /// `kaelio_ktx`, as wheel file names spell the distribution.
    pub fn wheel_name(&self) -> String {
        DIST_NAME.replace('-', "_")
    }

    pub fn wheel_file_name(&self) -> String {
        format!("{}-{}-py3-none-any.whl", self.wheel_name(), self.version)
    }

    /// The top-level import packages, sorted.
    pub fn package_names(&self) -> Vec<String> {
        self.packages.iter().map(|p| p.name.clone()).collect()
    }

    /// The payload as one standard hatchling project's pyproject.toml (see `write_project`).
    pub fn pyproject_toml(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let list = |items: &[String]| {
            if items.is_empty() {
                "[]".to_string()
            } else {
                format!(
                    "[\n{}]",
                    items
                        .iter()
                        .map(|i| format!("    {},\n", q(i)))
                        .collect::<String>()
                )
            }
        };
        let mut t = String::from(
            "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n[project]\n",
        );
        t.push_str(&format!(
            "name = {}\nversion = {}\n",
            q(DIST_NAME),
            q(&self.version)
        ));
        if let Some(s) = &self.summary {
            t.push_str(&format!("description = {}\n", q(s)));
        }
        if let Some(r) = &self.readme {
            match &r.file {
                Some(f) => t.push_str(&format!(
                    "readme = {{ file = {}, content-type = {} }}\n",
                    q(f),
                    q(&r.content_type)
                )),
                None => t.push_str(&format!(
                    "readme = {{ text = {}, content-type = {} }}\n",
                    q(&r.body),
                    q(&r.content_type)
                )),
            }
        }
        if let Some(rp) = &self.requires_python {
            t.push_str(&format!("requires-python = {}\n", q(rp)));
        }
        match &self.license {
            Some(License::Text(text)) => {
                t.push_str(&format!("license = {{ text = {} }}\n", q(text)))
            }
            Some(License::Expression(e)) => t.push_str(&format!("license = {}\n", q(e))),
            None => {}
        }
        t.push_str(&format!("dependencies = {}\n", list(&self.dependencies)));
        let table = |t: &mut String, header: &str, map: &BTreeMap<String, String>| {
            if !map.is_empty() {
                t.push_str(&format!("\n[{header}]\n"));
                for (k, v) in map {
                    t.push_str(&format!("{} = {}\n", q(k), q(v)));
                }
            }
        };
        if !self.extras.is_empty() {
            t.push_str("\n[project.optional-dependencies]\n");
            for (extra, deps) in &self.extras {
                t.push_str(&format!("{} = {}\n", q(extra), list(deps)));
            }
        }
        table(&mut t, "project.scripts", &self.scripts);
        table(&mut t, "project.gui-scripts", &self.gui_scripts);
        for (group, eps) in &self.entry_points {
            table(&mut t, &format!("project.entry-points.{}", q(group)), eps);
        }
        if !self.urls.is_empty() {
            t.push_str("\n[project.urls]\n");
            for (k, v) in &self.urls {
                t.push_str(&format!("{} = {}\n", q(k), q(v)));
            }
        }
        t.push_str(&format!(
            "\n[tool.hatch.build.targets.wheel]\npackages = {}\n",
            list(&self.package_names())
        ));
        t
    }

    /// Write the payload as a standard hatchling project into `dir`: the generated
    /// pyproject.toml, the readme and license files, and each package directory copied whole
    /// (hatchling then applies its own exclusions). `uv build` of it makes the wheel a standard
    /// backend would make of the merged payload.
    pub fn write_project(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(dir.join("pyproject.toml"), self.pyproject_toml())?;
        if let Some(ReadmeBody {
            file: Some(f),
            body,
            ..
        }) = &self.readme
        {
            let to = dir.join(f);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(to, body)?;
        }
        for (name, path) in &self.license_files {
            std::fs::copy(path, dir.join(name))?;
        }
        for p in &self.packages {
            copy_tree(&p.dir, &dir.join(&p.name))?;
        }
        if let Some((path, text)) = self.payload_json() {
            std::fs::write(dir.join(path), text)?;
        }
        Ok(())
    }
}

/// One `[tool.kaelio-ktx]` field of the payload: declared by at most one value (two projects
/// that disagree are refused, naming both), else `default`; its top-level module must be one of
/// the payload's own packages (`own`: the host's do not count).
fn declared(
    projects: &[PyProject],
    field: &str,
    default: &str,
    own: &[String],
    get: impl Fn(&crate::pyproject::Declaration) -> Option<&str>,
) -> Result<String> {
    let mut found: Option<(&str, PathBuf)> = None;
    for p in projects {
        let Some(value) = get(&p.declaration) else {
            continue;
        };
        match &found {
            Some((old, file)) if *old != value => bail!(
                "{}: tool.kaelio-ktx.{field}: `{value}` disagrees with `{old}` declared by {}; one payload has one {field}: declare it in one project",
                p.file().display(),
                file.display()
            ),
            Some(_) => {}
            None => found = Some((value, p.file())),
        }
    }
    let module = match &found {
        Some((value, _)) => top_level(value),
        None => top_level(default),
    };
    if own.iter().any(|p| p == module) {
        return Ok(found.map_or(default, |f| f.0).to_string());
    }
    let shipped = if own.is_empty() {
        "none".to_string()
    } else {
        own.join(", ")
    };
    match found {
        Some((value, file)) => bail!(
            "{}: tool.kaelio-ktx.{field}: `{value}` is in the package `{module}`, which the payload does not ship (its packages: {shipped}); hint: name a module of the merged projects, or add the project that ships `{module}` with --project",
            file.display()
        ),
        None => bail!(
            "tool.kaelio-ktx.{field}: no project declares it, and the default `{default}` is in the package `{module}`, which none of {} ships (its packages: {shipped}); hint: declare [tool.kaelio-ktx] {field} in the payload's pyproject",
            projects
                .iter()
                .map(|p| p.file().display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))?
    {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Adds requirements to a merged list under the drop rule.
struct Merger<'a> {
    by_name: &'a BTreeMap<String, &'a PyProject>,
}

impl Merger<'_> {
    /// Add `dep` (from `origin`'s `field`) to `target`: as is, or, when it names a merged
    /// project (or kaelio-ktx itself), dropped, with the extras it names expanded in its place.
    fn add(
        &self,
        target: &mut Vec<String>,
        dep: &str,
        origin: &PyProject,
        field: &str,
        expanding: &mut Vec<(String, String)>,
    ) -> Result<()> {
        let req = Requirement::parse(dep)
            .map_err(|e| anyhow::anyhow!("{}: {field}: {e}", origin.file().display()))?;
        let merged = self.by_name.get(&req.name);
        if merged.is_none() && req.name != DIST_NAME {
            target.push(req.format());
            return Ok(());
        }
        if req.extras.is_empty() {
            return Ok(());
        }
        let refuse =
            |why: String| anyhow::anyhow!("{}: {field}: `{dep}` {why}", origin.file().display());
        let Some(project) = merged else {
            return Err(refuse(format!(
                "names extras of {DIST_NAME}, which is not one of the merged projects"
            )));
        };
        if req.marker.is_some() {
            return Err(refuse(
                "names extras of a merged project under a marker; list those dependencies instead"
                    .into(),
            ));
        }
        for extra in &req.extras {
            let key = (req.name.clone(), extra.clone());
            if expanding.contains(&key) {
                continue;
            }
            let deps = project
                .project
                .optional_dependencies
                .get(extra)
                .ok_or_else(|| {
                    refuse(format!(
                        "names the extra `{extra}`, which {} does not define",
                        project.file().display()
                    ))
                })?;
            expanding.push(key);
            let inner = format!("project.optional-dependencies.{extra}");
            for d in deps {
                self.add(target, d, project, &inner, expanding)?;
            }
            expanding.pop();
        }
        Ok(())
    }
}

/// Every project at the workspace version and under a name of its own; the projects by name.
fn one_version_one_name<'a>(
    projects: &'a [PyProject],
    version: &str,
) -> Result<BTreeMap<String, &'a PyProject>> {
    let mut by_name: BTreeMap<String, &PyProject> = BTreeMap::new();
    for p in projects {
        if p.project.version != version {
            bail!(
                "{}: project.version: `{}` differs from the workspace version {version} (Cargo.toml); make them equal",
                p.file().display(),
                p.project.version
            );
        }
        if let Some(other) = by_name.insert(normalize_name(&p.project.name), p) {
            bail!(
                "{} and {} are both named `{}`; merge each project once",
                other.file().display(),
                p.file().display(),
                p.project.name
            );
        }
    }
    Ok(by_name)
}

/// The import packages of every project, each shipped once, sorted by name.
fn merged_packages(projects: &[PyProject]) -> Result<Vec<Package>> {
    let mut packages: Vec<Package> = Vec::new();
    for p in projects {
        for (name, dir) in p.import_packages() {
            if let Some(other) = packages.iter().find(|x| x.name == name) {
                bail!(
                    "the import package `{name}` is shipped by both {} ({}) and {} ({}); one wheel can hold it once",
                    other.project.display(),
                    other.dir.display(),
                    p.file().display(),
                    dir.display()
                );
            }
            packages.push(Package {
                name,
                dir,
                project: p.file(),
            });
        }
    }
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(packages)
}

/// What the merged payload requires: its dependencies and its extras.
struct Requirements {
    dependencies: Vec<String>,
    extras: BTreeMap<String, Vec<String>>,
}

/// The dependencies and extras of every project (those on merged projects dropped), sorted.
fn merged_requirements(
    projects: &[PyProject],
    by_name: &BTreeMap<String, &PyProject>,
) -> Result<Requirements> {
    let merger = Merger { by_name };
    let mut dependencies = Vec::new();
    let mut extras: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in projects {
        for dep in &p.project.dependencies {
            merger.add(
                &mut dependencies,
                dep,
                p,
                "project.dependencies",
                &mut Vec::new(),
            )?;
        }
        for (extra, deps) in &p.project.optional_dependencies {
            let field = format!("project.optional-dependencies.{extra}");
            let target = extras.entry(extra.clone()).or_default();
            for dep in deps {
                merger.add(target, dep, p, &field, &mut Vec::new())?;
            }
        }
    }
    let tidy = |v: &mut Vec<String>| {
        v.sort();
        v.dedup();
    };
    tidy(&mut dependencies);
    extras.values_mut().for_each(tidy);
    Ok(Requirements {
        dependencies,
        extras,
    })
}

/// Console scripts, GUI scripts and entry points of every project; one name, one target.
struct Scripts {
    scripts: BTreeMap<String, String>,
    gui_scripts: BTreeMap<String, String>,
    entry_points: BTreeMap<String, BTreeMap<String, String>>,
}

fn merged_scripts(projects: &[PyProject]) -> Result<Scripts> {
    let mut scripts = BTreeMap::new();
    let mut gui_scripts = BTreeMap::new();
    let mut entry_points: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut owners: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    for p in projects {
        let mut merge_into = |map: &mut BTreeMap<String, String>,
                              group: &str,
                              field: &str,
                              from: &BTreeMap<String, String>|
         -> Result<()> {
            for (name, target) in from {
                if let Some(old) = map.get(name) {
                    if old != target {
                        let other = &owners[&(group.to_string(), name.clone())];
                        bail!(
                            "{}: {field}.{name}: `{target}` conflicts with `{old}` of {}; one name can have one target",
                            p.file().display(),
                            other.display()
                        );
                    }
                }
                owners.insert((group.to_string(), name.clone()), p.file());
                map.insert(name.clone(), target.clone());
            }
            Ok(())
        };
        merge_into(
            &mut scripts,
            "console_scripts",
            "project.scripts",
            &p.project.scripts,
        )?;
        merge_into(
            &mut gui_scripts,
            "gui_scripts",
            "project.gui-scripts",
            &p.project.gui_scripts,
        )?;
        for (group, eps) in &p.project.entry_points {
            let field = format!("project.entry-points.{group}");
            merge_into(
                entry_points.entry(group.clone()).or_default(),
                group,
                &field,
                eps,
            )?;
        }
    }
    if let Some(name) = scripts.keys().find(|n| gui_scripts.contains_key(*n)) {
        bail!("`{name}` is both a console script and a GUI script of the payload; rename one");
    }
    Ok(Scripts {
        scripts,
        gui_scripts,
        entry_points,
    })
}

/// The first project's readme, read.
fn readme(first: &PyProject) -> Result<Option<ReadmeBody>> {
    Ok(match &first.project.readme {
        None => None,
        Some(Readme::Text { text, content_type }) => Some(ReadmeBody {
            content_type: content_type.clone(),
            body: text.clone(),
            file: None,
        }),
        Some(Readme::File { path, content_type }) => {
            let full = first.root.join(path);
            let body = std::fs::read_to_string(&full).with_context(|| {
                format!(
                    "the readme {} named in {}",
                    full.display(),
                    first.file().display()
                )
            })?;
            Some(ReadmeBody {
                content_type: content_type.clone(),
                body,
                file: Some(path.clone()),
            })
        }
    })
}

/// The first project's license files (LICENSE*, COPYING*, ...), sorted.
fn license_files(first: &PyProject) -> Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&first.root)
        .with_context(|| format!("cannot list {}", first.root.display()))?
    {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if entry.file_type()?.is_file() && LICENSE_PREFIXES.iter().any(|p| name.starts_with(p)) {
            found.push((name, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}
