//! `ktx sql tables`: the tables a SQL statement reads, parsed by sqlglot.

use super::{print_json, python_op, Via};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::feature::Feature;
use crate::protocol::Op;
use serde_json::json;

pub fn tables(ctx: &Ctx, sql: &str, dialect: Option<&str>, as_json: bool) -> Result<()> {
    let sql = if sql == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Error::io("cannot read", "<stdin>", e))?;
        s
    } else {
        sql.to_string()
    };
    let resp = python_op(
        ctx,
        Feature::Core,
        Op::SqlTableIdentifiers,
        &json!({"sql": sql, "dialect": dialect}),
        Via::Default,
    )?;
    if as_json {
        print_json(&resp);
    } else if let Some(tables) = resp["tables"].as_array() {
        for t in tables {
            outln!("{}", t["qualified"].as_str().unwrap_or_default());
        }
    }
    Ok(())
}
