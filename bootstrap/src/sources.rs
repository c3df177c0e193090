//! The semantic-layer sources of one connection, resolved into the form ktx-daemon takes
//! (`sources[]` of its requests), the way KTX's own CLI resolves them:
//!
//! 1. `_schema/*.yaml` shards hold `tables: {<name>: {table, columns: [{name, type, pk}],
//!    joins}}`, a catalogue with database types; each entry becomes a source: semantic types
//!    (number, time, boolean, string), `role: time` on time columns, grain = the `pk` columns
//!    (all columns when none is marked).
//! 2. Every other `*.yaml` under the connection's directory with `table` or `sql` is a source
//!    of its own (its `name`, else the file name).
//! 3. A file without `table` and `sql` is an overlay on the shard entry of the same `name`:
//!    `descriptions` merge, `exclude_columns` drop columns, `column_overrides` patch them
//!    (never their type or expr), `columns` add computed ones, `measures`, `segments` and
//!    `grain` replace, `joins` add to the catalogue's and `disable_joins` remove some.
//!
//! Authoring-only fields (`source_type`, `usage`, `inherits_columns_from`, a join's
//! `source`) are dropped. Everything else goes to Python as written: ktx-daemon validates the
//! sources and reports unknown keys as warnings.
//!
//! Before anything goes to Python, names are checked (`check_names`: source, measure and
//! segment names are identifiers, column and grain names unqualified), and the walk of the
//! folder is bounded: each directory is read once (a symlink loop is a warning, not a hang),
//! at most `MAX_WALK_DEPTH` folders deep, `MAX_WALK_ENTRIES` entries and `MAX_SOURCES_BYTES`.

use crate::project::{parse_yaml, read_text};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The subdirectory of a connection's sources that holds the catalogue shards.
pub const SCHEMA_DIR: &str = "_schema";

/// Folders below a connection's directory: KTX projects use one or two (`_schema`, a folder
/// per domain); 32 is far past any layout and stops a chain of links long before the OS does.
pub const MAX_WALK_DEPTH: usize = 32;
/// Directory entries read in all: ten times ktx-daemon's `MAX_SOURCES` (2,000), so a folder
/// the model could use is never cut short, while a runaway tree stops in well under a second.
pub const MAX_WALK_ENTRIES: usize = 20_000;
/// Bytes of YAML read in all: ktx-daemon's `MAX_REQUEST_BYTES` (64 MiB); a model at every
/// daemon limit is 2.5 MB, so more could only be refused later, after reading it all.
pub const MAX_SOURCES_BYTES: u64 = 64 << 20;

