//! One table from many smoke runs: on GitHub Actions each cell is a job of its own
//! (`ktx-release smoke --cell ID`), and a last job reads every job's `report.json` and writes
//! the one table, JUnit XML and JSON, as a single run would have.

use super::report::{CheckResult, Outcome};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The results of one `report.json` (as `report::json` writes it).
pub fn read(path: &Path) -> Result<Vec<CheckResult>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the smoke report {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON; hint: pass the report.json files `ktx-release smoke` writes",
            path.display()
        )
    })?;
    let Some(rows) = value["results"].as_array() else {
        bail!(
            "{} has no \"results\" list; hint: pass the report.json files `ktx-release smoke` writes",
            path.display()
        );
    };
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let field = |name: &str| -> Result<String> {
            row[name]
                .as_str()
                .map(str::to_string)
                .with_context(|| format!("{}: result {i} has no string \"{name}\"", path.display()))
        };
        let detail = row["detail"].as_str().unwrap_or("").to_string();
        let outcome = match field("status")?.as_str() {
            "pass" => Outcome::Pass,
            "fail" => Outcome::Fail(detail),
            "skip" => Outcome::Skip(detail),
            other => bail!(
                "{}: result {i} has the status {other:?} (pass, fail or skip)",
                path.display()
            ),
        };
        out.push(CheckResult {
            cell: field("cell")?,
            check: field("check")?,
            title: field("title")?,
            outcome,
            took: Duration::from_secs_f64(row["seconds"].as_f64().unwrap_or(0.0).max(0.0)),
        });
    }
    Ok(out)
}

/// The `report.json` files under `dir` (searched recursively: one directory per downloaded
/// artifact), sorted by path.
pub fn find_reports(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "report.json") {
                found.push(p);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Every result of `reports`, in their order; a (cell, check) reported twice is an error
/// naming both files (two jobs ran the same cell).
pub fn merge(reports: &[PathBuf]) -> Result<Vec<CheckResult>> {
    if reports.is_empty() {
        bail!("no smoke reports to merge; hint: download every cell job's artifact first (report.json in each)");
    }
    let mut all: Vec<(CheckResult, &PathBuf)> = Vec::new();
    for path in reports {
        for r in read(path)? {
            if let Some((_, first)) = all
                .iter()
                .find(|(k, _)| k.cell == r.cell && k.check == r.check)
            {
                bail!(
                    "{} / {} is reported by both {} and {}; hint: run each cell in one job only",
                    r.cell,
                    r.check,
                    first.display(),
                    path.display()
                );
            }
            all.push((r, path));
        }
    }
    Ok(all.into_iter().map(|(r, _)| r).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smoke::report;

    fn write(dir: &Path, name: &str, results: &[CheckResult]) -> PathBuf {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("report.json");
        std::fs::write(&p, report::json(results).to_string()).unwrap();
        p
    }

    fn result(cell: &str, check: &str, outcome: Outcome) -> CheckResult {
        CheckResult {
            cell: cell.into(),
            check: check.into(),
            title: format!("{check} title"),
            outcome,
            took: Duration::from_millis(1500),
        }
    }

    #[test]
    fn reports_of_separate_cell_jobs_merge_into_one_table() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "smoke-local",
            &[result("local", "npx-name", Outcome::Pass)],
        );
        write(
            dir.path(),
            "smoke-windows-wine",
            &[
                result("windows-wine", "wine-native", Outcome::Pass),
                result("windows-wine", "wine-uv", Outcome::Skip("no wine".into())),
                result("windows-wine", "wine-locks", Outcome::Fail("boom".into())),
            ],
        );
        let found = find_reports(dir.path()).unwrap();
        assert_eq!(found.len(), 2);
        let merged = merge(&found).unwrap();
        assert_eq!(report::counts(&merged), (2, 1, 1));
        let table = report::table(&merged);
        assert!(
            table.contains("local") && table.contains("windows-wine"),
            "{table}"
        );
        assert!(
            table.contains("skipped in windows-wine: no wine"),
            "{table}"
        );
        let junit = report::junit(&merged);
        assert!(junit.contains("<failure message=\"boom\">"), "{junit}");
        assert_eq!(merged[0].took, Duration::from_millis(1500));
    }

    #[test]
    fn a_cell_reported_by_two_jobs_is_refused_naming_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(
            dir.path(),
            "a",
            &[result("local", "npx-name", Outcome::Pass)],
        );
        let b = write(
            dir.path(),
            "b",
            &[result("local", "npx-name", Outcome::Pass)],
        );
        let e = merge(&[a, b]).err().unwrap().to_string();
        assert!(
            e.contains("a/report.json") && e.contains("b/report.json"),
            "{e}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_report_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("report.json");
        std::fs::write(&p, "{\"passed\": 1}").unwrap();
        let e = merge(&[p]).err().unwrap().to_string();
        assert!(e.contains("no \"results\" list"), "{e}");
        assert!(merge(&[]).is_err());
    }
}
