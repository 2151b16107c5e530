//! Status lines and messages on standard output, like restic's
//! `termstatus`: on a terminal the status lines are redrawn in place below
//! the messages; otherwise each new set of status lines is printed as
//! plain lines (only when it differs from the last one).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;

/// Where status lines and messages go.
pub struct Status {
    /// The in-place display, on a terminal only.
    bar: Option<ProgressBar>,
    /// The last status printed as plain lines.
    last: Mutex<Vec<String>>,
}

impl Status {
    /// Redraws in place when standard output is a terminal.
    pub fn new() -> Status {
        Self::with_terminal(std::io::stdout().is_terminal())
    }

    /// Redraws in place if `terminal`, else prints plain lines.
    pub fn with_terminal(terminal: bool) -> Status {
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
            bar.set_style(ProgressStyle::with_template("{msg}").expect("static template is valid"));
            bar
        });
        Status {
            bar,
            last: Mutex::new(Vec::new()),
        }
    }

    /// Replaces the status lines (an empty list removes them).
    pub fn set(&self, lines: Vec<String>) {
        match &self.bar {
            // indicatif keeps wrapped long lines in place.
            Some(bar) => bar.set_message(lines.join("\n")),
            None => {
                let mut last = self.last.lock().expect("status lock poisoned");
                if *last != lines {
                    let mut out = String::new();
                    for l in &lines {
                        out.push_str(l.trim_end_matches('\n'));
                        out.push('\n');
                    }
                    print!("{out}");
                    *last = lines;
                }
            }
        }
    }

    /// Prints a message line on standard output, above the status lines.
    pub fn print(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    /// Prints a message line on standard error, above the status lines.
    pub fn eprint(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the status lines from the screen.
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Default for Status {
    fn default() -> Self {
        Self::new()
    }
}
