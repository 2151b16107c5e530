//! Include and exclude patterns with restic's semantics.
//!
//! A pattern is split on `/` into components. Within a component, `*`
//! matches any run of characters, `?` one character, `[...]` a class
//! (`[^...]` negated, `a-z` ranges, `\` escapes), exactly like Go's
//! `filepath.Match`. A component `**` matches any number of components,
//! including none.
//!
//! Matching is against the path's components, not its whole text:
//!
//! * a pattern starting with `/` must match a *prefix* of the path, so
//!   `/home/a` matches `/home/a` and everything below it;
//! * any other pattern may match any *run* of consecutive components, so
//!   `cache` matches `/x/cache`, `/x/cache/y` and `/cache`, and `*.o`
//!   matches `/src/a.o` (and everything below a directory named `b.o`).
//!
//! So a path also matches when one of its parent directories does. Before
//! use, a pattern is cleaned like Go's `filepath.Clean` (`a//b/` is `a/b`).
//!
//! A leading `!` negates a pattern: a path matched by an earlier pattern of
//! the same list is unmatched again if it also matches the negated one
//! (`*` then `!*.c` matches everything but C files).
//!
//! Case-insensitive lists (`--iexclude`, `--iinclude`) lower-case both the
//! patterns and the paths before matching.
//!
//! Paths and patterns are raw bytes (Unix file names need not be UTF-8).
//! Pattern files ([`read_pattern_file`]) hold one pattern per line; blank
//! lines and lines starting with `#` are skipped and `$VAR`/`${VAR}` are
//! replaced by environment variables (`$$` is a literal `$`). Patterns on
//! the command line are not expanded (the shell does that).
//!
//! ```
//! use cairn::filter::PatternList;
//! let excludes = PatternList::new(["*.tmp", "/var/cache"], false)?;
//! assert!(excludes.matches(b"/home/a/x.tmp"));
//! assert!(excludes.matches(b"/var/cache/apt/pkgcache.bin"));
//! assert!(!excludes.matches(b"/home/a/x.txt"));
//!
//! let includes = PatternList::new(["/home/a/docs"], false)?;
//! assert_eq!(includes.matches_with_child(b"/home"), (false, true));
//! assert_eq!(includes.matches_with_child(b"/home/a/docs/x"), (true, true));
//! assert_eq!(includes.matches_with_child(b"/etc"), (false, false));
//! # Ok::<(), cairn::Error>(())
//! ```

use crate::{Error, Result};
use std::path::Path;

/// One component of a parsed pattern. `**` is stored as the empty string,
/// and so is the empty component a bare `/` produces (restic treats both
/// as "any number of components").
#[derive(Clone, Debug, PartialEq, Eq)]
struct Part {
    text: Vec<u8>,
    /// No glob characters: compare bytes directly.
    simple: bool,
    /// Only literal bytes and `*` (as in `*.o`): the literal runs between
    /// the stars, matched by [`star_literal_match`] instead of
    /// [`glob_match`]; `None` for other globs.
    star_literals: Option<Vec<Vec<u8>>>,
}

impl Part {
    fn new(text: &[u8]) -> Part {
        let text = if text == b"**" { &b""[..] } else { text };
        let simple = !text.iter().any(|c| b"\\[]*?".contains(c));
        let star_literal = !simple && !text.iter().any(|c| b"\\[]?".contains(c));
        Part {
            text: text.to_vec(),
            simple,
            star_literals: star_literal
                .then(|| text.split(|&c| c == b'*').map(<[u8]>::to_vec).collect()),
        }
    }

    fn is_double_star(&self) -> bool {
        self.text.is_empty()
    }

    fn matches(&self, component: &[u8]) -> bool {
        if self.simple {
            self.text == component
        } else if let Some(literals) = &self.star_literals {
            star_literal_match(literals, component)
        } else {
            glob_match(&self.text, component).unwrap_or(false)
        }
    }
}

/// A parsed pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    original: Vec<u8>,
    parts: Vec<Part>,
    negated: bool,
}

impl Pattern {
    fn parse(original: &[u8]) -> Pattern {
        let (negated, text) = match original.split_first() {
            Some((b'!', rest)) => (true, rest),
            _ => (false, original),
        };
        let parts = split_path(&clean(text))
            .into_iter()
            .map(Part::new)
            .collect();
        Pattern {
            original: original.to_vec(),
            parts,
            negated,
        }
    }

    fn is_absolute(&self) -> bool {
        self.parts.first().is_some_and(|p| p.text == b"/")
    }
}

/// An ordered list of patterns, as given by one kind of option
/// (`--exclude`, `--iinclude`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatternList {
    patterns: Vec<Pattern>,
    case_insensitive: bool,
    has_negated: bool,
}

