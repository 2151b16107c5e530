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
///
/// The value stays correct across writes: every operation that writes
/// through it (backup, copy into it, rewrite, repair, recover, prune, key
/// changes, migrate) leaves its index, key ID and config matching what it
/// wrote, so that the same value reads the new data and does not store
/// blobs again. Those operations take the [`crate::LockGuard`] of the lock
/// they run under (see [`crate::lock`]). A clone is a separate value: it
/// does not learn what another one wrote until
/// [`Repository::reload_index`].
#[derive(Clone)]
pub struct Repository {
    backend: Arc<dyn Backend>,
    key: MasterKey,
    key_id: Id,
    config: Config,
    index: Option<Arc<Index>>,
    /// Whether `index` was built from a strict listing.
    index_listed_strictly: bool,
    cache: Option<Arc<crate::cache::Cache>>,
    /// See [`Repository::set_strict_listings`].
    strict_listings: bool,
    /// See [`Repository::set_extra_verify`].
    extra_verify: bool,
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
    ///
    /// A store with key files but no config is not "no repository": that
    /// fails with [`Error::ConfigMissing`], naming a copy of the config
    /// that an interrupted migration saved (see [`crate::config_copy`]).
    pub fn open_with_key_hint(
        backend: Arc<dyn Backend>,
        password: &str,
        key_hint: Option<&str>,
    ) -> Result<Repository> {
        let copies = crate::config_copy::config_copy_dir();
        open_in(backend, password, key_hint, &copies)
    }
}

/// [`Repository::open_with_key_hint`], looking for config copies in
/// `copies`.
pub(crate) fn open_in(
    backend: Arc<dyn Backend>,
    password: &str,
    key_hint: Option<&str>,
    copies: &std::path::Path,
) -> Result<Repository> {
    let config_bytes = match backend.read(FileType::Config, "config") {
        Ok(b) => b,
        Err(e) if e.is_not_found() => {
            return Err(missing_config(backend.as_ref(), password, key_hint, copies))
        }
        Err(e) => return Err(e.into()),
    };
    let (key_id, key) = open_key(backend.as_ref(), password.as_bytes(), key_hint)?;
    let plain = open_config(backend.as_ref(), &key, config_bytes)?;
    let config = Config::from_json(&plain).map_err(|e| bad(FileType::Config, "config", e))?;
    Ok(Repository {
        backend,
        key,
        key_id,
        config,
        index: None,
        index_listed_strictly: false,
        cache: None,
        strict_listings: false,
        extra_verify: true,
    })
}

/// The error for a store without a config: [`Error::NoRepository`] if it
/// has no key files either, else [`Error::ConfigMissing`] with the saved
/// copy the password's key opens, if there is one.
fn missing_config(
    backend: &dyn Backend,
    password: &str,
    key_hint: Option<&str>,
    copies: &std::path::Path,
) -> Error {
    let location = backend.location();
    let has_keys = backend
        .list(FileType::Key)
        .is_ok_and(|keys| !keys.is_empty());
    if !has_keys {
        return Error::NoRepository { location };
    }
    let copy = match open_key(backend, password.as_bytes(), key_hint) {
        Ok((_, key)) => crate::config_copy::find(copies, &key),
        Err(_) => None,
    };
    Error::ConfigMissing {
        location,
        searched: copies.to_path_buf(),
        copy,
    }
}

impl Repository {
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

    /// Makes listings strict (`true`) or lenient (`false`, the default).
    ///
    /// A listed name that is neither a file ID nor a writer's temporary
    /// name ([`cairn_backend::is_temp_name`]) is a stray file or a name
    /// garbled in transit. A lenient listing skips it, as restic does, so
    /// that reading and adding commands keep working. A strict listing
    /// fails with [`Error::BadListing`]: the file behind a garbled name
    /// would look absent, so prune would delete what it keeps alive and
    /// check would miss it. Commands that delete repository files, and
    /// check, switch this on at their start.
    pub fn set_strict_listings(&mut self, strict: bool) {
        self.strict_listings = strict;
    }

    /// restic's extra verification before upload, on by default: every
    /// blob a [`crate::write::BlobWriter`] seals is opened, decompressed
    /// and hashed again before it joins a pack, and a mismatch fails with
    /// [`Error::CorruptedOnSave`]. `false` is restic's `--no-extra-verify`.
    pub fn set_extra_verify(&mut self, on: bool) {
        self.extra_verify = on;
    }

    /// Whether blobs are verified before upload (see
    /// [`Repository::set_extra_verify`]).
    pub fn extra_verify(&self) -> bool {
        self.extra_verify
    }

    /// Whether listings are strict (see
    /// [`Repository::set_strict_listings`]).
    pub fn strict_listings(&self) -> bool {
        self.strict_listings
    }

    /// This repository with strict listings: itself if they already are,
    /// else a copy (sharing store, cache and index) for a `&self` command.
    pub(crate) fn strictly(&self) -> std::borrow::Cow<'_, Repository> {
        if self.strict_listings {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut strict = self.clone();
        strict.strict_listings = true;
        std::borrow::Cow::Owned(strict)
    }

