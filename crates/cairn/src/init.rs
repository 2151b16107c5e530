//! Creating repositories and writing their unpacked files.

use crate::repository::Repository;
use crate::{host, Error, Result};
use cairn_backend::{Backend, FileType};
use cairn_crypto::{MasterKey, ScryptParams};
use cairn_format::{encode_unpacked, Config, GoTime, Id, KeyFile};
use std::sync::Arc;

/// How to create a repository.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Repository format version: 1 or 2 (the default, as in restic).
    pub version: u32,
    /// The chunker polynomial; `None` picks a new random one. Copying
    /// another repository's polynomial makes the two deduplicate alike.
    pub chunker_polynomial: Option<u64>,
    /// scrypt parameters for the first key; `None` calibrates like restic.
    pub scrypt: Option<ScryptParams>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            version: 2,
            chunker_polynomial: None,
            scrypt: None,
        }
    }
}

/// restic's calibration budget: half a second and 60 MiB per derivation.
pub fn default_scrypt_params() -> ScryptParams {
    static PARAMS: std::sync::OnceLock<ScryptParams> = std::sync::OnceLock::new();
    *PARAMS.get_or_init(|| ScryptParams::calibrate(std::time::Duration::from_millis(500), 60 << 20))
}

/// Writes a new key file for `master`, protected by `password`; returns
/// its ID.
pub(crate) fn write_key(
    backend: &dyn Backend,
    master: &MasterKey,
    password: &str,
    params: ScryptParams,
) -> Result<Id> {
    let file = KeyFile::create(
        master,
        password.as_bytes(),
        params,
        &host::username(),
        &host::hostname(),
        GoTime::now_local(),
    )
    .map_err(|e| Error::InvalidArgument(format!("cannot create key: {e}")))?;
    let json = file.to_json();
    let id = Id::hash(&json);
    backend.write(FileType::Key, &id.to_hex(), &json)?;
    Ok(id)
}

impl Repository {
    /// Creates a new repository in `backend` and opens it.
    ///
    /// The folders are made first, then the key, then the config, so an
    /// interrupted init leaves no config: the location is still "not a
    /// repository" and init can be run again.
    pub fn init(
        backend: Arc<dyn Backend>,
        password: &str,
        opts: &InitOptions,
    ) -> Result<Repository> {
        if !(1..=2).contains(&opts.version) {
            return Err(Error::InvalidArgument(format!(
                "unsupported repository version {}, must be 1 or 2",
                opts.version
            )));
        }
        // An empty password is allowed, as in restic's repository package:
        // refusing it unless asked (`--insecure-no-password`) is the caller's
        // policy.
        let polynomial = match opts.chunker_polynomial {
            Some(p) if !cairn_chunker::Polynomial(p).is_irreducible() => {
                return Err(Error::InvalidArgument(format!(
                    "chunker polynomial {p:x} is not irreducible"
                )))
            }
            Some(p) => p,
            None => cairn_chunker::Polynomial::random().0,
        };
        // Keys without a config: a repository that lost its config (see
        // `crate::config_copy`). A new config and key would orphan it.
        let no_config = backend
            .stat(cairn_backend::FileType::Config, "config")
            .is_err_and(|e| e.is_not_found());
        let has_keys =
            matches!(backend.list(cairn_backend::FileType::Key), Ok(keys) if !keys.is_empty());
        if no_config && has_keys {
            return Err(Error::InvalidArgument(format!(
                "{} has key files but no config: refusing to initialize over a repository that lost its config (open it to find a saved copy)",
                backend.location()
            )));
        }
        backend.create()?;
        let master = MasterKey::generate();
        let params = opts.scrypt.unwrap_or_else(default_scrypt_params);
        write_key(backend.as_ref(), &master, password, params)?;
        let config = Config {
            version: opts.version,
            id: Id(cairn_crypto::random_bytes::<32>()).to_hex(),
            chunker_polynomial: polynomial,
        };
        backend.write(FileType::Config, "config", &master.seal(&config.to_json()))?;
        Repository::open(backend, password)
    }

    /// Encrypts (and in v2 compresses) an unpacked file (snapshot, index,
    /// lock), stores it under its SHA-256 and returns the ID.
    pub fn save_unpacked(&self, file_type: FileType, json: &[u8]) -> Result<Id> {
        let version = self.config().version;
        let sealed = self.key().seal(&encode_unpacked(version, json));
        if self.extra_verify() {
            crate::write::verify::verify_unpacked(
                self.key(),
                version,
                file_type.to_string().trim_end_matches('s'),
                &sealed,
                json,
            )?;
        }
        let id = Id::hash(&sealed);
        self.backend().write(file_type, &id.to_hex(), &sealed)?;
        Ok(id)
    }
}