impl PatternList {
    /// Parses `patterns`, skipping empty ones. With `case_insensitive`,
    /// patterns and paths are lower-cased before matching.
    ///
    /// Fails with [`Error::InvalidArgument`] naming every pattern with a
    /// malformed component (such as an unclosed `[`).
    pub fn new<I, S>(patterns: I, case_insensitive: bool) -> Result<PatternList>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let mut parsed = Vec::new();
        let mut invalid = Vec::new();
        for p in patterns {
            let p = p.as_ref();
            if p.is_empty() {
                continue;
            }
            let pattern = Pattern::parse(p);
            if pattern
                .parts
                .iter()
                .any(|part| validate_glob(&part.text).is_err())
            {
                invalid.push(String::from_utf8_lossy(p).into_owned());
                continue;
            }
            parsed.push(if case_insensitive {
                Pattern::parse(&go_to_lower(p))
            } else {
                pattern
            });
        }
        if !invalid.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "invalid pattern(s) provided:\n{}",
                invalid.join("\n")
            )));
        }
        Ok(PatternList {
            has_negated: parsed.iter().any(|p| p.negated),
            patterns: parsed,
            case_insensitive,
        })
    }

    /// True if the list holds no patterns (it then matches nothing).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether the list is case-insensitive.
    pub fn is_case_insensitive(&self) -> bool {
        self.case_insensitive
    }

    /// The patterns as given (lower-cased for case-insensitive lists).
    pub fn patterns(&self) -> impl Iterator<Item = &[u8]> {
        self.patterns.iter().map(|p| p.original.as_slice())
    }

    /// Whether `path` (`/a/b`, raw bytes) matches the list: the last
    /// pattern deciding it is not negated. A path also matches when one
    /// of its parent directories does. The empty path matches nothing.
    pub fn matches(&self, path: &[u8]) -> bool {
        self.evaluate(path, false).0
    }

    /// Whether something below `path` may still match, so that a
    /// directory must be descended into (for includes).
    pub fn child_may_match(&self, path: &[u8]) -> bool {
        self.evaluate(path, true).1
    }

    /// Both [`PatternList::matches`] and [`PatternList::child_may_match`],
    /// computed together (restic's `ListWithChild`).
    pub fn matches_with_child(&self, path: &[u8]) -> (bool, bool) {
        self.evaluate(path, true)
    }

    fn evaluate(&self, path: &[u8], check_child: bool) -> (bool, bool) {
        if self.patterns.is_empty() || path.is_empty() {
            return (false, false);
        }
        let lowered;
        let path = if self.case_insensitive {
            lowered = go_to_lower(path);
            &lowered[..]
        } else {
            path
        };
        let components = split_path(path);
        let (mut matched, mut child) = (false, false);
        for pattern in &self.patterns {
            let m = match_parts(&pattern.parts, &components);
            if pattern.negated {
                matched = matched && !m;
                child = child && !m;
            } else {
                matched = matched || m;
                child = child || !check_child || child_match(pattern, &components);
                if matched && child && !self.has_negated {
                    break;
                }
            }
        }
        (matched, child)
    }
}

/// Whether children of the path split into `components` could match an
/// (un-negated) pattern.
fn child_match(pattern: &Pattern, components: &[&[u8]]) -> bool {
    if !pattern.is_absolute() {
        return true;
    }
    let mut components = components;
    if let Some(pos) = pattern.parts.iter().position(Part::is_double_star) {
        if components.len() >= pos {
            components = &components[..pos];
        }
    }
    let l = components.len().min(pattern.parts.len());
    match_parts(&pattern.parts[..l], components)
}

/// restic's component matching: `**` expands to any number of `*`; an
/// absolute pattern matches a prefix, a relative one any window.
fn match_parts(parts: &[Part], strs: &[&[u8]]) -> bool {
    if let Some(pos) = parts.iter().position(Part::is_double_star) {
        let star = Part::new(b"*");
        let suffix = &parts[pos + 1..];
        // restic tries 0 ..= strs.len() + 1 - parts.len() stars.
        if strs.len() + 1 < parts.len() {
            return false;
        }
        let max_stars = strs.len() + 1 - parts.len();
        for stars in 0..=max_stars {
            let mut expanded: Vec<Part> = parts[..pos].to_vec();
            expanded.extend(std::iter::repeat_n(star.clone(), stars));
            expanded.extend_from_slice(suffix);
            if match_parts(&expanded, strs) {
                return true;
            }
        }
        return false;
    }
    if parts.is_empty() {
        return strs.is_empty();
    }
    if parts.len() > strs.len() {
        return false;
    }
    let mut min_offset = 0;
    let mut max_offset = strs.len() - parts.len();
    if parts[0].text == b"/" {
        max_offset = 0;
    } else if strs[0] == b"/" {
        min_offset = 1;
    }
    (min_offset..=max_offset)
        .rev()
        .any(|off| parts.iter().zip(&strs[off..]).all(|(p, s)| p.matches(s)))
}

