//! A repository on an SFTP server, reached as restic does: Cairn runs the
//! system's `ssh` (`ssh host [-p port] [-l user] -s sftp`, or the program
//! of `-o sftp.command=...`) and speaks SFTP v3 over its stdin and stdout
//! with the `openssh-sftp-client` crate.
//!
//! Files are laid out as in a local repository (`data/XX/` folders made at
//! init). A write goes to `NAME-restic-temp-RANDOM`, is renamed over the
//! final name (with `posix-rename@openssh.com` when the server has it,
//! which replaces atomically) and is made read-only. When `ssh` dies, every
//! pending and later operation fails with its exit status and the last
//! lines of its stderr, without retries.

use crate::child::{split_command, HelperProcess};
use crate::runtime::ClientRuntime;
use crate::{BackendError, BackendOptions, FileType, Result};
use openssh_sftp_client::error::{Error as SftpError, SftpErrorKind};
use openssh_sftp_client::fs::Fs;
use openssh_sftp_client::metadata::Permissions;
use openssh_sftp_client::{Sftp, SftpOptions};
use std::future::Future;
use std::io;
use std::time::Duration;

/// How the SFTP session is started: restic's `sftp.*` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SftpConfig {
    /// `-o sftp.command`: the whole command, replacing `ssh ...`.
    pub command: Option<String>,
    /// `-o sftp.args`: extra arguments for `ssh`.
    pub args: Option<String>,
}

impl SftpConfig {
    /// Reads the `sftp.command` and `sftp.args` options.
    pub fn from_options(opts: &BackendOptions) -> Self {
        let get = |k: &str| {
            opts.extended
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        SftpConfig {
            command: get("sftp.command"),
            args: get("sftp.args"),
        }
    }
}

/// The program and arguments restic would run for this location.
pub(crate) fn ssh_command(
    cfg: &SftpConfig,
    user: Option<&str>,
    host: &str,
    port: Option<&str>,
) -> Result<Vec<String>> {
    let bad = |e: String| BackendError::InvalidOption(format!("sftp: {e}"));
    if let Some(command) = &cfg.command {
        if cfg.args.is_some() {
            return Err(bad(
                "cannot specify both sftp.command and sftp.args options".into(),
            ));
        }
        return split_command(command).map_err(bad);
    }
    let mut argv = vec!["ssh".to_string(), host.to_string()];
    if let Some(port) = port {
        argv.extend(["-p".into(), port.to_string()]);
    }
    if let Some(user) = user {
        argv.extend(["-l".into(), user.to_string()]);
    }
    if let Some(args) = &cfg.args {
        argv.extend(split_command(args).map_err(bad)?);
    }
    argv.extend(["-s".into(), "sftp".into()]);
    Ok(argv)
}

/// Modes of new folders and files: restic's 0700/0600, or 0750/0640
/// when the config file is group-readable.
#[derive(Clone, Copy, Debug)]
struct Modes {
    dir: u16,
    file: u16,
}

/// A repository in a folder on an SFTP server.
pub struct SftpBackend {
    display: String,
    root: String,
    runtime: ClientRuntime,
    sftp: Option<Sftp>,
    process: HelperProcess,
    modes: Modes,
    posix_rename: bool,
    timeout: Duration,
}

impl std::fmt::Debug for SftpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpBackend")
            .field("location", &self.display)
            .finish_non_exhaustive()
    }
}

/// An SFTP status or a broken session, before it gets a context.
enum OpError {
    Sftp(SftpError),
    TimedOut,
}

impl From<SftpError> for OpError {
    fn from(e: SftpError) -> Self {
        OpError::Sftp(e)
    }
}

type OpResult<T> = std::result::Result<T, OpError>;

