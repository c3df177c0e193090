//! Every repository path named in the docs, the module headers and Cargo.toml's comments exists.

use super::text::{markdown_prose, python_docstring, rust_header, toml_comments, Prose};
use super::{dir_of, escapes, Finding, Tree, DOCS};
use std::collections::BTreeSet;

/// Paths named in the docs that are not in the repository by design: what the build, a bench
/// or `ktx-release pack` writes (under `target/`, in the packed package), and what npm makes.
/// Runtime paths written with a placeholder (`<root>/...`, `~/...`, `dist/fast-<platform>`,
/// `$HOME`, `%LOCALAPPDATA%`, globs) are patterns, never checked: see `path_candidates`.
pub const NOT_IN_THE_REPOSITORY: &[&str] = &[
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
pub const NOT_PATHS: &[&str] = &[
    // A time zone (the independent rebuild's).
    "Pacific/Chatham",
    // A Hugging Face model id.
    "sentence-transformers/all-MiniLM-L6-v2",
];

/// Marks of a pattern rather than a path: a placeholder, the home directory, a variable, a
/// glob, alternatives.
pub const PATTERN_MARKS: &[char] = &['<', '>', '~', '$', '%', '*', '{', '}', '|', '[', ']', '='];

/// Extensions that make a name without `/` a path worth checking: source files, which exist
/// somewhere in the repository by name.
pub const SOURCE_EXTENSIONS: &[&str] = &[".rs", ".py"];

/// Extensions of files a doc names (with a `/`, or as a bare source file).
pub const KNOWN_EXTENSIONS: &[&str] = &[
    ".rs", ".py", ".md", ".toml", ".json", ".yml", ".yaml", ".js", ".mjs", ".cjs", ".sh", ".txt",
    ".sqlite", ".lock",
];

/// What in a line names a repository path:
/// - a backticked token without spaces that contains `/` or ends with a known extension;
/// - outside backticks, a word with `/` that ends with a known extension, and a markdown
///   link's target;
///
/// minus URLs, absolute paths (routes, `/proc`), flags and patterns (`PATTERN_MARKS`: a
/// placeholder like `<root>/` or `dist/fast-<platform>`, `~/`, variables, globs). A name
/// without `/` is checked only for a source file (`cli.rs`, `limits.py`).
pub fn path_candidates(text: &str) -> Vec<String> {
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

/// Every repository path named in the docs, the module headers and Cargo.toml's comments exists.
pub fn paths_named_exist(tree: &Tree, out: &mut Vec<Finding>) {
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
                        "`{path}` is named here but no such file or directory exists \
                         (looked under {}); fix the name, or restore the file",
                        p.bases
                            .iter()
                            .map(|b| if b.is_empty() {
                                "the root".to_string()
                            } else {
                                b.clone()
                            })
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
