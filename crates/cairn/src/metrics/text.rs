//! Prometheus's text exposition format (0.0.4): rendering, label value
//! escaping, and a parser for the same format, good enough to merge the
//! metrics files Cairn writes (and tolerant of comments and timestamps).

use super::{MetricKind, MetricSet, Sample};
use std::fmt::Write;

/// A line of a metrics text that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// A label value escaped for the text format: `\` → `\\`, `"` → `\"`,
/// newline → `\n`.
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A `# HELP` text escaped: `\` → `\\`, newline → `\n`.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Undoes the escapes of a label value (`quote`: `\"` too) or help text.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// A value as Prometheus writes it (`NaN`, `+Inf`, `-Inf`, or the
/// shortest decimal that reads back to the same number).
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

pub(super) fn render(set: &MetricSet) -> String {
    let mut out = String::new();
    for f in &set.families {
        if !f.help.is_empty() {
            let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(&f.help));
        }
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind.as_str());
        for s in &f.samples {
            out.push_str(&f.name);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label_value(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", format_value(s.value));
        }
    }
    out
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

/// Splits a metric or label name off the front of `s`.
fn take_name(s: &str) -> Option<(&str, &str)> {
    if !s.starts_with(is_name_start) {
        return None;
    }
    let end = s.find(|c| !is_name_char(c)).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Reads `{name="value",...}` off the front of `s` (which starts at `{`).
/// Labels read, and the text after them.
type LabelsAndRest<'a> = (Vec<(String, String)>, &'a str);

fn parse_labels(mut s: &str) -> Result<LabelsAndRest<'_>, String> {
    s = &s[1..];
    let mut labels = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let (name, rest) = take_name(s).ok_or("bad label name")?;
        let rest = rest.trim_start().strip_prefix('=').ok_or("expected '='")?;
        let rest = rest.trim_start().strip_prefix('"').ok_or("expected '\"'")?;
        // The closing quote is the first one not escaped.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in rest.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or("unterminated label value")?;
        if labels.iter().any(|(k, _)| k == name) {
            return Err(format!("label {name} repeated"));
        }
        labels.push((name.to_string(), unescape(&rest[..end])));
        s = rest[end + 1..].trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err("expected ',' or '}'".into());
        }
    }
}

/// Reads a metrics text. Families keep the `# HELP` and `# TYPE` given
/// for their name; series of a name without them are untyped. Sample
/// timestamps are accepted and dropped.
pub fn parse_text(text: &str) -> Result<MetricSet, ParseError> {
    let mut set = MetricSet::default();
    let mut helps: Vec<(String, String)> = Vec::new();
    let mut kinds: Vec<(String, MetricKind)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let err = |message: &str| ParseError {
            line: n + 1,
            message: message.to_string(),
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start();
            if let Some(rest) = comment.strip_prefix("HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                helps.push((name.to_string(), unescape(help)));
            } else if let Some(rest) = comment.strip_prefix("TYPE ") {
                let (name, kind) = rest
                    .split_once(' ')
                    .ok_or_else(|| err("TYPE without type"))?;
                let kind = match kind.trim() {
                    "gauge" => MetricKind::Gauge,
                    "counter" => MetricKind::Counter,
                    _ => MetricKind::Untyped,
                };
                kinds.push((name.to_string(), kind));
            }
            continue;
        }
        let (name, rest) = take_name(line).ok_or_else(|| err("bad metric name"))?;
        let (labels, rest) = if rest.starts_with('{') {
            parse_labels(rest).map_err(|m| err(&m))?
        } else {
            (Vec::new(), rest)
        };
        let mut fields = rest.split_whitespace();
        let value = fields
            .next()
            .and_then(parse_value)
            .ok_or_else(|| err("bad or missing value"))?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| err("bad timestamp"))?;
        }
        if fields.next().is_some() {
            return Err(err("trailing text"));
        }
        let help = helps.iter().rev().find(|(k, _)| k == name);
        let kind = kinds.iter().rev().find(|(k, _)| k == name);
        set.add(
            name,
            help.map_or("", |(_, h)| h.as_str()),
            kind.map_or(MetricKind::Untyped, |(_, k)| *k),
            Sample { labels, value },
        );
    }
    Ok(set)
}