    /// Lists the IDs of every file of a type, strictly or leniently as
    /// [`Repository::set_strict_listings`] chose. Temporary files of
    /// writers are always skipped.
    pub fn list_ids(&self, file_type: FileType) -> Result<Vec<(Id, u64)>> {
        self.list_ids_with(file_type, self.strict_listings)
    }

    /// [`Repository::list_ids`] as a strict listing, whatever the setting.
    pub fn list_ids_strict(&self, file_type: FileType) -> Result<Vec<(Id, u64)>> {
        self.list_ids_with(file_type, true)
    }

    fn list_ids_with(&self, file_type: FileType, strict: bool) -> Result<Vec<(Id, u64)>> {
        let mut ids = Vec::new();
        for FileInfo { name, size } in self.backend.list(file_type)? {
            match Id::from_hex(&name) {
                Ok(id) if id.to_hex() == name => ids.push((id, size)),
                _ if cairn_backend::is_temp_name(&name) || !strict => {}
                _ => return Err(Error::BadListing { file_type, name }),
            }
        }
        Ok(ids)
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

    /// Loads every index file into memory (once; later calls reuse it,
    /// unless listings became strict since a lenient load).
    ///
    /// Index files that cannot be read are returned as problems; the index
    /// is built from the others so that what is still reachable can be used.
    pub fn load_index(&mut self) -> Result<Vec<Error>> {
        if self.index.is_some() && (self.index_listed_strictly || !self.strict_listings) {
            return Ok(Vec::new());
        }
        let (index, problems) = Index::load(self)?;
        self.index_listed_strictly = self.strict_listings;
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

    /// Adds what a writer has just indexed (see
    /// [`crate::write::BlobWriter::flush_into`]) to the loaded index, so
    /// that this value finds the new blobs without reading the index
    /// again. Nothing happens while no index is loaded: the next
    /// [`Repository::load_index`] reads the new files with the others.
    pub fn add_to_index(&mut self, files: &[cairn_format::IndexFile]) -> Result<()> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        if files.iter().all(|f| f.packs.is_empty()) {
            return Ok(());
        }
        let merged = index.with_files(files).map_err(Error::InvalidArgument)?;
        if let Some(cache) = &self.cache {
            cache.index_loaded(&merged);
        }
        self.index = Some(Arc::new(merged));
        Ok(())
    }

    /// Adds blobs a writer has just stored to the loaded index, as
    /// [`Repository::add_to_index`] does with index files; their entries
    /// become the new index's tables (no second copy of them is made).
    pub(crate) fn add_new_blobs(&mut self, new: crate::index::NewBlobs) {
        let Some(index) = &self.index else {
            return;
        };
        if new.is_empty() {
            return;
        }
        let merged = index.with_new_blobs(new);
        if let Some(cache) = &self.cache {
            cache.index_loaded(&merged);
        }
        self.index = Some(Arc::new(merged));
    }

    /// Reads the index files again if an index was loaded (after an
    /// operation replaced index files), so the loaded index matches the
    /// repository; problems as [`Repository::load_index`].
    pub fn reload_index(&mut self) -> Result<Vec<Error>> {
        if self.index.is_none() {
            return Ok(Vec::new());
        }
        self.index = None;
        self.load_index()
    }

    /// Replaces the config (after a migration wrote a new one).
    pub(crate) fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// Sets the ID of the key file this value opened with (after a
    /// password change replaced it).
    pub(crate) fn set_key_id(&mut self, key_id: Id) {
        self.key_id = key_id;
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

/// Decrypts the config, reading it again (see [`crate::reread`]) while
/// it fails its MAC: the config has no content hash to tell a damaged
/// transfer from damage at rest.
fn open_config(backend: &dyn Backend, key: &MasterKey, mut sealed: Vec<u8>) -> Result<Vec<u8>> {
    let mut reads = 1;
    loop {
        match key.open(&sealed) {
            Ok(plain) => return Ok(plain),
            Err(e) if reads > crate::reread::EXTRA_READS => {
                return Err(Error::Decrypt {
                    file_type: FileType::Config,
                    name: format!("config{}", crate::reread::note(reads)),
                    source: e,
                })
            }
            Err(_) => {
                reads += 1;
                sealed = backend.read(FileType::Config, "config")?;
            }
        }
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
    let mut reads = 0;
    loop {
        reads += 1;
        let data = backend.read(file_type, &name)?;
        let actual = Id::hash(&data);
        if actual == *id {
            return Ok(data);
        }
        // Damaged in transit or at rest: only another read tells.
        if reads > crate::reread::EXTRA_READS {
            return Err(Error::HashMismatch {
                file_type,
                name,
                actual,
                reads,
            });
        }
    }
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
#[path = "writers_tests.rs"]
mod writers_tests;

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
        let second = repo
            .add_key(
                &crate::testing::lock(&repo, false).unwrap(),
                "pw",
                &key_opts,
            )
            .unwrap();
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
        let other = repo
            .add_key(
                &crate::testing::lock(&repo, false).unwrap(),
                "other",
                &key_opts,
            )
            .unwrap();
        let hint = other.to_hex();
        let fallback = Repository::open_with_key_hint(backend, "pw", Some(&hint)).unwrap();
        assert!(ids.contains(&fallback.key_id()));
    }
}
