//! The docs held true by the code, in the manner of rust-analyzer's tidy test. Each
//! rule reads the tree it is given (the repository, or a copy with a planted drift) and every
//! finding names the file, the line and what to do:
//!
//! - paths: every repository path named in README.md, ARCHITECTURE.md, python/README.md,
//!   npm/README.md, a module header (`//!` in Rust, the module docstring in Python) or a
//!   comment of a Cargo.toml exists (see `path_candidates` for what counts as a path);
//! - sections: a README section named in code (`README, "The daemon"`) or in the README itself
//!   (`see "The daemon"`) is a heading or a bold paragraph title;
//! - ops: the op/route tables of README.md and python/README.md list exactly the ops of
//!   `bootstrap/src/protocol.rs` (`Op::ALL`) and `python/src/ktx_daemon/protocol.py` (`OPS`);
//! - licenses: every package's license is the Cargo workspace's;
//! - issue numbers: the product docs and the string literals of release/src and bootstrap/src
//!   never cite an issue (`issue 15`, `#15`);
//! - bench tables: in README.md's bench tables each `#` appears once and is the row's number
//!   in a full bench run (`--with-embeddings`, Linux x86_64): its place in the order
//!   `bench::run` calls the row groups and each group adds its rows, a row being known by its
//!   `what`; the exact commands listed under a table name its rows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Drift in README.md and ARCHITECTURE.md that is known and waits for the fix given in its
/// finding: (file, a piece of the finding's message). The lead engineer empties this list as
/// the docs are fixed; an entry that matches no finding fails the test (remove it).
const KNOWN_DRIFT: &[(&str, &str)] = &[
    // "Issue 15's targets are shown, not asserted." -> "The stated targets are shown, not asserted."
    ("README.md", "cites an issue (`Issue 15`)"),
    // The table of 2026-11-25 numbered by the bench of that day: renumber its rows (and their
    // exact commands) to today's, and row 2's `what` to the bench's.
    (
        "README.md",
        "row 2 `the npm launcher's cost` is no row of the bench",
    ),
    ("README.md", "in a full bench run, not 3:"),
    ("README.md", "in a full bench run, not 4:"),
    ("README.md", "in a full bench run, not 5:"),
    ("README.md", "in a full bench run, not 6:"),
    ("README.md", "in a full bench run, not 7:"),
    ("README.md", "in a full bench run, not 8:"),
    ("README.md", "in a full bench run, not 9:"),
    ("README.md", "in a full bench run, not 10:"),
    ("README.md", "in a full bench run, not 11:"),
    ("README.md", "in a full bench run, not 12:"),
    // `tests/common` -> `bootstrap/tests/common/`.
    ("ARCHITECTURE.md", "`tests/common` is named here"),
    // python/src/ktx_daemon/server.py is gone: "`cli.py` one-shot and `app.py` (`create_app()`,
    // the ASGI app the runtime host `ktx_host` serves), both driven by that table".
    ("ARCHITECTURE.md", "`server.py` is named here"),
];

/// The product docs: what a user or a maintainer reads.
const DOCS: &[&str] = &[
    "README.md",
    "ARCHITECTURE.md",
    "python/README.md",
    "npm/README.md",
];

/// Paths named in the docs that are not in the repository by design: what the build, a bench
/// or `ktx-release pack` writes (under `target/`, in the packed package), and what npm makes.
/// Runtime paths written with a placeholder (`<root>/...`, `~/...`, `dist/fast-<platform>`,
/// `$HOME`, `%LOCALAPPDATA%`, globs) are patterns, never checked: see `path_candidates`.
const NOT_IN_THE_REPOSITORY: &[&str] = &[
    "target/",
    "dist/",
    "native/",
    "node_modules/",
    "python/runtime-manifest.json",
    // Written into the wheel by `ktx-release wheel`.
    "ktx_host/payload.json",
    "package/",
    ".ci/",
    ".venv/",
];

/// Names with a `/` that are not paths at all.
const NOT_PATHS: &[&str] = &[
    // A time zone (the independent rebuild's).
    "Pacific/Chatham",
    // A Hugging Face model id.
    "sentence-transformers/all-MiniLM-L6-v2",
];

/// Marks of a pattern rather than a path: a placeholder, the home directory, a variable, a
/// glob, alternatives.
const PATTERN_MARKS: &[char] = &['<', '>', '~', '$', '%', '*', '{', '}', '|', '[', ']', '='];

/// Extensions that make a name without `/` a path worth checking: source files, which exist
/// somewhere in the repository by name.
const SOURCE_EXTENSIONS: &[&str] = &[".rs", ".py"];

/// Extensions of files a doc names (with a `/`, or as a bare source file).
const KNOWN_EXTENSIONS: &[&str] = &[
    ".rs", ".py", ".md", ".toml", ".json", ".yml", ".yaml", ".js", ".mjs", ".cjs", ".sh", ".txt",
    ".sqlite", ".lock",
];

/// Directories never walked.
const SKIPPED_DIRS: &[&str] = &[
    "target",
    ".git",
    "node_modules",
    "__pycache__",
    ".venv",
    ".pytest_cache",
];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    /// Relative to the tree's root, with `/`.
    file: String,
    line: usize,
    /// What is wrong and what to do.
    message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// The tree the rules read.
struct Tree {
    root: PathBuf,
    /// Every file and directory, relative, with `/` (directories end with `/`).
    entries: BTreeSet<String>,
}