impl SftpBackend {
    /// Runs `argv` (see [`ssh_command`]) and opens an SFTP session on it
    /// for the repository in `path`. `display` names the location in
    /// messages.
    pub(crate) fn connect(
        argv: &[String],
        display: String,
        path: &str,
        opts: &BackendOptions,
    ) -> Result<Self> {
        let runtime = ClientRuntime::new("cairn-sftp")?;
        let (process, stdin, stdout) = HelperProcess::spawn(argv)
            .map_err(|e| BackendError::io(display.clone(), io::Error::other(e.to_string())))?;
        let started = runtime.block_on(async {
            let stdin = tokio::process::ChildStdin::from_std(stdin)?;
            let stdout = tokio::process::ChildStdout::from_std(stdout)?;
            // As restic: up to 4 MiB of writes in flight per file.
            let options = SftpOptions::new()
                .tokio_compat_file_write_limit(std::num::NonZeroUsize::new(4 << 20).unwrap());
            let handshake = Sftp::new(stdin, stdout, options);
            match tokio::time::timeout(opts.connect_timeout.max(Duration::from_secs(10)), handshake)
                .await
            {
                Ok(r) => r.map_err(|e| io::Error::other(e.to_string())),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no SFTP answer in time",
                )),
            }
        });
        let sftp = match started {
            Ok(sftp) => sftp,
            Err(e) => {
                let why = process
                    .death_notice(Duration::from_secs(5))
                    .unwrap_or_else(|| e.to_string());
                process.stop(Duration::ZERO);
                return Err(BackendError::io(
                    display,
                    io::Error::other(format!("unable to start the sftp session: {why}")),
                ));
            }
        };
        let posix_rename = sftp.support_posix_rename();
        let mut backend = SftpBackend {
            display,
            root: path.to_string(),
            runtime,
            sftp: Some(sftp),
            process,
            modes: Modes {
                dir: 0o700,
                file: 0o600,
            },
            posix_rename,
            timeout: opts
                .request_timeout
                .unwrap_or(crate::DEFAULT_REQUEST_TIMEOUT),
        };
        // As restic: a group-readable config means a group-readable repo.
        let config = backend.path(FileType::Config, "config")?;
        let sftp = backend.sftp();
        let meta = backend.run(async { Ok(sftp.fs().metadata(&config).await?) });
        if let Ok(meta) = meta {
            if meta
                .permissions()
                .is_some_and(|p| p.as_raw().bits() & 0o040 != 0)
            {
                backend.modes = Modes {
                    dir: 0o750,
                    file: 0o640,
                };
            }
        }
        Ok(backend)
    }

    fn sftp(&self) -> &Sftp {
        self.sftp
            .as_ref()
            .expect("the session lives as long as the backend")
    }

    fn dir_of(&self, file_type: FileType, name: &str) -> String {
        match file_type {
            FileType::Config => self.root.clone(),
            FileType::Pack => format!("{}/data/{}", self.root, name.get(..2).unwrap_or(name)),
            t => format!("{}/{}", self.root, t.dir_name()),
        }
    }

    fn path(&self, file_type: FileType, name: &str) -> Result<String> {
        if file_type == FileType::Config {
            return Ok(format!("{}/config", self.root));
        }
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
            return Err(BackendError::InvalidName(name.to_string()));
        }
        Ok(format!("{}/{name}", self.dir_of(file_type, name)))
    }

    /// Runs one operation on the session, bounded by the request timeout.
    fn run<T: Send>(&self, op: impl Future<Output = OpResult<T>> + Send) -> OpResult<T> {
        self.runtime.block_on(async {
            match tokio::time::timeout(self.timeout, op).await {
                Ok(r) => r,
                Err(_) => Err(OpError::TimedOut),
            }
        })
    }

    /// The error for a failed operation on `file_type/name`.
    fn error(&self, e: OpError, file_type: FileType, name: &str, what: &str) -> BackendError {
        let context = format!("{} {what}", self.display);
        let e = match e {
            OpError::TimedOut => {
                return BackendError::transient(context, "no answer from the SFTP server in time")
            }
            OpError::Sftp(e) => e,
        };
        match &e {
            SftpError::SftpError(SftpErrorKind::NoSuchFile, _) => {
                return BackendError::NotFound {
                    file_type,
                    name: name.to_string(),
                }
            }
            SftpError::SftpError(SftpErrorKind::PermDenied, msg) => {
                return BackendError::io(
                    context,
                    io::Error::new(io::ErrorKind::PermissionDenied, msg.to_string()),
                )
            }
            SftpError::SftpError(kind, msg) => {
                return BackendError::io(context, io::Error::other(format!("{kind:?}: {msg}")))
            }
            _ => {}
        }
        // Anything else means the session broke. If ssh is gone, say why;
        // that will not get better by retrying.
        match self.process.death_notice(Duration::from_secs(2)) {
            Some(notice) => BackendError::io(context, io::Error::other(notice)),
            None => BackendError::transient(context, one_line(&e.to_string())),
        }
    }

    fn is_not_found(e: &OpError) -> bool {
        matches!(e, OpError::Sftp(e) if no_such_file(e))
    }

    /// Creates `dir` and its missing parents with the folder mode.
    async fn mkdir_all(mut fs: Fs, dir: String, mode: u16) -> OpResult<()> {
        let mut missing = Vec::new();
        let mut cur = dir.trim_end_matches('/').to_string();
        loop {
            match fs.metadata(&cur).await {
                Ok(_) => break,
                Err(e) if no_such_file(&e) => {}
                Err(e) => return Err(e.into()),
            }
            missing.push(cur.clone());
            match cur.rsplit_once('/') {
                Some((parent, _)) if !parent.is_empty() => cur = parent.to_string(),
                _ => break,
            }
        }
        for d in missing.into_iter().rev() {
            if let Err(e) = fs.create_dir(&d).await {
                // Another connection may have made it meanwhile.
                let made = fs.metadata(&d).await;
                if !made.is_ok_and(|m| m.file_type().is_some_and(|t| t.is_dir())) {
                    return Err(e.into());
                }
                continue;
            }
            fs.set_permissions(&d, Permissions::from(mode)).await?;
        }
        Ok(())
    }
}

