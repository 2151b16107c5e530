//! One entry of a tree: a file, directory, symlink, device and so on.
//!
//! Serialization is hand-written so that the bytes match restic's
//! `Node.MarshalJSON` exactly (field order, `omitempty`, Go escaping,
//! `strconv.Quote`d names, lossy link targets plus `linktarget_raw`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::gojson::{write_go_compact, write_go_string, GoJsonFormatter};
use crate::{b64, go_quote, go_unquote, FormatError, GoTime, Id};

/// A node's `type` string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeType {
    /// `"file"`
    File,
    /// `"dir"`
    Dir,
    /// `"symlink"`
    Symlink,
    /// `"dev"` (block device)
    Dev,
    /// `"chardev"`
    Chardev,
    /// `"fifo"`
    Fifo,
    /// `"socket"`
    Socket,
    /// `"irregular"` (written by newer restic on Windows; `check` rejects it)
    Irregular,
    /// Any other string, kept so it round-trips.
    Other(String),
}

impl NodeType {
    /// The JSON spelling.
    pub fn as_str(&self) -> &str {
        match self {
            NodeType::File => "file",
            NodeType::Dir => "dir",
            NodeType::Symlink => "symlink",
            NodeType::Dev => "dev",
            NodeType::Chardev => "chardev",
            NodeType::Fifo => "fifo",
            NodeType::Socket => "socket",
            NodeType::Irregular => "irregular",
            NodeType::Other(s) => s,
        }
    }

    /// Parse the JSON spelling; unknown strings become [`NodeType::Other`].
    pub fn parse(s: &str) -> NodeType {
        match s {
            "file" => NodeType::File,
            "dir" => NodeType::Dir,
            "symlink" => NodeType::Symlink,
            "dev" => NodeType::Dev,
            "chardev" => NodeType::Chardev,
            "fifo" => NodeType::Fifo,
            "socket" => NodeType::Socket,
            "irregular" => NodeType::Irregular,
            other => NodeType::Other(other.to_string()),
        }
    }
}

impl fmt::Display for NodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An extended attribute (`listxattr` order is kept).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExtendedAttribute {
    /// Attribute name, e.g. `user.comment`.
    pub name: String,
    /// Raw value (base64 in JSON).
    pub value: Vec<u8>,
}

/// A JSON value kept verbatim in Go's compact form (a Go
/// `json.RawMessage`), used for `generic_attributes`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawJson(String);

impl RawJson {
    /// Validate `json` and store it compacted the way Go re-emits a
    /// `json.RawMessage`.
    pub fn new(json: &str) -> Result<RawJson, FormatError> {
        serde_json::from_str::<serde::de::IgnoredAny>(json)
            .map_err(|e| FormatError::json("raw", e))?;
        let mut out = Vec::with_capacity(json.len());
        write_go_compact(&mut out, json.as_bytes());
        // Compacting valid UTF-8 JSON only drops ASCII whitespace and
        // replaces ASCII/whole characters with ASCII escapes.
        Ok(RawJson(String::from_utf8_lossy(&out).into_owned()))
    }

    /// The compact JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Node `generic_attributes`: attribute name to raw JSON value, sorted.
pub type GenericAttributes = BTreeMap<String, RawJson>;

/// One entry in a [`crate::Tree`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Raw name bytes (the JSON holds `strconv.Quote` of them).
    pub name: Vec<u8>,
    /// Node type.
    pub node_type: NodeType,
    /// Go `fs.FileMode` bits (see [`crate::mode`]); 0 is omitted.
    pub mode: u32,
    /// Modification time.
    pub mtime: GoTime,
    /// Access time.
    pub atime: GoTime,
    /// Status change time.
    pub ctime: GoTime,
    /// Owner user ID (always written).
    pub uid: u32,
    /// Owner group ID (always written).
    pub gid: u32,
    /// Owner user name.
    pub user: String,
    /// Owner group name.
    pub group: String,
    /// Inode number.
    pub inode: u64,
    /// `st_dev` of the file system holding the node.
    pub device_id: u64,
    /// File size in bytes.
    pub size: u64,
    /// Hard link count.
    pub links: u64,
    /// Symlink target as raw bytes. Written as `linktarget` (invalid UTF-8
    /// bytes become U+FFFD) plus `linktarget_raw` when not valid UTF-8.
    pub link_target: Vec<u8>,
    /// Extended attributes.
    pub extended_attributes: Vec<ExtendedAttribute>,
    /// Platform-specific attributes; `None` and an empty map both mean
    /// "absent" (parsing yields `None`).
    pub generic_attributes: Option<GenericAttributes>,
    /// `st_rdev` of device nodes.
    pub device: u64,
    /// Data blob IDs of a file (`Some(vec![])` for an empty file); `None`
    /// (JSON `null`) for everything else.
    pub content: Option<Vec<Id>>,
    /// Tree ID of a directory's contents.
    pub subtree: Option<Id>,
    /// Error recorded while reading the node.
    pub error: String,
}

