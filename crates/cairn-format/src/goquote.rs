//! Go's `strconv.Quote` / `strconv.Unquote` for node names.
//!
//! restic stores a node name as `strconv.Quote(name)` without the outer
//! quotes, so arbitrary bytes survive JSON. Readers undo it with
//! `strconv.Unquote("\"" + s + "\"")`.
//!
//! Printability follows Go's `unicode.IsPrint` (letters, marks, numbers,
//! punctuation, symbols and the ASCII space). The category tables come from
//! the `unicode-general-category` crate (Unicode 16); Go 1.21+ uses Unicode
//! 15, so names containing characters assigned after that may be quoted
//! differently than by restic.

use unicode_general_category::{get_general_category, GeneralCategory as G};

use crate::FormatError;

/// Go's `unicode.IsPrint`.
pub fn go_is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if (c as u32) < 0x20 || c == '\u{7f}' {
        return false;
    }
    matches!(
        get_general_category(c),
        G::UppercaseLetter
            | G::LowercaseLetter
            | G::TitlecaseLetter
            | G::ModifierLetter
            | G::OtherLetter
            | G::NonspacingMark
            | G::SpacingMark
            | G::EnclosingMark
            | G::DecimalNumber
            | G::LetterNumber
            | G::OtherNumber
            | G::ConnectorPunctuation
            | G::DashPunctuation
            | G::OpenPunctuation
            | G::ClosePunctuation
            | G::InitialPunctuation
            | G::FinalPunctuation
            | G::OtherPunctuation
            | G::MathSymbol
            | G::CurrencySymbol
            | G::ModifierSymbol
            | G::OtherSymbol
    )
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut String, v: u32, digits: u32) {
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (4 * i)) & 15) as usize] as char);
    }
}

/// `strconv.Quote(raw)` without the surrounding double quotes.
pub fn go_quote(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len() + 2);
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if go_is_print(c) => out.push(c),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    out.push_str("\\x");
                    push_hex(&mut out, c as u32, 2);
                }
                c if (c as u32) < 0x10000 => {
                    out.push_str("\\u");
                    push_hex(&mut out, c as u32, 4);
                }
                c => {
                    out.push_str("\\U");
                    push_hex(&mut out, c as u32, 8);
                }
            }
        }
        for &b in chunk.invalid() {
            out.push_str("\\x");
            push_hex(&mut out, u32::from(b), 2);
        }
    }
    out
}

fn hex_val(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

/// `strconv.Unquote("\"" + quoted + "\"")`, returning raw bytes (a `\xNN`
/// escape may produce a byte that is not valid UTF-8 on its own).
pub fn go_unquote(quoted: &str) -> Result<Vec<u8>, FormatError> {
    let bad = |why: &str| FormatError::InvalidQuote(why.to_string());
    let b = quoted.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' => return Err(bad("unescaped double quote")),
            b'\n' => return Err(bad("unescaped newline")),
            b'\\' => {}
            _ => {
                out.push(c);
                i += 1;
                continue;
            }
        }
        let e = *b.get(i + 1).ok_or_else(|| bad("trailing backslash"))?;
        i += 2;
        let simple = match e {
            b'a' => Some(7u8),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'\\' => Some(b'\\'),
            b'"' => Some(b'"'),
            _ => None,
        };
        if let Some(v) = simple {
            out.push(v);
            continue;
        }
        match e {
            b'x' | b'u' | b'U' => {
                let n = match e {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let digits = b.get(i..i + n).ok_or_else(|| bad("short hex escape"))?;
                let mut v = 0u32;
                for &d in digits {
                    v = (v << 4) | hex_val(d).ok_or_else(|| bad("bad hex digit"))?;
                }
                i += n;
                if e == b'x' {
                    out.push(v as u8);
                } else {
                    let ch = char::from_u32(v).ok_or_else(|| bad("invalid code point"))?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
            }
            b'0'..=b'7' => {
                let digits = b.get(i..i + 2).ok_or_else(|| bad("short octal escape"))?;
                let mut v = u32::from(e - b'0');
                for &d in digits {
                    if !(b'0'..=b'7').contains(&d) {
                        return Err(bad("bad octal digit"));
                    }
                    v = (v << 3) | u32::from(d - b'0');
                }
                i += 2;
                if v > 255 {
                    return Err(bad("octal escape out of range"));
                }
                out.push(v as u8);
            }
            _ => return Err(bad("unknown escape")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_examples() {
        assert_eq!(go_quote(b"a\tb"), "a\\tb");
        assert_eq!(go_quote(b"\x07\x08\x0c\n\r\t\x0b"), "\\a\\b\\f\\n\\r\\t\\v");
        assert_eq!(go_quote(b"\x00\x1f\x7f"), "\\x00\\x1f\\x7f");
        assert_eq!(go_quote(b"q\"b\\"), "q\\\"b\\\\");
        assert_eq!(go_quote(b"\xff\xe2\x82"), "\\xff\\xe2\\x82");
        assert_eq!(go_quote("\u{a0}x\u{2028}".as_bytes()), "\\u00a0x\\u2028");
        assert_eq!(go_quote("\u{e000}".as_bytes()), "\\ue000");
        assert_eq!(go_quote("\u{f0000}".as_bytes()), "\\U000f0000");
        assert_eq!(go_quote("\u{200b}\u{feff}".as_bytes()), "\\u200b\\ufeff");
        assert_eq!(
            go_quote("é😀 <>&日本\u{fffd}".as_bytes()),
            "é😀 <>&日本\u{fffd}"
        );
        // A surrogate encoded in UTF-8 is invalid in Go too.
        assert_eq!(go_quote(b"\xed\xa0\x80"), "\\xed\\xa0\\x80");
    }

    #[test]
    fn unquote_examples() {
        assert_eq!(go_unquote("a\\tb").unwrap(), b"a\tb");
        assert_eq!(
            go_unquote("\\xff\\101\\u00e9\\U0001F600").unwrap(),
            b"\xffA\xc3\xa9\xf0\x9f\x98\x80"
        );
        assert_eq!(go_unquote("plain é").unwrap(), "plain é".as_bytes());
        for bad in [
            "\"",
            "\n",
            "\\",
            "\\q",
            "\\'",
            "\\x1",
            "\\ud800",
            "\\U00110000",
            "\\400",
            "\\08",
            "\\u12g4",
        ] {
            assert!(go_unquote(bad).is_err(), "{bad:?}");
        }
    }
}