/// The resolved sources of a connection, sorted by name, and what went wrong on the way.
#[derive(Debug, Default)]
pub struct Loaded {
    pub sources: Vec<Value>,
    /// Each names the file (relative to the project) and what is wrong.
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl Loaded {
    pub fn names(&self) -> Vec<&str> {
        self.sources
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect()
    }
}

/// Load the sources under `dir` (`semantic-layer/<connection>/`); file names in messages are
/// relative to `project_dir`.
pub fn load(project_dir: &Path, dir: &Path) -> Loaded {
    load_within(project_dir, dir, MAX_SOURCES_BYTES)
}

/// `load`, reading at most `max_bytes` of YAML.
fn load_within(project_dir: &Path, dir: &Path, max_bytes: u64) -> Loaded {
    let mut out = Loaded::default();
    if !dir.is_dir() {
        out.errors.push(format!(
            "{}: no such directory; the sources of this connection go there",
            rel(project_dir, dir)
        ));
        return out;
    }
    let mut walk = Walk {
        project_dir,
        seen: HashMap::new(),
        entries: 0,
        files: Vec::new(),
        stopped: false,
    };
    walk.dir(dir, 0, &mut out);
    let mut files = walk.files;
    files.sort();
    let (mut budget, mut cut) = (max_bytes, false);
    files.retain(|p| {
        let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        if cut || len > budget {
            if !cut {
                out.errors.push(format!(
                    "{}: the sources of this connection pass {} of YAML here; this file and the ones after it are not read",
                    rel(project_dir, p),
                    size(max_bytes)
                ));
            }
            cut = true;
            return false;
        }
        budget -= len;
        true
    });
    let schema_dir = dir.join(SCHEMA_DIR);
    // name -> (source, the file that defined it)
    let mut sources: Vec<(String, Value, String)> = Vec::new();

    for path in files.iter().filter(|p| p.starts_with(&schema_dir)) {
        let name_of = rel(project_dir, path);
        let Some(doc) = read(path, &name_of, &mut out) else {
            continue;
        };
        let Some(tables) = doc.get("tables").and_then(Value::as_object) else {
            out.warnings.push(format!(
                "{name_of}: a {SCHEMA_DIR} shard holds `tables: {{<name>: ...}}`; this one has none, skipped"
            ));
            continue;
        };
        for (name, entry) in tables {
            let at = format!("{name_of}#{name}");
            match project_entry(name, entry).and_then(|s| check_names(&s).map(|()| s)) {
                Ok(source) => {
                    let source = strip_authoring(source, &at, &mut out);
                    add(&mut sources, name, source, at, &mut out)
                }
                Err(e) => out
                    .errors
                    .push(format!("{}: {e}", quoted_at(&name_of, name))),
            }
        }
    }

    let mut overlays = Vec::new();
    for path in files.iter().filter(|p| !p.starts_with(&schema_dir)) {
        let name_of = rel(project_dir, path);
        let Some(Value::Object(mut doc)) = read(path, &name_of, &mut out) else {
            continue;
        };
        let name = match doc.get("name") {
            Some(Value::String(n)) if !n.is_empty() => n.clone(),
            _ => path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default(),
        };
        if has(&doc, "table") || has(&doc, "sql") {
            doc.insert("name".into(), Value::String(name.clone()));
            let source = Value::Object(doc);
            if let Err(e) = check_names(&source) {
                out.errors.push(format!("{name_of}: {e}"));
                continue;
            }
            let source = strip_authoring(source, &name_of, &mut out);
            add(&mut sources, &name, source, name_of, &mut out);
        } else {
            overlays.push((name, doc, name_of));
        }
    }

    for (name, overlay, name_of) in overlays {
        let Some(slot) = sources.iter_mut().find(|(n, _, _)| *n == name) else {
            // Never sent anywhere, so a name that is not an identifier needs no error; one
            // with control characters is shown escaped.
            let name = if name.chars().any(char::is_control) {
                quote(&name)
            } else {
                format!("'{name}'")
            };
            out.warnings.push(format!(
                "{name_of}: overlay {name} has no table or sql and no {SCHEMA_DIR} entry named {name}; skipped"
            ));
            continue;
        };
        match compose(&slot.1, &overlay).and_then(|s| check_names(&s).map(|()| s)) {
            Ok(composed) => {
                slot.1 = strip_authoring(composed, &name_of, &mut out);
                slot.2 = name_of;
            }
            Err(e) => out.errors.push(format!("{name_of}: {e}")),
        }
    }

    sources.sort_by(|a, b| a.0.cmp(&b.0));
    out.sources = sources.into_iter().map(|(_, s, _)| s).collect();
    out
}

/// `n` bytes as MiB when whole, else bytes.
fn size(n: u64) -> String {
    if n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// `p` relative to `base`, for messages; control characters in file names are escaped.
fn rel(base: &Path, p: &Path) -> String {
    let s = p
        .strip_prefix(base)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/");
    if s.chars().any(char::is_control) {
        s.escape_default().to_string()
    } else {
        s
    }
}

/// A name for messages: quoted, with control characters escaped (a hostile name cannot move
/// the cursor or hide text on the user's terminal).
fn quote(name: &str) -> String {
    format!("{name:?}")
}

/// `file#name` of a shard entry, the name escaped when it has to be.
fn quoted_at(name_of: &str, name: &str) -> String {
    if name.chars().any(char::is_control) {
        format!("{name_of}#{}", quote(name))
    } else {
        format!("{name_of}#{name}")
    }
}

/// The names a query refers to (`source.measure`, `source.segment`): ASCII letters, digits and
/// `_`, not starting with a digit. KTX splits a reference at its dot and quotes each part as a
/// SQL identifier; ktx-daemon's `NAME_RE` is this rule.
pub fn identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A column (dimension) or grain name: KTX's rule, unqualified (no '.'), and no control
/// characters. Warehouse columns may hold spaces or other characters; KTX quotes them.
fn column_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('.') && !name.chars().any(char::is_control)
}

fn not_identifier(what: &str, name: &str) -> String {
    format!(
        "{what} name {} is not an identifier (letters, digits and _, not starting with a digit)",
        quote(name)
    )
}

/// The names of a resolved source, checked before it goes to Python: one line naming the
/// first that is wrong.
fn check_names(source: &Value) -> Result<(), String> {
    let name = source["name"].as_str().unwrap_or_default();
    if !identifier(name) {
        return Err(not_identifier("source", name));
    }
    for (key, what) in [("measures", "measure"), ("segments", "segment")] {
        for item in source[key].as_array().into_iter().flatten() {
            if let Some(n) = item.get("name").and_then(Value::as_str) {
                if !identifier(n) {
                    return Err(format!("source '{name}': {}", not_identifier(what, n)));
                }
            }
        }
    }
    let columns = source["columns"].as_array().into_iter().flatten();
    let columns = columns.filter_map(|c| c.get("name").and_then(Value::as_str));
    for n in columns {
        if !column_name(n) {
            return Err(format!(
                "source '{name}': column name {} must be unqualified (no '.') and printable",
                quote(n)
            ));
        }
    }
    for n in source["grain"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !column_name(n) {
            return Err(format!(
                "source '{name}': grain entry {} must be an unqualified column name (no '.') and printable",
                quote(n)
            ));
        }
    }
    Ok(())
}

/// The walk of a connection's folder for YAML files.
struct Walk<'a> {
    project_dir: &'a Path,
    /// Each directory read, by identity, and where it was first read.
    seen: HashMap<DirId, PathBuf>,
    entries: usize,
    files: Vec<PathBuf>,
    stopped: bool,
}

