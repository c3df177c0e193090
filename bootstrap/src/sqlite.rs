//! Running compiled SQL on a `driver: sqlite` connection, in this process: whichever payload
//! compiled the query (ours or KTX's own wheel), `--execute` needs no Python. The database is
//! opened read-only, one statement only, and the statement is interrupted (SQLite's own
//! `sqlite3_interrupt`) once it has run longer than the time limit: a recursive CTE without a
//! bound cannot run until Ctrl-C.

use crate::error::{Error, Result};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// What a query returned: column names, at most `max_rows` rows, and whether more were left.
#[derive(Debug)]
pub struct Rows {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    pub truncated: bool,
}

/// How long `--execute` may run by default (`--execute-timeout`, KTX_EXECUTE_TIMEOUT).
pub const DEFAULT_TIMEOUT_SECS: u32 = 60;

/// Run `sql` on `db`, returning at most `max_rows` rows; refused (exit 3) past `timeout`.
pub fn execute(db: &Path, sql: &str, max_rows: usize, timeout: Duration) -> Result<Rows> {
    let rejected = |what: &str, e: rusqlite::Error| Error::Rejected {
        message: format!("{what} {}: {e}", db.display()),
    };
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| rejected("cannot open the SQLite database", e))?;
    let mut stmt = conn.prepare(sql).map_err(|e| Error::Rejected {
        message: format!("SQLite refused the query: {e}"),
    })?;
    // The watchdog interrupts the statement at the deadline unless this function returned
    // first (dropping `_done` wakes it up).
    let handle = conn.get_interrupt_handle();
    let (_done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(timeout) {
            handle.interrupt();
            return true;
        }
        false
    });
    let sqlite_error = |e: rusqlite::Error| {
        let interrupted = e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted);
        Error::Rejected {
            message: if interrupted {
                format!(
                    "the query ran longer than the --execute-timeout of {} s and was stopped (raise it with --execute-timeout SECONDS or KTX_EXECUTE_TIMEOUT)",
                    timeout.as_secs()
                )
            } else {
                format!("SQLite error: {e}")
            },
        }
    };
    let rows = read_rows(&mut stmt, max_rows).map_err(sqlite_error);
    drop(_done);
    let _ = watchdog.join();
    rows
}

fn read_rows(stmt: &mut rusqlite::Statement<'_>, max_rows: usize) -> rusqlite::Result<Rows> {
    let headers: Vec<String> = stmt.column_names().map(str::to_string).collect();
    let width = headers.len();
    let mut rows = Vec::new();
    let mut truncated = false;
    let mut cursor = stmt.query([])?;
    while let Some(row) = cursor.next()? {
        if rows.len() == max_rows {
            truncated = true;
            break;
        }
        let mut out = Vec::with_capacity(width);
        for i in 0..width {
            out.push(match row.get_ref(i) {
                Ok(ValueRef::Null) | Err(_) => Value::Null,
                Ok(ValueRef::Integer(n)) => json!(n),
                Ok(ValueRef::Real(f)) => json!(f),
                Ok(ValueRef::Text(t)) => json!(String::from_utf8_lossy(t)),
                Ok(ValueRef::Blob(b)) => {
                    json!(b.iter().map(|x| format!("{x:02x}")).collect::<String>())
                }
            });
        }
        rows.push(out);
    }
    Ok(Rows {
        headers,
        rows,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(30);

    fn db() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB); \
             INSERT INTO t VALUES (1, 1.5, 'a', x'00ff'), (2, NULL, 'b', NULL), (3, 0.25, NULL, NULL);",
        )
        .unwrap();
        (dir, path)
    }

    #[test]
    fn rows_come_back_typed_with_headers_and_truncation() {
        let (_d, path) = db();
        let r = execute(&path, "SELECT i, r, s AS label, b FROM t ORDER BY i", 2, T).unwrap();
        assert_eq!(r.headers, ["i", "r", "label", "b"]);
        assert_eq!(
            r.rows[0],
            vec![json!(1), json!(1.5), json!("a"), json!("00ff")]
        );
        assert_eq!(
            r.rows[1],
            vec![json!(2), Value::Null, json!("b"), Value::Null]
        );
        assert!(r.truncated);
        assert!(!execute(&path, "SELECT i FROM t", 3, T).unwrap().truncated);
    }

    #[test]
    fn the_database_is_read_only_and_takes_one_statement() {
        let (_d, path) = db();
        let e = execute(&path, "DELETE FROM t", 10, T).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::REJECTED, "{e}");
        let e = execute(&path, "SELECT 1; DROP TABLE t", 10, T).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::REJECTED, "{e}");
        assert_eq!(
            execute(&path, "SELECT count(*) FROM t", 10, T)
                .unwrap()
                .rows[0][0],
            json!(3)
        );
    }

    #[test]
    fn a_query_that_runs_past_the_time_limit_is_interrupted_and_refused() {
        let (_d, path) = db();
        let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
                       SELECT count(*) FROM n";
        let e = execute(&path, endless, 10, Duration::from_millis(300)).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::REJECTED);
        assert!(e.to_string().contains("--execute-timeout"), "{e}");
    }
}
