//! `ktx embed`: vectors from the local all-MiniLM-L6-v2 model, through the managed daemon (the
//! model loads once there and stays), one-shot only when the daemon cannot start.

use super::{print_json, python_op, Via};
use crate::context::Ctx;
use crate::error::Result;
use crate::manifest::LOCAL_EMBEDDINGS;
use serde_json::json;

pub fn run(ctx: &Ctx, texts: &[String], as_json: bool) -> Result<()> {
    let resp = python_op(
        ctx,
        LOCAL_EMBEDDINGS,
        "embedding-compute",
        &json!({"texts": texts}),
        Via::Daemon,
    )?;
    if as_json {
        print_json(&resp);
        return Ok(());
    }
    let dim = resp["dimension"].as_u64().unwrap_or(0);
    println!(
        "model: {} ({dim} dimensions)",
        resp["model"].as_str().unwrap_or("?")
    );
    if let Some(vectors) = resp["vectors"].as_array() {
        for (text, v) in texts.iter().zip(vectors) {
            let head: Vec<String> = v
                .as_array()
                .map(|a| {
                    a.iter()
                        .take(4)
                        .map(|x| format!("{:.4}", x.as_f64().unwrap_or(0.0)))
                        .collect()
                })
                .unwrap_or_default();
            println!("{text:?}: [{}, ...]", head.join(", "));
        }
    }
    Ok(())
}
