//! One payload project's `pyproject.toml`: the PEP 621 `[project]` table and the package list of
//! `[tool.hatch.build.targets.wheel]`. The pyproject is the one source of the Python metadata;
//! nothing here repeats it.
//!
//! The wheel writer honours a fixed subset of what hatchling reads. Anything outside it that
//! would change the wheel (dynamic fields, build hooks, other file selection, another build
//! backend, ...) is refused here with a one-line error naming the project file and the field,
//! never silently left out. Tables that only serve development (`[tool.pytest]`,
//! `[dependency-groups]`, `[tool.uv]`, `[tool.hatch.envs]`, the sdist target) are ignored.
//!
//! `[tool.kaelio-ktx]` is the payload declaration the runtime host reads: `app =
//! "module:factory"` (the ASGI app factory the host serves) and `oneshot = "module"` (what `python
//! -m` runs for one-shot ops); every other key there is refused.

use crate::pep508::{valid_name, Requirement};
use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

pub use crate::pep508::normalize_name as normalize_dist_name;

/// The `[project]` keys the writer honours.
const PROJECT_KEYS: [&str; 12] = [
    "name",
    "version",
    "description",
    "readme",
    "requires-python",
    "license",
    "dependencies",
    "optional-dependencies",
    "scripts",
    "gui-scripts",
    "entry-points",
    "urls",
];

/// The `[project]` table (PEP 621), as far as the writer honours it.
#[derive(Debug, Clone, Default)]
pub struct Project {
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    pub readme: Option<Readme>,
    pub requires_python: Option<String>,
    pub license: Option<License>,
    pub dependencies: Vec<String>,
    /// Keyed by the extra's normalized name.
    pub optional_dependencies: BTreeMap<String, Vec<String>>,
    pub scripts: BTreeMap<String, String>,
    pub gui_scripts: BTreeMap<String, String>,
    pub entry_points: BTreeMap<String, BTreeMap<String, String>>,
    /// In the order of the file (hatchling keeps it).
    pub urls: Vec<(String, String)>,
}

/// `project.readme`: a file (content type from its extension or given) or inline text.
#[derive(Debug, Clone, PartialEq)]
pub enum Readme {
    File { path: String, content_type: String },
    Text { text: String, content_type: String },
}

/// `project.license`: `{text = ...}` (core metadata `License`) or an SPDX expression (PEP 639).
#[derive(Debug, Clone, PartialEq)]
pub enum License {
    Text(String),
    Expression(String),
}

/// `[tool.kaelio-ktx]`: what the runtime host runs of this payload (each value optional).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Declaration {
    /// `module.path:factory`: the ASGI app factory the host serves.
    pub app: Option<String>,
    /// `module.path`: what `python -m` runs for one-shot ops and the install check.
    pub oneshot: Option<String>,
}

/// A parsed payload project: the metadata and where its import packages live.
#[derive(Debug, Clone)]
pub struct PyProject {
    pub root: PathBuf,
    pub project: Project,
    /// Package directories relative to `root`, e.g. `src/semantic_layer`.
    pub packages: Vec<String>,
    pub declaration: Declaration,
}

/// `urls` read in file order (toml's tables are sorted; its deserializer is not).
#[derive(Deserialize)]
struct OrderedUrls {
    project: Option<ProjectUrls>,
}

#[derive(Deserialize)]
struct ProjectUrls {
    #[serde(default, deserialize_with = "ordered_pairs")]
    urls: Vec<(String, String)>,
}

fn ordered_pairs<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<(String, String)>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a table of strings")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(pair) = map.next_entry::<String, String>()? {
                out.push(pair);
            }
            Ok(out)
        }
    }
    d.deserialize_map(V)
}

/// Reads one pyproject and reports a refused field as `<file>: <field>: <why>`.
struct Reader {
    file: PathBuf,
}

impl Reader {
    fn refuse(&self, field: &str, why: impl std::fmt::Display) -> anyhow::Error {
        anyhow::anyhow!("{}: {field}: {why}", self.file.display())
    }

