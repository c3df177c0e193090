//! `ktx sl query|validate|generate-sources`: the semantic layer, through ktx-daemon.

use super::{absolute, print_json, python_op, Via};
use crate::cli::{Format, QueryArgs};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::manifest::CORE;
use serde_json::{json, Value};
use std::path::Path;

fn order_by(spec: &str) -> Result<Value> {
    let (field, dir) = match spec.rsplit_once(':') {
        Some((f, d)) => (f, d.to_ascii_lowercase()),
        None => (spec, "asc".to_string()),
    };
    if dir != "asc" && dir != "desc" {
        return Err(Error::usage(
            format!("--order-by {spec}: the direction must be asc or desc"),
            "write --order-by FIELD or --order-by FIELD:desc",
        ));
    }
    Ok(json!({"field": field, "direction": dir}))
}

pub fn query_request(a: &QueryArgs) -> Result<Value> {
    Ok(json!({
        "project_dir": absolute(&a.project_dir),
        "query": {
            "measures": a.measures,
            "dimensions": a.dimensions,
            "filters": a.filters,
            "order_by": a.order_by.iter().map(|o| order_by(o)).collect::<Result<Vec<_>>>()?,
            "limit": a.limit,
        },
        "dialect": a.dialect,
        "execute": a.execute,
        "max_rows": a.max_rows,
    }))
}

fn check_project(dir: &Path) -> Result<()> {
    if !dir.join("ktx.yaml").is_file() {
        return Err(Error::usage(
            format!("{} is not a ktx project (no ktx.yaml)", dir.display()),
            "pass --project-dir of a directory with ktx.yaml, or create one with `ktx setup demo`",
        ));
    }
    Ok(())
}

pub fn query(ctx: &Ctx, a: &QueryArgs) -> Result<()> {
    check_project(&a.project_dir)?;
    let request = query_request(a)?;
    let resp = python_op(
        ctx,
        CORE,
        "semantic-query",
        &request,
        if a.daemon { Via::Daemon } else { Via::Default },
    )?;
    let format = a.format.unwrap_or(if a.execute {
        Format::Table
    } else {
        Format::Sql
    });
    print_query(&resp, format);
    Ok(())
}

pub fn print_query(resp: &Value, format: Format) {
    match format {
        Format::Json => print_json(resp),
        Format::Sql => println!("{}", resp["sql"].as_str().unwrap_or_default()),
        Format::Table => match (resp["columns"].as_array(), resp["rows"].as_array()) {
            (Some(cols), Some(rows)) => {
                let cols: Vec<String> = cols
                    .iter()
                    .map(|c| c.as_str().unwrap_or_default().to_string())
                    .collect();
                let rows: Vec<Vec<Value>> = rows
                    .iter()
                    .map(|r| r.as_array().cloned().unwrap_or_default())
                    .collect();
                print!("{}", crate::table::render(&cols, &rows));
                let more = if resp["truncated"].as_bool() == Some(true) {
                    " (truncated; raise --max-rows)"
                } else {
                    ""
                };
                println!("({} rows{more})", rows.len());
            }
            _ => println!("{}", resp["sql"].as_str().unwrap_or_default()),
        },
    }
}

pub fn validate(ctx: &Ctx, project_dir: &Path, as_json: bool) -> Result<()> {
    check_project(project_dir)?;
    let resp = python_op(
        ctx,
        CORE,
        "semantic-validate",
        &json!({"project_dir": absolute(project_dir)}),
        Via::Default,
    )?;
    if as_json {
        print_json(&resp);
    } else {
        let names: Vec<&str> = resp["sources"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        println!("ok: {} sources ({})", names.len(), names.join(", "));
    }
    Ok(())
}

pub fn generate_sources(
    ctx: &Ctx,
    schema: &Path,
    out: Option<&Path>,
    force: bool,
    as_json: bool,
) -> Result<()> {
    let text = if schema == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Error::io("cannot read", "<stdin>", e))?;
        s
    } else {
        std::fs::read_to_string(schema)
            .map_err(|e| Error::io("cannot read the schema description", schema, e))?
    };
    let schema_json: Value = serde_json::from_str(&text).map_err(|e| Error::Rejected {
        message: format!("{} is not JSON: {e}", schema.display()),
    })?;
    let resp = python_op(
        ctx,
        CORE,
        "semantic-generate-sources",
        &json!({"schema": schema_json}),
        Via::Default,
    )?;
    let sources = resp["sources"].as_object().cloned().unwrap_or_default();
    if as_json {
        print_json(&resp);
        return Ok(());
    }
    match out {
        None => {
            for (i, (_, yaml)) in sources.iter().enumerate() {
                if i > 0 {
                    println!("---");
                }
                print!("{}", yaml.as_str().unwrap_or_default());
            }
        }
        Some(dir) => {
            for name in sources.keys() {
                let path = dir.join(format!("{name}.yaml"));
                if path.exists() && !force {
                    return Err(Error::usage(
                        format!("{} exists", path.display()),
                        "pass --force to overwrite, or choose another --out",
                    ));
                }
            }
            for (name, yaml) in &sources {
                let path = dir.join(format!("{name}.yaml"));
                crate::atomic::write(&path, yaml.as_str().unwrap_or_default().as_bytes(), 0o644)?;
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}
