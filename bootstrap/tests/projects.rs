//! KTX projects as KTX users have them: `ktx.yaml` connections, `semantic-layer/<connection>/`
//! sources in KTX's format (with `_schema` shards and overlays), KTX's `sl` command line and its
//! JSON, answers checked against hand-written SQL on the real SQLite files.

mod common;

use common::*;
use predicates::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// The tour fixture (every part of the format), copied into the sandbox with its database
/// built from `data/tour.sql`.
fn tour(sb: &Sandbox) -> PathBuf {
    let dir = sb.path().join("tour");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/projects/tour");
    copy_dir(&fixture, &dir);
    let db = rusqlite::Connection::open(dir.join("data/tour.sqlite")).unwrap();
    db.execute_batch(&std::fs::read_to_string(dir.join("data/tour.sql")).unwrap())
        .unwrap();
    dir
}

/// Rows of hand-written SQL on a SQLite file.
fn hand(db: &Path, sql: &str) -> Vec<Vec<Value>> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut stmt = c.prepare(sql).unwrap();
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            Ok((0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => Value::Null,
                    rusqlite::types::ValueRef::Integer(x) => json!(x),
                    rusqlite::types::ValueRef::Real(x) => json!(x),
                    rusqlite::types::ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                    rusqlite::types::ValueRef::Blob(_) => Value::Null,
                })
                .collect::<Vec<_>>())
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows
}

/// Rows compared as sets, numbers rounded (SQLite sums floats in its own order).
fn norm(rows: &[Vec<Value>]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| match v.as_f64() {
                    Some(f) => format!("{:.4}", f),
                    None => v.to_string(),
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    out.sort();
    out
}

/// `ktx <args>` that must succeed, its stdout as JSON.
fn json_of(mut cmd: impl std::borrow::BorrowMut<assert_cmd::Command>) -> Value {
    let out = cmd.borrow_mut().output().unwrap();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout_of(&out),
        stderr_of(&out)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout_of(&out)))
}

fn rows_of(v: &Value) -> Vec<Vec<Value>> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().clone())
        .collect()
}

fn demo_db(sb: &Sandbox) -> PathBuf {
    sb.demo().join("data/demo.sqlite")
}

#[test]
fn revenue_by_country_executes_to_what_hand_written_sql_says() {
    let sb = Sandbox::new();
    sb.install();
    let v = json_of(sb.query(&[
        "--connection-id",
        "warehouse",
        "--measure",
        "orders.revenue",
        "--dimension",
        "customers.country",
        "--execute",
    ]));
    assert_eq!(v["connectionId"], "warehouse");
    assert_eq!(v["dialect"], "sqlite");
    assert_eq!(v["headers"], json!(["country", "revenue"]));
    assert_eq!(v["plan"]["execution"]["mode"], "executed");
    assert_eq!(v["plan"]["execution"]["driver"], "sqlite");
    let expected = hand(
        &demo_db(&sb),
        "SELECT c.country, SUM(o.amount) FROM orders o LEFT JOIN customers c ON o.customer_id = c.customer_id GROUP BY c.country",
    );
    assert_eq!(norm(&rows_of(&v)), norm(&expected));
    assert_eq!(v["totalRows"], json!(expected.len()));
}

#[test]
fn customer_count_by_order_status_counts_customers_not_orders() {
    let sb = Sandbox::new();
    sb.install();
    let v = json_of(sb.query(&[
        "--measure",
        "customers.customer_count",
        "--dimension",
        "orders.status",
        "--execute",
    ]));
    let db = demo_db(&sb);
    let expected = hand(
        &db,
        "SELECT o.status, COUNT(DISTINCT c.customer_id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.customer_id GROUP BY o.status",
    );
    assert_eq!(norm(&rows_of(&v)), norm(&expected));
    let fanned = hand(
        &db,
        "SELECT o.status, COUNT(*) FROM customers c LEFT JOIN orders o ON o.customer_id = c.customer_id GROUP BY o.status",
    );
    assert_ne!(
        norm(&rows_of(&v)),
        norm(&fanned),
        "the naive join double counts"
    );
}

