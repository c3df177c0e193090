//! The op/route tables of the docs against the code's ops.

use super::text::backticked;
use super::{Finding, Tree};
use std::collections::BTreeMap;

/// The ops of `python/src/ktx_daemon/protocol.py`'s `OPS`: (name, route, line).
pub fn python_ops(tree: &Tree) -> Vec<(String, String, usize)> {
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

/// A doc's op table: its header's line, and each row's op -> (route, line).
pub type OpTable = (usize, BTreeMap<String, (String, usize)>);

/// The op/route tables of README.md and python/README.md equal the code's ops, which equal
/// between Rust (`rust_ops`, from `Op::ALL`) and Python.
pub fn op_tables_match_the_code(
    tree: &Tree,
    rust_ops: &[(String, String)],
    out: &mut Vec<Finding>,
) {
    let code: BTreeMap<String, String> = rust_ops.iter().cloned().collect();
    let py = python_ops(tree);
    let py_file = "python/src/ktx_daemon/protocol.py";
    if py.is_empty() {
        out.push(Finding {
            file: py_file.into(),
            line: 1,
            message: "no `OPS = (Op(\"<name>\", \"<route>\", ...), ...)` found; \
                      keep the op table in that shape, or teach \
                      release/tests/tidy.rs the new one"
                .into(),
        });
    }
    let py_map: BTreeMap<String, String> =
        py.iter().map(|(n, r, _)| (n.clone(), r.clone())).collect();
    for (name, route, line) in &py {
        if code.get(name) != Some(route) {
            out.push(Finding::new(
                py_file,
                *line,
                format!(
                    "op `{name}` -> `{route}` is not in \
                     bootstrap/src/protocol.rs's `Op` (name() and route()); make \
                     the two tables equal"
                ),
            ));
        }
    }
    for (name, route) in &code {
        if py_map.get(name) != Some(route) {
            out.push(Finding::new(
                py_file,
                1,
                format!(
                    "bootstrap/src/protocol.rs's op `{name}` -> `{route}` is \
                     missing from `OPS`; make the two tables equal"
                ),
            ));
        }
    }
    for doc in ["README.md", "python/README.md"] {
        let Some(text) = tree.read(doc) else { continue };
        let mut table: Option<OpTable> = None;
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
                    out.push(Finding::new(
                        doc,
                        *line,
                        format!(
                            "the op table says `{name}` -> `{route}`, which is not an op \
                             of bootstrap/src/protocol.rs (`Op`) and \
                             python/src/ktx_daemon/protocol.py (`OPS`); write the code's \
                             name and route"
                        ),
                    ));
                }
            }
            for (name, route) in &code {
                if !rows.contains_key(name) {
                    out.push(Finding::new(
                        doc,
                        header,
                        format!(
                            "the op table lacks `{name}` (`{route}`), an op of \
                             bootstrap/src/protocol.rs; add its row"
                        ),
                    ));
                }
            }
        }
    }
}
