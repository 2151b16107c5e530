//! Key files: listing them, adding and removing passwords, and changing
//! the password of the key in use (restic's `key list|add|remove|passwd`).

use crate::repository::{bad, Repository};
use crate::{host, init::default_scrypt_params, Error, LockGuard, Result};
use cairn_backend::FileType;
use cairn_crypto::ScryptParams;
use cairn_format::{GoTime, Id, KeyFile};

/// What `key list` shows about one key file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key file's ID.
    pub id: Id,
    /// The user recorded in the key.
    pub username: String,
    /// The host recorded in the key.
    pub hostname: String,
    /// When the key was created.
    pub created: GoTime,
    /// True for the key that opened this repository.
    pub current: bool,
}

/// How to make a new key. Empty or missing names mean the current user
/// and host, as in restic.
#[derive(Clone, Debug, Default)]
pub struct KeyOptions {
    /// scrypt parameters; `None` calibrates like restic.
    pub scrypt: Option<ScryptParams>,
    /// User name to record (`key add --user`).
    pub username: Option<String>,
    /// Host name to record (`key add --host`).
    pub hostname: Option<String>,
}

impl Repository {
    /// Every key file, sorted by creation time, plus the errors of key
    /// files that could not be read (restic reports them and goes on).
    pub fn keys(&self) -> Result<(Vec<KeyInfo>, Vec<Error>)> {
        let mut keys = Vec::new();
        let mut problems = Vec::new();
        for (id, _) in self.list_ids(FileType::Key)? {
            let parsed = self.read_verified(FileType::Key, &id).and_then(|data| {
                KeyFile::from_json(&data).map_err(|e| bad(FileType::Key, &id.to_hex(), e))
            });
            match parsed {
                Ok(file) => keys.push(KeyInfo {
                    id,
                    username: file.username,
                    hostname: file.hostname,
                    created: file.created,
                    current: id == self.key_id(),
                }),
                Err(e) => problems.push(e),
            }
        }
        keys.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok((keys, problems))
    }

    /// Adds a key file that opens this repository with `password`, checks
    /// that it does (removing it again if not), and returns its ID. Runs
    /// under `lock`, shared or exclusive.
    pub fn add_key(&self, lock: &LockGuard, password: &str, opts: &KeyOptions) -> Result<Id> {
        lock.allows(self, "key add", false)?;
        // An empty password is allowed, as in restic's repository package:
        // refusing it unless asked (`--insecure-no-password`) is the caller's
        // policy.
        let pick = |given: &Option<String>, default: fn() -> String| match given {
            Some(name) if !name.is_empty() => name.clone(),
            _ => default(),
        };
        let params = opts.scrypt.unwrap_or_else(default_scrypt_params);
        let file = KeyFile::create(
            self.key(),
            password.as_bytes(),
            params,
            &pick(&opts.username, host::username),
            &pick(&opts.hostname, host::hostname),
            GoTime::now_local(),
        )
        .map_err(|e| Error::InvalidArgument(format!("creating new key failed: {e}")))?;
        let json = file.to_json();
        let id = Id::hash(&json);
        self.backend().write(FileType::Key, &id.to_hex(), &json)?;
        // A broken key could lock people out; read it back and open it.
        if let Err(e) = self.verify_key(&id, password) {
            let _ = self.backend().remove(FileType::Key, &id.to_hex());
            return Err(e);
        }
        Ok(id)
    }

    /// Checks that the stored key `id` opens to this repository's master
    /// key with `password`.
    fn verify_key(&self, id: &Id, password: &str) -> Result<()> {
        let data = self.read_verified(FileType::Key, id)?;
        let file = KeyFile::from_json(&data).map_err(|e| bad(FileType::Key, &id.to_hex(), e))?;
        let master = file.open(password.as_bytes()).map_err(|e| match e {
            cairn_format::FormatError::WrongPassword => Error::WrongPassword,
            other => bad(FileType::Key, &id.to_hex(), other),
        })?;
        let same = master.encrypt_key() == self.key().encrypt_key()
            && master.mac_k() == self.key().mac_k()
            && master.mac_r() == self.key().mac_r();
        if !same {
            return Err(Error::InvalidArgument(format!(
                "failed to access repository with new key {}",
                id.short()
            )));
        }
        Ok(())
    }

    /// Removes the key file an ID or unique prefix names. The key that
    /// opened this repository cannot be removed, as in restic. `lock` must
    /// be exclusive.
    pub fn remove_key(&self, lock: &LockGuard, id_prefix: &str) -> Result<Id> {
        lock.allows(self, "key remove", true)?;
        let id = self.find_key_id(id_prefix)?;
        if id == self.key_id() {
            return Err(Error::InvalidArgument(
                "refusing to remove key currently used to access repository".into(),
            ));
        }
        self.backend().remove(FileType::Key, &id.to_hex())?;
        Ok(id)
    }

    /// restic's `key passwd`: adds a key for `new_password`, then removes
    /// the key in use, under `lock`, which must be exclusive. Returns the
    /// new key's ID, which this value reports as its
    /// [`Repository::key_id`] from then on.
    pub fn change_password(
        &mut self,
        lock: &LockGuard,
        new_password: &str,
        opts: &KeyOptions,
    ) -> Result<Id> {
        lock.allows(self, "key passwd", true)?;
        let id = self.add_key(lock, new_password, opts)?;
        let old = self.key_id();
        // The new key is the one in use now, whatever happens to the old.
        self.set_key_id(id);
        self.backend().remove(FileType::Key, &old.to_hex())?;
        Ok(id)
    }

    /// Resolves a key ID prefix among the existing key files.
    fn find_key_id(&self, prefix: &str) -> Result<Id> {
        let mut found = None;
        // Strict: the key to remove is chosen from this listing.
        for (id, _) in self.list_ids_strict(FileType::Key)? {
            if id.to_hex().starts_with(prefix) {
                if found.is_some() {
                    return Err(Error::AmbiguousPrefix(prefix.to_string()));
                }
                found = Some(id);
            }
        }
        found.ok_or_else(|| Error::SnapshotNotFound(prefix.to_string()))
    }
}
