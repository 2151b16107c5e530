//! restic's calendar durations (`1y2m3d4h`) for the `--keep-within*`
//! options, and the calendar arithmetic that applies them to a snapshot
//! time.

use crate::{Error, Result};
use cairn_format::GoTime;
use std::fmt;

/// A span of years, months, days and hours, written `6y5m234d37h`.
///
/// Each unit may appear once (a repeated unit replaces the earlier value,
/// as restic does); units may come in any order and be negative.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeepDuration {
    /// Years (`y`).
    pub years: i32,
    /// Months (`m`).
    pub months: i32,
    /// Days (`d`).
    pub days: i32,
    /// Hours (`h`).
    pub hours: i32,
}

impl KeepDuration {
    /// Parses restic's duration syntax. Surrounding whitespace is ignored
    /// and an empty string is the zero duration.
    pub fn parse(s: &str) -> Result<KeepDuration> {
        let mut d = KeepDuration::default();
        let mut rest = s.trim();
        while !rest.is_empty() {
            let (negative, body) = match rest.strip_prefix('-') {
                Some(b) => (true, b),
                None => (false, rest),
            };
            let digits = body.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(Error::InvalidArgument("no number found".into()));
            }
            let magnitude: i32 = body[..digits].parse().map_err(|_| {
                Error::InvalidArgument(format!("number {} is out of range", &body[..digits]))
            })?;
            let num = if negative { -magnitude } else { magnitude };
            let after = &body[digits..];
            let Some(unit) = after.chars().next() else {
                return Err(Error::InvalidArgument(format!(
                    "no unit found after number {num}"
                )));
            };
            match unit {
                'y' => d.years = num,
                'm' => d.months = num,
                'd' => d.days = num,
                'h' => d.hours = num,
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "invalid unit '{other}' found after number {num}"
                    )))
                }
            }
            rest = &after[unit.len_utf8()..];
        }
        Ok(d)
    }

    /// True when every unit is zero (the option is off).
    pub fn is_zero(&self) -> bool {
        *self == KeepDuration::default()
    }

    /// True when some unit is negative.
    pub fn is_negative(&self) -> bool {
        self.years < 0 || self.months < 0 || self.days < 0 || self.hours < 0
    }

    /// The instant this duration before `t`, computed as Go's
    /// `t.AddDate(-years, -months, -days).Add(-hours)`: the calendar part
    /// works on the local date in `t`'s offset and normalises overflowing
    /// days (March 31 minus one month is March 3 or 2), the hours are
    /// subtracted as exact time.
    pub fn before(&self, t: &GoTime) -> GoTime {
        let (y, m, d, h, mi, s) = t.civil();
        let month_index =
            y * 12 + i64::from(m) - 1 - i64::from(self.months) - 12 * i64::from(self.years);
        let year = month_index.div_euclid(12);
        let month = month_index.rem_euclid(12) as u32 + 1;
        let days = days_from_civil(year, month, 1) + i64::from(d) - 1 - i64::from(self.days);
        let local = days * 86_400 + i64::from(h * 3600 + mi * 60 + s);
        GoTime {
            unix_secs: local - i64::from(t.offset_secs) - 3600 * i64::from(self.hours),
            nanos: t.nanos,
            offset_secs: t.offset_secs,
        }
    }
}

impl fmt::Display for KeepDuration {
    /// restic's form: the non-zero units in the order `y m d h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, unit) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if n != 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for KeepDuration {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        KeepDuration::parse(s)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..=12).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dur(y: i32, m: i32, d: i32, h: i32) -> KeepDuration {
        KeepDuration {
            years: y,
            months: m,
            days: d,
            hours: h,
        }
    }

    #[test]
    fn parses_restic_syntax() {
        assert_eq!(KeepDuration::parse("1y2m3d4h").unwrap(), dur(1, 2, 3, 4));
        assert_eq!(KeepDuration::parse(" 4h3d ").unwrap(), dur(0, 0, 3, 4));
        assert_eq!(KeepDuration::parse("2d5d").unwrap(), dur(0, 0, 5, 0));
        assert_eq!(KeepDuration::parse("-1y").unwrap(), dur(-1, 0, 0, 0));
        assert_eq!(KeepDuration::parse("").unwrap(), dur(0, 0, 0, 0));
        assert!(KeepDuration::parse("y").is_err());
        assert!(KeepDuration::parse("5").is_err());
        let e = KeepDuration::parse("5x").unwrap_err().to_string();
        assert_eq!(e, "invalid unit 'x' found after number 5");
        assert_eq!(
            KeepDuration::parse("12").unwrap_err().to_string(),
            "no unit found after number 12"
        );
    }

    #[test]
    fn prints_like_restic() {
        assert_eq!(dur(1, 0, 3, 0).to_string(), "1y3d");
        assert_eq!(dur(0, 2, 0, 12).to_string(), "2m12h");
        assert_eq!(dur(0, 0, 0, 0).to_string(), "");
    }

    #[test]
    fn subtracts_like_go_add_date() {
        let t = GoTime::parse("2021-03-31T10:30:00.5+02:00").unwrap();
        let back = |d: KeepDuration| dur_str(d.before(&t));
        assert_eq!(back(dur(0, 1, 0, 0)), "2021-03-03T10:30:00.5+02:00");
        assert_eq!(back(dur(1, 13, 0, 0)), "2019-03-03T10:30:00.5+02:00");
        assert_eq!(back(dur(0, 0, 31, 0)), "2021-02-28T10:30:00.5+02:00");
        assert_eq!(back(dur(0, 0, 0, 11)), "2021-03-30T23:30:00.5+02:00");
        assert_eq!(back(dur(-1, 0, 0, 0)), "2022-03-31T10:30:00.5+02:00");
        let leap = GoTime::parse("2020-02-29T00:00:00Z").unwrap();
        assert_eq!(
            dur_str(dur(1, 0, 0, 0).before(&leap)),
            "2019-03-01T00:00:00Z"
        );
    }

    fn dur_str(t: GoTime) -> String {
        t.to_rfc3339_nano()
    }
}
