//! No product doc and no printed string cites an issue number.

use super::lexer::{lex, Tok};
use super::{Finding, Tree, DOCS};

/// Where `text` cites an issue: `issue 15`, `issues 3`, `issue #15`, `#15`.
pub fn issue_citation(text: &str) -> Option<String> {
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
pub fn no_issue_numbers(tree: &Tree, out: &mut Vec<Finding>) {
    for doc in DOCS {
        let Some(text) = tree.read(doc) else { continue };
        for (i, line) in text.lines().enumerate() {
            if let Some(c) = issue_citation(line) {
                out.push(Finding::new(
                    doc.to_string(),
                    i + 1,
                    format!(
                        "cites an issue (`{c}`); say what the reader needs (the \
                         target, the reason) instead of the issue number"
                    ),
                ));
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
                        out.push(Finding::new(
                            file.clone(),
                            t.line,
                            format!(
                                "a string the program prints cites an issue (`{c}`); say what \
                                 the user needs instead of the issue number"
                            ),
                        ));
                    }
                }
            }
        }
    }
}
