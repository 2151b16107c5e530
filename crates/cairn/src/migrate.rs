//! `migrate`: restic 0.14's repository migrations (`upgrade_repo_v2`).
//!
//! Upgrading a repository to format version 2 only rewrites its `config`
//! with `"version": 2`; the data already stored stays valid, because a
//! version 2 reader accepts uncompressed blobs and unversioned index and
//! snapshot files. From then on, writers may compress.
//!
//! As restic does, the upgrade first checks the repository (an upgraded
//! repository with errors would be harder to repair), saves the raw
//! `config`, then writes the new one. Unlike restic, the copy goes to a
//! durable folder on this machine, not a temporary one (see
//! [`crate::config_copy`]). On a store that replaces files atomically the
//! config is at every moment either the old or the new one. On a store
//! that cannot overwrite (rest server) the old file is removed first,
//! leaving a window without a config as short as one upload (the new
//! file is sealed beforehand); if writing the new one fails, the old one
//! is put back, and the copy (named in the error) is kept. Should the
//! process die in the window, opening the repository names the copy.
//!
//! It runs under an exclusive lock, whose guard it takes. The open
//! [`Repository`] has the new config afterwards.
//!
//! ```no_run
//! use std::sync::Arc;
//! use cairn::migrate::Migration;
//! use cairn::{LocalBackend, NoProgress, Repository};
//!
//! let mut repo = Repository::open(Arc::new(LocalBackend::new("/srv/repo")), "pw")?;
//! let m = Migration::UpgradeRepoV2;
//! if repo.migration_applies(m) {
//!     let lock = repo.lock(true, None)?;
//!     let report = repo.apply_migration(&lock, m, &NoProgress)?;
//!     assert!(report.applied);
//! }
//! # Ok::<(), cairn::Error>(())
//! ```

use crate::check::{CheckOptions, CheckProgress, CheckReport};
use crate::repository::Repository;
use crate::{Error, LockGuard, Result};
use cairn_backend::FileType;
use std::path::Path;

/// The migrations restic 0.14 offers for every kind of store. (Its
/// `s3_layout` applies only to S3 repositories in the old layout, which
/// Cairn does not read.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Migration {
    /// Rewrite the config of a version 1 repository as version 2.
    UpgradeRepoV2,
}

impl Migration {
    /// Every migration, in restic's order.
    pub const ALL: [Migration; 1] = [Migration::UpgradeRepoV2];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Migration::UpgradeRepoV2 => "upgrade_repo_v2",
        }
    }

    /// restic's one-line description.
    pub fn description(self) -> &'static str {
        match self {
            Migration::UpgradeRepoV2 => "upgrade a repository to version 2",
        }
    }

    /// The migration called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Migration> {
        Migration::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether the repository is checked before the migration runs.
    pub fn checks_repository(self) -> bool {
        match self {
            Migration::UpgradeRepoV2 => true,
        }
    }
}

/// What [`Repository::apply_migration`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MigrationReport {
    /// The check run first, for migrations that check the repository.
    pub check: Option<CheckReport>,
    /// False when the check found errors: nothing was changed.
    pub applied: bool,
}

impl Repository {
    /// True if the migration can be applied (restic's "check"):
    /// `upgrade_repo_v2` applies to version 1 repositories.
    pub fn migration_applies(&self, migration: Migration) -> bool {
        match migration {
            Migration::UpgradeRepoV2 => self.config().version == 1,
        }
    }

    /// Applies a migration, whether or not it applies (restic's `--force`
    /// runs it anyway; on a version 2 repository `upgrade_repo_v2` then
    /// rewrites the same config). Migrations that check the repository
    /// first report the check to `progress` and change nothing when it
    /// finds errors.
    ///
    /// Runs under `lock`, which must be exclusive. Afterwards this value
    /// has the new config (version 2 after `upgrade_repo_v2`).
    pub fn apply_migration(
        &mut self,
        lock: &LockGuard,
        migration: Migration,
        progress: &dyn CheckProgress,
    ) -> Result<MigrationReport> {
        let copies = crate::config_copy::config_copy_dir();
        self.apply_migration_in(lock, migration, progress, &copies)
    }

