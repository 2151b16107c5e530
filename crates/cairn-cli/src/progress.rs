//! Progress bars on a terminal.

use indicatif::{ProgressBar, ProgressStyle};

/// A byte-counting bar for restore, hidden when progress is off.
pub struct RestoreBar {
    bar: ProgressBar,
}

impl RestoreBar {
    /// A bar that draws only when `visible`.
    pub fn new(visible: bool) -> Self {
        let bar = if visible {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "[{elapsed_precise}] {percent:>3}%  {pos}/{len} files  {msg}",
            )
            .expect("static template is valid"),
        );
        RestoreBar { bar }
    }

    /// Removes the bar from the screen.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl cairn::restore::RestoreProgress for RestoreBar {
    fn start(&self, total_files: u64, total_bytes: u64) {
        self.bar.set_length(total_files);
        self.bar.set_message(format!(
            "{} total",
            crate::output::format_bytes(total_bytes)
        ));
    }

    fn file_done(&self, _bytes: u64) {
        self.bar.inc(1);
    }
}