fn no_such_file(e: &SftpError) -> bool {
    matches!(e, SftpError::SftpError(SftpErrorKind::NoSuchFile, _))
}

fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

/// A random suffix for temporary files, as long as restic's.
fn temp_suffix() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Drop for SftpBackend {
    fn drop(&mut self) {
        if let Some(sftp) = self.sftp.take() {
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(2), sftp.close()).await
            });
        }
        // ssh ends once its stdin is closed; give it a moment, as restic.
        self.process.stop(Duration::from_secs(2));
    }
}

mod ops;

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(command: Option<&str>, args: Option<&str>) -> SftpConfig {
        SftpConfig {
            command: command.map(String::from),
            args: args.map(String::from),
        }
    }

    #[test]
    fn ssh_is_run_as_restic_runs_it() {
        let c = ssh_command(&cfg(None, None), None, "host", None).unwrap();
        assert_eq!(c, ["ssh", "host", "-s", "sftp"]);
        let c = ssh_command(
            &cfg(None, Some("-i 'my key'")),
            Some("u@x"),
            "h",
            Some("2222"),
        );
        assert_eq!(
            c.unwrap(),
            ["ssh", "h", "-p", "2222", "-l", "u@x", "-i", "my key", "-s", "sftp"]
        );
        let c = ssh_command(
            &cfg(Some("plink -batch h -s sftp"), None),
            Some("u"),
            "x",
            None,
        );
        assert_eq!(c.unwrap(), ["plink", "-batch", "h", "-s", "sftp"]);
        let e = ssh_command(&cfg(Some("ssh"), Some("-v")), None, "h", None).unwrap_err();
        assert!(
            e.to_string().contains("both sftp.command and sftp.args"),
            "{e}"
        );
        assert!(ssh_command(&cfg(Some("'ssh"), None), None, "h", None).is_err());
    }

    #[test]
    fn options_are_read_from_the_sftp_namespace() {
        let mut o = BackendOptions::default();
        o.set_extended(&["sftp.command=ssh -p 1 h -s sftp", "sftp.connections=2"])
            .unwrap();
        assert_eq!(
            SftpConfig::from_options(&o),
            cfg(Some("ssh -p 1 h -s sftp"), None)
        );
        assert_eq!(o.connections("sftp").unwrap(), Some(2));
        o.set_extended(&["sftp.bogus=1"]).unwrap();
        assert!(o.connections("sftp").is_err());
    }
}