impl Tree {
    fn new(root: &Path) -> Tree {
        let mut entries = BTreeSet::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let path = e.path();
                let rel = rel(root, &path);
                if path.is_dir() {
                    if SKIPPED_DIRS.contains(&name.as_str()) {
                        continue;
                    }
                    entries.insert(format!("{rel}/"));
                    stack.push(path);
                } else {
                    entries.insert(rel);
                }
            }
        }
        Tree {
            root: root.to_path_buf(),
            entries,
        }
    }

    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(rel)).ok()
    }

    /// Files under `dir` (relative, `/`-terminated or empty) ending with `ext`.
    fn files(&self, dir: &str, ext: &str) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.starts_with(dir) && e.ends_with(ext) && !e.ends_with('/'))
            .cloned()
            .collect()
    }

    /// Whether `path` (relative, maybe ending with `/`) exists under one of `bases`.
    fn exists_under(&self, bases: &[String], path: &str) -> bool {
        let path = path.trim_start_matches("./");
        bases.iter().any(|b| {
            let joined = normalize(&format!("{b}{path}"));
            let dir = format!("{}/", joined.trim_end_matches('/'));
            self.entries.contains(&joined) || self.entries.contains(&dir)
        })
    }
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Whether a relative path climbs out of the root (`../x`, `a/../../x`).
fn escapes(p: &str) -> bool {
    let mut depth = 0i32;
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

/// `a/b/../c` -> `a/c`, without touching the file system.
fn normalize(p: &str) -> String {
    let trailing = p.ends_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            x => out.push(x),
        }
    }
    let mut s = out.join("/");
    if trailing {
        s.push('/');
    }
    s
}

fn dir_of(rel: &str) -> String {
    match rel.rfind('/') {
        Some(i) => rel[..=i].to_string(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Text: where names are written.

/// One line of prose a rule reads: where it is and its text.
struct Prose {
    file: String,
    line: usize,
    text: String,
    /// Directories a relative path in it may be relative to (`""` is the root).
    bases: Vec<String>,
    /// In a doc's section whose heading names a directory (a code map): that directory, where a
    /// bare directory name (`daemon/`) must exist at any depth.
    code_map: Vec<String>,
}

/// The lines of a markdown file outside fenced code blocks, each with the directories its
/// paths may be relative to: the root, the doc's directory, and the directory its enclosing
/// heading names (`### \`bootstrap/\`` -> `bootstrap/`, `bootstrap/src/`).
fn markdown_prose(tree: &Tree, file: &str) -> Vec<Prose> {
    let Some(text) = tree.read(file) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut fenced = false;
    let mut heading_bases: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        if line.starts_with('#') {
            heading_bases = backticked(line)
                .into_iter()
                .filter(|t| t.ends_with('/') && tree.exists_under(&[String::new()], t))
                .flat_map(|t| [t.clone(), format!("{t}src/")])
                .collect();
        }
        let mut bases = vec![
            String::new(),
            dir_of(file),
            format!("{}src/", dir_of(file)),
            "npm/".to_string(),
        ];
        bases.extend(heading_bases.iter().cloned());
        out.push(Prose {
            file: file.to_string(),
            line: i + 1,
            text: line.to_string(),
            bases,
            code_map: heading_bases
                .iter()
                .filter(|b| !b.ends_with("src/"))
                .cloned()
                .collect(),
        });
    }
    out
}

/// The `//!` header of a Rust file; relative paths may be relative to the root, the crate, its
/// `src/` and the file's directory.
fn rust_header(tree: &Tree, file: &str) -> Vec<Prose> {
    let Some(text) = tree.read(file) else {
        return Vec::new();
    };
    let krate = file.split('/').next().unwrap_or("").to_string();
    let bases = vec![
        String::new(),
        format!("{krate}/"),
        format!("{krate}/src/"),
        dir_of(file),
    ];
    text.lines()
        .enumerate()
        .skip_while(|(_, l)| l.trim().is_empty())
        .take_while(|(_, l)| l.trim_start().starts_with("//!"))
        .map(|(i, l)| Prose {
            file: file.to_string(),
            line: i + 1,
            text: l.trim_start().trim_start_matches("//!").to_string(),
            bases: bases.clone(),
            code_map: Vec::new(),
        })
        .collect()
}

/// The module docstring of a Python file (RST's ``x`` read as `x`); relative paths may be
/// relative to the root, `python/`, `python/src/` and the file's directory.
fn python_docstring(tree: &Tree, file: &str) -> Vec<Prose> {
    let Some(text) = tree.read(file) else {
        return Vec::new();
    };
    let bases = vec![
        String::new(),
        "python/".to_string(),
        "python/src/".to_string(),
        dir_of(file),
    ];
    let mut lines = text.lines().enumerate().skip_while(|(_, l)| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    });
    let Some((first_no, first)) = lines.next() else {
        return Vec::new();
    };
    let t = first.trim_start().trim_start_matches(['r', 'R', 'u', 'U']);
    let quote = if t.starts_with("\"\"\"") {
        "\"\"\""
    } else if t.starts_with("'''") {
        "'''"
    } else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut push = |no: usize, s: &str| {
        out.push(Prose {
            file: file.to_string(),
            line: no + 1,
            text: s.replace("``", "`"),
            bases: bases.clone(),
            code_map: Vec::new(),
        })
    };
    let rest = &t[3..];
    if let Some(end) = rest.find(quote) {
        push(first_no, &rest[..end]);
        return out;
    }
    push(first_no, rest);
    for (no, l) in lines {
        if let Some(end) = l.find(quote) {
            push(no, &l[..end]);
            break;
        }
        push(no, l);
    }
    out
}

/// The `#` comments of a TOML file.
fn toml_comments(tree: &Tree, file: &str) -> Vec<Prose> {
    let Some(text) = tree.read(file) else {
        return Vec::new();
    };
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let t = l.trim_start();
            t.starts_with('#').then(|| Prose {
                file: file.to_string(),
                line: i + 1,
                text: t.trim_start_matches('#').to_string(),
                bases: vec![String::new(), dir_of(file)],
                code_map: Vec::new(),
            })
        })
        .collect()
}

