//! `ktx sl query|validate|generate-sources`: the semantic layer of a KTX project.
//!
//! ktx reads the project (`project`, `sources`), sends KTX-shaped requests to ktx-daemon
//! (`{sources, query, dialect}`), and runs the compiled SQL on a sqlite connection itself
//! (`sqlite`). The JSON it prints is KTX's: `{connectionId, dialect, sql, headers, rows,
//! totalRows, plan: {..., execution}}`.

use super::{print_json, python_op, Via};
use crate::cli::{Format, QueryArgs};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::feature::Feature;
use crate::project::{Connection, Project};
use crate::protocol::Op;
use crate::sources::{self, Loaded};
use serde_json::{json, Map, Value};
use std::path::Path;

/// KTX's default `limit` of a query, and so the default of `--max-rows`.
pub const DEFAULT_LIMIT: u32 = 1000;

fn order_by(spec: &str) -> Result<Value> {
    let (field, dir) = match spec.rsplit_once(':') {
        Some((f, d)) => (f, d.to_ascii_lowercase()),
        None => (spec, "asc".to_string()),
    };
    if field.is_empty() || (dir != "asc" && dir != "desc") {
        return Err(Error::usage(
            format!("--order-by {spec}: expected FIELD, FIELD:asc or FIELD:desc"),
            "write --order-by orders.revenue:desc",
        ));
    }
    Ok(json!({"field": field, "direction": dir}))
}

/// The query object, from `--query-file` or the flags (KTX's SemanticQuery).
pub fn query_object(a: &QueryArgs) -> Result<Value> {
    if let Some(file) = &a.query_file {
        let text = if file == Path::new("-") {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| Error::io("cannot read", "<stdin>", e))?;
            s
        } else {
            std::fs::read_to_string(file)
                .map_err(|e| Error::io("cannot read the query file", file, e))?
        };
        return match serde_json::from_str::<Value>(&text) {
            Ok(v @ Value::Object(_)) => Ok(v),
            Ok(_) => Err(Error::Rejected {
                message: format!("{}: a query file holds one JSON object", file.display()),
            }),
            Err(e) => Err(Error::Rejected {
                message: format!("{}: not JSON: {e}", file.display()),
            }),
        };
    }
    let mut q = Map::new();
    q.insert("measures".into(), json!(a.measures));
    q.insert("dimensions".into(), json!(a.dimensions));
    if !a.filters.is_empty() {
        q.insert("filters".into(), json!(a.filters));
    }
    if !a.segments.is_empty() {
        q.insert("segments".into(), json!(a.segments));
    }
    if !a.order_by.is_empty() {
        let o = a
            .order_by
            .iter()
            .map(|o| order_by(o))
            .collect::<Result<Vec<_>>>()?;
        q.insert("order_by".into(), Value::Array(o));
    }
    if let Some(l) = a.limit {
        q.insert("limit".into(), json!(l));
    }
    if a.include_empty {
        q.insert("include_empty".into(), json!(true));
    }
    Ok(Value::Object(q))
}

/// The project, its connection and the connection's sources. Files that failed to load are
/// reported on stderr and left out (KTX keeps serving a project while one file is mid-edit).
fn load(ctx: &Ctx, connection_id: Option<&str>) -> Result<(Project, Connection, Loaded)> {
    let project = Project::locate(ctx.project_dir.as_deref())?;
    let conn = project.connection(connection_id)?.clone();
    let loaded = sources::load(&project.dir, &project.sources_dir(&conn));
    Ok((project, conn, loaded))
}

/// The ktx-daemon request of a query: `{sources, query, dialect}` (KTX's shape), plus ours,
/// `source_dialect`, when compiling for another dialect than the connection's.
pub fn query_request(conn: &Connection, sources: &[Value], query: Value, dialect: &str) -> Value {
    let mut request = json!({"sources": sources, "query": query, "dialect": dialect});
    if dialect != conn.dialect() {
        request["source_dialect"] = json!(conn.dialect());
    }
    request
}

/// The project's query request for `a`, as `ktx sl query` sends it (for `ktx-release bench`,
/// which times ktx-daemon on the same request).
pub fn request_for(ctx: &Ctx, connection_id: Option<&str>, a: &QueryArgs) -> Result<Value> {
    let (_, conn, loaded) = load(ctx, connection_id)?;
    let dialect = a.dialect.clone().unwrap_or_else(|| conn.dialect().into());
    Ok(query_request(
        &conn,
        &loaded.sources,
        query_object(a)?,
        &dialect,
    ))
}