#[cfg(unix)]
type DirId = (u64, u64);
#[cfg(not(unix))]
type DirId = PathBuf;

/// A directory's identity: (device, inode), or its canonical path where there are none.
fn dir_id(meta: &std::fs::Metadata, path: &Path) -> Option<DirId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = path;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        std::fs::canonicalize(path).ok()
    }
}

impl Walk<'_> {
    fn stop(&mut self, at: &Path, why: String, out: &mut Loaded) {
        out.errors.push(format!(
            "{}: {why}; the walk stopped here and the files after it are not read",
            rel(self.project_dir, at)
        ));
        self.stopped = true;
    }

    fn dir(&mut self, dir: &Path, depth: usize, out: &mut Loaded) {
        // Links are followed (a linked folder of sources is fine), each directory once.
        let Some(id) = std::fs::metadata(dir).ok().and_then(|m| dir_id(&m, dir)) else {
            return;
        };
        if let Some(first) = self.seen.get(&id) {
            let first = rel(self.project_dir, first);
            out.warnings.push(format!(
                "{}: the folder {first} again (a symlink loop or a second link to it); not read twice",
                rel(self.project_dir, dir)
            ));
            return;
        }
        if depth > MAX_WALK_DEPTH {
            let why = format!("more than {MAX_WALK_DEPTH} folders deep");
            return self.stop(dir, why, out);
        }
        self.seen.insert(id, dir.to_path_buf());
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut children = Vec::new();
        for e in rd.flatten() {
            self.entries += 1;
            if self.entries > MAX_WALK_ENTRIES {
                let why = format!("more than {MAX_WALK_ENTRIES} files and folders");
                return self.stop(dir, why, out);
            }
            let name = e.file_name().to_string_lossy().to_string();
            if !name.starts_with('.') {
                let link = e.file_type().is_ok_and(|t| t.is_symlink());
                children.push((link, name, e.path()));
            }
        }
        // Real folders before links, so a folder reached both ways is named by its own path.
        children.sort();
        for (_, name, p) in children {
            if self.stopped {
                return;
            }
            // file_type does not follow symlinks; is_dir does (a linked directory of sources).
            if p.is_dir() {
                self.dir(&p, depth + 1, out);
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                self.files.push(p);
            }
        }
    }
}

fn read(path: &Path, name_of: &str, out: &mut Loaded) -> Option<Value> {
    let parsed = read_text(path, name_of).and_then(|t| parse_yaml(&t, name_of));
    match parsed {
        Err(e) => {
            out.errors.push(e.to_string());
            None
        }
        Ok(Value::Null) => {
            out.warnings.push(format!("{name_of}: empty; skipped"));
            None
        }
        Ok(v @ Value::Object(_)) => Some(v),
        Ok(_) => {
            out.errors.push(format!(
                "{name_of}: a source file holds a mapping (name, table or sql, grain, columns, ...)"
            ));
            None
        }
    }
}

