//! `--ownership-by-name`: the owner and group of a restored item are
//! looked up by the user and group names stored in the snapshot, in this
//! machine's `/etc/passwd` and `/etc/group` (as restic's release builds,
//! which use Go's pure `os/user`, do).
//!
//! Deliberately safer than restic: where restic gives a name that is not
//! found (or is empty) ID 0, so that a snapshot naming an unknown user
//! restores root-owned (possibly set-user-ID) files, Cairn keeps the
//! numeric ID stored in the snapshot, as a restore without the flag does.

use cairn_format::Node;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Name to ID tables, read once on first use.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    users: OnceLock<HashMap<Vec<u8>, u32>>,
    groups: OnceLock<HashMap<Vec<u8>, u32>>,
}

impl Owners {
    /// The uid and gid for `node`'s user and group names; a name this
    /// machine does not know keeps the stored ID.
    pub fn ids(&self, node: &Node) -> (u32, u32) {
        let users = self.users.get_or_init(|| read_table("/etc/passwd"));
        let groups = self.groups.get_or_init(|| read_table("/etc/group"));
        (
            lookup(users, node.user.as_bytes()).unwrap_or(node.uid),
            lookup(groups, node.group.as_bytes()).unwrap_or(node.gid),
        )
    }
}

fn lookup(table: &HashMap<Vec<u8>, u32>, name: &[u8]) -> Option<u32> {
    table.get(name).copied()
}

/// `name:x:id:...` lines of an `/etc/passwd`- or `/etc/group`-style file;
/// the first entry of a name wins. An unreadable file is an empty table.
fn read_table(path: &str) -> HashMap<Vec<u8>, u32> {
    parse_table(&std::fs::read(path).unwrap_or_default())
}

fn parse_table(text: &[u8]) -> HashMap<Vec<u8>, u32> {
    let mut table = HashMap::new();
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty()
            || line.starts_with(b"#")
            || line.starts_with(b"+")
            || line.starts_with(b"-")
        {
            continue;
        }
        let mut fields = line.split(|&b| b == b':');
        let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let Some(id) = std::str::from_utf8(id)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        table.entry(name.to_vec()).or_insert(id);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_map_names_to_ids() {
        let t = parse_table(b"root:x:0:0:root:/root:/bin/sh\n# c\nalice:x:1000:1000::/h:/bin/sh\nalice:x:7:7::/:/\nbad:x:y:1\nshort\n");
        assert_eq!(lookup(&t, b"alice"), Some(1000), "the first entry wins");
        assert_eq!(lookup(&t, b"root"), Some(0));
        assert_eq!(lookup(&t, b"nobody-here"), None);
        assert_eq!(lookup(&t, b""), None);
        assert!(!t.contains_key(b"bad".as_slice()));
    }
}
