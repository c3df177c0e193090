//! Rows as an aligned text table, for `--format table`.

use serde_json::Value;

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::String(s) => s.clone(),
        // Sums of decimal amounts come back as binary floats (111659.93000000012): show them
        // rounded to 9 decimals, which keeps every digit a decimal input had.
        Value::Number(n) => match (n.is_f64(), n.as_f64()) {
            (true, Some(f)) => ((f * 1e9).round() / 1e9).to_string(),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn is_numeric(v: &Value) -> bool {
    matches!(v, Value::Number(_))
}

pub fn render(columns: &[String], rows: &[Vec<Value>]) -> String {
    let cells: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(cell).collect()).collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, parts: Vec<String>| {
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(
        &mut out,
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect(),
    );
    line(&mut out, widths.iter().map(|w| "-".repeat(*w)).collect());
    for (r, row) in cells.iter().enumerate() {
        line(
            &mut out,
            row.iter()
                .enumerate()
                .take(widths.len())
                .map(|(i, c)| {
                    if is_numeric(&rows[r][i]) {
                        format!("{c:>w$}", w = widths[i])
                    } else {
                        format!("{c:<w$}", w = widths[i])
                    }
                })
                .collect(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_align_right_and_text_left() {
        let t = render(
            &["country".into(), "revenue".into()],
            &[
                vec![json!("US"), json!(12.5)],
                vec![json!("France"), json!(3)],
            ],
        );
        assert_eq!(
            t,
            "country  revenue\n-------  -------\nUS          12.5\nFrance         3\n"
        );
    }
}
