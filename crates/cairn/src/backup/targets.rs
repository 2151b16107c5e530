//! The virtual root of a backup: the tree of path components leading to
//! each target, as restic mirrors absolute paths (`/srv/www` is stored as
//! `srv` → `www`).

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// A node of the virtual tree: either a target (backed up whole) or an
/// intermediate directory holding further components.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct VirtualDir {
    /// Children by raw name, sorted like restic sorts tree nodes.
    pub children: BTreeMap<Vec<u8>, VirtualEntry>,
}

/// One entry of a [`VirtualDir`].
#[derive(Debug, PartialEq, Eq)]
pub enum VirtualEntry {
    /// A target path, backed up with everything below it.
    Target(PathBuf),
    /// A directory on the way to one or more targets.
    Intermediate(PathBuf, VirtualDir),
}

/// What the root of the snapshot is.
#[derive(Debug, PartialEq, Eq)]
pub enum Root {
    /// A target is stored at the root itself (`/`, or `.` given as a
    /// relative path): the root tree is that directory's content.
    Dir(PathBuf),
    /// The root tree is made of these entries.
    Virtual(VirtualDir),
}

/// One backup target: where it is, and where it goes in the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Its absolute path on this machine.
    pub path: PathBuf,
    /// The folder its `components` are relative to: `/` for absolute
    /// targets, the working directory for relative ones.
    pub base: PathBuf,
    /// Its place in the snapshot tree, as restic stores it: the components
    /// of the path as given (cleaned), so `/srv/www` becomes `srv/www` and
    /// a relative `src` stays `src`.
    pub components: Vec<Vec<u8>>,
}

impl Target {
    /// Where restic puts `given` (a path as the user typed it), with `cwd`
    /// for relative paths.
    pub fn new(given: &Path, cwd: &Path) -> Target {
        let cleaned = PathBuf::from(std::ffi::OsString::from(std::ffi::OsStr::from_bytes(
            &crate::filter::clean(given.as_os_str().as_bytes()),
        )));
        let absolute = if cleaned.is_absolute() {
            cleaned.clone()
        } else {
            cwd.join(&cleaned)
        };
        let absolute = PathBuf::from(std::ffi::OsStr::from_bytes(&crate::filter::clean(
            absolute.as_os_str().as_bytes(),
        )));
        // A relative path leaving the working directory cannot be mirrored;
        // it is placed by its absolute path.
        let relative_ok = !cleaned.is_absolute() && !cleaned.starts_with("..");
        let (base, placed) = if relative_ok {
            (cwd.to_path_buf(), &cleaned)
        } else {
            (PathBuf::from("/"), &absolute)
        };
        let components = placed
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.as_bytes().to_vec()),
                _ => None,
            })
            .collect();
        Target {
            path: absolute,
            base,
            components,
        }
    }
}

/// Where `backup` stores the source `source` inside the snapshot tree,
/// as the path to look it up by (`/data/file`, for
/// [`Repository::dump_file`](crate::Repository::dump_file),
/// [`walk::find_node`](crate::walk::find_node) or a restore's subfolder).
///
/// restic's rule, which Cairn follows: an absolute source keeps its path
/// (`/srv/www` is stored at `/srv/www`); a relative one is stored at its
/// path relative to the working directory, below the root (`data` and
/// `./a/../data/` at `/data`, not at `/home/u/data`); a relative path that
/// leaves the working directory (`../v`) is stored at its absolute path;
/// `.` is the root itself (`/`). Note that the snapshot's `paths` list
/// records the absolute paths (`/home/u/data`), not these.
///
/// Computed by the same code the backup uses to place its targets; the
/// working directory is the current one, as for the backup. Fails only
/// when the current directory is unknown or the path is not UTF-8.
pub fn snapshot_path(source: &Path) -> crate::Result<String> {
    let cwd = std::env::current_dir().map_err(|e| crate::Error::io(".", e))?;
    snapshot_path_in(source, &cwd)
}

/// [`snapshot_path`] with `cwd` as the working directory the backup runs
/// in.
pub fn snapshot_path_in(source: &Path, cwd: &Path) -> crate::Result<String> {
    let target = Target::new(source, cwd);
    let mut path = Vec::new();
    for c in &target.components {
        path.push(b'/');
        path.extend_from_slice(c);
    }
    if path.is_empty() {
        path.push(b'/');
    }
    String::from_utf8(path).map_err(|_| {
        crate::Error::InvalidArgument(format!("{}: the path is not UTF-8", source.display()))
    })
}