    fn string(&self, t: &toml::Table, key: &str, field: &str) -> Result<Option<String>> {
        match t.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.refuse(field, "must be a string")),
        }
    }

    fn strings(&self, v: &toml::Value, field: &str) -> Result<Vec<String>> {
        let toml::Value::Array(items) = v else {
            return Err(self.refuse(field, "must be an array of strings"));
        };
        items
            .iter()
            .map(|i| match i {
                toml::Value::String(s) => Ok(s.clone()),
                _ => Err(self.refuse(field, "must be an array of strings")),
            })
            .collect()
    }

    fn string_map(&self, v: &toml::Value, field: &str) -> Result<BTreeMap<String, String>> {
        let toml::Value::Table(t) = v else {
            return Err(self.refuse(field, "must be a table of strings"));
        };
        t.iter()
            .map(|(k, v)| match v {
                toml::Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(self.refuse(&format!("{field}.{k}"), "must be a string")),
            })
            .collect()
    }

    fn requirements(&self, v: &toml::Value, field: &str) -> Result<Vec<String>> {
        let reqs = self.strings(v, field)?;
        for r in &reqs {
            Requirement::parse(r).map_err(|e| self.refuse(field, e))?;
        }
        Ok(reqs)
    }
}

impl PyProject {
    /// Read and check `root/pyproject.toml`.
    pub fn load(root: &Path) -> Result<Self> {
        let file = root.join("pyproject.toml");
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let doc: toml::Table = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid pyproject", file.display()))?;
        let r = Reader { file: file.clone() };

        let backend = doc
            .get("build-system")
            .and_then(|b| b.get("build-backend"))
            .and_then(|b| b.as_str());
        match backend {
            Some("hatchling.build") => {}
            Some(other) => {
                return Err(r.refuse(
                    "build-system.build-backend",
                    format!("`{other}` is not supported; ktx-release builds payload projects as hatchling does (build-backend = \"hatchling.build\"), and another backend's configuration would be ignored"),
                ))
            }
            None => {
                return Err(r.refuse(
                    "build-system.build-backend",
                    "missing; payload projects are hatchling projects (build-backend = \"hatchling.build\")",
                ))
            }
        }

        let Some(toml::Value::Table(p)) = doc.get("project") else {
            return Err(r.refuse(
                "project",
                "missing: a payload project needs a [project] table",
            ));
        };
        for key in p.keys() {
            if PROJECT_KEYS.contains(&key.as_str()) {
                continue;
            }
            let why = match key.as_str() {
                "dynamic" => {
                    if matches!(p.get("dynamic"), Some(toml::Value::Array(a)) if a.is_empty()) {
                        continue;
                    }
                    "ktx-release writes static metadata only; write the values in [project]"
                }
                "authors" | "maintainers" | "keywords" | "classifiers" => {
                    "not written by ktx-release's wheel writer; remove it from the payload project"
                }
                "license-files" => {
                    "not supported; the writer ships the LICENSE*/LICENCE*/COPYING*/NOTICE*/AUTHORS* files at the project root, as hatchling does by default"
                }
                _ => "not a field ktx-release's wheel writer handles",
            };
            return Err(r.refuse(&format!("project.{key}"), why));
        }

        let mut project = Project {
            name: r
                .string(p, "name", "project.name")?
                .ok_or_else(|| r.refuse("project.name", "missing"))?,
            version: r
                .string(p, "version", "project.version")?
                .ok_or_else(|| r.refuse("project.version", "missing"))?,
            description: r.string(p, "description", "project.description")?,
            requires_python: r.string(p, "requires-python", "project.requires-python")?,
            ..Project::default()
        };
        if !valid_name(&project.name) {
            return Err(r.refuse(
                "project.name",
                format!("`{}` is not a valid project name", project.name),
            ));
        }
        if let Some(rp) = &project.requires_python {
            crate::pep508::specifier_set(rp).map_err(|e| r.refuse("project.requires-python", e))?;
        }
        project.readme = match p.get("readme") {
            None => None,
            Some(v) => Some(r.readme(v, root)?),
        };
        project.license = match p.get("license") {
            None => None,
            Some(toml::Value::String(expr)) => Some(License::Expression(expr.clone())),
            Some(toml::Value::Table(t)) => {
                if let Some(k) = t.keys().find(|k| *k != "text") {
                    return Err(r.refuse(
                        &format!("project.license.{k}"),
                        "not supported; use {text = \"...\"} or an SPDX expression string",
                    ));
                }
                Some(License::Text(
                    r.string(t, "text", "project.license.text")?
                        .ok_or_else(|| {
                            r.refuse("project.license", "a license table needs `text`")
                        })?,
                ))
            }
            Some(_) => return Err(r.refuse("project.license", "must be a string or a table")),
        };
        if let Some(v) = p.get("dependencies") {
            project.dependencies = r.requirements(v, "project.dependencies")?;
        }
        if let Some(v) = p.get("optional-dependencies") {
            let toml::Value::Table(t) = v else {
                return Err(r.refuse("project.optional-dependencies", "must be a table"));
            };
            for (extra, deps) in t {
                let field = format!("project.optional-dependencies.{extra}");
                if !valid_name(extra) {
                    return Err(r.refuse(&field, "not a valid extra name"));
                }
                let deps = r.requirements(deps, &field)?;
                let key = normalize_dist_name(extra);
                if project.optional_dependencies.insert(key, deps).is_some() {
                    return Err(r.refuse(&field, "two extras normalize to the same name"));
                }
            }
        }
        if let Some(v) = p.get("scripts") {
            project.scripts = r.string_map(v, "project.scripts")?;
        }
        if let Some(v) = p.get("gui-scripts") {
            project.gui_scripts = r.string_map(v, "project.gui-scripts")?;
        }
        if let Some(v) = p.get("entry-points") {
            let toml::Value::Table(t) = v else {
                return Err(r.refuse("project.entry-points", "must be a table of tables"));
            };
            for (group, eps) in t {
                let field = format!("project.entry-points.{group}");
                if group == "console_scripts" || group == "gui_scripts" {
                    return Err(r.refuse(
                        &field,
                        "use project.scripts or project.gui-scripts (PEP 621)",
                    ));
                }
                project
                    .entry_points
                    .insert(group.clone(), r.string_map(eps, &field)?);
            }
        }
        if p.contains_key("urls") {
            let ordered: OrderedUrls = toml::from_str(&text).map_err(|e| {
                r.refuse("project.urls", format!("must be a table of strings ({e})"))
            })?;
            project.urls = ordered.project.map(|p| p.urls).unwrap_or_default();
        }

        let packages = r.hatch(&doc)?;
        for pkg in &packages {
            let field = "tool.hatch.build.targets.wheel.packages";
            let rel = Path::new(pkg);
            if pkg.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
                return Err(r.refuse(
                    field,
                    format!("`{pkg}` must be a relative path inside the project"),
                ));
            }
            if !root.join(pkg).join("__init__.py").is_file() {
                return Err(r.refuse(
                    field,
                    format!(
                        "{} has no __init__.py; list package directories",
                        root.join(pkg).display()
                    ),
                ));
            }
        }
        let declaration = r.declaration(&doc)?;
        Ok(PyProject {
            root: root.to_path_buf(),
            project,
            packages,
            declaration,
        })
    }

    /// Keep only the import packages named in `only` (`--project DIR#pkg,pkg`), and the scripts
    /// and entry points whose module is one of them. An unknown name is refused, naming the
    /// project and the packages it has.
    pub fn select(&mut self, only: &[String]) -> Result<()> {
        let have: Vec<String> = self.import_packages().into_iter().map(|p| p.0).collect();
        if let Some(unknown) = only.iter().find(|n| !have.contains(n)) {
            anyhow::bail!(
                "{}: tool.hatch.build.targets.wheel.packages has no package `{unknown}` to select (it has {}); hint: name one of those after `#` in --project",
                self.file().display(),
                have.join(", ")
            );
        }
        let keep = |dir: &String| {
            let name = Path::new(dir)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            only.contains(&name)
        };
        self.packages.retain(keep);
        let kept = |target: &String| only.contains(&top_level(target).to_string());
        self.project.scripts.retain(|_, t| kept(t));
        self.project.gui_scripts.retain(|_, t| kept(t));
        for eps in self.project.entry_points.values_mut() {
            eps.retain(|_, t| kept(t));
        }
        self.project.entry_points.retain(|_, eps| !eps.is_empty());
        Ok(())
    }

    /// The top-level import package of each package directory (`src/ktx_daemon` -> `ktx_daemon`).
    pub fn import_packages(&self) -> Vec<(String, PathBuf)> {
        self.packages
            .iter()
            .map(|p| {
                let name = Path::new(p)
                    .file_name()
                    .expect("checked: a relative path of normal components")
                    .to_string_lossy()
                    .to_string();
                (name, self.root.join(p))
            })
            .collect()
    }

    /// The pyproject's path, for messages.
    pub fn file(&self) -> PathBuf {
        self.root.join("pyproject.toml")
    }
}

