//! Timestamps: `GoTime::parse` on arbitrary strings.
//!
//! Every time in a tree or snapshot goes through this parser and must come
//! back out byte-identically (tree IDs depend on it), so a parsed time must
//! format to a string that parses to the same value, and its civil fields
//! must agree with the digits that were parsed.
#![no_main]

use cairn_format::GoTime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(t) = GoTime::parse(s) else {
        return;
    };
    assert!(t.nanos < 1_000_000_000, "nanos out of range: {t:?}");
    let printed = t.to_rfc3339_nano();
    let back = GoTime::parse(&printed)
        .unwrap_or_else(|e| panic!("{printed:?} (from {s:?}) does not parse: {e}"));
    assert_eq!(back, t, "{s:?} -> {printed:?}");
    assert_eq!(back.to_rfc3339_nano(), printed);

    // The parser accepts exactly `YYYY-MM-DDTHH:MM:SS...`, so the local
    // civil fields must be those digits.
    let digits = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap();
    let (y, mo, d, h, mi, sec) = t.civil();
    assert_eq!(
        (y, mo, d, h, mi, sec),
        (
            i64::from(digits(0..4)),
            digits(5..7),
            digits(8..10),
            digits(11..13),
            digits(14..16),
            digits(17..19)
        ),
        "civil fields of {s:?}"
    );
    // Years 0..=9999 are what the parser accepts, so clamping is a no-op.
    assert_eq!(t.clamp_year(), t);
    // Conversions to and from SystemTime must not panic and must be exact
    // where the platform can represent the instant.
    if let Some(st) = t.to_system_time() {
        assert_eq!(GoTime::from_system_time(st, t.offset_secs), t);
    }
});