/// The spans of `text` between single backticks.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// What in a line names a repository path:
/// - a backticked token without spaces that contains `/` or ends with a known extension;
/// - outside backticks, a word with `/` that ends with a known extension, and a markdown
///   link's target;
///
/// minus URLs, absolute paths (routes, `/proc`), flags and patterns (`PATTERN_MARKS`: a
/// placeholder like `<root>/` or `dist/fast-<platform>`, `~/`, variables, globs). A name
/// without `/` is checked only for a source file (`cli.rs`, `limits.py`).
fn path_candidates(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let has_ext = |t: &str| KNOWN_EXTENSIONS.iter().any(|e| t.ends_with(e));
    for (i, span) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let t = span.trim();
            if !t.contains(char::is_whitespace) && (t.contains('/') || has_ext(t)) {
                found.push(t.to_string());
            }
            continue;
        }
        // Markdown links: [text](target).
        for (j, part) in span.split("](").enumerate() {
            if j > 0 {
                if let Some(end) = part.find(')') {
                    found.push(part[..end].to_string());
                }
            }
        }
        for word in span.split(|c: char| c.is_whitespace() || "()\"',;".contains(c)) {
            let w = word.trim_end_matches(['.', ':', '!', '?']);
            if w.contains('/') && has_ext(w) {
                found.push(w.to_string());
            }
        }
    }
    found
        .into_iter()
        .map(|t| {
            t.trim_end_matches(['.', ',', ':', ';', ')'])
                .split('#')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|t| {
            !t.is_empty()
                && !t.contains("://")
                && !t.starts_with('/')
                && !t.starts_with('-')
                && !t.starts_with('@')
                && !NOT_PATHS.contains(&t.as_str())
                && !t.contains(PATTERN_MARKS)
                && !t.contains("::")
                && (t.trim_end_matches('/').contains('/')
                    || t.ends_with('/')
                    || SOURCE_EXTENSIONS.iter().any(|e| t.ends_with(e)))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Rules.

/// Every repository path named in the docs, the module headers and Cargo.toml's comments exists.
fn paths_named_exist(tree: &Tree, out: &mut Vec<Finding>) {
    let mut prose: Vec<Prose> = DOCS.iter().flat_map(|d| markdown_prose(tree, d)).collect();
    for dir in ["bootstrap/", "release/"] {
        for f in tree.files(dir, ".rs") {
            prose.extend(rust_header(tree, &f));
        }
        prose.extend(toml_comments(tree, &format!("{dir}Cargo.toml")));
    }
    prose.extend(toml_comments(tree, "Cargo.toml"));
    // The payload's modules (its tests' docstrings hold hostile example names, not paths).
    for f in tree.files("python/", ".py") {
        if !f.contains("/tests/") {
            prose.extend(python_docstring(tree, &f));
        }
    }
    for p in &prose {
        for path in path_candidates(&p.text) {
            let bare = path.trim_end_matches('/');
            let found = if bare.contains('/') {
                // A path out of the repository (`../shared/...`) is not the repository's.
                if escapes(&format!("{}{path}", dir_of(&p.file))) {
                    continue;
                }
                tree.exists_under(&p.bases, &path)
            } else {
                // A bare name (`cli.rs`, `daemon/`) is checked in a code map only, at any depth
                // under the section's directory or at the root (elsewhere `venv/` is the
                // runtime's and `json.py` an example).
                if p.code_map.is_empty() {
                    continue;
                }
                tree.entries.contains(&path)
                    || tree.entries.iter().any(|e| {
                        p.code_map.iter().any(|m| e.starts_with(m.as_str()))
                            && e.ends_with(&format!("/{path}"))
                    })
            };
            let exempt = NOT_IN_THE_REPOSITORY
                .iter()
                .any(|x| path.starts_with(x) || path == x.trim_end_matches('/'));
            if !found && !exempt {
                out.push(Finding {
                    file: p.file.clone(),
                    line: p.line,
                    message: format!(
                        "`{path}` is named here but no such file or directory exists (looked under {}); fix the name, or restore the file",
                        p.bases
                            .iter()
                            .map(|b| if b.is_empty() { "the root".to_string() } else { b.clone() })
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
    }
}

/// The README's sections: its headings and bold paragraph titles (`**The fast path.**`).
fn readme_sections(tree: &Tree) -> BTreeSet<String> {
    let text = tree.read("README.md").unwrap_or_default();
    let mut s = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with('#') {
            s.insert(line.trim_start_matches('#').trim().replace('`', ""));
        }
        for (i, part) in line.split("**").enumerate() {
            if i % 2 == 1 {
                s.insert(part.trim().trim_end_matches(['.', ':']).to_string());
            }
        }
    }
    s
}

/// A README section named in code (`README, "X"`, `README's "X"`) or in the README itself
/// (`see "X"`) exists.
fn readme_sections_named_exist(tree: &Tree, out: &mut Vec<Finding>) {
    let sections = readme_sections(tree);
    let mut files: Vec<String> = Vec::new();
    for dir in [
        "bootstrap/src/",
        "release/src/",
        "python/",
        "npm/",
        "scripts/",
    ] {
        for ext in [".rs", ".py", ".js", ".mjs", ".toml"] {
            files.extend(
                tree.files(dir, ext)
                    .into_iter()
                    .filter(|f| !f.contains("/tests/") && !f.contains("/test/")),
            );
        }
    }
    files.extend(DOCS.iter().map(|d| d.to_string()));
    for file in files {
        let Some(text) = tree.read(&file) else {
            continue;
        };
        let marks: &[&str] = if file == "README.md" {
            &["see \"", "See \""]
        } else {
            &["README, \"", "README's \"", "README section \""]
        };
        for (i, line) in text.lines().enumerate() {
            for mark in marks {
                for (j, part) in line.split(mark).enumerate() {
                    if j == 0 {
                        continue;
                    }
                    let Some(end) = part.find('"') else { continue };
                    let name = &part[..end];
                    // A heading "Security: what ktx trusts" is the section "Security".
                    let found = sections
                        .iter()
                        .any(|s| s == name || s.starts_with(&format!("{name}:")));
                    if !found {
                        out.push(Finding {
                            file: file.clone(),
                            line: i + 1,
                            message: format!(
                                "README section \"{name}\" is named here but README.md has no heading (or bold paragraph title) \"{name}\"; name an existing heading, or add it"
                            ),
                        });
                    }
                }
            }
        }
    }
}

/// The ops of `python/src/ktx_daemon/protocol.py`'s `OPS`: (name, route, line).
fn python_ops(tree: &Tree) -> Vec<(String, String, usize)> {
    let text = tree
        .read("python/src/ktx_daemon/protocol.py")
        .unwrap_or_default();
    let mut ops = Vec::new();
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("OPS") {
            inside = true;
            continue;
        }
        if inside && line.starts_with(')') {
            break;
        }
        if inside {
            let strings: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
            if line.trim_start().starts_with("Op(") && strings.len() >= 2 {
                ops.push((strings[0].to_string(), strings[1].to_string(), i + 1));
            }
        }
    }
    ops
}

/// The op/route tables of README.md and python/README.md equal the code's ops, which equal
/// between Rust (`rust_ops`, from `Op::ALL`) and Python.
fn op_tables_match_the_code(tree: &Tree, rust_ops: &[(String, String)], out: &mut Vec<Finding>) {
    let code: BTreeMap<String, String> = rust_ops.iter().cloned().collect();
    let py = python_ops(tree);
    let py_file = "python/src/ktx_daemon/protocol.py";
    if py.is_empty() {
        out.push(Finding {
            file: py_file.into(),
            line: 1,
            message: "no `OPS = (Op(\"<name>\", \"<route>\", ...), ...)` found; keep the op table in that shape, or teach release/tests/tidy.rs the new one".into(),
        });
    }
    let py_map: BTreeMap<String, String> =
        py.iter().map(|(n, r, _)| (n.clone(), r.clone())).collect();
    for (name, route, line) in &py {
        if code.get(name) != Some(route) {
            out.push(Finding { file: py_file.into(), line: *line, message: format!("op `{name}` -> `{route}` is not in bootstrap/src/protocol.rs's `Op` (name() and route()); make the two tables equal") });
        }
    }
    for (name, route) in &code {
        if py_map.get(name) != Some(route) {
            out.push(Finding { file: py_file.into(), line: 1, message: format!("bootstrap/src/protocol.rs's op `{name}` -> `{route}` is missing from `OPS`; make the two tables equal") });
        }
    }
    for doc in ["README.md", "python/README.md"] {
        let Some(text) = tree.read(doc) else { continue };
        let mut table: Option<(usize, BTreeMap<String, (String, usize)>)> = None;
        let mut tables = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            if !line.trim_start().starts_with('|') {
                if let Some(t) = table.take() {
                    tables.push(t);
                }
                continue;
            }
            if table.is_none() {
                let is_op_header = cells.len() >= 2
                    && cells[0].starts_with("op")
                    && cells[1].to_lowercase().contains("route");
                if is_op_header {
                    table = Some((i + 1, BTreeMap::new()));
                }
                continue;
            }
            if cells
                .iter()
                .all(|c| c.chars().all(|ch| ch == '-' || ch == ':'))
            {
                continue;
            }
            let first = |c: &str| backticked(c).into_iter().next().unwrap_or_default();
            let name = first(cells[0]);
            let route = first(cells.get(1).copied().unwrap_or(""))
                .trim_start_matches("POST ")
                .to_string();
            if let Some((_, rows)) = table.as_mut() {
                rows.insert(name, (route, i + 1));
            }
        }
        tables.extend(table);
        for (header, rows) in tables {
            for (name, (route, line)) in &rows {
                if code.get(name) != Some(route) {
                    out.push(Finding { file: doc.into(), line: *line, message: format!("the op table says `{name}` -> `{route}`, which is not an op of bootstrap/src/protocol.rs (`Op`) and python/src/ktx_daemon/protocol.py (`OPS`); write the code's name and route") });
                }
            }
            for (name, route) in &code {
                if !rows.contains_key(name) {
                    out.push(Finding { file: doc.into(), line: header, message: format!("the op table lacks `{name}` (`{route}`), an op of bootstrap/src/protocol.rs; add its row") });
                }
            }
        }
    }
}

/// The line of `file` that first contains `needle` (1 when none does).
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(1, |i| i + 1)
}

/// A pyproject's `[project] license`: the string, or the table's `text`.
fn pyproject_license(text: &str) -> Option<String> {
    let v: toml::Value = toml::from_str(text).ok()?;
    let l = v.get("project")?.get("license")?;
    l.as_str()
        .map(str::to_string)
        .or_else(|| l.get("text")?.as_str().map(str::to_string))
        .or_else(|| l.get("file").map(|f| format!("file {f}")))
}

/// Every package's license is the Cargo workspace's: the crates, npm/package.json,
/// python/pyproject.toml and python/host/pyproject.toml (which must say one), and any other
/// pyproject.toml (the fixtures') that says one.
fn licenses_agree(tree: &Tree, out: &mut Vec<Finding>) {
    let cargo = tree.read("Cargo.toml").unwrap_or_default();
    let ws: toml::Value = toml::from_str(&cargo).unwrap_or(toml::Value::Integer(0));
    let Some(want) = ws
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("license"))
        .and_then(|l| l.as_str())
        .map(str::to_string)
    else {
        out.push(Finding {
            file: "Cargo.toml".into(),
            line: 1,
            message: "no `[workspace.package] license`; declare the one license there".into(),
        });
        return;
    };
    let mut wrong = |file: &str, text: &str, got: Option<String>, required: bool| {
        let line = line_of(text, "license");
        match got {
            Some(g) if g == want => {}
            Some(g) => out.push(Finding { file: file.into(), line, message: format!("license `{g}` disagrees with Cargo.toml's workspace license `{want}`; make it `{want}`") }),
            None if required => out.push(Finding { file: file.into(), line, message: format!("no license; declare `{want}`, the Cargo workspace's") }),
            None => {}
        }
    };
    let members: Vec<String> = ws
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for m in members {
        let file = format!("{m}/Cargo.toml");
        let text = tree.read(&file).unwrap_or_default();
        let v: toml::Value = toml::from_str(&text).unwrap_or(toml::Value::Integer(0));
        let l = v.get("package").and_then(|p| p.get("license"));
        let got = match l {
            Some(l) if l.get("workspace").and_then(|w| w.as_bool()) == Some(true) => {
                Some(want.clone())
            }
            Some(l) => l.as_str().map(str::to_string),
            None => None,
        };
        wrong(&file, &text, got, true);
    }
    let npm = tree.read("npm/package.json").unwrap_or_default();
    let got = serde_json::from_str::<serde_json::Value>(&npm)
        .ok()
        .and_then(|v| {
            v.get("license")
                .and_then(|l| l.as_str())
                .map(str::to_string)
        });
    wrong("npm/package.json", &npm, got, true);
    for file in tree.files("", "pyproject.toml") {
        let text = tree.read(&file).unwrap_or_default();
        let required = file == "python/pyproject.toml" || file == "python/host/pyproject.toml";
        wrong(&file, &text, pyproject_license(&text), required);
    }
}

/// Where `text` cites an issue: `issue 15`, `issues 3`, `issue #15`, `#15`.
fn issue_citation(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let b = lower.as_bytes();
    for (i, _) in lower.match_indices("issue") {
        let before_ok = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        let mut j = i + 5;
        if b.get(j) == Some(&b's') {
            j += 1;
        }
        let k = j;
        while b.get(j) == Some(&b' ') {
            j += 1;
        }
        if b.get(j) == Some(&b'#') {
            j += 1;
        }
        if before_ok && j > k && b.get(j).is_some_and(u8::is_ascii_digit) {
            let end = (j..b.len())
                .find(|&e| !b[e].is_ascii_digit())
                .unwrap_or(b.len());
            return Some(text[i..end].to_string());
        }
    }
    for (i, _) in text.match_indices('#') {
        let before_ok =
            i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'&' || b[i - 1] == b'/');
        if before_ok && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let end = (i + 1..b.len())
                .find(|&e| !b[e].is_ascii_digit())
                .unwrap_or(b.len());
            let after_ok = b.get(end).is_none_or(|c| !c.is_ascii_alphanumeric());
            if after_ok {
                return Some(text[i..end].to_string());
            }
        }
    }
    None
}

/// The product docs and the string literals of release/src and bootstrap/src never cite an
/// issue number: what a reader needs is said where it is.
fn no_issue_numbers(tree: &Tree, out: &mut Vec<Finding>) {
    for doc in DOCS {
        let Some(text) = tree.read(doc) else { continue };
        for (i, line) in text.lines().enumerate() {
            if let Some(c) = issue_citation(line) {
                out.push(Finding { file: doc.to_string(), line: i + 1, message: format!("cites an issue (`{c}`); say what the reader needs (the target, the reason) instead of the issue number") });
            }
        }
    }
    for dir in ["bootstrap/src/", "release/src/"] {
        for file in tree.files(dir, ".rs") {
            let Some(text) = tree.read(&file) else {
                continue;
            };
            for t in lex(&text) {
                if let Tok::Str(s) = &t.tok {
                    if let Some(c) = issue_citation(s) {
                        out.push(Finding { file: file.clone(), line: t.line, message: format!("a string the program prints cites an issue (`{c}`); say what the user needs instead of the issue number") });
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A Rust lexer just good enough to find string literals, identifiers and brackets.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Ident(String),
    Punct(char),
}

struct Token {
    tok: Tok,
    line: usize,
}

fn lex(src: &str) -> Vec<Token> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let count_lines = |s: &[char]| s.iter().filter(|&&ch| ch == '\n').count();
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            let (start, mut depth) = (i, 0);
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            line += count_lines(&c[start..i.min(c.len())]);
        } else if ch == '"'
            || ((ch == 'r' || ch == 'b' || ch == 'c')
                && matches!(c.get(i + 1), Some('"') | Some('#') | Some('r'))
                && (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_'))
                && string_start(&c, i).is_some())
        {
            let start_line = line;
            let (hashes, raw, body_start) = string_start(&c, i).unwrap_or((0, false, i + 1));
            let mut j = body_start;
            let mut s = String::new();
            while j < c.len() {
                if !raw && c[j] == '\\' {
                    s.push(c[j]);
                    if let Some(&n) = c.get(j + 1) {
                        s.push(n);
                    }
                    j += 2;
                    continue;
                }
                if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                    break;
                }
                s.push(c[j]);
                j += 1;
            }
            line += count_lines(&c[i..j.min(c.len())]);
            out.push(Token {
                tok: Tok::Str(s),
                line: start_line,
            });
            i = j + 1 + hashes;
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a, 'static).
            if c.get(i + 1) == Some(&'\\') {
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(c[start..i].iter().collect()),
                line,
            });
        } else {
            out.push(Token {
                tok: Tok::Punct(ch),
                line,
            });
            i += 1;
        }
    }
    out
}

/// At `i`, a string literal's (number of `#`, raw, index of its first character).
fn string_start(c: &[char], i: usize) -> Option<(usize, bool, usize)> {
    let mut j = i;
    if matches!(c.get(j), Some('b') | Some('c')) {
        j += 1;
    }
    let raw = c.get(j) == Some(&'r');
    if raw {
        j += 1;
    }
    let mut hashes = 0;
    while raw && c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (c.get(j) == Some(&'"')).then_some((hashes, raw, j + 1))
}

/// The tokens of the body of `fn name` (between its braces), if the file defines it.
fn fn_body<'a>(toks: &'a [Token], name: &str) -> Option<&'a [Token]> {
    let at = toks
        .windows(2)
        .position(|w| w[0].tok == Tok::Ident("fn".into()) && w[1].tok == Tok::Ident(name.into()))?;
    let open = at + toks[at..].iter().position(|t| t.tok == Tok::Punct('{'))?;
    let mut depth = 0;
    for (k, t) in toks[open..].iter().enumerate() {
        match t.tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(&toks[open + 1..open + k]);
                }
            }
            _ => {}
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The bench's rows.

