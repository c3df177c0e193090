//! Progress of long steps: a spinner on a terminal that can draw one, plain `ktx: ...` lines
//! otherwise (CI logs, TERM=dumb, NO_COLOR).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Whether animated progress may be drawn: stderr is a terminal, TERM is not `dumb`, and
/// NO_COLOR is unset (escape codes are unwelcome in all three).
pub fn animated() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Progress {
    pub fn new() -> Progress {
        let bar = animated().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
        }
    }

    pub fn step(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(msg.to_string()),
            None => errln!("ktx: {msg}"),
        }
    }

    /// A line that stays (a uv command under -v, a warning).
    pub fn println(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.println(msg),
            None => errln!("{msg}"),
        }
    }

    pub fn finish(&self, msg: &str) {
        let took = self.started.elapsed().as_secs_f64();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        errln!("ktx: {msg} ({took:.1}s)");
    }

    pub fn abandon(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}
