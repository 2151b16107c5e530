//! Printing in restic's text and JSON shapes.

use cairn::format::GoTime;
use cairn::{Id, Node, NodeType, Snapshot};
use serde_json::Value;

/// Go's `FileMode.String()`: type letters, then `rwxrwxrwx`.
pub fn mode_string(mode: u32) -> String {
    const TYPE_LETTERS: &[u8] = b"dalTLDpSugct?";
    let mut s = String::new();
    for (i, c) in TYPE_LETTERS.iter().enumerate() {
        if mode & (1 << (31 - i)) != 0 {
            s.push(*c as char);
        }
    }
    if s.is_empty() {
        s.push('-');
    }
    const RWX: &[u8] = b"rwxrwxrwx";
    for (i, c) in RWX.iter().enumerate() {
        s.push(if mode & (1 << (8 - i)) != 0 {
            *c as char
        } else {
            '-'
        });
    }
    s
}

/// A time as restic prints it in tables: local time, `2006-01-02 15:04:05`.
pub fn local_time(t: &GoTime) -> String {
    use chrono::{Local, TimeZone};
    match Local.timestamp_opt(t.unix_secs, t.nanos).single() {
        Some(dt) => dt.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => t.to_rfc3339_nano(),
    }
}

/// Bytes in restic's human form (`1.234 MiB`).
pub fn format_bytes(n: u64) -> String {
    // restic's thresholds are exclusive: exactly 1024 bytes is "1024 B".
    const UNITS: [(u32, &str); 4] = [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")];
    for (shift, unit) in UNITS {
        if n > 1u64 << shift {
            return format!("{:.3} {unit}", n as f64 / (1u64 << shift) as f64);
        }
    }
    format!("{n} B")
}

/// A JSON object that keeps its keys in insertion order, printed with Go's
/// escaping, so that output matches restic's field order.
#[derive(Debug, Default, Clone)]
pub struct JsonObject(pub Vec<(String, Value)>);

impl JsonObject {
    /// The fields of a JSON object text, in their order.
    pub fn parse(json: &[u8]) -> Self {
        serde_json::from_slice(json).expect("library output is a JSON object")
    }

    /// Appends (or replaces) a field.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
        self
    }

    /// Removes a field if present.
    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.0.retain(|(k, _)| k != key);
        self
    }

    /// Compact JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&go_json(&Value::String(k.clone())));
            out.push(':');
            out.push_str(&go_json(v));
        }
        out.push('}');
        out
    }
}

impl<'de> serde::Deserialize<'de> for JsonObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = JsonObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonObject, A::Error> {
                let mut fields = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    fields.push((k, v));
                }
                Ok(JsonObject(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// The snapshot as restic's `snapshots --json` prints it: the stored JSON
/// plus `id` and `short_id`.
/// Fields restic does not know (rustic's) are left out, as restic does.
pub fn snapshot_json(id: &Id, sn: &Snapshot) -> JsonObject {
    let mut o = JsonObject::parse(&sn.without_unknown().to_json());
    o.set("id", id.to_hex()).set("short_id", id.short());
    o
}

/// Writes a JSON value with Go's escaping rules, compact, no newline.
pub fn go_json(v: &Value) -> String {
    String::from_utf8(cairn::format::to_go_json(v)).expect("JSON is UTF-8")
}

/// A node's own JSON fields, in restic's order.
pub fn node_fields(node: &Node) -> JsonObject {
    let tree = cairn::Tree {
        nodes: vec![node.clone()],
    };
    let json = tree.to_json();
    // `{"nodes":[` + node + `]}\n`
    let inner = &json[b"{\"nodes\":[".len()..json.len() - b"]}\n".len()];
    JsonObject::parse(inner)
}

/// A node as restic's `ls --json` prints it.
pub fn node_json(path: &[u8], node: &Node) -> JsonObject {
    let mut m = JsonObject::default();
    m.set("name", String::from_utf8_lossy(&node.name).into_owned());
    m.set("type", node.node_type.as_str());
    m.set("path", String::from_utf8_lossy(path).into_owned());
    m.set("uid", node.uid);
    m.set("gid", node.gid);
    if node.node_type == NodeType::File {
        m.set("size", node.size);
    }
    if node.mode != 0 {
        m.set("mode", node.mode);
    }
    m.set("permissions", mode_string(node.mode));
    m.set("mtime", node.mtime.to_rfc3339_nano());
    m.set("atime", node.atime.to_rfc3339_nano());
    m.set("ctime", node.ctime.to_rfc3339_nano());
    m.set("inode", node.inode);
    m.set("struct_type", "node");
    m.set("message_type", "node");
    m
}

/// Prints a table the way restic's table package lays it out: columns
/// padded to their widest cell, a dashed rule under the header and at the
/// end. Cells may span several lines.
pub fn print_table(header: &[&str], rows: &[Vec<String>], footer: Option<String>) {
    let cols = header.len();
    let mut width = vec![0usize; cols];
    for (i, h) in header.iter().enumerate() {
        width[i] = h.chars().count();
    }
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            for line in cell.lines() {
                width[i] = width[i].max(line.chars().count());
            }
        }
    }
    let render = |cells: Vec<&str>| -> String {
        let mut line = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cols {
                line.push_str(c);
            } else {
                line.push_str(&format!("{:<w$}  ", c, w = width[i]));
            }
        }
        line.trim_end().to_string()
    };
    let header_line = render(header.to_vec());
    let rule_len = width.iter().sum::<usize>() + 2 * (cols - 1);
    let rule = "-".repeat(rule_len.max(header_line.len()));
    println!("{header_line}");
    println!("{rule}");
    for row in rows {
        if row.is_empty() {
            println!();
            continue;
        }
        let lines: Vec<Vec<&str>> = row.iter().map(|c| c.lines().collect()).collect();
        let height = lines.iter().map(|l| l.len()).max().unwrap_or(1).max(1);
        for k in 0..height {
            println!(
                "{}",
                render(lines.iter().map(|l| *l.get(k).unwrap_or(&"")).collect())
            );
        }
    }
    println!("{rule}");
    if let Some(f) = footer {
        println!("{f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_strings_match_go() {
        assert_eq!(mode_string(0o644), "-rw-r--r--");
        assert_eq!(mode_string((1 << 31) | 0o755), "drwxr-xr-x");
        assert_eq!(mode_string((1 << 27) | 0o777), "Lrwxrwxrwx");
        assert_eq!(mode_string((1 << 26) | (1 << 21) | 0o620), "Dcrw--w----");
        assert_eq!(mode_string((1 << 23) | 0o755), "urwxr-xr-x");
        assert_eq!(mode_string((1 << 31) | (1 << 20) | 0o777), "dtrwxrwxrwx");
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.500 KiB");
        assert_eq!(format_bytes(3 << 30), "3.000 GiB");
    }
}

