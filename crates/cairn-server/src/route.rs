//! Request paths: which repository folder a URL names and what inside it.
//!
//! Like rest-server, up to two leading path segments that are not an object
//! type name select a repository below `--path` (`/`, `/foo/`, `/foo/bar/`);
//! the rest names the object. Every segment is percent-decoded on its own,
//! and folder names that could leave the data directory (`.`, `..`, empty,
//! `/` or `\` after decoding, NUL) are refused. Unlike rest-server, folder
//! names starting with `.` are refused too, so `.htpasswd` and temporary
//! files are never reachable.

/// Deepest repository folder nesting accepted, as rest-server.
pub(crate) const MAX_FOLDER_DEPTH: usize = 2;

/// The object types stored in their own folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ObjectType {
    Data,
    Keys,
    Locks,
    Snapshots,
    Index,
}

impl ObjectType {
    /// Every type, in the order folders are created.
    pub(crate) const ALL: [ObjectType; 5] = [
        ObjectType::Data,
        ObjectType::Index,
        ObjectType::Keys,
        ObjectType::Locks,
        ObjectType::Snapshots,
    ];

    /// The folder (and URL segment) name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ObjectType::Data => "data",
            ObjectType::Keys => "keys",
            ObjectType::Locks => "locks",
            ObjectType::Snapshots => "snapshots",
            ObjectType::Index => "index",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        ObjectType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// What a request addresses inside a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `/`: repository creation.
    Root,
    /// `/config`.
    Config,
    /// `/{type}/`: listing.
    List(ObjectType),
    /// `/{type}/{64 hex}`.
    Object(ObjectType, String),
    /// Anything else inside a valid folder: 404.
    Unknown,
}

/// A parsed request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// Repository folder segments below `--path` (possibly empty).
    pub folder: Vec<String>,
    /// The addressed object.
    pub target: Target,
}

/// Why a path was refused before touching the filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidPath;

/// Whether `name` is 64 lowercase hexadecimal digits (a SHA-256 name).
pub(crate) fn is_object_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_type_name(s: &str) -> bool {
    s == "config" || ObjectType::parse(s).is_some()
}

/// Decodes `%XX` escapes; `None` for bad escapes or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn valid_folder_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

/// Splits a raw (still percent-encoded) request path into folder and target.
pub(crate) fn parse(raw_path: &str) -> Result<Route, InvalidPath> {
    let rest = raw_path.strip_prefix('/').ok_or(InvalidPath)?;
    let segments = rest
        .split('/')
        .map(percent_decode)
        .collect::<Option<Vec<String>>>()
        .ok_or(InvalidPath)?;

    // The last segment is never a folder, and at most MAX_FOLDER_DEPTH are.
    let candidates = (segments.len() - 1).min(MAX_FOLDER_DEPTH);
    let folder_len = segments[..candidates]
        .iter()
        .take_while(|s| !is_type_name(s))
        .count();
    let (folder, remainder) = segments.split_at(folder_len);
    if !folder.iter().all(|s| valid_folder_name(s)) {
        return Err(InvalidPath);
    }

    let target = match remainder {
        [root] if root.is_empty() => Target::Root,
        [config] if config == "config" => Target::Config,
        [tpe, name] => match ObjectType::parse(tpe) {
            Some(t) if name.is_empty() => Target::List(t),
            Some(t) if is_object_name(name) => Target::Object(t, name.clone()),
            _ => Target::Unknown,
        },
        _ => Target::Unknown,
    };
    Ok(Route {
        folder: folder.to_vec(),
        target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn route(folder: &[&str], target: Target) -> Result<Route, InvalidPath> {
        Ok(Route {
            folder: folder.iter().map(|s| s.to_string()).collect(),
            target,
        })
    }

    #[test]
    fn root_repository() {
        assert_eq!(parse("/"), route(&[], Target::Root));
        assert_eq!(parse("/config"), route(&[], Target::Config));
        assert_eq!(parse("/data/"), route(&[], Target::List(ObjectType::Data)));
        assert_eq!(
            parse(&format!("/keys/{ID}")),
            route(&[], Target::Object(ObjectType::Keys, ID.into()))
        );
    }

    #[test]
    fn nested_repositories() {
        assert_eq!(parse("/foo/"), route(&["foo"], Target::Root));
        assert_eq!(parse("/foo/config"), route(&["foo"], Target::Config));
        assert_eq!(parse("/foo/bar/"), route(&["foo", "bar"], Target::Root));
        assert_eq!(
            parse(&format!("/foo/bar/data/{ID}")),
            route(&["foo", "bar"], Target::Object(ObjectType::Data, ID.into()))
        );
        assert_eq!(
            parse("/foo/bar/baz/config"),
            route(&["foo", "bar"], Target::Unknown)
        );
        assert_eq!(parse("/foo"), route(&[], Target::Unknown));
    }

    #[test]
    fn bad_object_names() {
        assert_eq!(parse("/data"), route(&[], Target::Unknown));
        assert_eq!(parse("/data/abc"), route(&[], Target::Unknown));
        let upper = ID.to_uppercase();
        assert_eq!(
            parse(&format!("/data/{upper}")),
            route(&[], Target::Unknown)
        );
        assert_eq!(parse(&format!("/data/{ID}/")), route(&[], Target::Unknown));
    }

    #[test]
    fn traversal_refused() {
        for p in [
            "/../config",
            "/%2e%2e/config",
            "/%2E%2E/data/",
            "/foo/../config",
            "/./config",
            "//config",
            "/a%2fb/config",
            "/a%5cb/config",
            "/a\\b/config",
            "/a%00/config",
            "/.htpasswd/config",
            "/%zz/config",
            "/%ff/config",
            "config",
            "*",
        ] {
            assert_eq!(parse(p), Err(InvalidPath), "{p}");
        }
    }
}
