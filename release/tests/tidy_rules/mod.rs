//! The tidy test's rules (see release/tests/tidy.rs) and what they share: a finding, the tree
//! they read, path arithmetic.

pub mod bench;
pub mod issues;
pub mod lexer;
pub mod licenses;
pub mod ops;
pub mod paths;
pub mod sections;
pub mod text;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// The product docs: what a user or a maintainer reads.
pub const DOCS: &[&str] = &[
    "README.md",
    "ARCHITECTURE.md",
    "python/README.md",
    "npm/README.md",
];

/// Directories never walked.
pub const SKIPPED_DIRS: &[&str] = &[
    "target",
    ".git",
    "node_modules",
    "__pycache__",
    ".venv",
    ".pytest_cache",
];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// Relative to the tree's root, with `/`.
    pub file: String,
    pub line: usize,
    /// What is wrong and what to do.
    pub message: String,
}

impl Finding {
    pub fn new(file: impl Into<String>, line: usize, message: impl Into<String>) -> Finding {
        Finding {
            file: file.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// The tree the rules read.
pub struct Tree {
    pub root: PathBuf,
    /// Every file and directory, relative, with `/` (directories end with `/`).
    pub entries: BTreeSet<String>,
}

impl Tree {
    pub fn new(root: &Path) -> Tree {
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

    pub fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(rel)).ok()
    }

    /// Files under `dir` (relative, `/`-terminated or empty) ending with `ext`.
    pub fn files(&self, dir: &str, ext: &str) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.starts_with(dir) && e.ends_with(ext) && !e.ends_with('/'))
            .cloned()
            .collect()
    }

    /// Whether `path` (relative, maybe ending with `/`) exists under one of `bases`.
    pub fn exists_under(&self, bases: &[String], path: &str) -> bool {
        let path = path.trim_start_matches("./");
        bases.iter().any(|b| {
            let joined = normalize(&format!("{b}{path}"));
            let dir = format!("{}/", joined.trim_end_matches('/'));
            self.entries.contains(&joined) || self.entries.contains(&dir)
        })
    }
}

pub fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Whether a relative path climbs out of the root (`../x`, `a/../../x`).
pub fn escapes(p: &str) -> bool {
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
pub fn normalize(p: &str) -> String {
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

pub fn dir_of(rel: &str) -> String {
    match rel.rfind('/') {
        Some(i) => rel[..=i].to_string(),
        None => String::new(),
    }
}

/// The line of `file` that first contains `needle` (1 when none does).
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(1, |i| i + 1)
}

/// Every rule on the tree at `root`; `rust_ops` are the ops the Rust code declares.
pub fn check(root: &Path, rust_ops: &[(String, String)]) -> Vec<Finding> {
    let tree = Tree::new(root);
    let mut out = Vec::new();
    paths::paths_named_exist(&tree, &mut out);
    sections::readme_sections_named_exist(&tree, &mut out);
    ops::op_tables_match_the_code(&tree, rust_ops, &mut out);
    licenses::licenses_agree(&tree, &mut out);
    issues::no_issue_numbers(&tree, &mut out);
    bench::bench_tables_match_the_rows(&tree, &mut out);
    out.sort();
    out.dedup();
    out
}
