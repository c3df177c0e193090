//! `ktx-release bench`: the performance table, printed and written under `target/bench/`.

use crate::flags;
use anyhow::Result;
use ktx_release::bench;
use ktx_release::layout::ReleaseLayout;

pub fn run(layout: &ReleaseLayout, args: flags::Bench) -> Result<()> {
    let repo = &layout.repo;
    let runs = args.runs;
    let dir = layout.bench_dir();
    // A misspelt group is refused before the (long) preparation.
    bench::selected_groups(&args.only)?;
    let env = bench::prepare(repo, &dir)?;
    let rows = bench::run(
        repo,
        &env,
        &bench::Options {
            runs,
            with_embeddings: args.with_embeddings,
            only: args.only,
        },
    )?;
    let date = ktx_bootstrap::manifest::now_rfc3339();
    let machine = bench::machine();
    let md = bench::markdown(&rows, &machine, &date[..10], runs);
    let js = serde_json::json!({"date": date, "machine": machine, "runs": runs, "rows": rows.iter().map(|r| r.json()).collect::<Vec<_>>()});
    std::fs::write(dir.join("bench.md"), &md)?;
    std::fs::write(dir.join("bench.json"), serde_json::to_string_pretty(&js)?)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&js)?);
    } else {
        println!("{md}");
    }
    eprintln!(
        "wrote {} and {}",
        dir.join("bench.md").display(),
        dir.join("bench.json").display()
    );
    Ok(())
}