/// Splits a path into components; an absolute path's first is `/`.
fn split_path(path: &[u8]) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = path.split(|&c| c == b'/').collect();
    if parts[0].is_empty() {
        parts[0] = b"/";
    }
    parts
}

/// Go's `filepath.Clean` on raw bytes: collapses `//`, drops `.`, resolves
/// `..` lexically; the empty path becomes `.`.
pub fn clean(path: &[u8]) -> Vec<u8> {
    let rooted = path.first() == Some(&b'/');
    let mut out: Vec<&[u8]> = Vec::new();
    for part in path.split(|&c| c == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if out.last().is_some_and(|p| *p != b"..") {
                    out.pop();
                } else if !rooted {
                    out.push(part);
                }
            }
            _ => out.push(part),
        }
    }
    let mut cleaned = Vec::with_capacity(path.len());
    if rooted {
        cleaned.push(b'/');
    }
    cleaned.extend_from_slice(&out.join(&b'/'));
    if cleaned.is_empty() {
        cleaned.push(b'.');
    }
    cleaned
}

/// A malformed glob pattern (Go's `filepath.ErrBadPattern`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadPattern;

impl std::fmt::Display for BadPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("syntax error in pattern")
    }
}

impl std::error::Error for BadPattern {}

/// Decodes one UTF-8 character like Go: an invalid byte is U+FFFD, width 1.
fn decode_rune(s: &[u8]) -> (u32, usize) {
    let len = match s.first() {
        None => return (0xFFFD, 0),
        Some(&c) if c < 0x80 => return (u32::from(c), 1),
        Some(&c) if c >= 0xF0 => 4,
        Some(&c) if c >= 0xE0 => 3,
        Some(_) => 2,
    };
    match s.get(..len).and_then(|b| std::str::from_utf8(b).ok()) {
        Some(text) => (text.chars().next().map_or(0xFFFD, u32::from), len),
        None => (0xFFFD, 1),
    }
}

