//! The saved copy of a repository's `config` kept while it is rewritten.
//!
//! On a store that cannot replace a file atomically (the REST protocol),
//! `migrate upgrade_repo_v2` must remove `config` before writing the new
//! one. Before it does, the old file is saved, fsynced, to a durable place
//! on this machine: `$XDG_STATE_HOME/cairn/config-copies/` (or
//! `~/.local/state/cairn/config-copies/`, or the temporary folder when
//! there is no home), named `config-REPOID-UNIXTIME`, readable only by
//! the user. It stays encrypted as it was in the repository, and is
//! deleted once the new config is written. If the process dies in
//! between, [`crate::Repository::open`] on that repository (which has
//! keys but no config) says so and names the copy that its key opens.

use crate::{Error, Result};
use cairn_crypto::MasterKey;
use cairn_format::Config;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where copies are kept, from the environment (see the module docs).
pub fn config_copy_dir() -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".local").join("state"))
        })
        .unwrap_or_else(std::env::temp_dir);
    state.join("cairn").join("config-copies")
}

/// Saves `raw` (the sealed config of repository `repo_id`) in `dir`,
/// durably, and returns the path of the copy.
pub(crate) fn save(dir: &Path, repo_id: &str, raw: &[u8]) -> Result<PathBuf> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, e))?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let id: String = repo_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(64)
        .collect();
    for n in 0u32..1000 {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let path = dir.join(format!("config-{id}-{secs}{suffix}"));
        let mut f = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&path, e)),
        };
        f.write_all(raw)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(&path, e))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        return Ok(path);
    }
    Err(Error::Migration(format!(
        "no free name for a copy of the config in {}",
        dir.display()
    )))
}

/// The newest copy in `dir` that `key` opens as a config, if any.
pub(crate) fn find(dir: &Path, key: &MasterKey) -> Option<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let is_copy = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with("config-"));
        let Ok(meta) = entry.metadata() else { continue };
        // A config is a few hundred bytes; anything large is not one.
        if !is_copy || !meta.is_file() || meta.len() > 64 * 1024 {
            continue;
        }
        let Ok(raw) = std::fs::read(&path) else {
            continue;
        };
        let opens = key
            .open(&raw)
            .ok()
            .is_some_and(|plain| Config::from_json(&plain).is_ok());
        if opens {
            found.push((meta.modified().unwrap_or(std::time::UNIX_EPOCH), path));
        }
    }
    found.into_iter().max().map(|(_, p)| p)
}
