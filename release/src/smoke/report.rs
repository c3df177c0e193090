//! The smoke results: a cell x check table for people, JUnit XML and JSON for CI.

use serde_json::json;
use std::time::Duration;

#[derive(Clone)]
pub enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

pub struct CheckResult {
    pub cell: String,
    pub check: String,
    pub title: String,
    pub outcome: Outcome,
    pub took: Duration,
}

/// Print the table and write `junit.xml` and `report.json` into `out`; the two files' paths.
pub fn write(
    results: &[CheckResult],
    out: &std::path::Path,
) -> anyhow::Result<[std::path::PathBuf; 2]> {
    std::fs::create_dir_all(out)?;
    println!("\n{}", table(results));
    let files = [out.join("junit.xml"), out.join("report.json")];
    std::fs::write(&files[0], junit(results))?;
    std::fs::write(&files[1], serde_json::to_string_pretty(&json(results))?)?;
    Ok(files)
}

pub fn table(results: &[CheckResult]) -> String {
    let mut cells: Vec<&str> = Vec::new();
    let mut checks: Vec<&str> = Vec::new();
    for r in results {
        if !cells.contains(&r.cell.as_str()) {
            cells.push(&r.cell);
        }
        if !checks.contains(&r.check.as_str()) {
            checks.push(&r.check);
        }
    }
    let w0 = checks.iter().map(|c| c.len()).max().unwrap_or(5).max(5);
    let w = cells.iter().map(|c| c.len()).max().unwrap_or(4).max(12);
    let mut s = format!("{:<w0$}", "check");
    for c in &cells {
        s.push_str(&format!("  {c:<w$}"));
    }
    s.push('\n');
    for k in &checks {
        s.push_str(&format!("{k:<w0$}"));
        for c in &cells {
            let cell = match results.iter().find(|r| &r.cell == c && &r.check == k) {
                None => "-".to_string(),
                Some(r) => match &r.outcome {
                    Outcome::Pass => format!("pass {:.1}s", r.took.as_secs_f64()),
                    Outcome::Fail(_) => format!("FAIL {:.1}s", r.took.as_secs_f64()),
                    Outcome::Skip(_) => "skip".to_string(),
                },
            };
            s.push_str(&format!("  {cell:<w$}"));
        }
        s.push('\n');
    }
    let (p, f, k) = counts(results);
    s.push_str(&format!("\n{p} passed, {f} failed, {k} skipped\n"));
    let mut reasons: Vec<String> = results
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Skip(why) => Some(format!("skipped in {}: {why}", r.cell)),
            _ => None,
        })
        .collect();
    reasons.dedup();
    for r in reasons {
        s.push_str(&format!("{r}\n"));
    }
    s
}

pub fn counts(results: &[CheckResult]) -> (usize, usize, usize) {
    let p = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Pass))
        .count();
    let f = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
        .count();
    (p, f, results.len() - p - f)
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn junit(results: &[CheckResult]) -> String {
    let (_, f, k) = counts(results);
    let total: f64 = results.iter().map(|r| r.took.as_secs_f64()).sum();
    let mut s = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"ktx smoke\" tests=\"{}\" failures=\"{f}\" skipped=\"{k}\" time=\"{total:.3}\">\n", results.len());
    let mut cells: Vec<&str> = results.iter().map(|r| r.cell.as_str()).collect();
    cells.dedup();
    for c in cells {
        let rs: Vec<&CheckResult> = results.iter().filter(|r| r.cell == c).collect();
        let fails = rs
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
            .count();
        let skips = rs
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Skip(_)))
            .count();
        s.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" skipped=\"{skips}\">\n",
            xml(c),
            rs.len()
        ));
        for r in rs {
            s.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
                xml(&r.cell),
                xml(&r.check),
                r.took.as_secs_f64()
            ));
            match &r.outcome {
                Outcome::Pass => {}
                Outcome::Fail(why) => s.push_str(&format!(
                    "<failure message=\"{}\">{}</failure>",
                    xml(why.lines().next().unwrap_or("")),
                    xml(why)
                )),
                Outcome::Skip(why) => s.push_str(&format!("<skipped message=\"{}\"/>", xml(why))),
            }
            s.push_str("</testcase>\n");
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

pub fn json(results: &[CheckResult]) -> serde_json::Value {
    let (p, f, k) = counts(results);
    json!({
        "passed": p, "failed": f, "skipped": k,
        "results": results.iter().map(|r| {
            let (status, detail) = match &r.outcome {
                Outcome::Pass => ("pass", None),
                Outcome::Fail(w) => ("fail", Some(w.clone())),
                Outcome::Skip(w) => ("skip", Some(w.clone())),
            };
            json!({"cell": r.cell, "check": r.check, "title": r.title, "status": status, "seconds": r.took.as_secs_f64(), "detail": detail})
        }).collect::<Vec<_>>(),
    })
}