pub fn query(ctx: &Ctx, connection_id: Option<&str>, a: &QueryArgs) -> Result<()> {
    let (project, conn, loaded) = load(ctx, connection_id)?;
    let query = query_object(a)?;
    let dialect = a.dialect.clone().unwrap_or_else(|| conn.dialect().into());
    let database = if a.execute {
        if dialect != conn.dialect() {
            return Err(Error::usage(
                format!(
                    "--dialect {dialect} with --execute: connection '{}' runs {} SQL",
                    conn.id,
                    conn.dialect()
                ),
                "leave out --dialect to execute, or --execute to compile for another dialect",
            ));
        }
        // Before any Python: a connection that cannot run fails fast.
        Some(conn.sqlite_path(&project.dir)?)
    } else {
        None
    };
    for e in &loaded.errors {
        errln!("warning: {e} (left out; `ktx sl validate` lists every problem)");
    }
    if loaded.sources.is_empty() {
        return Err(Error::Rejected {
            message: format!(
                "connection '{}' has no semantic-layer sources in {}",
                conn.id,
                project.sources_dir(&conn).display()
            ),
        });
    }
    let limit = query["limit"].as_u64();
    let request = query_request(&conn, &loaded.sources, query, &dialect);
    let resp = python_op(
        ctx,
        Feature::Core,
        Op::SemanticQuery,
        &request,
        if a.daemon {
            Via::Explicit
        } else {
            Via::Default
        },
    )?;
    let sql = resp["sql"].as_str().unwrap_or_default().to_string();
    let mut plan = match &resp["plan"] {
        Value::Object(p) => p.clone(),
        _ => Map::new(),
    };
    let (headers, rows, total) = match &database {
        None => {
            let headers: Vec<Value> = resp["columns"]
                .as_array()
                .map(|cols| cols.iter().map(|c| c["name"].clone()).collect())
                .unwrap_or_default();
            plan.insert(
                "execution".into(),
                json!({"mode": "compile_only", "reason": "compiled only; pass --execute to run it on the connection"}),
            );
            (headers, Vec::new(), 0)
        }
        Some(db) => {
            let max_rows = a
                .max_rows
                .or_else(|| limit.map(|l| l.min(u32::MAX.into()) as u32))
                .unwrap_or(DEFAULT_LIMIT);
            let r = crate::sqlite::execute(
                db,
                &sql,
                max_rows as usize,
                std::time::Duration::from_secs(a.execute_timeout.into()),
            )?;
            plan.insert(
                "execution".into(),
                json!({"mode": "executed", "driver": conn.driver, "maxRows": max_rows,
                       "rowCount": r.rows.len(), "truncated": r.truncated}),
            );
            let total = r.rows.len();
            (
                r.headers.into_iter().map(Value::String).collect(),
                r.rows,
                total,
            )
        }
    };
    let out = json!({
        "connectionId": conn.id,
        "dialect": resp["dialect"],
        "sql": sql,
        "headers": headers,
        "rows": rows,
        "totalRows": total,
        "plan": plan,
    });
    print_query(&out, a.format);
    Ok(())
}

