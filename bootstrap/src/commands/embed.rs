//! `ktx embed`: vectors from the local all-MiniLM-L6-v2 model, through the managed daemon (the
//! model loads once there and stays), one-shot only when the daemon cannot start.

use super::{print_json, python_op, Via};
use crate::context::Ctx;
use crate::error::Result;
use crate::feature::Feature;
use crate::protocol::Op;
use serde_json::{json, Value};

pub fn run(ctx: &Ctx, texts: &[String], as_json: bool) -> Result<()> {
    let resp = python_op(
        ctx,
        Feature::LocalEmbeddings,
        Op::EmbeddingComputeBulk,
        &json!({"texts": texts}),
        Via::Prefer,
    )?;
    if as_json {
        print_json(&resp);
        return Ok(());
    }
    let vectors = resp["embeddings"].as_array().cloned().unwrap_or_default();
    let dim = resp["dimensions"].as_u64().unwrap_or_else(|| {
        vectors
            .first()
            .and_then(Value::as_array)
            .map_or(0, |v| v.len() as u64)
    });
    outln!(
        "model: {} ({dim} dimensions)",
        resp["model"].as_str().unwrap_or("all-MiniLM-L6-v2")
    );
    for (text, v) in texts.iter().zip(&vectors) {
        let head: Vec<String> = v
            .as_array()
            .map(|a| {
                a.iter()
                    .take(4)
                    .map(|x| format!("{:.4}", x.as_f64().unwrap_or(0.0)))
                    .collect()
            })
            .unwrap_or_default();
        outln!("{text:?}: [{}, ...]", head.join(", "));
    }
    Ok(())
}
