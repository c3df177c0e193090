//! The bench's output: one `Row` per comparison, printed as the markdown table (then the exact
//! commands, then the notes) and as JSON.
//!
//! JSON (`target/bench/bench.json`): `{date, machine, runs, rows: [row]}`, each row
//! `{id, what, ours: {label, stats}, peer: {label, stats} | null, result, target,
//! met: bool | null, commands: [string], note: string | null}`, stats being
//! `{medianMs, minMs, maxMs, runs}`. `met` is null where a row has no target or only a
//! stated one (the note says so); it is never asserted.

use super::timing::{ms, Stats};
use serde_json::{json, Value};

pub struct Row {
    /// Stable across runs: what to compare tables by.
    pub id: &'static str,
    pub what: String,
    pub ours: (String, Stats),
    pub peer: Option<(String, Stats)>,
    pub result: String,
    pub target: String,
    pub met: Option<bool>,
    /// The exact command lines timed, ours first.
    pub commands: Vec<String>,
    /// What to know to read the row (a stated target, what a bin resolved to).
    pub note: Option<String>,
}

impl Row {
    pub fn json(&self) -> Value {
        let st = |s: &Stats| json!({"medianMs": ms(s.median), "minMs": ms(s.min), "maxMs": ms(s.max), "runs": s.runs});
        json!({
            "id": self.id, "what": self.what,
            "ours": {"label": self.ours.0, "stats": st(&self.ours.1)},
            "peer": self.peer.as_ref().map(|(l, s)| json!({"label": l, "stats": st(s)})),
            "result": self.result, "target": self.target, "met": self.met,
            "commands": self.commands,
            "note": self.note,
        })
    }
}

pub fn markdown(rows: &[Row], machine: &str, date: &str, runs: usize) -> String {
    let mut s = format!("Measured {date} on {machine}; {runs} runs per command after a warm-up, alternating; median (min-max).\n\n");
    s.push_str("| # | what | ours | peer | result | target |\n|---|---|---|---|---|---|\n");
    for (i, r) in rows.iter().enumerate() {
        let met = match r.met {
            Some(true) => " (met)",
            Some(false) => " (NOT met)",
            None => "",
        };
        s.push_str(&format!(
            "| {} | {} | {}: {} | {} | {} | {}{} |\n",
            i + 1,
            r.what,
            r.ours.0,
            r.ours.1.show(),
            r.peer
                .as_ref()
                .map(|(l, st)| format!("{l}: {}", st.show()))
                .unwrap_or_else(|| "-".into()),
            r.result,
            r.target,
            met
        ));
    }
    s.push_str("\nExact commands:\n\n");
    for (i, r) in rows.iter().enumerate() {
        for c in &r.commands {
            s.push_str(&format!("{}. `{c}`\n", i + 1));
        }
    }
    if rows.iter().any(|r| r.note.is_some()) {
        s.push_str("\nNotes:\n\n");
        for (i, r) in rows.iter().enumerate() {
            if let Some(n) = &r.note {
                s.push_str(&format!("{}. {n}\n", i + 1));
            }
        }
    }
    s
}

/// "linux x86_64, 2 CPUs (model name), 24 GiB".
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|k| format!("{} GiB", k / 1024 / 1024))
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!(
        "{} {}, {cpus} CPUs ({cpu}), {mem}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}
