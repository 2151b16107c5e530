//! Go's time layouts (`2006-01-02T15:04:05Z07:00`), as restic's
//! `--time-template` takes them, applied to a snapshot's time.
//!
//! The reference time's parts are replaced by the time's own (in its own
//! UTC offset, as restic shows a snapshot's time); anything else is copied.

use cairn::format::GoTime;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Restic's default `--time-template` (Go's `time.RFC3339`).
pub const DEFAULT_TIME_TEMPLATE: &str = "2006-01-02T15:04:05Z07:00";

/// Formats `t` with the Go layout `layout`.
pub fn format(t: &GoTime, layout: &str) -> String {
    let (year, month, day, hour, minute, second) = t.civil();
    let local = t.unix_secs + i64::from(t.offset_secs);
    let days = local.div_euclid(86_400);
    let weekday = (days + 4).rem_euclid(7) as usize;
    let yday = day_of_year(year, month, day);
    let b = layout.as_bytes();
    let mut out = String::with_capacity(layout.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let rest = &layout[i..];
        let token = |s: &str| rest.starts_with(s);
        let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
        let (text, used): (String, usize) = if token("January") {
            (MONTHS[month as usize - 1].into(), 7)
        } else if token("Jan") {
            (MONTHS[month as usize - 1][..3].into(), 3)
        } else if token("Monday") {
            (DAYS[weekday].into(), 6)
        } else if token("Mon") {
            (DAYS[weekday][..3].into(), 3)
        } else if token("MST") {
            (zone_name(t.offset_secs), 3)
        } else if token("2006") {
            (format!("{year:04}"), 4)
        } else if token("002") {
            (format!("{yday:03}"), 3)
        } else if token("01") {
            (format!("{month:02}"), 2)
        } else if token("02") {
            (format!("{day:02}"), 2)
        } else if token("03") {
            (format!("{hour12:02}"), 2)
        } else if token("04") {
            (format!("{minute:02}"), 2)
        } else if token("05") {
            (format!("{second:02}"), 2)
        } else if token("06") {
            (format!("{:02}", year.rem_euclid(100)), 2)
        } else if token("15") {
            (format!("{hour:02}"), 2)
        } else if token("__2") {
            (format!("{yday:>3}"), 3)
        } else if token("_2") {
            (format!("{day:>2}"), 2)
        } else if token("1") {
            (month.to_string(), 1)
        } else if token("2") {
            (day.to_string(), 1)
        } else if token("3") {
            (hour12.to_string(), 1)
        } else if token("4") {
            (minute.to_string(), 1)
        } else if token("5") {
            (second.to_string(), 1)
        } else if token("PM") {
            ((if hour >= 12 { "PM" } else { "AM" }).into(), 2)
        } else if token("pm") {
            ((if hour >= 12 { "pm" } else { "am" }).into(), 2)
        } else if let Some((text, used)) = zone_token(rest, t.offset_secs) {
            (text, used)
        } else if let Some((text, used)) = fraction_token(rest, t.nanos) {
            (text, used)
        } else {
            let c = rest.chars().next().unwrap_or_default();
            (c.to_string(), c.len_utf8())
        };
        out.push_str(&text);
        i += used;
    }
    out
}

fn day_of_year(year: i64, month: u32, day: u32) -> u32 {
    const BEFORE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    BEFORE[month as usize - 1] + day + u32::from(leap && month > 2)
}

/// The zone abbreviation Go prints for a zone it knows only by offset.
fn zone_name(offset: i32) -> String {
    if offset == 0 {
        return "UTC".into();
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let m = offset.unsigned_abs() / 60;
    format!("{sign}{:02}{:02}", m / 60, m % 60)
}

/// `Z07:00`, `-0700` and their kin: the offset, `Z` for UTC in the `Z`
/// forms.
fn zone_token(rest: &str, offset: i32) -> Option<(String, usize)> {
    const FORMS: [&str; 10] = [
        "Z07:00:00",
        "-07:00:00",
        "Z070000",
        "-070000",
        "Z07:00",
        "-07:00",
        "Z0700",
        "-0700",
        "Z07",
        "-07",
    ];
    let form = FORMS.iter().find(|f| rest.starts_with(**f))?;
    if offset == 0 && form.starts_with('Z') {
        return Some(("Z".into(), form.len()));
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    let colon = form.contains(':');
    let sep = if colon { ":" } else { "" };
    let text = match form.trim_start_matches(['Z', '-']).len() {
        2 => format!("{sign}{h:02}"),
        4 | 5 => format!("{sign}{h:02}{sep}{m:02}"),
        _ => format!("{sign}{h:02}{sep}{m:02}{sep}{s:02}"),
    };
    Some((text, form.len()))
}

/// `.000` (fixed digits) or `.999` (trailing zeros trimmed) of a second.
fn fraction_token(rest: &str, nanos: u32) -> Option<(String, usize)> {
    let b = rest.as_bytes();
    if b.len() < 2 || !(b[0] == b'.' || b[0] == b',') || !(b[1] == b'0' || b[1] == b'9') {
        return None;
    }
    let digit = b[1];
    let n = b[1..].iter().take_while(|&&c| c == digit).count();
    if b.get(1 + n).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let digits = format!("{nanos:09}");
    let mut frac = digits[..n.min(9)].to_string();
    if digit == b'9' {
        frac = frac.trim_end_matches('0').to_string();
        if frac.is_empty() {
            return Some((String::new(), 1 + n));
        }
    }
    Some((format!("{}{frac}", b[0] as char), 1 + n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> GoTime {
        GoTime::parse(s).unwrap()
    }

    #[test]
    fn the_default_is_rfc3339() {
        let time = t("2024-03-05T07:08:09.123456+01:00");
        assert_eq!(
            format(&time, DEFAULT_TIME_TEMPLATE),
            "2024-03-05T07:08:09+01:00"
        );
        assert_eq!(
            format(&t("2024-03-05T07:08:09Z"), DEFAULT_TIME_TEMPLATE),
            "2024-03-05T07:08:09Z"
        );
    }

    #[test]
    fn other_layouts() {
        let time = t("2023-12-31T19:04:05.5-05:30");
        assert_eq!(format(&time, "2006-01-02_15-04-05"), "2023-12-31_19-04-05");
        assert_eq!(
            format(&time, "Mon Jan _2 3:04PM 06 MST .000 .999 -0700"),
            "Sun Dec 31 7:04PM 23 -0530 .500 .5 -0530"
        );
        assert_eq!(format(&time, "Monday January 002"), "Sunday December 365");
    }
}