#[test]
fn revenue_by_product_category_counts_each_order_once_per_category() {
    let sb = Sandbox::new();
    sb.install();
    let v = json_of(sb.query(&[
        "--measure",
        "orders.revenue",
        "--dimension",
        "products.category",
        "--execute",
    ]));
    let db = demo_db(&sb);
    let expected = hand(
        &db,
        "SELECT x.category, SUM(o.amount) FROM orders o JOIN (SELECT DISTINCT oi.order_id, p.category FROM order_items oi JOIN products p ON p.product_id = oi.product_id) x ON x.order_id = o.order_id GROUP BY x.category",
    );
    assert_eq!(norm(&rows_of(&v)), norm(&expected));
    let naive = hand(
        &db,
        "SELECT p.category, SUM(o.amount) FROM orders o JOIN order_items oi ON oi.order_id = o.order_id JOIN products p ON p.product_id = oi.product_id GROUP BY p.category",
    );
    assert_ne!(norm(&rows_of(&v)), norm(&naive));
}

#[test]
fn filters_order_limit_and_max_rows_shape_the_answer() {
    let sb = Sandbox::new();
    sb.install();
    let v = json_of(sb.query(&[
        "--measure",
        "orders.revenue",
        "--measure",
        "orders.order_count",
        "--dimension",
        "customers.country",
        "--filter",
        "orders.status IN ('completed', 'shipped')",
        "--filter",
        "customers.segment = 'consumer'",
        "--order-by",
        "orders.revenue:desc",
        "--limit",
        "3",
        "--execute",
    ]));
    let expected = hand(
        &demo_db(&sb),
        "SELECT c.country, SUM(o.amount) AS revenue, COUNT(*) FROM orders o LEFT JOIN customers c ON o.customer_id = c.customer_id \
         WHERE o.status IN ('completed', 'shipped') AND c.segment = 'consumer' GROUP BY c.country ORDER BY revenue DESC LIMIT 3",
    );
    assert_eq!(rows_of(&v).len(), 3);
    assert_eq!(norm(&rows_of(&v)), norm(&expected));
    assert_eq!(
        v["rows"][0][0], expected[0][0],
        "ordered by revenue, descending"
    );
    // --max-rows caps what comes back and says so.
    let v = json_of(sb.query(&[
        "--measure",
        "orders.revenue",
        "--dimension",
        "customers.country",
        "--execute",
        "--max-rows",
        "2",
    ]));
    assert_eq!(v["totalRows"], 2);
    assert_eq!(v["plan"]["execution"]["maxRows"], 2);
    assert_eq!(v["plan"]["execution"]["truncated"], true);
}

#[test]
fn measures_from_two_sources_and_a_measure_filter_agree_with_hand_written_sql() {
    let sb = Sandbox::new();
    sb.install();
    let v = json_of(sb.query(&[
        "--measure",
        "orders.completed_revenue",
        "--measure",
        "customers.customer_count",
        "--dimension",
        "customers.segment",
        "--execute",
    ]));
    let expected = hand(
        &demo_db(&sb),
        "SELECT c.segment, \
           (SELECT SUM(o.amount) FROM orders o JOIN customers c2 ON c2.customer_id = o.customer_id WHERE o.status = 'completed' AND c2.segment = c.segment), \
           COUNT(*) FROM customers c GROUP BY c.segment",
    );
    assert_eq!(norm(&rows_of(&v)), norm(&expected));
}