    /// [`Self::apply_migration`], keeping copies of replaced files in
    /// `copies`.
    pub(crate) fn apply_migration_in(
        &mut self,
        lock: &LockGuard,
        migration: Migration,
        progress: &dyn CheckProgress,
        copies: &Path,
    ) -> Result<MigrationReport> {
        lock.allows(self, "migrate", true)?;
        let mut report = MigrationReport::default();
        if migration.checks_repository() {
            let check = self.check(&CheckOptions::default(), progress)?;
            let ok = check.is_ok();
            report.check = Some(check);
            if !ok {
                return Ok(report);
            }
        }
        match migration {
            Migration::UpgradeRepoV2 => {
                let config = self.upgrade_config_to_v2_in(copies)?;
                self.set_config(config);
            }
        }
        report.applied = true;
        Ok(report)
    }

    /// Writes the config anew with version 2, keeping a copy of the old
    /// one in `copies` until the new one is stored.
    fn upgrade_config_to_v2_in(&self, copies: &Path) -> Result<cairn_format::Config> {
        let backend = self.backend();
        let raw = backend.read(FileType::Config, "config")?;
        let backup = crate::config_copy::save(copies, &self.config().id, &raw)?;

        let mut config = self.config().clone();
        config.version = 2;
        let sealed = self.key().seal(&config.to_json());
        let written = (|| -> Result<()> {
            if !backend.has_atomic_replace() {
                backend.remove(FileType::Config, "config")?;
            }
            backend.write(FileType::Config, "config", &sealed)?;
            Ok(())
        })();
        if let Err(upload) = written {
            let _ = backend.remove(FileType::Config, "config");
            let message = match backend.write(FileType::Config, "config", &raw) {
                Ok(()) => format!(
                    "error uploading config ({upload}), re-uploaded old config was successful, there is a backup of the config file in {}",
                    backup.display()
                ),
                Err(reupload) => format!(
                    "error uploading config ({upload}), re-uploading old config failed as well ({reupload}), but there is a backup of the config file in {}",
                    backup.display()
                ),
            };
            return Err(Error::Migration(message));
        }
        let _ = std::fs::remove_file(&backup);
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use cairn_backend::{Backend, Fault, FaultBackend, LocalBackend, Op};
    use std::sync::Arc;

    fn v1_repo(backend: Arc<dyn cairn_backend::Backend>) -> Repository {
        crate::copy::tests::init(backend, 1)
    }

    #[test]
    fn names_round_trip() {
        for m in Migration::ALL {
            assert_eq!(Migration::from_name(m.name()), Some(m));
        }
        assert_eq!(Migration::from_name("s3_layout"), None);
    }

    #[test]
    fn upgrades_v1_and_keeps_id_and_polynomial() {
        let dir = tempfile::tempdir().unwrap();
        let copies = tempfile::tempdir().unwrap();
        let backend: Arc<dyn cairn_backend::Backend> = Arc::new(LocalBackend::new(dir.path()));
        let mut repo = v1_repo(backend.clone());
        assert!(repo.migration_applies(Migration::UpgradeRepoV2));
        let report = repo
            .apply_migration_in(
                &crate::testing::lock(&repo, true).unwrap(),
                Migration::UpgradeRepoV2,
                &NoProgress,
                copies.path(),
            )
            .unwrap();
        assert!(report.applied);
        assert!(report.check.unwrap().is_ok());
        let again = Repository::open(backend, "pw").unwrap();
        assert_eq!(again.config().version, 2);
        assert_eq!(again.config().id, repo.config().id);
        assert_eq!(
            again.config().chunker_polynomial,
            repo.config().chunker_polynomial
        );
        assert!(!again.migration_applies(Migration::UpgradeRepoV2));
    }

    #[test]
    fn a_failed_write_puts_the_old_config_back() {
        let dir = tempfile::tempdir().unwrap();
        let copies = tempfile::tempdir().unwrap();
        let faulty = Arc::new(FaultBackend::new(Arc::new(LocalBackend::new(dir.path()))));
        let mut repo = v1_repo(faulty.clone());
        let lock = crate::testing::lock(&repo, true).unwrap();
        let writes = faulty.count(Op::Write);
        faulty.inject(Op::Write, writes + 1, Fault::FailPermanent);
        let err = repo
            .apply_migration_in(&lock, Migration::UpgradeRepoV2, &NoProgress, copies.path())
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("re-uploaded old config was successful"),
            "{msg}"
        );
        let backup = msg.rsplit(' ').next().unwrap();
        assert!(Path::new(backup).is_file(), "{msg}");
        assert!(Path::new(backup).starts_with(copies.path()), "{msg}");
        faulty.clear();
        let again = Repository::open(faulty, "pw").unwrap();
        assert_eq!(again.config().version, 1);
    }