impl Reader {
    fn readme(&self, v: &toml::Value, root: &Path) -> Result<Readme> {
        match v {
            toml::Value::String(path) => {
                let content_type = if path.ends_with(".md") {
                    "text/markdown"
                } else if path.ends_with(".rst") {
                    "text/x-rst"
                } else if path.ends_with(".txt") {
                    "text/plain"
                } else {
                    return Err(self.refuse(
                        "project.readme",
                        format!("cannot tell the content type of `{path}`; use a .md, .rst or .txt file or a table with content-type"),
                    ));
                };
                self.readme_file(path, root)?;
                Ok(Readme::File {
                    path: path.clone(),
                    content_type: content_type.into(),
                })
            }
            toml::Value::Table(t) => {
                if let Some(k) = t
                    .keys()
                    .find(|k| !["file", "text", "content-type"].contains(&k.as_str()))
                {
                    return Err(self.refuse(
                        &format!("project.readme.{k}"),
                        "not supported (file, text and content-type are)",
                    ));
                }
                let content_type = self
                    .string(t, "content-type", "project.readme.content-type")?
                    .ok_or_else(|| self.refuse("project.readme.content-type", "missing"))?;
                if !["text/markdown", "text/x-rst", "text/plain"].contains(&content_type.as_str()) {
                    return Err(self.refuse(
                        "project.readme.content-type",
                        format!("`{content_type}` is not text/markdown, text/x-rst or text/plain"),
                    ));
                }
                match (
                    self.string(t, "file", "project.readme.file")?,
                    self.string(t, "text", "project.readme.text")?,
                ) {
                    (Some(path), None) => {
                        self.readme_file(&path, root)?;
                        Ok(Readme::File { path, content_type })
                    }
                    (None, Some(text)) => Ok(Readme::Text { text, content_type }),
                    _ => Err(self.refuse("project.readme", "give exactly one of file and text")),
                }
            }
            _ => Err(self.refuse("project.readme", "must be a string or a table")),
        }
    }