/// Builds the virtual tree for the targets. A target inside another
/// target is covered by the outer one and dropped.
pub fn build(targets: &[Target]) -> Root {
    if let Some(t) = targets.iter().find(|t| t.components.is_empty()) {
        return Root::Dir(t.path.clone());
    }
    let mut root = VirtualDir::default();
    for target in targets {
        let parts: Vec<&[u8]> = target.components.iter().map(|c| c.as_slice()).collect();
        insert(&mut root, &target.base, &parts, &target.path);
    }
    Root::Virtual(root)
}

fn insert(dir: &mut VirtualDir, at: &Path, parts: &[&[u8]], target: &Path) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    let path = at.join(std::ffi::OsStr::from_bytes(first));
    if rest.is_empty() {
        dir.children
            .insert(first.to_vec(), VirtualEntry::Target(target.to_path_buf()));
        return;
    }
    let entry = dir
        .children
        .entry(first.to_vec())
        .or_insert_with(|| VirtualEntry::Intermediate(path.clone(), VirtualDir::default()));
    if let VirtualEntry::Intermediate(_, sub) = entry {
        insert(sub, &path, rest, target);
    }
    // A Target here already covers everything below it.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_absolute_paths_and_merges_prefixes() {
        let cwd = Path::new("/home/u");
        let t = |p: &str| Target::new(Path::new(p), cwd);
        let root = build(&[t("/srv/www"), t("/srv/db/dump.sql"), t("/etc")]);
        let Root::Virtual(root) = root else {
            panic!("not virtual")
        };
        let names: Vec<_> = root.children.keys().cloned().collect();
        assert_eq!(names, [b"etc".to_vec(), b"srv".to_vec()]);
        assert_eq!(
            root.children[&b"etc".to_vec()],
            VirtualEntry::Target("/etc".into())
        );
        let VirtualEntry::Intermediate(p, srv) = &root.children[&b"srv".to_vec()] else {
            panic!()
        };
        assert_eq!(p, Path::new("/srv"));
        assert_eq!(srv.children.len(), 2);
        assert!(
            matches!(&srv.children[&b"db".to_vec()], VirtualEntry::Intermediate(p, _) if p == Path::new("/srv/db"))
        );
    }

    #[test]
    fn inner_targets_are_covered_by_outer_ones() {
        let cwd = Path::new("/home/u");
        let t = |p: &str| Target::new(Path::new(p), cwd);
        for order in [[t("/a"), t("/a/b")], [t("/a/b"), t("/a")]] {
            let Root::Virtual(root) = build(&order) else {
                panic!()
            };
            let a = &root.children[&b"a".to_vec()];
            assert_eq!(a, &VirtualEntry::Target("/a".into()));
        }
        assert_eq!(build(&[t("/"), t("/x")]), Root::Dir("/".into()));
    }

    #[test]
    fn relative_targets_keep_their_relative_place() {
        let cwd = Path::new("/home/u");
        let t = Target::new(Path::new("src/../docs/"), cwd);
        assert_eq!(t.path, Path::new("/home/u/docs"));
        assert_eq!(t.components, [b"docs".to_vec()]);
        let dot = build(&[Target::new(Path::new("."), cwd)]);
        assert_eq!(dot, Root::Dir("/home/u".into()));
        let up = Target::new(Path::new("../v"), cwd);
        assert_eq!(
            (up.base.as_path(), up.components.len()),
            (Path::new("/"), 2)
        );
        let Root::Virtual(root) = build(&[Target::new(Path::new("a/b"), cwd)]) else {
            panic!()
        };
        let a = &root.children[&b"a".to_vec()];
        assert!(matches!(a, VirtualEntry::Intermediate(p, _) if p == Path::new("/home/u/a")));
    }

    #[test]
    fn snapshot_paths_follow_restic() {
        let cwd = Path::new("/home/u");
        let at = |p: &str| snapshot_path_in(Path::new(p), cwd).unwrap();
        assert_eq!(at("data"), "/data");
        assert_eq!(at("./a/../data/"), "/data");
        assert_eq!(at("a/b"), "/a/b");
        assert_eq!(at("/srv/www/"), "/srv/www");
        assert_eq!(at("../v"), "/home/v");
        assert_eq!(at("."), "/");
        assert_eq!(at("/"), "/");
    }
}
