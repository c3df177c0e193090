//! The small part of PEP 508 (requirements, markers) and PEP 440 (specifiers) the wheel writer
//! needs, written out exactly as hatchling writes them into METADATA: the name PEP 503-normalized,
//! extras normalized and sorted, specifiers lowercased, whitespace-free and sorted, markers with
//! single spaces and single quotes. Direct references (`name @ url`) are refused.

use std::cmp::Ordering;

/// One requirement (`psycopg[binary]>=3.2; python_version >= '3.10'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// PEP 503-normalized (`Pydantic_Core` -> `pydantic-core`).
    pub name: String,
    pub extras: Vec<String>,
    pub specifiers: Vec<String>,
    pub marker: Option<String>,
}

impl Requirement {
    /// Parse `text`; the error says what is wrong with it (the caller names the field).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (req, marker) = match text.split_once(';') {
            Some((r, m)) => (r.trim(), Some(m.trim())),
            None => (text.trim(), None),
        };
        let name_end = req
            .find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
            .unwrap_or(req.len());
        let (name, mut rest) = req.split_at(name_end);
        if !valid_name(name) {
            return Err(format!("`{text}` does not start with a valid project name"));
        }
        rest = rest.trim_start();
        let mut extras = Vec::new();
        if let Some(after) = rest.strip_prefix('[') {
            let close = after
                .find(']')
                .ok_or_else(|| format!("`{text}`: unclosed `[` of the extras"))?;
            for extra in after[..close].split(',').map(str::trim) {
                if extra.is_empty() {
                    continue;
                }
                if !valid_name(extra) {
                    return Err(format!("`{text}`: `{extra}` is not a valid extra name"));
                }
                extras.push(normalize_name(extra));
            }
            rest = after[close + 1..].trim_start();
        }
        extras.sort();
        extras.dedup();
        if rest.starts_with('@') {
            return Err(format!(
                "`{text}` is a direct reference; the wheel can only name requirements an index resolves"
            ));
        }
        let rest = rest
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or(rest);
        let specifiers = specifier_set(rest).map_err(|e| format!("`{text}`: {e}"))?;
        let marker = match marker {
            Some(m) => Some(normalize_marker(m).map_err(|e| format!("`{text}`: {e}"))?),
            None => None,
        };
        Ok(Requirement {
            name: normalize_name(name),
            extras,
            specifiers,
            marker,
        })
    }

    /// The requirement as hatchling writes it into METADATA (and as a pyproject may list it).
    pub fn format(&self) -> String {
        let mut out = self.name.clone();
        if !self.extras.is_empty() {
            out.push_str(&format!("[{}]", self.extras.join(",")));
        }
        out.push_str(&self.specifiers.join(","));
        if let Some(m) = &self.marker {
            out.push_str(&format!("; {m}"));
        }
        out
    }
}

/// PEP 503 normalization: runs of `-`, `_`, `.` become one `-`, lowercased.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::new();
    let mut last_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !last_sep {
                out.push('-');
            }
            last_sep = true;
        } else {
            out.extend(c.to_lowercase());
            last_sep = false;
        }
    }
    out
}

/// A valid PEP 508 name: ASCII letters and digits, with `.`, `_`, `-` inside.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

const OPERATORS: [&str; 8] = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"];

