//! Every package's license is the Cargo workspace's.

use super::{line_of, Finding, Tree};

/// A pyproject's `[project] license`: the string, or the table's `text`.
pub fn pyproject_license(text: &str) -> Option<String> {
    let v: toml::Value = toml::from_str(text).ok()?;
    let l = v.get("project")?.get("license")?;
    l.as_str()
        .map(str::to_string)
        .or_else(|| l.get("text")?.as_str().map(str::to_string))
        .or_else(|| l.get("file").map(|f| format!("file {f}")))
}

/// Every package's license is the Cargo workspace's: the crates, npm/package.json,
/// python/pyproject.toml and python/host/pyproject.toml (which must say one), and any other
/// pyproject.toml (the fixtures') that says one.
pub fn licenses_agree(tree: &Tree, out: &mut Vec<Finding>) {
    let cargo = tree.read("Cargo.toml").unwrap_or_default();
    let ws: toml::Value = toml::from_str(&cargo).unwrap_or(toml::Value::Integer(0));
    let Some(want) = ws
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("license"))
        .and_then(|l| l.as_str())
        .map(str::to_string)
    else {
        out.push(Finding {
            file: "Cargo.toml".into(),
            line: 1,
            message: "no `[workspace.package] license`; declare the one license there".into(),
        });
        return;
    };
    let mut wrong = |file: &str, text: &str, got: Option<String>, required: bool| {
        let line = line_of(text, "license");
        match got {
            Some(g) if g == want => {}
            Some(g) => out.push(Finding {
                file: file.into(),
                line,
                message: format!(
                    "license `{g}` disagrees with Cargo.toml's workspace license \
                     `{want}`; make it `{want}`"
                ),
            }),
            None if required => out.push(Finding {
                file: file.into(),
                line,
                message: format!("no license; declare `{want}`, the Cargo workspace's"),
            }),
            None => {}
        }
    };
    let members: Vec<String> = ws
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for m in members {
        let file = format!("{m}/Cargo.toml");
        let text = tree.read(&file).unwrap_or_default();
        let v: toml::Value = toml::from_str(&text).unwrap_or(toml::Value::Integer(0));
        let l = v.get("package").and_then(|p| p.get("license"));
        let got = match l {
            Some(l) if l.get("workspace").and_then(|w| w.as_bool()) == Some(true) => {
                Some(want.clone())
            }
            Some(l) => l.as_str().map(str::to_string),
            None => None,
        };
        wrong(&file, &text, got, true);
    }
    let npm = tree.read("npm/package.json").unwrap_or_default();
    let got = serde_json::from_str::<serde_json::Value>(&npm)
        .ok()
        .and_then(|v| {
            v.get("license")
                .and_then(|l| l.as_str())
                .map(str::to_string)
        });
    wrong("npm/package.json", &npm, got, true);
    for file in tree.files("", "pyproject.toml") {
        let text = tree.read(&file).unwrap_or_default();
        let required = file == "python/pyproject.toml" || file == "python/host/pyproject.toml";
        wrong(&file, &text, pyproject_license(&text), required);
    }
}