/// A bench row as the code makes it.
#[derive(Debug, Clone)]
struct BenchRow {
    id: String,
    /// The row's `what`; `{...}` in it matches anything.
    what: String,
}

fn is_row_id(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// The bench's rows in the order of a full run: `bench::run`'s `b.<group>()` calls in order,
/// each group's rows in the order it adds them (following `self.<method>(` calls into methods
/// that add rows). A row is `("<id>", "<what>"` or `("<id>", format!("<what>"` at the start
/// of a call or tuple: the first arguments of `Bench::compare` and `Bench::row`, and the
/// tuples rows are made from.
fn bench_rows(tree: &Tree) -> Result<Vec<BenchRow>, Finding> {
    let root_file = ["release/src/bench.rs", "release/src/bench/mod.rs"]
        .into_iter()
        .find(|f| tree.entries.contains(*f))
        .unwrap_or("release/src/bench.rs");
    let mut files: BTreeMap<String, Vec<Token>> = BTreeMap::new();
    for f in std::iter::once(root_file.to_string()).chain(tree.files("release/src/bench/", ".rs")) {
        if let Some(t) = tree.read(&f) {
            files.insert(f, lex(&t));
        }
    }
    let broken = |what: &str| {
        Finding {
        file: root_file.into(),
        line: 1,
        message: format!("cannot read the bench's row order: {what}; keep `pub fn run` calling `b.<group>()?` per row group and rows made by `self.compare(\"<id>\", \"<what>\", ...)` / `self.row(...)`, or teach release/tests/tidy.rs the new shape"),
    }
    };
    let run = fn_body(&files[root_file], "run").ok_or_else(|| broken("no `fn run`"))?;
    let groups: Vec<String> = run
        .windows(4)
        .filter_map(|w| match (&w[0].tok, &w[1].tok, &w[2].tok, &w[3].tok) {
            (Tok::Ident(b), Tok::Punct('.'), Tok::Ident(m), Tok::Punct('(')) if b == "b" => {
                Some(m.clone())
            }
            _ => None,
        })
        .collect();
    let body_of = |name: &str| files.values().find_map(|t| fn_body(t, name));
    fn walk<'a>(
        name: &str,
        body_of: &dyn Fn(&str) -> Option<&'a [Token]>,
        stack: &mut Vec<String>,
        rows: &mut Vec<BenchRow>,
    ) {
        let Some(body) = body_of(name) else { return };
        if stack.iter().any(|s| s == name) {
            return;
        }
        stack.push(name.to_string());
        for k in 0..body.len() {
            let at = |d: usize| body.get(k + d).map(|t| &t.tok);
            if let (Some(Tok::Punct('(')), Some(Tok::Str(id)), Some(Tok::Punct(','))) =
                (at(0), at(1), at(2))
            {
                let what = match (at(3), at(4), at(5), at(6)) {
                    (Some(Tok::Str(w)), _, _, _) => Some(w.clone()),
                    (
                        Some(Tok::Ident(f)),
                        Some(Tok::Punct('!')),
                        Some(Tok::Punct('(')),
                        Some(Tok::Str(w)),
                    ) if f == "format" => Some(w.clone()),
                    _ => None,
                };
                if let Some(what) = what.filter(|w| is_row_id(id) && w.contains(' ')) {
                    rows.push(BenchRow {
                        id: id.clone(),
                        what,
                    });
                }
            }
            if let (
                Some(Tok::Ident(s)),
                Some(Tok::Punct('.')),
                Some(Tok::Ident(m)),
                Some(Tok::Punct('(')),
            ) = (at(0), at(1), at(2), at(3))
            {
                if s == "self" {
                    walk(m, body_of, stack, rows);
                }
            }
        }
        stack.pop();
    }
    let mut rows = Vec::new();
    for g in &groups {
        walk(g, &body_of, &mut Vec::new(), &mut rows);
    }
    if rows.is_empty() {
        return Err(broken("no rows found"));
    }
    let mut seen = BTreeSet::new();
    for r in &rows {
        if !seen.insert(r.id.clone()) {
            return Err(broken(&format!("row id `{}` made twice", r.id)));
        }
    }
    Ok(rows)
}