impl Node {
    /// A node with the given name and type and every other field empty or
    /// zero (times are Go's zero time; files get `content: Some(vec![])`).
    pub fn new(name: impl Into<Vec<u8>>, node_type: NodeType) -> Node {
        let content = (node_type == NodeType::File).then(Vec::new);
        Node {
            name: name.into(),
            node_type,
            mode: 0,
            mtime: GoTime::ZERO,
            atime: GoTime::ZERO,
            ctime: GoTime::ZERO,
            uid: 0,
            gid: 0,
            user: String::new(),
            group: String::new(),
            inode: 0,
            device_id: 0,
            size: 0,
            links: 0,
            link_target: Vec::new(),
            extended_attributes: Vec::new(),
            generic_attributes: None,
            device: 0,
            content,
            subtree: None,
            error: String::new(),
        }
    }

    /// Append this node's JSON as restic writes it (current Go escaping).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.write_json_with(out, GoJsonFormatter::new());
    }

    /// Append this node's JSON with a chosen Go escaping dialect.
    pub fn write_json_with(&self, out: &mut Vec<u8>, f: GoJsonFormatter) {
        fn key(out: &mut Vec<u8>, k: &str) {
            out.push(b',');
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
        }
        fn num(out: &mut Vec<u8>, k: &str, v: u64, omit_zero: bool) {
            if omit_zero && v == 0 {
                return;
            }
            key(out, k);
            out.extend_from_slice(v.to_string().as_bytes());
        }
        fn time(out: &mut Vec<u8>, k: &str, t: &GoTime) {
            key(out, k);
            out.push(b'"');
            out.extend_from_slice(t.clamp_year().to_rfc3339_nano().as_bytes());
            out.push(b'"');
        }
        fn string(out: &mut Vec<u8>, k: &str, v: &[u8], f: GoJsonFormatter) {
            if !v.is_empty() {
                key(out, k);
                write_go_string(out, v, f);
            }
        }

        out.extend_from_slice(b"{\"name\":");
        write_go_string(out, go_quote(&self.name).as_bytes(), f);
        key(out, "type");
        write_go_string(out, self.node_type.as_str().as_bytes(), f);
        num(out, "mode", u64::from(self.mode), true);
        time(out, "mtime", &self.mtime);
        time(out, "atime", &self.atime);
        time(out, "ctime", &self.ctime);
        num(out, "uid", u64::from(self.uid), false);
        num(out, "gid", u64::from(self.gid), false);
        string(out, "user", self.user.as_bytes(), f);
        string(out, "group", self.group.as_bytes(), f);
        num(out, "inode", self.inode, true);
        num(out, "device_id", self.device_id, true);
        num(out, "size", self.size, true);
        num(out, "links", self.links, true);
        string(out, "linktarget", &self.link_target, f);
        if std::str::from_utf8(&self.link_target).is_err() {
            key(out, "linktarget_raw");
            out.push(b'"');
            out.extend_from_slice(b64::encode(&self.link_target).as_bytes());
            out.push(b'"');
        }
        if !self.extended_attributes.is_empty() {
            key(out, "extended_attributes");
            out.push(b'[');
            for (i, a) in self.extended_attributes.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"name\":");
                write_go_string(out, a.name.as_bytes(), f);
                out.extend_from_slice(b",\"value\":\"");
                out.extend_from_slice(b64::encode(&a.value).as_bytes());
                out.extend_from_slice(b"\"}");
            }
            out.push(b']');
        }
        if let Some(ga) = self.generic_attributes.as_ref().filter(|g| !g.is_empty()) {
            key(out, "generic_attributes");
            out.push(b'{');
            for (i, (k, v)) in ga.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_go_string(out, k.as_bytes(), f);
                out.push(b':');
                out.extend_from_slice(v.as_str().as_bytes());
            }
            out.push(b'}');
        }
        num(out, "device", self.device, true);
        key(out, "content");
        match &self.content {
            None => out.extend_from_slice(b"null"),
            Some(ids) => {
                out.push(b'[');
                for (i, id) in ids.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.push(b'"');
                    out.extend_from_slice(id.to_hex().as_bytes());
                    out.push(b'"');
                }
                out.push(b']');
            }
        }
        if let Some(id) = &self.subtree {
            key(out, "subtree");
            out.push(b'"');
            out.extend_from_slice(id.to_hex().as_bytes());
            out.push(b'"');
        }
        string(out, "error", self.error.as_bytes(), f);
        out.push(b'}');
    }

    /// This node's JSON as a standalone value.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_json(&mut out);
        out
    }

    /// Parse one node object.
    pub fn from_json(b: &[u8]) -> Result<Node, FormatError> {
        let raw: RawNode = serde_json::from_slice(b).map_err(|e| FormatError::json("node", e))?;
        raw.into_node()
    }
}

