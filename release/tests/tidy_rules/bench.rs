//! README's bench tables against the bench's rows (release/src/bench.rs and bench/).

use super::lexer::{fn_body, lex, Tok, Token};
use super::{Finding, Tree};
use std::collections::{BTreeMap, BTreeSet};

/// A bench row as the code makes it.
#[derive(Debug, Clone)]
pub struct BenchRow {
    pub id: String,
    /// The row's `what`; `{...}` in it matches anything.
    pub what: String,
}

pub fn is_row_id(s: &str) -> bool {
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
pub fn bench_rows(tree: &Tree) -> Result<Vec<BenchRow>, Finding> {
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
    let broken = |what: &str| Finding {
        file: root_file.into(),
        line: 1,
        message: format!(
            "cannot read the bench's row order: {what}; keep `pub fn run` \
             calling `b.<group>()?` per row group and rows made by \
             `self.compare(\"<id>\", \"<what>\", ...)` / `self.row(...)`, \
             or teach release/tests/tidy.rs the new shape"
        ),
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
pub fn what_matches(pattern: &str, text: &str) -> bool {
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
pub fn bench_tables_match_the_rows(tree: &Tree, out: &mut Vec<Finding>) {
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
                out.push(Finding {
                    file: file.clone(),
                    line,
                    message: format!(
                        "row number {n} is used twice in this table (also line \
                         {prev}); a number means one row: use the row's number in a \
                         full run (the bench's order: {})",
                        order.join(", ")
                    ),
                });
            }
            match rows.iter().position(|r| what_matches(&r.what, what)) {
                None => out.push(Finding {
                    file: file.clone(),
                    line,
                    message: format!(
                        "row {n} `{what}` is no row of the bench \
                         (release/src/bench/): write the `what` the bench prints for \
                         it now, or drop the row"
                    ),
                }),
                Some(k) if k + 1 != n as usize => out.push(Finding {
                    file: file.clone(),
                    line,
                    message: format!(
                        "row `{what}` ({}) is number {} in a full bench run, not {n}: \
                         renumber it (and its exact commands) to {}",
                        rows[k].id,
                        k + 1,
                        k + 1
                    ),
                }),
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
                        out.push(Finding::new(
                            file.clone(),
                            i + 1,
                            format!(
                                "exact command {n} names no row of the table above; number it \
                                 as its row"
                            ),
                        ));
                    }
                }
            }
            i += 1;
        }
    }
}