/// Go's `filepath.Match` on one path component (Unix rules, `/` is the
/// separator): whether `name` matches `pattern` as a whole.
pub fn glob_match(pattern: &[u8], name: &[u8]) -> std::result::Result<bool, BadPattern> {
    let mut pattern = pattern;
    let mut name = name;
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing star matches the rest unless it holds a separator.
            return Ok(!name.contains(&b'/'));
        }
        let first = match_chunk(chunk, name);
        if let Ok(Some(t)) = first {
            if t.is_empty() || !pattern.is_empty() {
                name = t;
                continue;
            }
        }
        first?;
        if star {
            // Let the star eat 1, 2, ... bytes, but never a separator.
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                if let Some(t) = match_chunk(chunk, &name[i + 1..])? {
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                i += 1;
            }
        }
        // No match; still report a malformed rest of the pattern.
        validate_glob(pattern)?;
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Checks the syntax of a glob pattern without matching anything.
pub fn validate_glob(pattern: &[u8]) -> std::result::Result<(), BadPattern> {
    let mut pattern = pattern;
    while !pattern.is_empty() {
        let (_, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        match_chunk(chunk, b"")?;
    }
    Ok(())
}

/// Splits off the next chunk: leading stars, then everything up to the
/// next star outside a class.
fn scan_chunk(pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let stars = pattern.iter().take_while(|&&c| c == b'*').count();
    let pattern = &pattern[stars..];
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (stars > 0, &pattern[..i], &pattern[i..])
}

/// Matches a star-free chunk against the start of `s`, returning the rest
/// of `s` on success. Parses the whole chunk even after a mismatch so that
/// syntax errors are always reported.
fn match_chunk<'a>(chunk: &[u8], s: &'a [u8]) -> std::result::Result<Option<&'a [u8]>, BadPattern> {
    let mut chunk = chunk;
    let mut s = s;
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = 0xFFFD_u32;
                if !failed {
                    let (rune, n) = decode_rune(s);
                    r = rune;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.first() == Some(&b']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_escaped(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk[0] == b'-' {
                        let (h, rest) = get_escaped(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    s = &s[decode_rune(s).1..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Err(BadPattern);
                    }
                }
                if !failed {
                    if chunk[0] != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok(if failed { None } else { Some(s) })
}

/// One possibly escaped character of a class; the rest must not be empty.
fn get_escaped(chunk: &[u8]) -> std::result::Result<(u32, &[u8]), BadPattern> {
    let mut chunk = chunk;
    match chunk.first() {
        None | Some(b'-') | Some(b']') => return Err(BadPattern),
        Some(b'\\') => {
            chunk = &chunk[1..];
            if chunk.is_empty() {
                return Err(BadPattern);
            }
        }
        _ => {}
    }
    let (r, n) = decode_rune(chunk);
    if r == 0xFFFD && n == 1 {
        return Err(BadPattern);
    }
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// Go's `strings.ToLower`: simple per-character lower-casing; when the
/// text is not pure ASCII, invalid UTF-8 bytes each become U+FFFD.
fn go_to_lower(s: &[u8]) -> Vec<u8> {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        let (r, n) = decode_rune(rest);
        let c = char::from_u32(r).unwrap_or(char::REPLACEMENT_CHARACTER);
        let lower = c.to_lowercase().next().unwrap_or(c);
        let mut buf = [0u8; 4];
        out.extend_from_slice(lower.encode_utf8(&mut buf).as_bytes());
        rest = &rest[n.max(1)..];
    }
    out
}

/// Reads patterns from a file (`--exclude-file`, `--include-file`): one per
/// line, surrounding white space trimmed, blank lines and `#` comments
/// skipped, environment variables expanded. A UTF-8 or UTF-16 byte-order
/// mark is honoured.
pub fn read_pattern_file(path: &Path) -> Result<Vec<Vec<u8>>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = decode_text_file(raw);
    let getenv = |name: &[u8]| -> Vec<u8> {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        if name == b"$" {
            return b"$".to_vec();
        }
        std::env::var_os(std::ffi::OsStr::from_bytes(name))
            .map(|v| v.into_vec())
            .unwrap_or_default()
    };
    Ok(text
        .split(|&c| c == b'\n')
        .map(|line| line.trim_ascii())
        .filter(|line| !line.is_empty() && !line.starts_with(b"#"))
        .map(|line| expand_env(line, &getenv))
        .collect())
}

/// Strips a UTF-8 byte-order mark and converts UTF-16 with a BOM to UTF-8.
fn decode_text_file(raw: Vec<u8>) -> Vec<u8> {
    let utf16 = |bytes: &[u8], le: bool| -> Vec<u8> {
        let units = bytes.chunks_exact(2).map(|c| {
            let pair = [c[0], c[1]];
            if le {
                u16::from_le_bytes(pair)
            } else {
                u16::from_be_bytes(pair)
            }
        });
        char::decode_utf16(units)
            .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect::<String>()
            .into_bytes()
    };
    match raw.as_slice() {
        [0xEF, 0xBB, 0xBF, rest @ ..] => rest.to_vec(),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        _ => raw,
    }
}

/// Go's `os.Expand`: replaces `$name` and `${name}` by `lookup(name)`.
/// Names are letters, digits and `_`, or one of the shell's special
/// characters (`$`, `*`, `#`, `@`, `!`, `?`, `-`, a digit). A `$` followed
/// by nothing usable stays; bad `${...}` syntax is dropped.
pub fn expand_env(s: &[u8], lookup: &dyn Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let special = |c: u8| b"*#$@!?-0123456789".contains(&c);
    let alnum = |c: u8| c == b'_' || c.is_ascii_alphanumeric();
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    let mut j = 0;
    while j < s.len() {
        if s[j] == b'$' && j + 1 < s.len() {
            out.extend_from_slice(&s[i..j]);
            let rest = &s[j + 1..];
            let (name, width): (&[u8], usize) = if rest[0] == b'{' {
                if rest.len() > 2 && special(rest[1]) && rest[2] == b'}' {
                    (&rest[1..2], 3)
                } else {
                    match rest.iter().position(|&c| c == b'}') {
                        Some(1) => (b"", 2),
                        Some(end) => (&rest[1..end], end + 1),
                        None => (b"", 1),
                    }
                }
            } else if special(rest[0]) {
                (&rest[..1], 1)
            } else {
                let n = rest.iter().take_while(|&&c| alnum(c)).count();
                (&rest[..n], n)
            };
            if !name.is_empty() {
                out.extend_from_slice(&lookup(name));
            } else if width == 0 {
                out.push(b'$');
            }
            j += width;
            i = j + 1;
        }
        j += 1;
    }
    out.extend_from_slice(&s[i.min(s.len())..]);
    out
}

#[path = "filter_star_literal.rs"]
mod star_literal;
use star_literal::star_literal_match;

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