/// Re-indents compact JSON like Go's `json.MarshalIndent(v, "", "  ")`:
/// two-space indents, `": "` after keys, and empty `{}`/`[]` kept closed.
pub fn indent_json(compact: &[u8]) -> String {
    let text = String::from_utf8_lossy(compact);
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.trim_end().chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(chars.next().expect("peeked"));
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod indent_tests {
    use super::indent_json;

    #[test]
    fn indents_like_go() {
        let got = indent_json(br#"{"a":[1,2],"b":{},"c":[],"d":"x,{:}\"y"}"#);
        let want = "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": [],\n  \"d\": \"x,{:}\\\"y\"\n}";
        assert_eq!(got, want);
    }
}

/// Go's `time.Time.String()` for a time with a fixed offset:
/// `2006-01-02 15:04:05.999999999 -0700 MST` (UTC shows `+0000 UTC`).
pub fn go_time_string(t: &GoTime) -> String {
    use chrono::{FixedOffset, TimeZone};
    let Some(tz) = FixedOffset::east_opt(t.offset_secs) else {
        return t.to_rfc3339_nano();
    };
    let Some(dt) = tz.timestamp_opt(t.unix_secs, t.nanos).single() else {
        return t.to_rfc3339_nano();
    };
    let mut s = dt.format("%Y-%m-%d %H:%M:%S").to_string();
    if t.nanos != 0 {
        let frac = format!("{:09}", t.nanos);
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let offset = dt.format("%z").to_string();
    let zone = if t.offset_secs == 0 {
        "UTC".to_string()
    } else {
        offset.clone()
    };
    format!("{s} {offset} {zone}")
}

/// A node as restic's `ls` and `find` print it: the path, or with `long`
/// the mode, owner, size, local mtime, path and link target. Names are
/// printed as their raw bytes, as restic does.
pub fn format_node(path: &[u8], node: &Node, long: bool) -> Vec<u8> {
    if !long {
        return path.to_vec();
    }
    format_long_node(path, node, &format!("{:6}", node.size))
}

/// restic's long listing of a node with its size already formatted (a
/// right-aligned number, or the human form of `--human-readable`).
pub fn format_long_node(path: &[u8], node: &Node, size: &str) -> Vec<u8> {
    let type_bits: u32 = match node.node_type {
        NodeType::Dir => 1 << 31,
        NodeType::Symlink => 1 << 27,
        NodeType::Dev => 1 << 26,
        NodeType::Chardev => (1 << 26) | (1 << 21),
        NodeType::Fifo => 1 << 25,
        NodeType::Socket => 1 << 24,
        _ => 0,
    };
    let mut line = format!(
        "{} {:5} {:5} {} {} ",
        mode_string(type_bits | node.mode),
        node.uid,
        node.gid,
        size,
        local_time(&node.mtime),
    )
    .into_bytes();
    line.extend_from_slice(path);
    if node.node_type == NodeType::Symlink {
        line.extend_from_slice(b" -> ");
        line.extend_from_slice(&node.link_target);
    }
    line
}