/// Whether a table's `what` is the row's (`{...}` in the row's matches anything).
fn what_matches(pattern: &str, text: &str) -> bool {
    let mut parts: Vec<&str> = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        parts.push(&rest[..open]);
        rest = rest[open..]
            .find('}')
            .map_or("", |close| &rest[open + close + 1..]);
    }
    parts.push(rest);
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut pos = 0;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            if !text.starts_with(p) {
                return false;
            }
            pos = p.len();
        } else if i == parts.len() - 1 {
            return text.len() >= pos + p.len() && text.ends_with(p);
        } else {
            match text[pos..].find(p) {
                Some(f) => pos += f + p.len(),
                None => return false,
            }
        }
    }
    true
}

/// README.md's bench tables (header `| # | what |`) against the bench's rows: each `#` once
/// per table, each `what` a row of the bench, each `#` that row's number in a full run; and the
/// exact commands listed under a table (`N. \`...\``) name rows of that table.
fn bench_tables_match_the_rows(tree: &Tree, out: &mut Vec<Finding>) {
    let Some(text) = tree.read("README.md") else {
        return;
    };
    let rows = match bench_rows(tree) {
        Ok(r) => r,
        Err(f) => return out.push(f),
    };
    let order: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{} {}", i + 1, r.id))
        .collect();
    let file = "README.md".to_string();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].replace(' ', "").starts_with("|#|what|") {
            i += 1;
            continue;
        }
        let mut numbers: BTreeMap<u32, usize> = BTreeMap::new();
        i += 1;
        while i < lines.len() && lines[i].trim_start().starts_with('|') {
            let cells: Vec<&str> = lines[i]
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            let line = i + 1;
            i += 1;
            let Ok(n) = cells[0].parse::<u32>() else {
                continue;
            };
            let what = cells.get(1).copied().unwrap_or("");
            if let Some(prev) = numbers.insert(n, line) {
                out.push(Finding { file: file.clone(), line, message: format!("row number {n} is used twice in this table (also line {prev}); a number means one row: use the row's number in a full run (the bench's order: {})", order.join(", ")) });
            }
            match rows.iter().position(|r| what_matches(&r.what, what)) {
                None => out.push(Finding { file: file.clone(), line, message: format!("row {n} `{what}` is no row of the bench (release/src/bench/): write the `what` the bench prints for it now, or drop the row") }),
                Some(k) if k + 1 != n as usize => out.push(Finding { file: file.clone(), line, message: format!("row `{what}` ({}) is number {} in a full bench run, not {n}: renumber it (and its exact commands) to {}", rows[k].id, k + 1, k + 1) }),
                Some(_) => {}
            }
        }
        // The exact commands under the table, up to the next table or heading.
        while i < lines.len()
            && !lines[i].starts_with('#')
            && !lines[i].replace(' ', "").starts_with("|#|what|")
        {
            let l = lines[i];
            if let Some((n, rest)) = l.split_once(". `") {
                if let Ok(n) = n.trim().parse::<u32>() {
                    if !numbers.contains_key(&n) && !rest.is_empty() {
                        out.push(Finding { file: file.clone(), line: i + 1, message: format!("exact command {n} names no row of the table above; number it as its row") });
                    }
                }
            }
            i += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// Every rule on the tree at `root`; `rust_ops` are the ops the Rust code declares.
fn check(root: &Path, rust_ops: &[(String, String)]) -> Vec<Finding> {
    let tree = Tree::new(root);
    let mut out = Vec::new();
    paths_named_exist(&tree, &mut out);
    readme_sections_named_exist(&tree, &mut out);
    op_tables_match_the_code(&tree, rust_ops, &mut out);
    licenses_agree(&tree, &mut out);
    no_issue_numbers(&tree, &mut out);
    bench_tables_match_the_rows(&tree, &mut out);
    out.sort();
    out.dedup();
    out
}

fn rust_ops() -> Vec<(String, String)> {
    ktx_bootstrap::protocol::Op::ALL
        .iter()
        .map(|o| (o.name().to_string(), o.route().to_string()))
        .collect()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn is_known(f: &Finding) -> bool {
    KNOWN_DRIFT
        .iter()
        .any(|(file, piece)| f.file == *file && f.message.contains(piece))
}

/// The tree `the_docs_agree_with_the_code` checks: `KTX_TIDY_ROOT` (a scratch copy, to see a
/// drift fail), else this repository.
fn tree_under_check() -> PathBuf {
    std::env::var_os("KTX_TIDY_ROOT").map_or_else(repo, PathBuf::from)
}

#[test]
fn the_docs_agree_with_the_code() {
    let findings = check(&tree_under_check(), &rust_ops());
    let (known, new): (Vec<_>, Vec<_>) = findings.iter().partition(|f| is_known(f));
    let stale: Vec<_> = KNOWN_DRIFT
        .iter()
        .filter(|(file, piece)| {
            !known
                .iter()
                .any(|f| f.file == *file && f.message.contains(piece))
        })
        .collect();
    let mut report = String::new();
    for f in &new {
        report.push_str(&format!("{f}\n"));
    }
    for (file, piece) in &stale {
        report.push_str(&format!("release/tests/tidy.rs: KNOWN_DRIFT ({file:?}, {piece:?}) matches nothing any more: remove it\n"));
    }
    assert!(
        report.is_empty(),
        "{} finding(s):\n{report}",
        new.len() + stale.len()
    );
}

/// A copy of the repository's sources (no target/, .git/, node_modules/) in a temp dir.
fn copy_of_repo() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = repo();
    let tree = Tree::new(&root);
    for e in &tree.entries {
        let to = tmp.path().join(e);
        if e.ends_with('/') {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(root.join(e), &to).unwrap();
        }
    }
    tmp
}

fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let p = root.join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(
        text.contains(from),
        "{file} has no {from:?} to plant a drift in"
    );
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn each_kind_of_planted_drift_is_found_with_its_file_and_line() {
    let tmp = copy_of_repo();
    let root = tmp.path();
    let before = check(root, &rust_ops());
    let is_new = |f: &&Finding| !before.contains(f);
    // A file the README names, renamed.
    std::fs::rename(
        root.join("release/src/glibc.rs"),
        root.join("release/src/floor.rs"),
    )
    .unwrap();
    // A module header naming a file that does not exist.
    edit(
        root,
        "release/src/wheel.rs",
        "//! ",
        "//! See `release/src/nowhere.rs`. ",
    );
    // A README section named in code that is no heading.
    edit(
        root,
        "bootstrap/src/paths.rs",
        "//! ",
        "//! (README, \"No such section\") ",
    );
    // An op the code does not have, in python/README.md's table.
    edit(
        root,
        "python/README.md",
        "`POST /sql/table-identifiers`",
        "`POST /sql/tables`",
    );
    // A license that disagrees.
    edit(
        root,
        "npm/package.json",
        "\"license\": \"Apache-2.0\"",
        "\"license\": \"MIT\"",
    );
    // An issue cited in a doc and in a printed string.
    edit(
        root,
        "npm/README.md",
        "# @kaelio/ktx",
        "# @kaelio/ktx (see issue 42)",
    );
    edit(
        root,
        "release/src/bench/setup.rs",
        "no Python 3.13 for",
        "per #42, no Python 3.13 for",
    );
    // A bench row numbered as another.
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let row = readme
        .lines()
        .find(|l| l.starts_with("| 4 | ktx --version, npm install"))
        .expect("README's row 4")
        .to_string();
    edit(root, "README.md", &row, &row.replacen("| 4 |", "| 5 |", 1));

    let after = check(root, &rust_ops());
    let new: Vec<&Finding> = after.iter().filter(is_new).collect();
    let expect = |file: &str, piece: &str| {
        assert!(
            new.iter()
                .any(|f| f.file == file && f.line > 0 && f.message.contains(piece)),
            "no finding in {file} mentioning {piece:?}; new findings:\n{}",
            new.iter().map(|f| format!("{f}\n")).collect::<String>()
        );
    };
    expect(
        "README.md",
        "`release/src/glibc.rs` is named here but no such file",
    );
    expect("ARCHITECTURE.md", "`glibc.rs` is named here");
    expect("release/src/wheel.rs", "`release/src/nowhere.rs`");
    expect(
        "bootstrap/src/paths.rs",
        "README section \"No such section\"",
    );
    expect(
        "python/README.md",
        "`sql-table-identifiers` -> `/sql/tables`",
    );
    expect("npm/package.json", "license `MIT` disagrees");
    expect("npm/README.md", "cites an issue (`issue 42`)");
    expect("release/src/bench/setup.rs", "cites an issue (`#42`)");
    expect("README.md", "row number 5 is used twice");
    expect("README.md", "is number 4 in a full bench run, not 5");
    // The line is the drift's own.
    let glibc = new
        .iter()
        .find(|f| f.file == "README.md" && f.message.contains("`release/src/glibc.rs`"))
        .unwrap();
    let text = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        text.lines()
            .nth(glibc.line - 1)
            .unwrap()
            .contains("release/src/glibc.rs"),
        "{glibc}"
    );
}

