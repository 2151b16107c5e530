//! JSON output byte-compatible with Go's `encoding/json`.
//!
//! Go's encoder differs from serde_json's defaults in how it escapes
//! strings: it escapes `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026`,
//! escapes U+2028 and U+2029, and replaces each invalid UTF-8 byte with the
//! six characters `\ufffd`. Other non-ASCII text stays raw UTF-8, and other
//! control characters become `\u00XX` with lowercase hex. Since Go 1.22,
//! backspace and form feed are written `\b` and `\f` (before that
//! `\u0008` and `\u000c`; see [`GoJsonFormatter::go_pre_1_22`]).

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};

/// A compact serde_json [`Formatter`] that escapes strings like Go.
#[derive(Clone, Copy, Debug, Default)]
pub struct GoJsonFormatter {
    pre_1_22: bool,
}

impl GoJsonFormatter {
    /// Escaping of Go 1.22 and later (current restic releases).
    pub fn new() -> GoJsonFormatter {
        GoJsonFormatter { pre_1_22: false }
    }

    /// Escaping of Go before 1.22 (e.g. restic 0.14 built with Go 1.19):
    /// backspace and form feed as `\u0008` / `\u000c`.
    pub fn go_pre_1_22() -> GoJsonFormatter {
        GoJsonFormatter { pre_1_22: true }
    }
}

impl Formatter for GoJsonFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let esc: &[u8] = match c {
                '<' => b"\\u003c",
                '>' => b"\\u003e",
                '&' => b"\\u0026",
                '\u{2028}' => b"\\u2028",
                '\u{2029}' => b"\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(esc)?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        let s: &[u8] = match char_escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace if self.pre_1_22 => b"\\u0008",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed if self.pre_1_22 => b"\\u000c",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(b) => {
                return writer.write_all(&control_escape(b));
            }
        };
        writer.write_all(s)
    }
}

fn control_escape(b: u8) -> [u8; 6] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [
        b'\\',
        b'u',
        b'0',
        b'0',
        HEX[usize::from(b >> 4)],
        HEX[usize::from(b & 15)],
    ]
}

/// Serialize `value` as Go's `json.Marshal` would (compact, Go escaping).
///
/// # Panics
/// Only if `value`'s `Serialize` implementation itself fails (for example a
/// map with non-string keys); none of this crate's types do.
pub fn to_go_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    to_go_json_with(value, GoJsonFormatter::new())
}

/// Like [`to_go_json`] with a chosen escaping dialect.
pub fn to_go_json_with<T: Serialize + ?Sized>(value: &T, formatter: GoJsonFormatter) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    value
        .serialize(&mut ser)
        .expect("serializing to memory with string map keys cannot fail");
    out
}

/// Append `s` as a Go JSON string literal (with quotes). `s` may hold any
/// bytes: each invalid UTF-8 byte is written as `\ufffd`, as Go does for
/// strings that are not valid UTF-8.
pub fn write_go_string(out: &mut Vec<u8>, s: &[u8], formatter: GoJsonFormatter) {
    out.push(b'"');
    for chunk in s.utf8_chunks() {
        let valid = chunk.valid();
        if !valid.is_empty() {
            let mut start = 0;
            for (i, c) in valid.char_indices() {
                let esc: Option<&[u8]> = match c {
                    '"' => Some(b"\\\""),
                    '\\' => Some(b"\\\\"),
                    '\n' => Some(b"\\n"),
                    '\r' => Some(b"\\r"),
                    '\t' => Some(b"\\t"),
                    '\u{8}' if !formatter.pre_1_22 => Some(b"\\b"),
                    '\u{c}' if !formatter.pre_1_22 => Some(b"\\f"),
                    '<' => Some(b"\\u003c"),
                    '>' => Some(b"\\u003e"),
                    '&' => Some(b"\\u0026"),
                    '\u{2028}' => Some(b"\\u2028"),
                    '\u{2029}' => Some(b"\\u2029"),
                    c if (c as u32) < 0x20 => None,
                    _ => continue,
                };
                out.extend_from_slice(&valid.as_bytes()[start..i]);
                match esc {
                    Some(e) => out.extend_from_slice(e),
                    None => out.extend_from_slice(&control_escape(c as u8)),
                }
                start = i + c.len_utf8();
            }
            out.extend_from_slice(&valid.as_bytes()[start..]);
        }
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

/// Convert bytes to a `String` the way Go's JSON encoder sees them: each
/// invalid UTF-8 byte becomes one U+FFFD (Rust's `from_utf8_lossy` may merge
/// several bytes into one replacement character; Go never does).
pub fn go_lossy_string(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for chunk in s.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push('\u{fffd}');
        }
    }
    out
}

/// Append raw JSON as Go writes a `json.RawMessage`: insignificant
/// whitespace removed and, inside strings, `<`, `>`, `&`, U+2028 and U+2029
/// escaped. Everything else (number spelling, other escapes) is kept.
/// `raw` must already be valid JSON.
pub fn write_go_compact(out: &mut Vec<u8>, raw: &[u8]) {
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if in_string {
            if escaped {
                escaped = false;
                out.push(c);
            } else {
                match c {
                    b'\\' => {
                        escaped = true;
                        out.push(c);
                    }
                    b'"' => {
                        in_string = false;
                        out.push(c);
                    }
                    b'<' => out.extend_from_slice(b"\\u003c"),
                    b'>' => out.extend_from_slice(b"\\u003e"),
                    b'&' => out.extend_from_slice(b"\\u0026"),
                    0xE2 if raw.get(i + 1) == Some(&0x80)
                        && matches!(raw.get(i + 2), Some(0xA8) | Some(0xA9)) =>
                    {
                        out.extend_from_slice(if raw[i + 2] == 0xA8 {
                            b"\\u2028"
                        } else {
                            b"\\u2029"
                        });
                        i += 2;
                    }
                    _ => out.push(c),
                }
            }
        } else {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b'"' => {
                    in_string = true;
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        let s = "a<b>&c\u{2028}\u{2029}\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}\"\\/é😀";
        let want = r#""a\u003cb\u003e\u0026c\u2028\u2029\b\f\n\r\t\u0001\u001f"#.to_string()
            + "\u{7f}\\\"\\\\/é😀\"";
        assert_eq!(String::from_utf8(to_go_json(s)).unwrap(), want);
        let mut out = Vec::new();
        write_go_string(&mut out, s.as_bytes(), GoJsonFormatter::new());
        assert_eq!(String::from_utf8(out).unwrap(), want);

        let old = String::from_utf8(to_go_json_with(
            "\u{8}\u{c}",
            GoJsonFormatter::go_pre_1_22(),
        ))
        .unwrap();
        assert_eq!(old, r#""\u0008\u000c""#);
    }

    #[test]
    fn invalid_utf8_per_byte() {
        let mut out = Vec::new();
        write_go_string(&mut out, b"a\xe2\x82b\xff", GoJsonFormatter::new());
        assert_eq!(out, br#""a\ufffd\ufffdb\ufffd""#);
        assert_eq!(go_lossy_string(b"a\xe2\x82b"), "a\u{fffd}\u{fffd}b");
    }

    #[test]
    fn compact() {
        let mut out = Vec::new();
        write_go_compact(
            &mut out,
            "{ \"a\" : [1, 2.50, \"x <y> & \\\" \u{2028}\" ] }".as_bytes(),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":[1,2.50,"x \u003cy\u003e \u0026 \" \u2028"]}"#
        );
    }
}
