//! Timestamps as Go's `time.Time` writes and reads them in JSON.
//!
//! Go keeps the zone offset with each time and prints it back, so a
//! timestamp stored by restic as `2023-04-01T10:00:00.5+02:00` must come out
//! exactly like that again. [`GoTime`] stores the instant plus the offset.

use std::cmp::Ordering;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::FormatError;

/// An instant with the zone offset it was recorded in (Go `time.Time`
/// without the zone name, which JSON does not carry).
///
/// Equality compares all three fields; ordering is by instant first (the
/// offset only breaks ties, so `Ord` stays consistent with `Eq`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GoTime {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix_secs: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nanos: u32,
    /// Zone offset east of UTC in seconds (`+02:00` is 7200).
    pub offset_secs: i32,
}

const SECS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // 0..=399
    let m = m as i64;
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

impl GoTime {
    /// Go's zero time, `0001-01-01T00:00:00Z`.
    pub const ZERO: GoTime = GoTime {
        unix_secs: -62_135_596_800,
        nanos: 0,
        offset_secs: 0,
    };

    /// Parse an RFC 3339 timestamp the way Go's `time.Time.UnmarshalJSON`
    /// does: four-digit year, optional fraction (digits past the ninth are
    /// ignored), `Z` or a `±hh:mm` offset.
    pub fn parse(s: &str) -> Result<GoTime, FormatError> {
        let err = || FormatError::InvalidTime(s.chars().take(80).collect());
        let b = s.as_bytes();
        let mut pos = 0usize;
        let num = |len: usize, pos: &mut usize| -> Result<u32, FormatError> {
            let part = b.get(*pos..*pos + len).ok_or_else(err)?;
            let mut v = 0u32;
            for &c in part {
                if !c.is_ascii_digit() {
                    return Err(err());
                }
                v = v * 10 + u32::from(c - b'0');
            }
            *pos += len;
            Ok(v)
        };
        let expect = |c: u8, pos: &mut usize| -> Result<(), FormatError> {
            if b.get(*pos) == Some(&c) {
                *pos += 1;
                Ok(())
            } else {
                Err(err())
            }
        };
        let year = num(4, &mut pos)? as i64;
        expect(b'-', &mut pos)?;
        let month = num(2, &mut pos)?;
        expect(b'-', &mut pos)?;
        let day = num(2, &mut pos)?;
        if b.get(pos) == Some(&b'T') || b.get(pos) == Some(&b't') {
            pos += 1;
        } else {
            return Err(err());
        }
        let hour = num(2, &mut pos)?;
        expect(b':', &mut pos)?;
        let min = num(2, &mut pos)?;
        expect(b':', &mut pos)?;
        let sec = num(2, &mut pos)?;
        let mut nanos = 0u32;
        if matches!(b.get(pos), Some(b'.') | Some(b',')) {
            pos += 1;
            let start = pos;
            let mut scale = 100_000_000u32;
            while let Some(c) = b.get(pos).filter(|c| c.is_ascii_digit()) {
                nanos += u32::from(c - b'0') * scale;
                scale /= 10;
                pos += 1;
            }
            if pos == start {
                return Err(err());
            }
        }
        let offset_secs: i32 = match b.get(pos) {
            Some(b'Z') | Some(b'z') => {
                pos += 1;
                0
            }
            Some(&sign @ (b'+' | b'-')) => {
                pos += 1;
                let oh = num(2, &mut pos)?;
                expect(b':', &mut pos)?;
                let om = num(2, &mut pos)?;
                if oh >= 24 || om >= 60 {
                    return Err(err());
                }
                let o = (oh * 3600 + om * 60) as i32;
                if sign == b'-' {
                    -o
                } else {
                    o
                }
            }
            _ => return Err(err()),
        };
        if pos != b.len()
            || !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour >= 24
            || min >= 60
            || sec >= 60
        {
            return Err(err());
        }
        let local = days_from_civil(year, month, day) * SECS_PER_DAY
            + i64::from(hour * 3600 + min * 60 + sec);
        Ok(GoTime {
            unix_secs: local - i64::from(offset_secs),
            nanos,
            offset_secs,
        })
    }

