//! Options every command takes, and opening the repository they name.

pub use crate::password::PasswordSource;
use anyhow::{anyhow, bail, Context, Result};
use cairn::{Backend, Repository};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

/// restic's global flags, with the same environment variables. Like
/// restic, each command's help lists them apart, under "Global Flags".
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Global Flags")]
pub struct GlobalOptions {
    /// Repository to back up to or restore from
    #[arg(
        short = 'r',
        long = "repo",
        env = "RESTIC_REPOSITORY",
        global = true,
        hide_env_values = true
    )]
    pub repo: Option<String>,
    /// File to read the repository location from
    #[arg(
        long,
        env = "RESTIC_REPOSITORY_FILE",
        global = true,
        hide_env_values = true
    )]
    pub repository_file: Option<PathBuf>,
    /// File to read the repository password from
    #[arg(
        short = 'p',
        long,
        env = "RESTIC_PASSWORD_FILE",
        global = true,
        hide_env_values = true
    )]
    pub password_file: Option<PathBuf>,
    /// Shell command to obtain the repository password from
    #[arg(
        long,
        env = "RESTIC_PASSWORD_COMMAND",
        global = true,
        hide_env_values = true
    )]
    pub password_command: Option<String>,
    /// Key ID of key to try decrypting first
    #[arg(long, env = "RESTIC_KEY_HINT", global = true)]
    pub key_hint: Option<String>,
    /// Set the cache directory
    #[arg(long, env = "RESTIC_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Do not use a local cache
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Auto remove old cache directories
    #[arg(long, global = true)]
    pub cleanup_cache: bool,
    /// Set output mode to JSON for commands that support it
    #[arg(long, global = true)]
    pub json: bool,
    /// Do not output comprehensive progress report
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    /// Be verbose (specify multiple times or a level using --verbose=n)
    #[arg(short = 'v', long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Do not lock the repository, this allows some operations on read-only repositories
    #[arg(long, global = true)]
    pub no_lock: bool,
    /// Set target pack size in MiB
    #[arg(long, env = "RESTIC_PACK_SIZE", global = true)]
    pub pack_size: Option<u32>,
    /// Compression mode (only available for repository format version 2), one of (auto|off|max|fastest|better)
    #[arg(
        long,
        env = "RESTIC_COMPRESSION",
        global = true,
        default_value = "auto"
    )]
    pub compression: String,
    /// Set extended option (key=value, can be specified multiple times)
    #[arg(short = 'o', long = "option", global = true, value_delimiter = ',')]
    pub options: Vec<String>,
    /// File to load root certificates from (default: use system certificates)
    #[arg(
        long = "cacert",
        env = "RESTIC_CACERT",
        global = true,
        value_delimiter = ',',
        value_name = "file"
    )]
    pub cacert: Vec<PathBuf>,
    /// Path to a file containing PEM encoded TLS client certificate and private key
    #[arg(
        long = "tls-client-cert",
        env = "RESTIC_TLS_CLIENT_CERT",
        global = true,
        value_name = "file"
    )]
    pub tls_client_cert: Option<PathBuf>,
    /// Skip TLS certificate verification when connecting to the repository (insecure)
    #[arg(long, global = true)]
    pub insecure_tls: bool,
    /// Limits uploads to a maximum rate in KiB/s. (default: unlimited)
    #[arg(long, global = true, value_name = "int")]
    pub limit_upload: Option<u64>,
    /// Limits downloads to a maximum rate in KiB/s. (default: unlimited)
    #[arg(long, global = true, value_name = "int")]
    pub limit_download: Option<u64>,
    /// Retry to lock the repository if it is already locked, takes a value like 5m or 2h (default: no retries)
    #[arg(long, global = true, value_name = "duration", value_parser = cairn::lock::parse_go_duration)]
    pub retry_lock: Option<std::time::Duration>,
    /// Use an empty password for the repository, must be passed to every restic command (insecure)
    #[arg(long, global = true)]
    pub insecure_no_password: bool,
    /// Skip additional verification of data before upload (see documentation)
    #[arg(long, global = true)]
    pub no_extra_verify: bool,
    /// Set a http user agent for outgoing http requests
    #[arg(
        long,
        env = "RESTIC_HTTP_USER_AGENT",
        global = true,
        value_name = "string"
    )]
    pub http_user_agent: Option<String>,
    /// Duration after which to retry stuck requests
    #[arg(
        long,
        global = true,
        value_name = "duration",
        default_value = "5m0s",
        value_parser = cairn::lock::parse_go_duration
    )]
    pub stuck_request_timeout: std::time::Duration,
    /// Write Prometheus metrics of backup, forget, prune, check, copy and restore to this file (merged with the other commands' latest runs, replaced atomically; for node_exporter's textfile collector)
    #[arg(long, env = "CAIRN_METRICS_FILE", global = true, value_name = "file")]
    pub metrics_file: Option<PathBuf>,
    /// Push the same metrics to a Prometheus Pushgateway at this URL (job "cairn"; a failed push only warns)
    #[arg(
        long,
        env = "CAIRN_METRICS_PUSH",
        global = true,
        hide_env_values = true,
        value_name = "url"
    )]
    pub metrics_push: Option<String>,
}

