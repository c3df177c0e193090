//! Where names are written: markdown prose outside code blocks, Rust `//!` headers, Python
//! module docstrings, TOML comments; each line with the directories its paths may be relative to.

use super::{dir_of, Tree};

/// One line of prose a rule reads: where it is and its text.
pub struct Prose {
    pub file: String,
    pub line: usize,
    pub text: String,
    /// Directories a relative path in it may be relative to (`""` is the root).
    pub bases: Vec<String>,
    /// In a doc's section whose heading names a directory (a code map): that directory, where a
    /// bare directory name (`daemon/`) must exist at any depth.
    pub code_map: Vec<String>,
}

/// The lines of a markdown file outside fenced code blocks, each with the directories its
/// paths may be relative to: the root, the doc's directory, and the directory its enclosing
/// heading names (`### \`bootstrap/\`` -> `bootstrap/`, `bootstrap/src/`).
pub fn markdown_prose(tree: &Tree, file: &str) -> Vec<Prose> {
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
pub fn rust_header(tree: &Tree, file: &str) -> Vec<Prose> {
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
pub fn python_docstring(tree: &Tree, file: &str) -> Vec<Prose> {
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
pub fn toml_comments(tree: &Tree, file: &str) -> Vec<Prose> {
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
pub fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}