#[test]
fn the_bench_rows_are_read_in_the_order_a_full_run_prints_them() {
    let rows = bench_rows(&Tree::new(&repo())).unwrap_or_else(|f| panic!("{f}"));
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.first(), Some(&"oneshot-overhead"), "{ids:?}");
    let at = |id: &str| {
        ids.iter()
            .position(|i| *i == id)
            .unwrap_or_else(|| panic!("{id} missing: {ids:?}"))
    };
    assert!(
        at("launcher-npx") + 1 == at("launcher-js-execve"),
        "{ids:?}"
    );
    assert!(
        at("wheel-vs-python-build") < at("embeddings") && at("embeddings") < at("heavy-first-run"),
        "{ids:?}"
    );
    assert!(what_matches(
        "a burst of {BURST} queries",
        "a burst of 50 queries"
    ));
    assert!(!what_matches(
        "a burst of {BURST} queries",
        "a burst of 50 rows"
    ));
}

#[test]
fn issue_citations_are_told_from_other_numbers() {
    for yes in [
        "issue 15",
        "Issue 15's targets",
        "issues 3",
        "issue #7",
        "see #12.",
        "(#3)",
    ] {
        assert!(issue_citation(yes).is_some(), "{yes}");
    }
    for no in [
        "| # | what |",
        "#!/bin/sh",
        "tissue 3",
        "&#39;",
        "{:#?}",
        "issue a fix",
        "a/#3",
        "#3a",
    ] {
        assert!(issue_citation(no).is_none(), "{no}");
    }
}
