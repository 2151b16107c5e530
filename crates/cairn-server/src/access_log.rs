//! `--log`: one line per request in the Apache combined log format, to a
//! file (appended) or to standard output for `-`. Only the user name is
//! logged, never credentials or request headers other than `Referer` and
//! `User-Agent`.

use std::io::Write;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where access log lines go.
pub(crate) struct AccessLog {
    out: Mutex<Box<dyn Write + Send>>,
}

/// One finished request, as logged.
pub(crate) struct Record<'a> {
    pub peer: IpAddr,
    pub user: Option<&'a str>,
    pub time: SystemTime,
    pub request_line: &'a str,
    pub status: u16,
    pub size: u64,
    pub referer: &'a str,
    pub user_agent: &'a str,
}

impl AccessLog {
    /// Opens `spec` for appending, or standard output for `-`.
    pub(crate) fn open(spec: &str) -> std::io::Result<Self> {
        let out: Box<dyn Write + Send> = if spec == "-" {
            Box::new(std::io::stdout())
        } else {
            use std::os::unix::fs::OpenOptionsExt as _;
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o644)
                    .open(spec)?,
            )
        };
        Ok(AccessLog {
            out: Mutex::new(out),
        })
    }

    /// Writes one line; failures are ignored (logging must not fail requests).
    pub(crate) fn write(&self, record: &Record<'_>) {
        let line = format_line(record);
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

fn quote(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c if c.is_control() => vec!['?'],
            c => vec![c],
        })
        .collect()
}

/// `host - user [time] "request" status size "referer" "agent"\n`.
pub(crate) fn format_line(r: &Record<'_>) -> String {
    let user = r.user.filter(|u| !u.is_empty()).map(quote);
    format!(
        "{} - {} [{}] \"{}\" {} {} \"{}\" \"{}\"\n",
        r.peer,
        user.as_deref().unwrap_or("-"),
        clf_time(r.time),
        quote(r.request_line),
        r.status,
        r.size,
        quote(r.referer),
        quote(r.user_agent),
    )
}

/// `02/Jan/2006:15:04:05 +0000` in UTC.
fn clf_time(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{d:02}/{}/{y:04}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Gregorian (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn combined_format() {
        let r = Record {
            peer: "127.0.0.1".parse().unwrap(),
            user: Some("alice"),
            time: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            request_line: "GET /alice/config HTTP/1.1",
            status: 200,
            size: 155,
            referer: "",
            user_agent: "restic/0.14.0",
        };
        assert_eq!(
            format_line(&r),
            "127.0.0.1 - alice [14/Nov/2023:22:13:20 +0000] \"GET /alice/config HTTP/1.1\" 200 155 \"\" \"restic/0.14.0\"\n"
        );
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