fn zero_time() -> GoTime {
    GoTime::ZERO
}

/// The JSON shape of a node, as Go's decoder would fill it.
#[derive(Deserialize)]
pub(crate) struct RawNode {
    name: String,
    #[serde(rename = "type", default)]
    node_type: String,
    #[serde(default)]
    mode: u32,
    #[serde(default = "zero_time")]
    mtime: GoTime,
    #[serde(default = "zero_time")]
    atime: GoTime,
    #[serde(default = "zero_time")]
    ctime: GoTime,
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    gid: u32,
    #[serde(default)]
    user: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    inode: u64,
    #[serde(default)]
    device_id: u64,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    links: u64,
    #[serde(default)]
    linktarget: String,
    #[serde(default, with = "b64::option")]
    linktarget_raw: Option<Vec<u8>>,
    #[serde(default)]
    extended_attributes: Option<Vec<RawXattr>>,
    #[serde(default)]
    generic_attributes: Option<BTreeMap<String, Box<serde_json::value::RawValue>>>,
    #[serde(default)]
    device: u64,
    #[serde(default)]
    content: Option<Vec<Id>>,
    #[serde(default)]
    subtree: Option<Id>,
    #[serde(default)]
    error: String,
}

#[derive(Deserialize)]
struct RawXattr {
    name: String,
    #[serde(with = "b64", default)]
    value: Vec<u8>,
}

impl RawNode {
    pub(crate) fn into_node(self) -> Result<Node, FormatError> {
        let name = go_unquote(&self.name)?;
        let link_target = match self.linktarget_raw {
            Some(raw) => raw,
            None => self.linktarget.into_bytes(),
        };
        let generic_attributes = match self.generic_attributes {
            Some(m) if !m.is_empty() => {
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    out.insert(k, RawJson::new(v.get())?);
                }
                Some(out)
            }
            _ => None,
        };
        Ok(Node {
            name,
            node_type: NodeType::parse(&self.node_type),
            mode: self.mode,
            mtime: self.mtime,
            atime: self.atime,
            ctime: self.ctime,
            uid: self.uid,
            gid: self.gid,
            user: self.user,
            group: self.group,
            inode: self.inode,
            device_id: self.device_id,
            size: self.size,
            links: self.links,
            link_target,
            extended_attributes: self
                .extended_attributes
                .unwrap_or_default()
                .into_iter()
                .map(|a| ExtendedAttribute {
                    name: a.name,
                    value: a.value,
                })
                .collect(),
            generic_attributes,
            device: self.device,
            content: self.content,
            subtree: self.subtree,
            error: self.error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file() {
        let n = Node::new(b"a\tb".to_vec(), NodeType::File);
        let j = String::from_utf8(n.to_json()).unwrap();
        assert_eq!(
            j,
            r#"{"name":"a\\tb","type":"file","mtime":"0001-01-01T00:00:00Z","atime":"0001-01-01T00:00:00Z","ctime":"0001-01-01T00:00:00Z","uid":0,"gid":0,"content":[]}"#
        );
        assert_eq!(Node::from_json(j.as_bytes()).unwrap(), n);
    }

    #[test]
    fn invalid_link_target() {
        let mut n = Node::new(b"l".to_vec(), NodeType::Symlink);
        n.link_target = b"/x\xff<".to_vec();
        let j = String::from_utf8(n.to_json()).unwrap();
        assert!(
            j.contains(r#""linktarget":"/x\ufffd\u003c","linktarget_raw":"L3j/PA==""#),
            "{j}"
        );
        assert!(j.contains(r#""content":null"#));
        assert_eq!(Node::from_json(j.as_bytes()).unwrap(), n);
    }

    #[test]
    fn generic_attributes_compact_sorted() {
        let j = br#"{"name":"x","type":"file","generic_attributes":{"z":{ "a" : 1 },"a":"<b>"},"content":[]}"#;
        let n = Node::from_json(j).unwrap();
        let out = String::from_utf8(n.to_json()).unwrap();
        assert!(
            out.contains(r#""generic_attributes":{"a":"\u003cb\u003e","z":{"a":1}}"#),
            "{out}"
        );
    }
}