impl GlobalOptions {
    /// The repository location from `--repo` or `--repository-file`.
    pub fn location(&self) -> Result<String> {
        match (&self.repo, &self.repository_file) {
            (Some(_), Some(_)) => bail!(
                "Options -r and --repository-file are mutually exclusive, please specify only one"
            ),
            (Some(r), None) if !r.is_empty() => Ok(r.clone()),
            (None, Some(f)) => {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("unable to read repository file {}", f.display()))?;
                let loc = text.trim_end_matches(['\n', '\r']).to_string();
                if loc.is_empty() {
                    bail!("repository file {} is empty", f.display());
                }
                Ok(loc)
            }
            _ => bail!("Please specify repository location (-r or --repository-file)"),
        }
    }

    /// The password, from (in restic's order) the password file, the
    /// password command, `RESTIC_PASSWORD`, or the terminal / standard input.
    pub fn password(&self) -> Result<String> {
        self.password_source()
            .read("enter password for repository: ")
    }

    /// Where the repository password comes from (`--password-file`,
    /// `--password-command`, `RESTIC_PASSWORD`, `--insecure-no-password`).
    pub fn password_source(&self) -> PasswordSource<'_> {
        PasswordSource {
            file: self.password_file.as_deref(),
            command: self.password_command.as_deref(),
            env_var: "RESTIC_PASSWORD",
            insecure_no_password: self.insecure_no_password,
            insecure_flag: "--insecure-no-password",
        }
    }

    /// Opens the backend the location names.
    pub fn backend(&self) -> Result<Arc<dyn Backend>> {
        open_backend_with(&self.location()?, &self.backend_options()?)
    }

    /// `-o`, `--cacert`, `--tls-client-cert`, `--insecure-tls` and the
    /// bandwidth limits for the backend.
    pub fn backend_options(&self) -> Result<cairn::BackendOptions> {
        // restic: a limit of 0 (or less) means unlimited.
        let kib = |v: Option<u64>| v.filter(|&k| k > 0).map(|k| k.saturating_mul(1024));
        let mut opts = cairn::BackendOptions {
            cacerts: self.cacert.clone(),
            tls_client_cert: self.tls_client_cert.clone(),
            insecure_tls: self.insecure_tls,
            limit_upload: kib(self.limit_upload),
            limit_download: kib(self.limit_download),
            user_agent: self.http_user_agent.clone().filter(|a| !a.is_empty()),
            stuck_request_timeout: Some(self.stuck_request_timeout).filter(|t| !t.is_zero()),
            ..Default::default()
        };
        opts.set_extended(&self.options)?;
        Ok(opts)
    }

    /// Opens the repository with its password (the index is not loaded).
    pub fn open_repository(&self) -> Result<Repository> {
        let backend = self.backend()?;
        let password = self.password()?;
        let mut repo =
            Repository::open_with_key_hint(backend, &password, self.key_hint.as_deref())?;
        repo.set_extra_verify(!self.no_extra_verify);
        crate::commands::cache::attach(self, &mut repo);
        Ok(repo)
    }

    /// Opens the repository under a shared lock (none with `--no-lock`),
    /// as restic's read-only commands do. Keep the guard while working.
    pub fn open_shared(&self) -> Result<(Repository, Option<cairn::LockGuard>)> {
        let repo = self.open_repository()?;
        let lock = self.lock(&repo, false)?;
        Ok((repo, lock))
    }

    /// [`GlobalOptions::open_shared`], then loads the index, warning about
    /// index files that could not be read.
    pub fn open_with_index(&self) -> Result<(Repository, Option<cairn::LockGuard>)> {
        let (mut repo, lock) = self.open_shared()?;
        for problem in repo.load_index()? {
            eprintln!("Warning: {problem}");
        }
        Ok((repo, lock))
    }

    /// Locks the repository as a command that honours `--no-lock` does
    /// (`None` with `--no-lock`), retrying for `--retry-lock`.
    pub fn lock(&self, repo: &Repository, exclusive: bool) -> Result<Option<cairn::LockGuard>> {
        if self.no_lock {
            return Ok(None);
        }
        self.lock_always(repo, exclusive).map(Some)
    }

    /// Locks the repository even with `--no-lock` (restic's `key add`,
    /// `key passwd`, `key remove`, `prune`, … ignore that flag).
    pub fn lock_always(&self, repo: &Repository, exclusive: bool) -> Result<cairn::LockGuard> {
        repo.lock_with(&self.lock_options(exclusive))
            .map_err(lock_error)
            .map(crate::panics::crash_if_asked)
    }

    /// Like [`GlobalOptions::lock_always`], but returns once the lock file
    /// is written; the second look for conflicting locks is left to the
    /// caller (see [`crate::confirming_lock`]).
    pub fn lock_unconfirmed(&self, repo: &Repository, exclusive: bool) -> Result<cairn::LockGuard> {
        repo.lock_unconfirmed(&self.lock_options(exclusive))
            .map_err(lock_error)
            .map(crate::panics::crash_if_asked)
    }

    /// The lock options of `--retry-lock` and the output mode.
    pub fn lock_options(&self, exclusive: bool) -> cairn::LockOptions {
        fn announce(budget: std::time::Duration) {
            println!(
                "repo already locked, waiting up to {} for the lock",
                cairn::lock::go_duration_string(budget)
            );
        }
        let mut opts = cairn::LockOptions::new(exclusive);
        opts.retry = self.retry_lock;
        opts.on_wait = (!self.json).then_some(announce as fn(std::time::Duration));
        opts
    }
}

