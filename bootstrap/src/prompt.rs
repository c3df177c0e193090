//! Consent before downloading: a question on a terminal, `--yes` to agree in advance, and
//! `--no-input` (or no terminal at all) to fail with exit 4 and the exact command to run. Only
//! an explicit yes (or Enter, the default shown) agrees: anything else, or end of input,
//! declines with exit 4.

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
                why: "input is disabled",
            });
        }
        let mut err = std::io::stderr();
        let _ = write!(err, "{explain}\nInstall it now? [Y/n] ");
        let _ = err.flush();
        let mut line = String::new();
        // End of input (Ctrl-D, a closed stdin) is no answer, and no answer is no consent; an
        // empty line (Enter) takes the default shown, yes.
        let answered = std::io::stdin().lock().read_line(&mut line).unwrap_or(0) > 0;
        let answer = line.trim().to_ascii_lowercase();
        if answered && (answer.is_empty() || answer == "y" || answer == "yes") {
            Ok(())
        } else {
            if !answered {
                let _ = writeln!(err);
            }
            Err(Error::NeedsInstall {
                feature: feature.to_string(),
                command: command.to_string(),
                why: if answered { "declined" } else { "no answer" },
            })
        }
    }
}
