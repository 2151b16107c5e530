//! Node names: `go_unquote` (Go's `strconv.Unquote`) on arbitrary input.
//!
//! Names are stored quoted and must come back as the exact raw bytes, so
//! quoting is checked both ways: anything that unquotes must re-quote to a
//! string that unquotes to the same bytes, and any byte string (the fuzz
//! input itself) must survive `go_quote` then `go_unquote`.
#![no_main]

use cairn_format::{go_quote, go_unquote};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let quoted = go_quote(data);
    assert_eq!(
        go_unquote(&quoted).expect("go_quote output must unquote"),
        data,
        "quote/unquote round trip of {data:?} via {quoted:?}"
    );
    // strconv.Quote output is printable ASCII or printable Unicode only.
    assert!(!quoted.contains('\n') && !quoted.contains('\0'));

    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(raw) = go_unquote(s) else {
        return;
    };
    let requoted = go_quote(&raw);
    assert_eq!(go_unquote(&requoted).expect("re-quote must unquote"), raw);
    // Quoting is canonical: quoting the same bytes twice gives one form.
    assert_eq!(go_quote(&raw), requoted);
});
