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

mod tidy_rules;

use std::path::{Path, PathBuf};
use tidy_rules::bench::{bench_rows, what_matches};
use tidy_rules::issues::issue_citation;
use tidy_rules::{check, Finding, Tree};

/// Drift in README.md and ARCHITECTURE.md that is known and waits for the fix given in its
/// finding: (file, a piece of the finding's message). The lead engineer empties this list as
/// the docs are fixed; an entry that matches no finding fails the test (remove it).
const KNOWN_DRIFT: &[(&str, &str)] = &[];

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
        report.push_str(&format!(
            "release/tests/tidy.rs: KNOWN_DRIFT ({file:?}, {piece:?}) \
             matches nothing any more: remove it\n"
        ));
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