    /// Local wall-clock fields: (year, month, day, hour, minute, second).
    pub fn civil(&self) -> (i64, u32, u32, u32, u32, u32) {
        let local = self.unix_secs + i64::from(self.offset_secs);
        let days = local.div_euclid(SECS_PER_DAY);
        let sod = local.rem_euclid(SECS_PER_DAY) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, sod / 3600, sod / 60 % 60, sod % 60)
    }

    /// The local year (as Go's `t.Year()`).
    pub fn year(&self) -> i64 {
        self.civil().0
    }

    /// Format exactly as Go's `time.RFC3339Nano`: trailing zero fraction
    /// digits trimmed (no fraction at all when zero), `Z` for offset 0.
    pub fn to_rfc3339_nano(&self) -> String {
        use std::fmt::Write;
        let (y, mo, d, h, mi, s) = self.civil();
        let mut out = String::with_capacity(35);
        if y < 0 {
            out.push('-');
        }
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            y.unsigned_abs(),
            mo,
            d,
            h,
            mi,
            s
        );
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        if self.offset_secs == 0 {
            out.push('Z');
        } else {
            // Go prints whole minutes, truncating toward zero.
            let mut zone = self.offset_secs / 60;
            if zone < 0 {
                out.push('-');
                zone = -zone;
            } else {
                out.push('+');
            }
            let _ = write!(out, "{:02}:{:02}", zone / 60, zone % 60);
        }
        out
    }

    /// The current time in the local time zone.
    pub fn now_local() -> GoTime {
        let now = chrono::Local::now();
        GoTime {
            unix_secs: now.timestamp(),
            nanos: now.timestamp_subsec_nanos().min(999_999_999),
            offset_secs: now.offset().local_minus_utc(),
        }
    }

    /// Convert from a [`SystemTime`], recording the given zone offset.
    pub fn from_system_time(t: SystemTime, offset_secs: i32) -> GoTime {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => GoTime {
                unix_secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: d.subsec_nanos(),
                offset_secs,
            },
            Err(e) => {
                let d = e.duration();
                let mut secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                let mut nanos = d.subsec_nanos();
                if nanos > 0 {
                    secs -= 1;
                    nanos = 1_000_000_000 - nanos;
                }
                GoTime {
                    unix_secs: secs,
                    nanos,
                    offset_secs,
                }
            }
        }
    }

    /// Convert to a [`SystemTime`]; `None` if the platform cannot
    /// represent the instant.
    pub fn to_system_time(&self) -> Option<SystemTime> {
        if self.unix_secs >= 0 {
            UNIX_EPOCH
                .checked_add(Duration::from_secs(self.unix_secs as u64))?
                .checked_add(Duration::from_nanos(u64::from(self.nanos)))
        } else {
            UNIX_EPOCH
                .checked_sub(Duration::from_secs(self.unix_secs.unsigned_abs()))?
                .checked_add(Duration::from_nanos(u64::from(self.nanos)))
        }
    }

    /// True for Go's zero time (`0001-01-01T00:00:00Z`) in any offset.
    pub fn is_zero(&self) -> bool {
        self.unix_secs == GoTime::ZERO.unix_secs && self.nanos == 0
    }

    /// restic's `FixTime`: years before 0 become 0 and years after 9999
    /// become 9999, keeping the rest of the local date (a resulting
    /// February 29 in a non-leap year rolls over to March 1, as Go's
    /// `AddDate` does). Go's JSON encoder refuses other years.
    pub fn clamp_year(&self) -> GoTime {
        let (y, m, d, h, mi, s) = self.civil();
        let ny = y.clamp(0, 9999);
        if ny == y {
            return *self;
        }
        let (mut m2, mut d2) = (m, d);
        if d2 > days_in_month(ny, m2) {
            d2 -= days_in_month(ny, m2);
            m2 += 1;
        }
        let local = days_from_civil(ny, m2, d2) * SECS_PER_DAY + i64::from(h * 3600 + mi * 60 + s);
        GoTime {
            unix_secs: local - i64::from(self.offset_secs),
            ..*self
        }
    }
}

impl Default for GoTime {
    fn default() -> GoTime {
        GoTime::ZERO
    }
}

impl PartialOrd for GoTime {
    fn partial_cmp(&self, other: &GoTime) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for GoTime {
    fn cmp(&self, other: &GoTime) -> Ordering {
        (self.unix_secs, self.nanos, self.offset_secs).cmp(&(
            other.unix_secs,
            other.nanos,
            other.offset_secs,
        ))
    }
}

impl fmt::Display for GoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339_nano())
    }
}