/// `>= 3.9, <4` -> `["<4", ">=3.9"]`: each clause without whitespace, lowercased, sorted and
/// de-duplicated, as `packaging`'s SpecifierSet prints itself.
pub fn specifier_set(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for clause in text.split(',') {
        let clause: String = clause.split_whitespace().collect::<String>().to_lowercase();
        if clause.is_empty() {
            if text.trim().is_empty() {
                continue;
            }
            return Err(format!("`{text}` has an empty version clause"));
        }
        let op = OPERATORS
            .iter()
            .find(|op| clause.starts_with(**op))
            .ok_or_else(|| format!("`{clause}` is not a version specifier (>=, ==, ~=, ...)"))?;
        if clause.len() == op.len() {
            return Err(format!("`{clause}` has no version"));
        }
        out.push(clause);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The conjunction of several Requires-Python specifiers, simplified where one bound implies
/// another of the same direction (`>=3.9` and `>=3.13` -> `>=3.13`); `None` when none is given.
pub fn merge_requires_python(specs: &[&str]) -> Result<Option<String>, String> {
    let mut clauses = Vec::new();
    for spec in specs {
        clauses.extend(specifier_set(spec)?);
    }
    if clauses.is_empty() {
        return Ok(None);
    }
    // For each of >=, >, <=, <: keep only the tightest clause when all its versions are plain
    // release numbers; anything else (==, !=, ~=, pre-releases, wildcards) is kept as written.
    let mut kept: Vec<String> = Vec::new();
    for op in [">=", ">", "<=", "<"] {
        let (of_op, _): (Vec<&String>, Vec<&String>) = clauses
            .iter()
            .partition(|c| strip_op(c).is_some_and(|(o, _)| o == op));
        let versions: Option<Vec<Vec<u64>>> = of_op
            .iter()
            .map(|c| release(strip_op(c).unwrap().1))
            .collect();
        match versions {
            Some(vs) if !vs.is_empty() => {
                let tightest = vs
                    .iter()
                    .zip(&of_op)
                    .max_by(|(a, _), (b, _)| {
                        let ord = compare_release(a, b);
                        if op.starts_with('>') {
                            ord
                        } else {
                            ord.reverse()
                        }
                    })
                    .map(|(_, c)| (*c).clone())
                    .unwrap();
                kept.push(tightest);
            }
            _ => kept.extend(of_op.into_iter().cloned()),
        }
    }
    kept.extend(
        clauses
            .iter()
            .filter(|c| !strip_op(c).is_some_and(|(o, _)| [">=", ">", "<=", "<"].contains(&o)))
            .cloned(),
    );
    kept.sort();
    kept.dedup();
    Ok(Some(kept.join(",")))
}

fn strip_op(clause: &str) -> Option<(&'static str, &str)> {
    OPERATORS
        .iter()
        .find(|op| clause.starts_with(**op))
        .map(|op| (*op, &clause[op.len()..]))
}

fn release(version: &str) -> Option<Vec<u64>> {
    version.split('.').map(|p| p.parse::<u64>().ok()).collect()
}

fn compare_release(a: &[u64], b: &[u64]) -> Ordering {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Value(String),
}

/// An environment marker as `packaging` prints it and hatchling writes it: tokens separated by
/// one space, values in single quotes, parentheses kept except around the whole marker.
pub fn normalize_marker(marker: &str) -> Result<String, String> {
    let mut tokens = Vec::new();
    let mut chars = marker.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' {
            chars.next();
            tokens.push(Token::Open);
        } else if c == ')' {
            chars.next();
            tokens.push(Token::Close);
        } else if c == '\'' || c == '"' {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some(q) if q == c => break,
                    Some(x) => value.push(x),
                    None => return Err(format!("unterminated string in the marker `{marker}`")),
                }
            }
            if value.contains('\'') || value.contains('"') {
                return Err(format!("a quote inside a marker value: `{marker}`"));
            }
            tokens.push(Token::Value(value));
        } else if "<>=!~".contains(c) {
            let mut op = String::new();
            while let Some(&o) = chars.peek() {
                if !"<>=!~".contains(o) {
                    break;
                }
                op.push(o);
                chars.next();
            }
            tokens.push(Token::Word(op));
        } else if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            let mut word = String::new();
            while let Some(&w) = chars.peek() {
                if !(w.is_ascii_alphanumeric() || w == '_' || w == '.') {
                    break;
                }
                word.push(w);
                chars.next();
            }
            tokens.push(Token::Word(word));
        } else {
            return Err(format!("unexpected `{c}` in the marker `{marker}`"));
        }
    }
    // Drop parentheses that enclose the whole marker.
    while tokens.first() == Some(&Token::Open) && tokens.last() == Some(&Token::Close) {
        let mut depth = 0;
        let encloses = tokens.iter().enumerate().all(|(i, t)| {
            match t {
                Token::Open => depth += 1,
                Token::Close => depth -= 1,
                _ => {}
            }
            depth > 0 || i == tokens.len() - 1
        });
        if !encloses {
            break;
        }
        tokens.remove(0);
        tokens.pop();
    }
    if tokens.is_empty() {
        return Err("an empty marker".into());
    }
    let mut out = String::new();
    let mut prev_open = true;
    for t in &tokens {
        let piece = match t {
            Token::Open => "(".to_string(),
            Token::Close => ")".to_string(),
            Token::Word(w) => w.clone(),
            Token::Value(v) => format!("'{v}'"),
        };
        if !prev_open && *t != Token::Close {
            out.push(' ');
        }
        out.push_str(&piece);
        prev_open = *t == Token::Open;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_collapses_separators_and_lowercases() {
        assert_eq!(normalize_name("Kaelio__KTX.core"), "kaelio-ktx-core");
    }

    #[test]
    fn requirements_are_written_as_hatchling_writes_them() {
        let f = |s: &str| Requirement::parse(s).unwrap().format();
        assert_eq!(f("pydantic>=2,<3"), "pydantic<3,>=2");
        assert_eq!(f("FastAPI[All, Std] >= 0.110"), "fastapi[all,std]>=0.110");
        assert_eq!(f("Psycopg[binary]"), "psycopg[binary]");
        assert_eq!(f("x (>=1.0)"), "x>=1.0");
        assert_eq!(
            f(r#"tomli>=1; python_version<"3.11" and (os_name=="nt" or os_name == 'posix')"#),
            "tomli>=1; python_version < '3.11' and (os_name == 'nt' or os_name == 'posix')"
        );
        assert_eq!(
            f("x; (sys_platform == 'linux')"),
            "x; sys_platform == 'linux'"
        );
    }

    #[test]
    fn direct_references_and_bad_names_are_refused() {
        assert!(Requirement::parse("x @ https://example.org/x.whl")
            .unwrap_err()
            .contains("direct reference"));
        assert!(Requirement::parse("-x").is_err());
        assert!(Requirement::parse("x >= ").is_err());
    }

    #[test]
    fn requires_python_keeps_the_tightest_bound_of_each_direction() {
        let m = |s: &[&str]| merge_requires_python(s).unwrap();
        assert_eq!(m(&[">=3.9", ">=3.13"]), Some(">=3.13".into()));
        assert_eq!(m(&[">=3.13", ">=3.9"]), Some(">=3.13".into()));
        assert_eq!(
            m(&[">=3.9,<4", ">=3.10", "<3.14"]),
            Some("<3.14,>=3.10".into())
        );
        assert_eq!(m(&[">=3.9", "!=3.9.1"]), Some("!=3.9.1,>=3.9".into()));
        assert_eq!(m(&[">= 3.9"]), Some(">=3.9".into()));
        assert_eq!(m(&[]), None);
    }
}
