//! Opening a repository: the config, the keys, and verified file reads.

use crate::index::Index;
use crate::{Error, Result};
use cairn_backend::{Backend, FileInfo, FileType};
use cairn_crypto::MasterKey;
use cairn_format::limits::{
    MAX_CONFIG_JSON, MAX_INDEX_JSON, MAX_KEY_JSON, MAX_LOCK_JSON, MAX_SNAPSHOT_JSON,
};
use cairn_format::{decode_unpacked_limited, Config, Id, KeyFile, MAX_UNPACKED_SIZE};
use std::sync::Arc;

/// How many key files are tried before giving up (restic's limit).
const MAX_KEYS_TRIED: usize = 20;

/// An open repository: its store, master key and config, and once loaded,
/// its index.
#[derive(Clone)]
pub struct Repository {
    backend: Arc<dyn Backend>,
    key: MasterKey,
    key_id: Id,
    config: Config,
    index: Option<Arc<Index>>,
    cache: Option<Arc<crate::cache::Cache>>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("location", &self.backend.location())
            .field("key_id", &self.key_id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Repository {
    /// Opens the repository in `backend` with `password`, trying every key
    /// file (up to restic's limit of 20) until one opens.
    ///
    /// Fails with [`Error::NoRepository`] when there is no config file and
    /// [`Error::WrongPassword`] when no key opens.
    pub fn open(backend: Arc<dyn Backend>, password: &str) -> Result<Repository> {
        Self::open_with_key_hint(backend, password, None)
    }

    /// [`Repository::open`], trying first the key file whose ID starts
    /// with `key_hint` (restic's `--key-hint`), then the others as usual.
    /// A hint that names no key file is ignored.
    pub fn open_with_key_hint(
        backend: Arc<dyn Backend>,
        password: &str,
        key_hint: Option<&str>,
    ) -> Result<Repository> {
        let config_bytes = match backend.read(FileType::Config, "config") {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                return Err(Error::NoRepository {
                    location: backend.location(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let (key_id, key) = open_key(backend.as_ref(), password.as_bytes(), key_hint)?;
        let plain = key
            .open(&config_bytes)
            .map_err(|e| decrypt_failed(FileType::Config, "config", e))?;
        let config = Config::from_json(&plain).map_err(|e| bad(FileType::Config, "config", e))?;
        Ok(Repository {
            backend,
            key,
            key_id,
            config,
            index: None,
            cache: None,
        })
    }

    /// Reads and keeps index files, snapshots and tree packs in `cache`
    /// from now on (see [`crate::cache`]).
    pub fn use_cache(&mut self, cache: Arc<crate::cache::Cache>) {
        let wrapped =
            crate::cache::CacheBackend::new(self.backend.clone(), cache.clone(), self.key.clone());
        self.backend = Arc::new(wrapped);
        self.cache = Some(cache);
    }

    /// The cache in use, if any.
    pub fn cache(&self) -> Option<&Arc<crate::cache::Cache>> {
        self.cache.as_ref()
    }

    /// The repository's config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store behind the repository.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The master key.
    pub fn key(&self) -> &MasterKey {
        &self.key
    }

    /// The ID of the key file that opened the repository.
    pub fn key_id(&self) -> Id {
        self.key_id
    }

    /// Reads a file and checks that its SHA-256 matches its name.
    pub fn read_verified(&self, file_type: FileType, id: &Id) -> Result<Vec<u8>> {
        read_verified(self.backend.as_ref(), file_type, id)
    }

    /// Reads, verifies, decrypts and (in v2) decompresses an index,
    /// snapshot or lock file.
    pub fn load_unpacked(&self, file_type: FileType, id: &Id) -> Result<Vec<u8>> {
        let sealed = self.read_verified(file_type, id)?;
        let name = id.to_hex();
        let plain = self
            .key
            .open(&sealed)
            .map_err(|e| decrypt_failed(file_type, &name, e))?;
        decode_unpacked_limited(self.config.version, plain, json_limit(file_type))
            .map_err(|e| bad(file_type, &name, e))
    }

    /// Lists the IDs of every file of a type, skipping names that are not IDs.
    pub fn list_ids(&self, file_type: FileType) -> Result<Vec<(Id, u64)>> {
        Ok(self
            .backend
            .list(file_type)?
            .into_iter()
            .filter_map(|FileInfo { name, size }| Id::from_hex(&name).ok().map(|id| (id, size)))
            .collect())
    }

    /// Resolves a (possibly shortened) hex ID to the one file of `file_type`
    /// it names.
    pub fn find_id(&self, file_type: FileType, prefix: &str) -> Result<Id> {
        if let Ok(id) = Id::from_hex(prefix) {
            return Ok(id);
        }
        let mut found = None;
        for (id, _) in self.list_ids(file_type)? {
            if id.to_hex().starts_with(prefix) {
                if found.is_some() {
                    return Err(Error::AmbiguousPrefix(prefix.to_string()));
                }
                found = Some(id);
            }
        }
        found.ok_or_else(|| Error::SnapshotNotFound(prefix.to_string()))
    }

    /// Loads every index file into memory (once; later calls reuse it).
    ///
    /// Index files that cannot be read are returned as problems; the index
    /// is built from the others so that what is still reachable can be used.
    pub fn load_index(&mut self) -> Result<Vec<Error>> {
        if self.index.is_some() {
            return Ok(Vec::new());
        }
        let (index, problems) = Index::load(self)?;
        if let Some(cache) = &self.cache {
            cache.index_loaded(&index);
        }
        self.index = Some(Arc::new(index));
        Ok(problems)
    }

    /// Forgets the loaded index (after prune or repair changed the index
    /// files); the next [`Repository::load_index`] reads them again.
    pub fn invalidate_index(&mut self) {
        self.index = None;
    }

    /// The loaded index as a shared handle (empty if not loaded).
    pub fn index_arc(&self) -> Arc<Index> {
        self.index.clone().unwrap_or_default()
    }

    /// The loaded index, or an empty one if [`Repository::load_index`] was
    /// not called.
    pub fn index(&self) -> &Index {
        static EMPTY: std::sync::OnceLock<Index> = std::sync::OnceLock::new();
        self.index
            .as_deref()
            .unwrap_or_else(|| EMPTY.get_or_init(Index::default))
    }
}

/// The largest JSON a file of `file_type` may hold once decompressed.
pub(crate) fn json_limit(file_type: FileType) -> usize {
    match file_type {
        FileType::Config => MAX_CONFIG_JSON,
        FileType::Key => MAX_KEY_JSON,
        FileType::Lock => MAX_LOCK_JSON,
        FileType::Snapshot => MAX_SNAPSHOT_JSON,
        FileType::Index => MAX_INDEX_JSON,
        FileType::Pack => MAX_UNPACKED_SIZE,
    }
}

pub(crate) fn bad(file_type: FileType, name: &str, source: cairn_format::FormatError) -> Error {
    Error::BadFile {
        file_type,
        name: name.to_string(),
        source,
    }
}

fn decrypt_failed(file_type: FileType, name: &str, source: cairn_crypto::CryptoError) -> Error {
    Error::Decrypt {
        file_type,
        name: name.to_string(),
        source,
    }
}

fn read_verified(backend: &dyn Backend, file_type: FileType, id: &Id) -> Result<Vec<u8>> {
    let name = id.to_hex();
    let data = backend.read(file_type, &name)?;
    let actual = Id::hash(&data);
    if actual != *id {
        return Err(Error::HashMismatch {
            file_type,
            name,
            actual,
        });
    }
    Ok(data)
}

fn open_key(
    backend: &dyn Backend,
    password: &[u8],
    key_hint: Option<&str>,
) -> Result<(Id, MasterKey)> {
    let mut names: Vec<_> = backend
        .list(FileType::Key)?
        .into_iter()
        .map(|f| f.name)
        .collect();
    names.sort();
    // The hinted key goes first when exactly one key file matches it.
    if let Some(hint) = key_hint.filter(|h| !h.is_empty()) {
        let matching: Vec<usize> = (0..names.len())
            .filter(|&i| names[i].starts_with(hint))
            .collect();
        if let [i] = matching[..] {
            let hinted = names.remove(i);
            names.insert(0, hinted);
        }
    }
    let mut last_error = None;
    let mut wrong_password = false;
    for name in names.into_iter().take(MAX_KEYS_TRIED) {
        let Ok(id) = Id::from_hex(&name) else {
            continue;
        };
        let attempt = read_verified(backend, FileType::Key, &id).and_then(|data| {
            let file = KeyFile::from_json(&data).map_err(|e| bad(FileType::Key, &name, e))?;
            file.open(password).map_err(|e| match e {
                cairn_format::FormatError::WrongPassword => Error::WrongPassword,
                other => bad(FileType::Key, &name, other),
            })
        });
        match attempt {
            Ok(key) => return Ok((id, key)),
            Err(Error::WrongPassword) => wrong_password = true,
            Err(e) => last_error = Some(e),
        }
    }
    // A damaged key file is worth naming only when no key merely refused
    // the password.
    match last_error {
        Some(e) if !wrong_password => Err(e),
        _ => Err(Error::WrongPassword),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InitOptions, KeyOptions};
    use cairn_backend::LocalBackend;
    use cairn_crypto::ScryptParams;

    #[test]
    fn the_key_hint_decides_which_of_two_matching_keys_opens() {
        let dir = tempfile::tempdir().unwrap();
        let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(dir.path()));
        let fast = Some(ScryptParams {
            n: 1024,
            r: 8,
            p: 1,
        });
        let opts = InitOptions {
            scrypt: fast,
            ..InitOptions::default()
        };
        let repo = Repository::init(backend.clone(), "pw", &opts).unwrap();
        let key_opts = KeyOptions {
            scrypt: fast,
            ..KeyOptions::default()
        };
        let second = repo.add_key("pw", &key_opts).unwrap();
        let mut ids = [repo.key_id(), second];
        ids.sort();
        let (first, last) = (ids[0], ids[1]);
        // Without a hint the key files are tried in name order.
        assert_eq!(
            Repository::open(backend.clone(), "pw").unwrap().key_id(),
            first
        );
        let hint = last.to_hex()[..8].to_string();
        let hinted = Repository::open_with_key_hint(backend.clone(), "pw", Some(&hint)).unwrap();
        assert_eq!(hinted.key_id(), last);
        // A hint that matches nothing, or a key the password does not
        // open, still ends with a key that does.
        let none = Repository::open_with_key_hint(backend.clone(), "pw", Some("zz")).unwrap();
        assert_eq!(none.key_id(), first);
        let other = repo.add_key("other", &key_opts).unwrap();
        let hint = other.to_hex();
        let fallback = Repository::open_with_key_hint(backend, "pw", Some(&hint)).unwrap();
        assert!(ids.contains(&fallback.key_id()));
    }
}