/// Parses a restic repository string and opens its backend with `opts`,
/// retrying transient failures (reported on stderr as restic does): the
/// library's [`cairn::open_backend`] with the command's retry report.
pub fn open_backend_with(location: &str, opts: &cairn::BackendOptions) -> Result<Arc<dyn Backend>> {
    let loc = cairn::Location::parse(location)
        .map_err(|e| anyhow!("parsing repository location failed: {e}"))?;
    let report = |op: &str, err: &cairn::BackendError, wait: std::time::Duration| {
        eprintln!(
            "{op} returned error, retrying after {}: {err}",
            cairn::lock::go_duration_string(wait)
        );
    };
    Ok(cairn::open_location_with(
        &loc,
        opts,
        cairn::RetryPolicy::default(),
        Some(Arc::new(report)),
    )?)
}

/// restic's messages for a lock that cannot be taken: exit 11 for a
/// conflict, the `unlock --remove-all` hint for unreadable lock files.
pub fn lock_error(e: cairn::Error) -> anyhow::Error {
    match e {
        // restic prints this one without "Fatal:" and exits with 11.
        cairn::Error::Locked { .. } => anyhow::Error::new(crate::exit::ExitCode(
            crate::exit::LOCK_FAILED,
            format!("unable to create lock in backend: {e}\nthe `unlock` command can be used to remove stale locks"),
        )),
        cairn::Error::BadFile { file_type: cairn::FileType::Lock, .. }
        | cairn::Error::Decrypt { file_type: cairn::FileType::Lock, .. }
        | cairn::Error::HashMismatch { file_type: cairn::FileType::Lock, .. } => anyhow!(
            "invalid lock file: {e}. The `unlock --remove-all` command can be used to remove invalid locks. Make sure that no other restic process is accessing the repository when running the command"
        ),
        other => anyhow::Error::new(other).context("unable to create lock in backend"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        global: GlobalOptions,
    }

    fn options(args: &[&str]) -> cairn::BackendOptions {
        let cli =
            Cli::try_parse_from(std::iter::once("cairn").chain(args.iter().copied())).unwrap();
        cli.global.backend_options().unwrap()
    }

    #[test]
    fn bandwidth_limits_are_kib_per_second_and_zero_means_unlimited() {
        let o = options(&["--limit-upload", "100", "--limit-download", "0"]);
        assert_eq!(o.limit_upload, Some(100 * 1024));
        assert_eq!(o.limit_download, None);
        let o = options(&["--limit-download", "7"]);
        assert_eq!((o.limit_upload, o.limit_download), (None, Some(7 * 1024)));
        assert!(!o.insecure_tls);
    }

    #[test]
    fn tls_flags_reach_the_backend() {
        let o = options(&["--insecure-tls", "--cacert", "a.pem,b.pem"]);
        assert!(o.insecure_tls);
        assert_eq!(o.cacerts, [PathBuf::from("a.pem"), PathBuf::from("b.pem")]);
    }

    #[test]
    fn http_flags_reach_the_backend() {
        let o = options(&[]);
        assert_eq!(o.user_agent(), cairn_backend_default_agent());
        assert_eq!(
            o.stuck_request_timeout,
            Some(std::time::Duration::from_secs(300))
        );
        let o = options(&[
            "--http-user-agent",
            "x/1",
            "--stuck-request-timeout",
            "1m30s",
        ]);
        assert_eq!(o.user_agent(), "x/1");
        assert_eq!(
            o.stuck_request_timeout,
            Some(std::time::Duration::from_secs(90))
        );
        // 0 turns the watchdog off.
        assert_eq!(
            options(&["--stuck-request-timeout", "0"]).stuck_request_timeout,
            None
        );
    }

    fn cairn_backend_default_agent() -> String {
        format!("cairn/{}", env!("CARGO_PKG_VERSION"))
    }

    #[test]
    fn no_extra_verify_reaches_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let backend: Arc<dyn Backend> = Arc::new(cairn::LocalBackend::new(repo.clone()));
        Repository::init(backend, "pw", &cairn::InitOptions::default()).unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "pw").unwrap();
        let open = |extra: &[&str]| {
            let mut args = vec!["cairn", "--no-cache", "-r", repo.to_str().unwrap()];
            args.extend(["--password-file", pw.to_str().unwrap()]);
            args.extend(extra);
            let cli = Cli::try_parse_from(args).unwrap();
            cli.global.open_repository().unwrap()
        };
        assert!(open(&[]).extra_verify());
        assert!(!open(&["--no-extra-verify"]).extra_verify());
    }
}