    #[test]
    fn a_damaged_repository_is_not_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let copies = tempfile::tempdir().unwrap();
        let (mut repo, _) = crate::copy::tests::source(&dir, 1);
        let pack = repo.index().packs()[0];
        repo.backend()
            .remove(FileType::Pack, &pack.to_hex())
            .unwrap();
        let report = repo
            .apply_migration_in(
                &crate::testing::lock(&repo, true).unwrap(),
                Migration::UpgradeRepoV2,
                &NoProgress,
                copies.path(),
            )
            .unwrap();
        assert!(!report.applied);
        assert!(!report.check.unwrap().is_ok());
        let again = Repository::open(repo.backend().clone(), "pw").unwrap();
        assert_eq!(again.config().version, 1);
    }

    #[test]
    fn a_kill_after_the_delete_leaves_a_named_durable_copy_that_open_points_at() {
        let dir = tempfile::tempdir().unwrap();
        let copies = tempfile::tempdir().unwrap();
        let local = Arc::new(LocalBackend::new(dir.path()));
        // A store like rest-server: the old config is removed first.
        let faulty = Arc::new(FaultBackend::new(local.clone()).with_atomic_replace(false));
        let repo = v1_repo(faulty.clone());
        // Every write of the config fails from now on, as if the process
        // died right after the delete: neither the new nor the old one
        // gets back.
        faulty.inject_file(Op::Write, "config", 1, u64::MAX, Fault::FailPermanent);
        let err = repo.upgrade_config_to_v2_in(copies.path()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("re-uploading old config failed as well"),
            "{msg}"
        );
        assert!(!dir.path().join("config").exists());
        let copy = std::fs::read_dir(copies.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .next()
            .expect("a copy of the config");
        assert!(msg.contains(&copy.display().to_string()), "{msg}");
        // Opening now names the copy, and is not "no repository" (which
        // would make a script run `init`).
        let err = crate::repository::open_in(local.clone(), "pw", None, copies.path()).unwrap_err();
        match &err {
            Error::ConfigMissing {
                copy: Some(found), ..
            } => assert_eq!(found, &copy),
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string().contains(&copy.display().to_string()),
            "{err}"
        );
        // Putting the copy back gives the old repository again.
        std::fs::copy(&copy, dir.path().join("config")).unwrap();
        let again = Repository::open(local, "pw").unwrap();
        assert_eq!(again.config().version, 1);
    }

    #[test]
    fn an_empty_folder_is_still_no_repository() {
        let dir = tempfile::tempdir().unwrap();
        let copies = tempfile::tempdir().unwrap();
        let local = Arc::new(LocalBackend::new(dir.path()));
        local.create().unwrap();
        std::fs::remove_file(dir.path().join("config")).ok();
        let err = crate::repository::open_in(local, "pw", None, copies.path()).unwrap_err();
        assert!(matches!(err, Error::NoRepository { .. }), "{err:?}");
    }
}
