//! What long commands print while they run, as restic 0.19 prints it:
//! status lines (redrawn in place on a terminal, printed as plain lines
//! when `RESTIC_PROGRESS_FPS` is set and standard output is not a
//! terminal), JSON `status` lines, and the `-v`/`-vv` messages.

pub mod backup;
pub mod restore;
mod status;
mod ticker;

pub use status::Status;
pub use ticker::Ticker;

use crate::global::GlobalOptions;
use std::io::IsTerminal;
use std::time::Duration;

/// restic's verbosity level: 0 with `--quiet`, 1 by default, 2 with
/// `-v`, 3 with `-vv`.
pub fn verbosity(global: &GlobalOptions) -> u8 {
    if global.quiet {
        0
    } else {
        global.verbose.saturating_add(1)
    }
}

/// How often status is shown (restic's `CalculateProgressInterval`), or
/// `None` for never: `RESTIC_PROGRESS_FPS` frames a second (at most 60)
/// if set; else ten a second for JSON or on a terminal, never otherwise
/// or with `--quiet`.
pub fn interval(global: &GlobalOptions) -> Option<Duration> {
    interval_for(
        std::env::var("RESTIC_PROGRESS_FPS").ok().as_deref(),
        !global.quiet,
        global.json,
        std::io::stdout().is_terminal(),
    )
}

/// [`interval`] from its inputs.
fn interval_for(fps: Option<&str>, show: bool, json: bool, terminal: bool) -> Option<Duration> {
    // Go's strconv.ParseFloat: surrounding spaces are an error.
    match fps.and_then(|s| s.parse::<f64>().ok()) {
        Some(fps) if fps > 0.0 && fps.is_finite() => {
            // Go's time.Duration(float64(time.Second) / fps) truncates.
            Some(Duration::from_nanos((1e9 / fps.min(60.0)) as u64))
        }
        _ if (!json && !terminal) || !show => None,
        _ => Some(Duration::from_millis(100)),
    }
}

/// restic's `FormatSeconds`: `m:ss`, or `h:mm:ss` from an hour on.
pub fn format_seconds(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// restic's `FormatDuration`: [`format_seconds`] of the whole seconds.
pub fn format_duration(d: Duration) -> String {
    format_seconds(d.as_secs())
}

/// restic's `FormatPercent`: `12.34%`, capped at 100, empty for a zero
/// total.
pub fn format_percent(done: u64, total: u64) -> String {
    if total == 0 {
        return String::new();
    }
    let p = (100.0 * done as f64 / total as f64).min(100.0);
    format!("{p:.2}%")
}

/// restic's "repository 1234abcd opened (version 2, compression level
/// auto)" line, which it prints only when standard output is a terminal
/// (restic's `PT`) and neither `--quiet` nor `--json` is given.
pub fn repository_opened(global: &GlobalOptions, repo: &cairn::Repository) -> Option<String> {
    if global.quiet || global.json || !std::io::stdout().is_terminal() {
        return None;
    }
    let config = repo.config();
    let id: String = config.id.chars().take(8).collect();
    let extra = if config.version >= 2 {
        format!(", compression level {}", global.compression)
    } else {
        String::new()
    };
    Some(format!(
        "repository {id} opened (version {}{extra})",
        config.version
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_follows_restic() {
        let ms = Duration::from_millis;
        // Not a terminal, no JSON: nothing unless RESTIC_PROGRESS_FPS.
        assert_eq!(interval_for(None, true, false, false), None);
        assert_eq!(interval_for(Some("2"), true, false, false), Some(ms(500)));
        assert_eq!(
            interval_for(Some("0.5"), true, false, false),
            Some(ms(2000))
        );
        assert_eq!(
            interval_for(Some("1000"), true, false, true),
            Some(ms(1000) / 60)
        );
        assert_eq!(interval_for(Some("0"), true, false, false), None);
        assert_eq!(interval_for(Some("x"), true, false, false), None);
        assert_eq!(interval_for(None, true, true, false), Some(ms(100)));
        assert_eq!(interval_for(None, true, false, true), Some(ms(100)));
        assert_eq!(interval_for(None, false, true, true), None);
        // restic uses the variable even with --quiet.
        assert_eq!(interval_for(Some("1"), false, false, false), Some(ms(1000)));
    }

    #[test]
    fn times_and_percentages_are_restics() {
        assert_eq!(format_seconds(3), "0:03");
        assert_eq!(format_seconds(125), "2:05");
        assert_eq!(format_seconds(3600 + 62), "1:01:02");
        assert_eq!(format_percent(1, 3), "33.33%");
        assert_eq!(format_percent(5, 3), "100.00%");
        assert_eq!(format_percent(5, 0), "");
    }
}
