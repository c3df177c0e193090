//! Writing to stdout and stderr without ever panicking (ripgrep's behaviour): scripts pipe ktx
//! into `head`, close its stderr, point it at a full disk.
//!
//! - stdout closed (EPIPE): the rest of the output is dropped quietly and the command ends with
//!   the exit status it would have had (`ktx runtime status | head -1` is 0).
//! - stdout failing otherwise (a full disk): the rest is dropped, and a command that would have
//!   succeeded exits 1 saying its output was lost (`main` asks `lost_output`).
//! - stderr failing in any way: messages are dropped; nothing else changes.
//!
//! Every line ktx prints goes through `outln!`/`out!` (stdout) or `errln!` (stderr).

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static LOST: Mutex<Option<String>> = Mutex::new(None);

/// Write to stdout (used by `out!` and `outln!`).
pub fn stdout(args: fmt::Arguments, newline: bool) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let result = out
        .write_fmt(args)
        .and_then(|_| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|_| out.flush());
    if let Err(e) = result {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            if let Ok(mut lost) = LOST.lock() {
                lost.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Write to stderr (used by `errln!`); failures are ignored.
pub fn stderr(args: fmt::Arguments) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|_| err.write_all(b"\n"));
}

/// Whether stdout failed (closed pipe or otherwise): nothing more will be printed.
pub fn stdout_gone() -> bool {
    STDOUT_GONE.load(Ordering::Relaxed)
}

/// Why the output was lost, when a write to stdout failed other than by a closed pipe.
pub fn lost_output() -> Option<String> {
    LOST.lock().ok().and_then(|l| l.clone())
}

/// The last `n` lines of a file, indented, for an error message.
pub fn tail_of(path: &std::path::Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `println!` that never panics.
#[macro_export]
macro_rules! outln {
    () => { $crate::output::stdout(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::output::stdout(format_args!($($arg)*), true) };
}

/// `print!` that never panics.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::stdout(format_args!($($arg)*), false) };
}

/// `eprintln!` that never panics.
#[macro_export]
macro_rules! errln {
    () => { $crate::output::stderr(format_args!("")) };
    ($($arg:tt)*) => { $crate::output::stderr(format_args!($($arg)*)) };
}

/// A path or word as a POSIX shell reads it back: quoted when it needs to be, so that a hint
/// with a path in it can be pasted as is.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("/tmp/ktx-demo"), "/tmp/ktx-demo");
        assert_eq!(shell_quote("/tmp/my demo"), "'/tmp/my demo'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }
}