    fn readme_file(&self, path: &str, root: &Path) -> Result<()> {
        if !Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(self.refuse(
                "project.readme",
                format!("`{path}` must be a relative path inside the project"),
            ));
        }
        if !root.join(path).is_file() {
            return Err(self.refuse(
                "project.readme",
                format!("{} does not exist", root.join(path).display()),
            ));
        }
        Ok(())
    }

    /// `[tool.hatch]`: only `build.targets.wheel.packages` shapes the wheel; every other key that
    /// would (hooks, metadata options, other file selection) is refused.
    fn hatch(&self, doc: &toml::Table) -> Result<Vec<String>> {
        let hatch = doc.get("tool").and_then(|t| t.get("hatch"));
        let table = |v: Option<&toml::Value>, field: &str| -> Result<Option<toml::Table>> {
            match v {
                None => Ok(None),
                Some(toml::Value::Table(t)) => Ok(Some(t.clone())),
                Some(_) => Err(self.refuse(field, "must be a table")),
            }
        };
        let hatch = table(hatch, "tool.hatch")?;
        let missing = || {
            self.refuse(
                "tool.hatch.build.targets.wheel.packages",
                "missing; list the package directories (e.g. packages = [\"src/my_pkg\"]) so the wheel has code",
            )
        };
        let Some(hatch) = hatch else {
            return Err(missing());
        };
        if let Some(toml::Value::Table(meta)) = hatch.get("metadata") {
            if let Some(k) = meta.keys().next() {
                return Err(self.refuse(
                    &format!("tool.hatch.metadata.{k}"),
                    "not supported (metadata hooks and options change what hatchling writes)",
                ));
            }
        }
        let Some(build) = table(hatch.get("build"), "tool.hatch.build")? else {
            return Err(missing());
        };
        if let Some(k) = build.keys().find(|k| *k != "targets") {
            return Err(self.refuse(&format!("tool.hatch.build.{k}"), build_key_reason(k)));
        }
        let targets = table(build.get("targets"), "tool.hatch.build.targets")?;
        let wheel = table(
            targets.as_ref().and_then(|t| t.get("wheel")),
            "tool.hatch.build.targets.wheel",
        )?;
        let Some(wheel) = wheel else {
            return Err(missing());
        };
        if let Some(k) = wheel.keys().find(|k| *k != "packages") {
            return Err(self.refuse(
                &format!("tool.hatch.build.targets.wheel.{k}"),
                build_key_reason(k),
            ));
        }
        let packages = match wheel.get("packages") {
            Some(v) => self.strings(v, "tool.hatch.build.targets.wheel.packages")?,
            None => return Err(missing()),
        };
        if packages.is_empty() {
            return Err(missing());
        }
        Ok(packages)
    }
}

