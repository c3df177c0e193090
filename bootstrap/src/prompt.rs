//! Consent before downloading: a question on a terminal, `--yes` to agree in advance, and
//! `--no-input` (or no terminal at all) to fail with exit 4 and the exact command to run.

use crate::error::{Error, Result};
use std::io::{BufRead, IsTerminal, Write};

#[derive(Debug, Clone, Copy, Default)]
pub struct Consent {
    pub yes: bool,
    pub no_input: bool,
}

impl Consent {
    /// Whether a question may be asked at all.
    pub fn interactive(&self) -> bool {
        !self.no_input && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    /// Ask for `feature`; `explain` says what will be downloaded, `command` prepares it by hand.
    pub fn ask(&self, feature: &str, explain: &str, command: &str) -> Result<()> {
        if self.yes {
            return Ok(());
        }
        if !self.interactive() {
            return Err(Error::NeedsInstall {
                feature: feature.to_string(),
                command: command.to_string(),
            });
        }
        let mut err = std::io::stderr();
        let _ = write!(err, "{explain}\nInstall it now? [Y/n] ");
        let _ = err.flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).ok();
        let answer = line.trim().to_ascii_lowercase();
        if answer.is_empty() || answer == "y" || answer == "yes" {
            Ok(())
        } else {
            Err(Error::other(
                format!("the {feature} runtime feature was not installed (declined)"),
                format!("run `{command}` when you are ready, or pass --yes"),
            ))
        }
    }
}
