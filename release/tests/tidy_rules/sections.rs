//! README sections named in code and in the README itself are its headings.

use super::{Finding, Tree, DOCS};
use std::collections::BTreeSet;

/// The README's sections: its headings and bold paragraph titles (`**The fast path.**`).
pub fn readme_sections(tree: &Tree) -> BTreeSet<String> {
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
pub fn readme_sections_named_exist(tree: &Tree, out: &mut Vec<Finding>) {
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
                                "README section \"{name}\" is named here but README.md has no \
                                 heading (or bold paragraph title) \"{name}\"; name an \
                                 existing heading, or add it"
                            ),
                        });
                    }
                }
            }
        }
    }
}