#[test]
fn a_bad_reference_exits_3_with_one_line_naming_it_and_the_known_ones() {
    let sb = Sandbox::new();
    sb.install();
    for (flag, bad) in [
        ("--measure", "orders.revnue"),
        ("--dimension", "customers.countri"),
    ] {
        let mut cmd = sb.query(&[]);
        if flag == "--dimension" {
            cmd.args(["--measure", "orders.revenue"]);
        }
        let out = cmd.args([flag, bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(err.contains(bad), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("Traceback"), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn the_project_is_found_through_ktx_project_dir_or_upward_from_the_working_directory() {
    let sb = Sandbox::new();
    sb.install();
    let demo = sb.demo();
    let deep = demo.join("semantic-layer/warehouse");
    let from_below = json_of(sb.ktx().current_dir(&deep).args([
        "sl",
        "query",
        "--measure",
        "orders.order_count",
    ]));
    assert_eq!(from_below["connectionId"], "warehouse");
    let from_env = json_of(sb.ktx().env("KTX_PROJECT_DIR", &demo).args([
        "sl",
        "query",
        "--measure",
        "orders.order_count",
    ]));
    assert_eq!(from_env["sql"], from_below["sql"]);
    // Nowhere to find one: a usage error that says how to name it.
    sb.ktx()
        .env_remove("KTX_PROJECT_DIR")
        .current_dir(sb.home())
        .args(["sl", "query", "--measure", "orders.order_count"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("no ktx.yaml in")
                .and(predicate::str::contains("--project-dir")),
        );
}

#[test]
fn a_project_with_two_connections_needs_connection_id_and_executes_only_sqlite() {
    let sb = Sandbox::new();
    let dir = tour(&sb);
    let tour_query = |args: &[&str]| {
        let mut c = sb.ktx();
        c.args(["sl", "query", "--project-dir"])
            .arg(&dir)
            .args(args);
        c
    };
    tour_query(&["--measure", "invoices.billed"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "several connections (shop, warehouse)",
        ));
    tour_query(&["--connection-id", "nope", "--measure", "invoices.billed"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown connection 'nope'"));
    tour_query(&[
        "--connection-id",
        "warehouse",
        "--measure",
        "x.y",
        "--execute",
    ])
    .assert()
    .code(3)
    .stderr(predicate::str::contains("executes sqlite connections only"));
    tour_query(&[
        "--connection-id",
        "shop",
        "--dialect",
        "postgres",
        "--measure",
        "invoices.billed",
        "--execute",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains(
        "--dialect postgres with --execute",
    ));
    assert!(!sb.root().exists(), "refused before any install");
}

#[test]
fn the_tour_project_validates_and_reports_unknown_keys_as_warnings() {
    let sb = Sandbox::new();
    sb.install();
    let dir = tour(&sb);
    let v = json_of(
        sb.ktx()
            .args([
                "sl",
                "--connection-id",
                "shop",
                "validate",
                "--json",
                "--project-dir",
            ])
            .arg(&dir),
    );
    assert_eq!(v["valid"], true, "{v:#}");
    assert_eq!(v["errors"], json!([]));
    assert_eq!(
        v["sources"],
        json!([
            "accounts",
            "big_invoices",
            "invoice_lines",
            "invoices",
            "subscriptions"
        ])
    );
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("owner"), "{warnings}");
    // Text output: the count, and the warning on stderr.
    sb.ktx()
        .args(["sl", "validate", "--connection-id", "shop", "--project-dir"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "valid: 5 sources in connection 'shop'",
        ))
        .stderr(predicate::str::contains("warning:").and(predicate::str::contains("owner")));
}

#[test]
fn an_invalid_model_fails_validation_with_exit_3_naming_file_and_field() {
    let sb = Sandbox::new();
    sb.install();
    let dir = tour(&sb);
    let f = dir.join("semantic-layer/shop/invoices.yaml");
    let text = std::fs::read_to_string(&f)
        .unwrap()
        .replace("  - invoice_id\ncolumns:", "  - invoice_key\ncolumns:");
    std::fs::write(&f, text).unwrap();
    std::fs::write(
        dir.join("semantic-layer/shop/broken.yaml"),
        "name: broken\ntable: [oops\n",
    )
    .unwrap();
    let out = sb
        .ktx()
        .args(["sl", "validate", "--connection-id", "shop", "--project-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("invoice_key"), "{err}");
    assert!(
        err.contains("semantic-layer/shop/broken.yaml: invalid YAML (line"),
        "{err}"
    );
    assert!(err.contains("is invalid (2 errors)"), "{err}");
    // A query still runs on the sources that load, and says what it left out.
    sb.ktx()
        .args([
            "sl",
            "query",
            "--connection-id",
            "shop",
            "--measure",
            "subscriptions.mrr",
            "--project-dir",
        ])
        .arg(&dir)
        .assert()
        .success()
        .stderr(predicate::str::contains("broken.yaml").and(predicate::str::contains("left out")));
}

/// Parse SQL back with sqlglot from the test environment's Python.
fn parses_back(sql: &str, dialect: &str) -> Result<(), String> {
    let py = std::env::var_os("KTX_TEST_PYTHON_ENV")
        .map(|p| PathBuf::from(p).join("bin/python"))
        .expect("KTX_TEST_PYTHON_ENV: run through ./scripts/test");
    let mut child = std::process::Command::new(py)
        .args([
            "-c",
            "import sys, sqlglot; sqlglot.parse_one(sys.stdin.read(), read=sys.argv[1])",
            dialect,
        ])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(stderr_of(&out))
    }
}

#[test]
fn the_tour_project_compiles_for_six_dialects_and_each_sql_parses_back() {
    let sb = Sandbox::new();
    sb.install();
    let dir = tour(&sb);
    let query = sb.path().join("query.json");
    std::fs::write(
        &query,
        json!({
            "measures": ["subscriptions.active_mrr", "invoices.billed", "accounts.partner_count", "subscriptions.avg_mrr"],
            "dimensions": ["accounts.region", "accounts.signup_year", {"field": "invoices.issued_at", "granularity": "month"}],
            "filters": ["accounts.region != 'APAC'"],
            "order_by": [{"field": "invoices.billed", "direction": "desc"}],
            "limit": 50
        })
        .to_string(),
    )
    .unwrap();
    for dialect in [
        "duckdb",
        "postgres",
        "sqlite",
        "snowflake",
        "bigquery",
        "tsql",
    ] {
        let v = json_of(
            sb.ktx()
                .args([
                    "sl",
                    "query",
                    "--connection-id",
                    "shop",
                    "--dialect",
                    dialect,
                    "--query-file",
                ])
                .arg(&query)
                .arg("--project-dir")
                .arg(&dir),
        );
        assert_eq!(v["dialect"], dialect);
        let sql = v["sql"].as_str().unwrap();
        parses_back(sql, dialect).unwrap_or_else(|e| panic!("{dialect}: {e}\n{sql}"));
        assert_eq!(v["plan"]["execution"]["mode"], "compile_only");
    }
}

#[test]
fn the_tour_project_answers_what_hand_written_sql_says() {
    let sb = Sandbox::new();
    sb.install();
    let dir = tour(&sb);
    let db = dir.join("data/tour.sqlite");
    let run = |args: &[&str]| -> Vec<Vec<Value>> {
        let v = json_of(
            sb.ktx()
                .args([
                    "sl",
                    "query",
                    "--connection-id",
                    "shop",
                    "--execute",
                    "--project-dir",
                ])
                .arg(&dir)
                .args(args),
        );
        rows_of(&v)
    };
    // Overlay: a computed column, a segment, the catalogue's join by account_id (the other
    // inferred join is disabled), a measure filter.
    assert_eq!(
        norm(&run(&[
            "--measure", "accounts.partner_count",
            "--measure", "subscriptions.active_mrr",
            "--dimension", "accounts.signup_year",
        ])),
        norm(&hand(
            &db,
            "SELECT substr(a.signed_up_at, 1, 4), \
               (SELECT COUNT(*) FROM accounts a2 WHERE a2.is_partner = 1 AND substr(a2.signed_up_at, 1, 4) = substr(a.signed_up_at, 1, 4)), \
               (SELECT SUM(s.mrr_cents) / 100.0 FROM subscriptions s JOIN accounts a3 ON a3.account_id = s.account_id \
                 WHERE s.status = 'active' AND substr(a3.signed_up_at, 1, 4) = substr(a.signed_up_at, 1, 4)) \
             FROM accounts a GROUP BY 1",
        ))
    );
    // A derived measure and count(distinct).
    assert_eq!(
        norm(&run(&["--measure", "subscriptions.avg_mrr", "--measure", "subscriptions.plans", "--dimension", "accounts.region"])),
        norm(&hand(
            &db,
            "SELECT a.region, (SUM(s.mrr_cents) / 100.0) / COUNT(*), COUNT(DISTINCT s.plan) FROM subscriptions s \
             LEFT JOIN accounts a ON a.account_id = s.account_id GROUP BY a.region",
        ))
    );
    // A composite join condition, and a dimension of the joined source.
    assert_eq!(
        norm(&run(&[
            "--measure",
            "invoice_lines.units",
            "--dimension",
            "invoices.issued_at"
        ])),
        norm(&hand(
            &db,
            "SELECT i.issued_at, SUM(l.quantity) FROM invoice_lines l LEFT JOIN invoices i \
             ON i.invoice_id = l.invoice_id AND i.account_id = l.account_id GROUP BY i.issued_at",
        ))
    );
    // A sql source, joined to an overlay source, and a computed measure argument.
    assert_eq!(
        norm(&run(&["--measure", "big_invoices.big_billed", "--measure", "big_invoices.big_invoice_count", "--dimension", "accounts.region"])),
        norm(&hand(
            &db,
            "SELECT a.region, SUM(i.amount_cents) / 100.0, COUNT(*) FROM invoices i LEFT JOIN accounts a \
             ON a.account_id = i.account_id WHERE i.amount_cents >= 10000 GROUP BY a.region",
        ))
    );
    // A time granularity (by month), through a query file as KTX's --query-file takes it.
    let query = sb.path().join("by-month.json");
    std::fs::write(
        &query,
        json!({"measures": ["invoices.billed"], "dimensions": [{"field": "invoices.issued_at", "granularity": "month"}]})
            .to_string(),
    )
    .unwrap();
    let by_month = run(&["--query-file", query.to_str().unwrap()]);
    let sums: Vec<f64> = {
        let mut s: Vec<f64> = by_month.iter().map(|r| r[1].as_f64().unwrap()).collect();
        s.sort_by(f64::total_cmp);
        s
    };
    let expected: Vec<f64> = {
        let mut s: Vec<f64> = hand(
            &db,
            "SELECT strftime('%Y-%m', issued_at), SUM(amount_cents) / 100.0 FROM invoices GROUP BY 1",
        )
        .iter()
        .map(|r| r[1].as_f64().unwrap())
        .collect();
        s.sort_by(f64::total_cmp);
        s
    };
    assert_eq!(sums, expected, "one row per month: {by_month:?}");
    // A wrong reference in a segment or a measure names it.
    sb.ktx()
        .args(["sl", "query", "--connection-id", "shop", "--project-dir"])
        .arg(&dir)
        .args([
            "--measure",
            "subscriptions.mrr",
            "--segment",
            "accounts.vips",
        ])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("vips"));
}

#[test]
fn sl_connection_id_may_come_before_the_subcommand_as_in_ktx() {
    let sb = Sandbox::new();
    sb.install();
    let dir = tour(&sb);
    let v = json_of(
        sb.ktx()
            .args([
                "sl",
                "--connection-id",
                "shop",
                "query",
                "--measure",
                "invoices.invoice_count",
                "--format",
                "json",
                "--project-dir",
            ])
            .arg(&dir),
    );
    assert_eq!(v["connectionId"], "shop");
    assert_eq!(v["headers"], json!(["invoices.invoice_count"]));
    sb.ktx()
        .args([
            "sl",
            "--connection-id",
            "shop",
            "query",
            "--measure",
            "invoices.invoice_count",
            "--format",
            "sql",
            "--project-dir",
        ])
        .arg(&dir)
        .assert()
        .success()
        .stdout(predicate::str::starts_with("WITH").or(predicate::str::starts_with("SELECT")));
}