fn has(doc: &Map<String, Value>, key: &str) -> bool {
    match doc.get(key) {
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    }
}

fn add(
    sources: &mut Vec<(String, Value, String)>,
    name: &str,
    source: Value,
    at: String,
    out: &mut Loaded,
) {
    if let Some((_, _, first)) = sources.iter().find(|(n, _, _)| n == name) {
        out.errors.push(format!(
            "{at}: duplicate source name '{name}' (already defined in {first})"
        ));
        return;
    }
    sources.push((name.to_string(), source, at));
}

/// KTX's authoring-only fields, which its daemon refuses: dropped before sending.
fn strip_authoring(mut source: Value, name_of: &str, out: &mut Loaded) -> Value {
    if let Value::Object(m) = &mut source {
        if m.remove("inherits_columns_from").is_some() {
            out.warnings.push(format!(
                "{name_of}: inherits_columns_from is not supported by this ktx; ignored (list the columns)"
            ));
        }
        m.remove("usage");
        m.remove("source_type");
        if let Some(Value::Array(joins)) = m.get_mut("joins") {
            for j in joins.iter_mut() {
                if let Value::Object(j) = j {
                    j.remove("source");
                }
            }
        }
    }
    source
}

/// A database type's semantic type: number, time, boolean, else string.
pub fn semantic_type(db_type: &str) -> &'static str {
    let t = db_type.to_ascii_lowercase();
    let t = t.split('(').next().unwrap_or("").trim();
    match t {
        "integer" | "int" | "bigint" | "smallint" | "tinyint" | "mediumint" | "int2" | "int4"
        | "int8" | "numeric" | "decimal" | "float" | "float4" | "float8" | "double"
        | "double precision" | "real" | "number" => "number",
        "timestamp"
        | "timestamptz"
        | "timestamp with time zone"
        | "timestamp without time zone"
        | "timestamp_ntz"
        | "timestamp_ltz"
        | "timestamp_tz"
        | "datetime"
        | "date"
        | "time"
        | "timetz" => "time",
        "boolean" | "bool" => "boolean",
        _ => "string",
    }
}

fn descriptions_of(v: &Map<String, Value>) -> Option<Value> {
    let mut d = match v.get("descriptions") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    if let Some(Value::String(flat)) = v.get("description") {
        if !flat.trim().is_empty() && !d.contains_key("user") {
            d.insert("user".into(), Value::String(flat.clone()));
        }
    }
    d.retain(|_, t| t.as_str().is_some_and(|s| !s.trim().is_empty()));
    (!d.is_empty()).then_some(Value::Object(d))
}

/// A shard entry as a source.
fn project_entry(name: &str, entry: &Value) -> Result<Value, String> {
    let entry = entry
        .as_object()
        .ok_or("an entry is a mapping (table, columns, joins)")?;
    let table = entry
        .get("table")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .ok_or("no table")?;
    let raw_columns = entry
        .get("columns")
        .and_then(Value::as_array)
        .ok_or("columns must be a list of {name, type}")?;
    let mut columns = Vec::new();
    let mut keys = Vec::new();
    let mut all = Vec::new();
    for c in raw_columns {
        let c = c
            .as_object()
            .ok_or("columns must be a list of {name, type}")?;
        let cname = c
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a column has no name")?;
        let db_type = c
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("column '{cname}' has no type"))?;
        let kind = semantic_type(db_type);
        let mut col = Map::new();
        col.insert("name".into(), json!(cname));
        col.insert("type".into(), json!(kind));
        col.insert(
            "role".into(),
            json!(if kind == "time" { "time" } else { "default" }),
        );
        if let Some(d) = descriptions_of(c) {
            col.insert("descriptions".into(), d);
        }
        for key in ["constraints", "enum_values", "tests"] {
            if let Some(v) = c.get(key).filter(|v| !v.is_null()) {
                col.insert(key.into(), v.clone());
            }
        }
        if c.get("pk").and_then(Value::as_bool) == Some(true) {
            keys.push(json!(cname));
        }
        all.push(json!(cname));
        columns.push(Value::Object(col));
    }
    let mut source = Map::new();
    source.insert("name".into(), json!(name));
    source.insert("table".into(), json!(table));
    if let Some(d) = descriptions_of(entry) {
        source.insert("descriptions".into(), d);
    }
    source.insert(
        "grain".into(),
        Value::Array(if keys.is_empty() { all } else { keys }),
    );
    source.insert("columns".into(), Value::Array(columns));
    let joins = match entry.get("joins") {
        Some(Value::Array(js)) => js.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err("joins must be a list".into()),
    };
    source.insert("joins".into(), Value::Array(joins));
    source.insert("measures".into(), json!([]));
    for key in ["default_time_dimension", "tags", "freshness"] {
        if let Some(v) = entry.get(key).filter(|v| !v.is_null()) {
            source.insert(key.into(), v.clone());
        }
    }
    Ok(Value::Object(source))
}