/// The top-level module of an object reference or module path (`a.b:c` -> `a`).
pub fn top_level(reference: &str) -> &str {
    let module = reference.split(':').next().unwrap_or(reference).trim();
    module.split('.').next().unwrap_or(module)
}

/// A dotted Python name (`a.b_c.d`), each part an identifier.
fn dotted_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
                && chars.all(|c| c == '_' || c.is_alphanumeric())
        })
}

impl Reader {
    /// `[tool.kaelio-ktx]`: `app = "module:factory"`, `oneshot = "module"`.
    fn declaration(&self, doc: &toml::Table) -> Result<Declaration> {
        const TABLE: &str = "tool.kaelio-ktx";
        let Some(v) = doc.get("tool").and_then(|t| t.get("kaelio-ktx")) else {
            return Ok(Declaration::default());
        };
        let toml::Value::Table(t) = v else {
            return Err(self.refuse(
                TABLE,
                "must be a table (app = \"module:factory\", oneshot = \"module\")",
            ));
        };
        if let Some(k) = t.keys().find(|k| *k != "app" && *k != "oneshot") {
            return Err(self.refuse(
                &format!("{TABLE}.{k}"),
                "not a key ktx-release knows (app = \"module:factory\", oneshot = \"module\")",
            ));
        }
        let app = self.string(t, "app", "tool.kaelio-ktx.app")?;
        if let Some(a) = &app {
            let ok = a
                .split_once(':')
                .is_some_and(|(m, f)| dotted_name(m) && dotted_name(f));
            if !ok {
                return Err(self.refuse(
                    "tool.kaelio-ktx.app",
                    format!(
                        "`{a}` is not `module.path:factory` (e.g. \"ktx_daemon.app:create_app\")"
                    ),
                ));
            }
        }
        let oneshot = self.string(t, "oneshot", "tool.kaelio-ktx.oneshot")?;
        if let Some(o) = &oneshot {
            if !dotted_name(o) {
                return Err(self.refuse(
                    "tool.kaelio-ktx.oneshot",
                    format!(
                        "`{o}` is not a module path (e.g. \"ktx_daemon\"); `python -m` runs it"
                    ),
                ));
            }
        }
        Ok(Declaration { app, oneshot })
    }
}

fn build_key_reason(key: &str) -> &'static str {
    match key {
        "hooks" => "build hooks run code at build time; ktx-release's wheel writer does not run them",
        "force-include" | "only-include" | "include" | "exclude" | "sources" | "artifacts"
        | "only-packages" | "shared-data" | "shared-scripts" | "extra-metadata" => {
            "file selection other than `packages` is not supported; keep each package's files inside its directory and list the directories in tool.hatch.build.targets.wheel.packages"
        }
        _ => "not supported by ktx-release's wheel writer (only tool.hatch.build.targets.wheel.packages is)",
    }
}
