//! Temporary files that writes leave behind when they are killed.
//!
//! A write goes to a temporary name first and is renamed into place, so a
//! process killed mid-way leaves the temporary file: Cairn's local and NFS
//! stores and `cairn serve` use `.NAME.tmp-RANDOM` (hidden), restic's
//! local store `NAME-tmp-RANDOM`, the SFTP stores of both
//! `NAME-restic-temp-RANDOM`, and rclone (behind `rclone serve restic`)
//! `NAME.RANDOM.partial`. Listings skip them; `prune` removes those old
//! enough that no running writer can own them.

use crate::{BackendError, FileType, Result};
use std::time::SystemTime;

/// True if `name` is the temporary name of a write in progress or of one
/// that was killed (any of the forms above).
pub fn is_temp_name(name: &str) -> bool {
    if name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
        return false;
    }
    (name.starts_with('.') && name.contains(".tmp-"))
        || name.contains("-tmp-")
        || name.contains("-restic-temp-")
        || name.ends_with(".partial")
}

/// Splits a name as [`crate::Backend::list_temp`] returns it into its
/// `data/` subfolder (packs only, `XX`) and file name, refusing with
/// [`BackendError::InvalidName`] anything else than a temporary file.
pub(crate) fn split_temp_name(file_type: FileType, name: &str) -> Result<(Option<&str>, &str)> {
    let invalid = || BackendError::InvalidName(name.to_string());
    let (sub, file) = match (file_type, name.split_once('/')) {
        (FileType::Config, _) => return Err(invalid()),
        (FileType::Pack, Some((sub, file)))
            if sub.len() == 2 && sub.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            (Some(sub), file)
        }
        (FileType::Pack, _) | (_, Some(_)) => return Err(invalid()),
        (_, None) => (None, name),
    };
    if !is_temp_name(file) {
        return Err(invalid());
    }
    Ok((sub, file))
}

/// A temporary file found in one of a repository's folders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TempFile {
    /// Its path relative to the folder of its file type (`data/`'s files
    /// are named `XX/NAME`).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was last written, if the store says.
    pub modified: Option<SystemTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_temporary_names_of_every_writer() {
        let id = "ab".repeat(32);
        assert!(is_temp_name(&format!(".{id}.tmp-0123456789abcdef")));
        assert!(is_temp_name(&format!("{id}-tmp-123456")));
        assert!(is_temp_name(&format!("{id}-restic-temp-abc")));
        assert!(is_temp_name(&format!("{id}.9c2a1f.partial")));
        assert!(!is_temp_name(&id));
        assert!(!is_temp_name("config"));
        assert!(!is_temp_name(".hidden"));
        assert!(!is_temp_name("../x-tmp-1"));
    }
}