fn list<'a>(overlay: &'a Map<String, Value>, key: &str) -> Result<&'a [Value], String> {
    match overlay.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(format!("{key} must be a list")),
    }
}

fn normalized(on: &str) -> String {
    on.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An overlay composed on its catalogue source.
fn compose(base: &Value, overlay: &Map<String, Value>) -> Result<Value, String> {
    let mut source = base.as_object().cloned().unwrap_or_default();
    let base_columns: Vec<Value> = base["columns"].as_array().cloned().unwrap_or_default();
    let base_names: Vec<String> = base_columns
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let name_of = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_string);

    if let Some(d) = descriptions_of(overlay) {
        let mut merged = source
            .get("descriptions")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        merged.extend(d.as_object().cloned().unwrap_or_default());
        source.insert("descriptions".into(), Value::Object(merged));
    }
    source.remove("description");

    let excluded: Vec<String> = list(overlay, "exclude_columns")?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or("exclude_columns must be a list of column names")?;
    let overrides = list(overlay, "column_overrides")?;
    for o in overrides {
        let oname = name_of(o).ok_or("a column_overrides entry has no name")?;
        if !base_names.contains(&oname) {
            return Err(format!(
                "column_overrides: column '{oname}' is not a column of '{}' in the catalogue",
                base["name"].as_str().unwrap_or("?")
            ));
        }
        if excluded.contains(&oname) {
            return Err(format!(
                "column '{oname}' is both in column_overrides and exclude_columns"
            ));
        }
        for key in ["type", "expr"] {
            if o.get(key).is_some() {
                return Err(format!(
                    "column_overrides: '{oname}' must not set {key} (the catalogue owns it; add a computed column under columns instead)"
                ));
            }
        }
    }
    let mut columns: Vec<Value> = base_columns
        .into_iter()
        .filter(|c| !name_of(c).is_some_and(|n| excluded.contains(&n)))
        .collect();
    for o in overrides {
        let oname = name_of(o).unwrap_or_default();
        if let Some(Value::Object(col)) = columns
            .iter_mut()
            .find(|c| name_of(c).as_deref() == Some(oname.as_str()))
        {
            let o = o.as_object().cloned().unwrap_or_default();
            let descriptions = descriptions_of(&o);
            for (k, v) in o {
                if k != "description" && k != "descriptions" {
                    col.insert(k, v);
                }
            }
            if let Some(Value::Object(d)) = descriptions {
                let mut merged = col
                    .get("descriptions")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                merged.extend(d);
                col.insert("descriptions".into(), Value::Object(merged));
            }
        }
    }
    for c in list(overlay, "columns")? {
        let cname = name_of(c).ok_or("a computed column has no name")?;
        if base_names.contains(&cname) {
            return Err(format!(
                "columns: '{cname}' is a catalogue column; patch it under column_overrides"
            ));
        }
        if c.get("expr").is_none() || c.get("type").is_none() {
            return Err(format!(
                "columns: computed column '{cname}' needs expr and type"
            ));
        }
        columns.push(c.clone());
    }
    source.insert("columns".into(), Value::Array(columns));

    let disabled: Vec<String> = list(overlay, "disable_joins")?
        .iter()
        .filter_map(Value::as_str)
        .map(normalized)
        .collect();
    let mut joins: Vec<Value> = source
        .get("joins")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|j| {
            !j["on"]
                .as_str()
                .is_some_and(|on| disabled.contains(&normalized(on)))
        })
        .collect();
    for j in list(overlay, "joins")? {
        let key = |j: &Value| {
            (
                j["to"].as_str().unwrap_or("").to_string(),
                normalized(j["on"].as_str().unwrap_or("")),
            )
        };
        if !joins.iter().any(|k| key(k) == key(j)) {
            joins.push(j.clone());
        }
    }
    source.insert("joins".into(), Value::Array(joins));

    for (k, v) in overlay {
        match k.as_str() {
            "name" | "description" | "descriptions" | "exclude_columns" | "column_overrides"
            | "columns" | "joins" | "disable_joins" => {}
            "grain" if v.as_array().is_some_and(Vec::is_empty) => {}
            // measures, segments, grain, and anything else: the overlay's value
            _ => {
                source.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(Value::Object(source))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn load_tree(files: &[(&str, &str)]) -> Loaded {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            write(dir.path(), rel, text);
        }
        load(dir.path(), &dir.path().join("semantic-layer/w"))
    }

    const SHARD: &str = r#"
tables:
  accounts:
    table: raw.accounts
    descriptions: {db: Accounts.}
    columns:
      - {name: account_id, type: "varchar(36)", pk: true}
      - {name: name, type: text}
      - {name: created_at, type: timestamp with time zone}
      - {name: seats, type: integer}
      - {name: is_active, type: BOOLEAN}
    joins:
      - {to: plans, "on": plan_id = plans.plan_id, relationship: many_to_one, source: inferred}
      - {to: owners, "on": owner_id = owners.owner_id, relationship: many_to_one}
  events:
    table: raw.events
    columns:
      - {name: event_id, type: bigint}
      - {name: at, type: date}
"#;

    #[test]
    fn a_shard_entry_becomes_a_source_with_semantic_types_time_roles_and_pk_grain() {
        let l = load_tree(&[("semantic-layer/w/_schema/raw.yaml", SHARD)]);
        assert!(l.errors.is_empty(), "{:?}", l.errors);
        assert_eq!(l.names(), ["accounts", "events"]);
        let a = &l.sources[0];
        assert_eq!(a["table"], "raw.accounts");
        assert_eq!(a["grain"], json!(["account_id"]));
        let types: Vec<_> = a["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["type"].as_str().unwrap(), c["role"].as_str().unwrap()))
            .collect();
        assert_eq!(
            types,
            [
                ("string", "default"),
                ("string", "default"),
                ("time", "time"),
                ("number", "default"),
                ("boolean", "default")
            ]
        );
        assert!(a["joins"][0].get("source").is_none(), "provenance dropped");
        // no pk marked: every column is the grain
        assert_eq!(l.sources[1]["grain"], json!(["event_id", "at"]));
    }

    #[test]
    fn an_overlay_patches_excludes_adds_and_replaces_on_its_catalogue_source() {
        let l = load_tree(&[
            ("semantic-layer/w/_schema/raw.yaml", SHARD),
            (
                "semantic-layer/w/accounts.yaml",
                r#"
name: accounts
descriptions: {user: Customer accounts.}
exclude_columns: [seats]
column_overrides:
  - {name: name, descriptions: {user: Legal name.}, visibility: internal}
columns:
  - {name: created_month, type: string, expr: "strftime('%Y-%m', created_at)"}
measures:
  - {name: account_count, expr: count(*)}
disable_joins: ["owner_id  =  owners.owner_id"]
joins:
  - {to: plans, "on": plan_id = plans.plan_id, relationship: many_to_one}
  - {to: regions, "on": region_id = regions.id, relationship: many_to_one}
usage: {tier: hot}
"#,
            ),
        ]);
        assert!(l.errors.is_empty(), "{:?}", l.errors);
        let a = &l.sources[0];
        let cols: Vec<_> = a["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            cols,
            [
                "account_id",
                "name",
                "created_at",
                "is_active",
                "created_month"
            ]
        );
        assert_eq!(a["columns"][1]["visibility"], "internal");
        assert_eq!(a["columns"][1]["descriptions"]["user"], "Legal name.");
        assert_eq!(
            a["descriptions"],
            json!({"db": "Accounts.", "user": "Customer accounts."})
        );
        assert_eq!(a["measures"][0]["name"], "account_count");
        let joins: Vec<_> = a["joins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["to"].as_str().unwrap())
            .collect();
        assert_eq!(joins, ["plans", "regions"], "deduplicated, one disabled");
        assert!(a.get("usage").is_none());
        assert_eq!(a["table"], "raw.accounts");
    }

    #[test]
    fn overlay_mistakes_are_errors_naming_the_file_and_the_column() {
        for (overlay, expect) in [
            (
                "name: accounts\ncolumn_overrides: [{name: nope}]\n",
                "'nope' is not a column",
            ),
            (
                "name: accounts\ncolumn_overrides: [{name: seats, type: string}]\n",
                "must not set type",
            ),
            (
                "name: accounts\ncolumns: [{name: seats, type: number, expr: '1'}]\n",
                "patch it under column_overrides",
            ),
            (
                "name: accounts\ncolumns: [{name: x, type: number}]\n",
                "needs expr and type",
            ),
            (
                "name: accounts\nexclude_columns: [seats]\ncolumn_overrides: [{name: seats}]\n",
                "both in column_overrides and exclude_columns",
            ),
        ] {
            let l = load_tree(&[
                ("semantic-layer/w/_schema/raw.yaml", SHARD),
                ("semantic-layer/w/accounts.yaml", overlay),
            ]);
            assert_eq!(l.errors.len(), 1, "{overlay}: {:?}", l.errors);
            assert!(
                l.errors[0].starts_with("semantic-layer/w/accounts.yaml: ")
                    && l.errors[0].contains(expect),
                "{}",
                l.errors[0]
            );
        }
    }

    #[test]
    fn standalone_files_are_sources_named_by_name_or_file_and_duplicates_are_errors() {
        let l = load_tree(&[
            ("semantic-layer/w/orders.yaml", "table: orders\ngrain: [id]\ncolumns: [{name: id, type: number}]\nsource_type: table\n"),
            ("semantic-layer/w/sub/big.yaml", "name: big_orders\nsql: select * from orders where amount > 100\ngrain: [id]\ncolumns: [{name: id, type: number}]\n"),
            ("semantic-layer/w/again.yaml", "name: orders\ntable: orders2\ngrain: [id]\ncolumns: []\n"),
            ("semantic-layer/w/orphan.yaml", "name: ghosts\nmeasures: []\n"),
            ("semantic-layer/w/empty.yaml", ""),
            ("semantic-layer/w/broken.yaml", "name: [\n"),
            ("semantic-layer/w/.hidden/x.yaml", "name: hidden\ntable: h\n"),
            ("semantic-layer/other/x.yaml", "name: elsewhere\ntable: e\n"),
        ]);
        assert_eq!(l.names(), ["big_orders", "orders"]);
        assert_eq!(
            l.sources[1]["table"], "orders2",
            "files load in path order: again.yaml first"
        );
        assert!(l.sources[1].get("source_type").is_none());
        assert_eq!(l.errors.len(), 2, "{:?}", l.errors);
        assert!(
            l.errors
                .iter()
                .any(|e| e.starts_with("semantic-layer/w/broken.yaml: invalid YAML (line ")),
            "{:?}",
            l.errors
        );
        assert!(
            l.errors.iter().any(|e| e.contains(
                "duplicate source name 'orders' (already defined in semantic-layer/w/again.yaml)"
            )),
            "{:?}",
            l.errors
        );
        assert!(
            l.warnings.iter().any(|w| w.contains("overlay 'ghosts'")),
            "{:?}",
            l.warnings
        );
        assert!(
            l.warnings.iter().any(|w| w.contains("empty.yaml: empty")),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn a_missing_connection_directory_is_an_error_saying_where_sources_go() {
        let l = load_tree(&[]);
        assert_eq!(
            l.errors,
            ["semantic-layer/w: no such directory; the sources of this connection go there"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_reached_twice_through_links_is_read_once_by_its_own_path() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("semantic-layer/w");
        write(
            &w,
            "real/orders.yaml",
            "name: orders\ntable: t\ngrain: [id]\ncolumns: [{name: id, type: number}]\n",
        );
        std::os::unix::fs::symlink("real", w.join("again")).unwrap();
        std::os::unix::fs::symlink(w.join("real"), w.join("a-abs")).unwrap();
        std::os::unix::fs::symlink(".", w.join("loop")).unwrap();
        let l = load(dir.path(), &w);
        assert!(l.errors.is_empty(), "{:?}", l.errors);
        assert_eq!(l.names(), ["orders"]);
        assert_eq!(
            l.warnings,
            [
                "semantic-layer/w/a-abs: the folder semantic-layer/w/real again (a symlink loop or a second link to it); not read twice",
                "semantic-layer/w/again: the folder semantic-layer/w/real again (a symlink loop or a second link to it); not read twice",
                "semantic-layer/w/loop: the folder semantic-layer/w again (a symlink loop or a second link to it); not read twice",
            ]
        );
    }

    #[test]
    fn a_walk_past_its_depth_stops_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("semantic-layer/w");
        let deep = (0..=MAX_WALK_DEPTH)
            .map(|i| format!("d{i}"))
            .collect::<Vec<_>>();
        write(
            &w,
            &format!("{}/x.yaml", deep.join("/")),
            "name: x\ntable: t\n",
        );
        let l = load(dir.path(), &w);
        assert_eq!(l.errors.len(), 1, "{:?}", l.errors);
        assert!(
            l.errors[0].contains("more than 32 folders deep; the walk stopped here"),
            "{:?}",
            l.errors
        );
    }

    #[test]
    fn a_walk_past_its_entries_or_bytes_stops_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("semantic-layer/w");
        std::fs::create_dir_all(&w).unwrap();
        for i in 0..=MAX_WALK_ENTRIES {
            std::fs::File::create(w.join(format!("f{i}.txt"))).unwrap();
        }
        let l = load(dir.path(), &w);
        assert_eq!(l.errors.len(), 1, "{:?}", l.errors);
        assert!(
            l.errors[0].starts_with("semantic-layer/w: more than 20000 files and folders"),
            "{:?}",
            l.errors
        );

        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("semantic-layer/w");
        for f in ["a", "b", "c"] {
            write(&w, &format!("{f}.yaml"), &format!("name: {f}\ntable: t\n")); // 18 bytes
        }
        let l = load_within(dir.path(), &w, 40);
        assert_eq!(l.names(), ["a", "b"]);
        assert_eq!(
            l.errors,
            ["semantic-layer/w/c.yaml: the sources of this connection pass 40 bytes of YAML here; this file and the ones after it are not read"]
        );
        assert_eq!(size(MAX_SOURCES_BYTES), "64 MiB");
    }

    #[test]
    fn names_follow_ktx_rules() {
        for ok in ["orders", "_x", "Orders_2", "a1"] {
            assert!(identifier(ok), "{ok}");
        }
        for bad in [
            "", ".", "..", "a..b..c", "../../x", "1abc", "a-b", "a b", "é", "a.b",
        ] {
            assert!(!identifier(bad), "{bad}");
        }
        for ok in ["Order Date", "CONSIGNMENTS", "a-b", "é"] {
            assert!(column_name(ok), "{ok}");
        }
        for bad in ["", "a.b", "x\ny", "\u{1b}[2J"] {
            assert!(!column_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_bad_name_in_a_shard_or_an_overlay_is_an_error_naming_the_file_and_the_name() {
        let l = load_tree(&[
            (
                "semantic-layer/w/_schema/raw.yaml",
                "tables:\n  ../x:\n    table: t\n    columns: [{name: id, type: int}]\n  ok:\n    table: t\n    columns: [{name: id, type: int}]\n",
            ),
            (
                "semantic-layer/w/ok.yaml",
                "name: ok\nmeasures: [{name: 'a.b', expr: 'count(*)'}]\n",
            ),
        ]);
        assert_eq!(
            l.errors,
            [
                "semantic-layer/w/_schema/raw.yaml#../x: source name \"../x\" is not an identifier (letters, digits and _, not starting with a digit)",
                "semantic-layer/w/ok.yaml: source 'ok': measure name \"a.b\" is not an identifier (letters, digits and _, not starting with a digit)",
            ]
        );
        assert_eq!(
            l.names(),
            ["ok"],
            "the catalogue source stays, without the overlay"
        );
        assert_eq!(l.sources[0]["measures"], json!([]));
    }

    #[test]
    fn database_types_map_like_ktx() {
        for (db, want) in [
            ("NUMERIC(10,2)", "number"),
            ("double precision", "number"),
            ("TIMESTAMP_NTZ", "time"),
            ("date", "time"),
            ("bool", "boolean"),
            ("varchar(20)", "string"),
            ("jsonb", "string"),
        ] {
            assert_eq!(semantic_type(db), want, "{db}");
        }
    }
}