impl Serialize for GoTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339_nano())
    }
}

impl<'de> Deserialize<'de> for GoTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<GoTime, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = GoTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<GoTime, E> {
                GoTime::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero() {
        assert_eq!(GoTime::ZERO.to_rfc3339_nano(), "0001-01-01T00:00:00Z");
        assert_eq!(GoTime::parse("0001-01-01T00:00:00Z").unwrap(), GoTime::ZERO);
        assert!(GoTime::ZERO.is_zero());
        assert!(GoTime::default().is_zero());
    }

    #[test]
    fn examples() {
        for s in [
            "2022-08-04T12:34:56.123456789+02:00",
            "2022-08-04T12:34:56.1-07:30",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999999Z",
            "2000-02-29T23:59:59.00001+14:00",
            "9999-12-31T23:59:59.999999999-23:59",
            "0000-01-01T00:00:00Z",
        ] {
            let t = GoTime::parse(s).unwrap();
            assert_eq!(t.to_rfc3339_nano(), s);
        }
        let t = GoTime::parse("2022-08-04T12:34:56.120000000+02:00").unwrap();
        assert_eq!(t.to_rfc3339_nano(), "2022-08-04T12:34:56.12+02:00");
        assert_eq!(t.unix_secs, 1_659_609_296);
        assert_eq!(t.offset_secs, 7200);
        // More than nine fraction digits: the rest is ignored.
        let t = GoTime::parse("2022-08-04T12:34:56.1234567891234Z").unwrap();
        assert_eq!(t.nanos, 123_456_789);
        // "+00:00" is printed back as "Z", as Go does.
        let t = GoTime::parse("2022-08-04T12:34:56+00:00").unwrap();
        assert_eq!(t.to_rfc3339_nano(), "2022-08-04T12:34:56Z");
    }

    #[test]
    fn rejects() {
        for s in [
            "",
            "2022-08-04",
            "2022-08-04T12:34:56",
            "2022-13-04T12:34:56Z",
            "2022-02-29T12:34:56Z",
            "2022-08-04T24:00:00Z",
            "2022-08-04T12:60:00Z",
            "2022-08-04T12:00:60Z",
            "2022-08-04T12:00:00.Z",
            "2022-08-04T12:00:00+2:00",
            "2022-08-04T12:00:00+24:00",
            "2022-08-04T12:00:00Zjunk",
            "22022-08-04T12:00:00Z",
            "+022-08-04T12:00:00Z",
        ] {
            assert!(GoTime::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn order_and_system_time() {
        let a = GoTime::parse("2022-08-04T12:00:00+02:00").unwrap();
        let b = GoTime::parse("2022-08-04T11:00:00Z").unwrap();
        assert!(a < b);
        let st = b.to_system_time().unwrap();
        assert_eq!(GoTime::from_system_time(st, 0), b);
        let before = GoTime::parse("1969-12-31T23:59:59.25Z").unwrap();
        let st = before.to_system_time().unwrap();
        assert_eq!(GoTime::from_system_time(st, 0), before);
        let now = GoTime::now_local();
        assert_eq!(
            GoTime::parse(&now.to_rfc3339_nano()).unwrap().unix_secs,
            now.unix_secs
        );
    }

    #[test]
    fn clamp() {
        let t = GoTime::parse("2020-02-29T10:00:00+01:00").unwrap();
        assert_eq!(t.clamp_year(), t);
        let far = GoTime {
            unix_secs: days_from_civil(12_000, 2, 29) * SECS_PER_DAY,
            nanos: 5,
            offset_secs: 0,
        };
        assert_eq!(
            far.clamp_year().to_rfc3339_nano(),
            "9999-03-01T00:00:00.000000005Z"
        );
        let early = GoTime {
            unix_secs: days_from_civil(-5, 6, 1) * SECS_PER_DAY,
            nanos: 0,
            offset_secs: 0,
        };
        assert_eq!(early.to_rfc3339_nano(), "-0005-06-01T00:00:00Z");
        assert_eq!(early.clamp_year().to_rfc3339_nano(), "0000-06-01T00:00:00Z");
    }
}