pub fn print_query(out: &Value, format: Format) {
    let executed = out["plan"]["execution"]["mode"] == "executed";
    match format {
        Format::Json => print_json(out),
        Format::Table if executed => {
            let headers: Vec<String> = out["headers"]
                .as_array()
                .map(|h| {
                    h.iter()
                        .map(|c| c.as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default();
            let rows: Vec<Vec<Value>> = out["rows"]
                .as_array()
                .map(|rs| {
                    rs.iter()
                        .map(|r| r.as_array().cloned().unwrap_or_default())
                        .collect()
                })
                .unwrap_or_default();
            out!("{}", crate::table::render(&headers, &rows));
            let more = if out["plan"]["execution"]["truncated"] == true {
                " (truncated; raise --max-rows)"
            } else {
                ""
            };
            outln!("({} rows{more})", rows.len());
        }
        Format::Sql | Format::Table => outln!("{}", out["sql"].as_str().unwrap_or_default()),
    }
}

pub fn validate(
    ctx: &Ctx,
    connection_id: Option<&str>,
    source: Option<&str>,
    as_json: bool,
) -> Result<()> {
    let (_, conn, loaded) = load(ctx, connection_id)?;
    if let Some(s) = source {
        if !loaded.names().contains(&s) {
            return Err(Error::Rejected {
                message: format!(
                    "no source '{s}' in connection '{}'; its sources: {}",
                    conn.id,
                    loaded.names().join(", ")
                ),
            });
        }
    }
    let resp = if loaded.sources.is_empty() {
        json!({"valid": loaded.errors.is_empty(), "errors": [], "warnings": [], "per_source_warnings": {}})
    } else {
        python_op(
            ctx,
            Feature::Core,
            Op::SemanticValidate,
            &json!({"sources": loaded.sources, "dialect": conn.dialect()}),
            Via::Default,
        )?
    };
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut errors = loaded.errors.clone();
    errors.extend(strings(&resp["errors"]));
    let mut warnings = loaded.warnings.clone();
    warnings.extend(strings(&resp["warnings"]));
    let valid = errors.is_empty() && resp["valid"] != false;
    if as_json {
        print_json(&json!({
            "connectionId": conn.id,
            "valid": valid,
            "errors": errors,
            "warnings": warnings,
            "per_source_warnings": resp["per_source_warnings"],
            "sources": loaded.names(),
        }));
    } else {
        for w in &warnings {
            errln!("warning: {w}");
        }
        if valid {
            let names = loaded.names();
            outln!(
                "valid: {} sources in connection '{}' ({})",
                names.len(),
                conn.id,
                names.join(", ")
            );
        } else {
            for e in &errors {
                errln!("error: {e}");
            }
        }
    }
    if valid {
        Ok(())
    } else {
        Err(Error::Rejected {
            message: format!(
                "the semantic model of connection '{}' is invalid ({} error{})",
                conn.id,
                errors.len().max(1),
                if errors.len() == 1 { "" } else { "s" }
            ),
        })
    }
}

/// A generated source's file name must stay in `--out`.
fn safe_file_stem(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub fn generate_sources(
    ctx: &Ctx,
    schema: &Path,
    out: Option<&Path>,
    force: bool,
    dialect: Option<&str>,
    as_json: bool,
) -> Result<()> {
    let text = if schema == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Error::io("cannot read", "<stdin>", e))?;
        s
    } else {
        std::fs::read_to_string(schema)
            .map_err(|e| Error::io("cannot read the schema scan", schema, e))?
    };
    let mut request: Value = serde_json::from_str(&text).map_err(|e| Error::Rejected {
        message: format!("{} is not JSON: {e}", schema.display()),
    })?;
    let Value::Object(req) = &mut request else {
        return Err(Error::Rejected {
            message: format!(
                "{}: a schema scan is a JSON object {{tables, links}}",
                schema.display()
            ),
        });
    };
    req.entry("links").or_insert_with(|| json!([]));
    if let Some(d) = dialect {
        req.insert("dialect".into(), json!(d));
    }
    let resp = python_op(
        ctx,
        Feature::Core,
        Op::SemanticGenerateSources,
        &request,
        Via::Default,
    )?;
    if as_json {
        print_json(&resp);
        return Ok(());
    }
    let sources = resp["sources"].as_array().cloned().unwrap_or_default();
    let mut files = Vec::new();
    for s in &sources {
        let name = s["name"].as_str().unwrap_or_default();
        if !safe_file_stem(name) {
            return Err(Error::Rejected {
                message: format!("cannot write a source named {name:?}: not a file name"),
            });
        }
        let yaml = serde_norway::to_string(s).map_err(|e| {
            Error::other(
                format!("cannot write source '{name}' as YAML: {e}"),
                "report this with the schema scan",
            )
        })?;
        files.push((name.to_string(), yaml));
    }
    match out {
        None => {
            for (i, (_, yaml)) in files.iter().enumerate() {
                if i > 0 {
                    outln!("---");
                }
                out!("{yaml}");
            }
        }
        Some(dir) => {
            for (name, _) in &files {
                let path = dir.join(format!("{name}.yaml"));
                if path.exists() && !force {
                    return Err(Error::usage(
                        format!("{} exists", path.display()),
                        "pass --force to overwrite, or choose another --out",
                    ));
                }
            }
            for (name, yaml) in &files {
                let path = dir.join(format!("{name}.yaml"));
                crate::atomic::write(&path, yaml.as_bytes(), 0o644)?;
                outln!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}
