//! The second repository of `init` and `copy`, as restic 0.19 names it:
//! the `--from-*` options (`RESTIC_FROM_*`), and the deprecated `*2`
//! options (`--repo2`, `RESTIC_REPOSITORY2`, …) it still accepts.
//!
//! The two groups exclude each other. With `--from-*` the second
//! repository is the source; with the old `*2` names it is the other one
//! (for `copy`: `-r` is then the source and `--repo2` the destination).

use crate::global::{open_backend_with, GlobalOptions, PasswordSource};
use anyhow::{bail, Context, Result};
use cairn::Repository;
use std::path::{Path, PathBuf};

/// The options naming the second repository.
#[derive(clap::Args, Debug, Default)]
pub struct SecondaryRepo {
    /// Source repository (default: $RESTIC_FROM_REPOSITORY)
    #[arg(
        long,
        env = "RESTIC_FROM_REPOSITORY",
        hide_env_values = true,
        value_name = "repository"
    )]
    pub from_repo: Option<String>,
    /// File from which to read the source repository location (default: $RESTIC_FROM_REPOSITORY_FILE)
    #[arg(
        long,
        env = "RESTIC_FROM_REPOSITORY_FILE",
        hide_env_values = true,
        value_name = "file"
    )]
    pub from_repository_file: Option<PathBuf>,
    /// File to read the source repository password from (default: $RESTIC_FROM_PASSWORD_FILE)
    #[arg(
        long,
        env = "RESTIC_FROM_PASSWORD_FILE",
        hide_env_values = true,
        value_name = "file"
    )]
    pub from_password_file: Option<PathBuf>,
    /// Shell command to obtain the source repository password from (default: $RESTIC_FROM_PASSWORD_COMMAND)
    #[arg(
        long,
        env = "RESTIC_FROM_PASSWORD_COMMAND",
        hide_env_values = true,
        value_name = "command"
    )]
    pub from_password_command: Option<String>,
    /// Key ID of key to try decrypting the source repository first (default: $RESTIC_FROM_KEY_HINT)
    #[arg(long, env = "RESTIC_FROM_KEY_HINT", value_name = "string")]
    pub from_key_hint: Option<String>,
    /// Use an empty password for the source repository (insecure)
    #[arg(long)]
    pub from_insecure_no_password: bool,
    /// Deprecated: use --repo or --from-repo instead
    #[arg(long, env = "RESTIC_REPOSITORY2", hide = true, hide_env_values = true)]
    pub repo2: Option<String>,
    /// Deprecated: use --repository-file or --from-repository-file instead
    #[arg(
        long,
        env = "RESTIC_REPOSITORY_FILE2",
        hide = true,
        hide_env_values = true
    )]
    pub repository_file2: Option<PathBuf>,
    /// File to read the second repository password from (default: $RESTIC_PASSWORD_FILE2)
    #[arg(
        long,
        env = "RESTIC_PASSWORD_FILE2",
        hide = true,
        hide_env_values = true
    )]
    pub password_file2: Option<PathBuf>,
    /// Key ID of key to try decrypting the second repository first (default: $RESTIC_KEY_HINT2)
    #[arg(long, env = "RESTIC_KEY_HINT2", hide = true)]
    pub key_hint2: Option<String>,
    /// Shell command to obtain the second repository password from (default: $RESTIC_PASSWORD_COMMAND2)
    #[arg(
        long,
        env = "RESTIC_PASSWORD_COMMAND2",
        hide = true,
        hide_env_values = true
    )]
    pub password_command2: Option<String>,
}

/// The second repository, resolved (restic's `FillGlobalOpts`).
#[derive(Debug)]
pub struct Resolved {
    /// Its location.
    pub location: String,
    /// Its password.
    pub password: String,
    /// The key to try first.
    pub key_hint: Option<String>,
    /// True when named by `--from-*` (it is the source), false for the
    /// old `*2` names.
    pub is_from_repo: bool,
}

/// restic's warnings for the deprecated flags (pflag prints one when such
/// a flag is given on the command line, not for the environment).
const DEPRECATED: [(&str, &str); 2] = [
    ("repo2", "use --repo or --from-repo instead"),
    (
        "repository-file2",
        "use --repository-file or --from-repository-file instead",
    ),
];

/// Prints pflag's "Flag --repo2 has been deprecated, …" for each
/// deprecated flag among `args`.
pub fn warn_deprecated(args: impl IntoIterator<Item = String>) {
    for arg in args.into_iter().take_while(|a| a != "--") {
        let name = arg.strip_prefix("--").unwrap_or("");
        let name = name.split('=').next().unwrap_or(name);
        if let Some((flag, hint)) = DEPRECATED.iter().find(|(f, _)| *f == name) {
            eprintln!("Flag --{flag} has been deprecated, {hint}");
        }
    }
}

fn read_location(file: &Path) -> Result<String> {
    if !file.exists() {
        bail!("{} does not exist", file.display());
    }
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("unable to read repository file {}", file.display()))?;
    Ok(text.trim().to_string())
}

impl SecondaryRepo {
    /// True when any option names a second repository location.
    pub fn names_location(&self) -> bool {
        self.from_repo.is_some()
            || self.from_repository_file.is_some()
            || self.repo2.is_some()
            || self.repository_file2.is_some()
    }

    fn has_from_repo(&self) -> bool {
        self.from_repo.is_some()
            || self.from_repository_file.is_some()
            || self.from_password_file.is_some()
            || self.from_password_command.is_some()
            || self.from_key_hint.is_some()
            || self.from_insecure_no_password
    }

    fn has_repo2(&self) -> bool {
        self.repo2.is_some()
            || self.repository_file2.is_some()
            || self.password_file2.is_some()
            || self.key_hint2.is_some()
            || self.password_command2.is_some()
    }

    /// The second repository's location, password and key hint. `role`
    /// names it in the password prompt for the old `*2` names
    /// ("secondary" for `init`, "destination" for `copy`).
    pub fn resolve(&self, role: &str) -> Result<Resolved> {
        if !self.names_location() {
            bail!("Please specify a source repository location (--from-repo or --from-repository-file)");
        }
        if self.has_from_repo() && self.has_repo2() {
            bail!(
                "Option groups repo2 and from-repo are mutually exclusive, please specify only one"
            );
        }
        let is_from_repo = self.has_from_repo();
        let (repo, file, pw_file, pw_cmd, hint, insecure, env_var, flag, role) = if is_from_repo {
            if self.from_repo.is_some() && self.from_repository_file.is_some() {
                bail!("Options --from-repo and --from-repository-file are mutually exclusive, please specify only one");
            }
            (
                &self.from_repo,
                &self.from_repository_file,
                &self.from_password_file,
                &self.from_password_command,
                &self.from_key_hint,
                self.from_insecure_no_password,
                "RESTIC_FROM_PASSWORD",
                "--from-insecure-no-password",
                "source",
            )
        } else {
            if self.repo2.is_some() && self.repository_file2.is_some() {
                bail!("Options --repo2 and --repository-file2 are mutually exclusive, please specify only one");
            }
            (
                &self.repo2,
                &self.repository_file2,
                &self.password_file2,
                &self.password_command2,
                &self.key_hint2,
                false,
                "RESTIC_PASSWORD2",
                "--insecure-no-password",
                role,
            )
        };
        let location = match (repo, file) {
            (Some(r), _) => r.clone(),
            (None, Some(f)) => read_location(f)?,
            (None, None) => bail!("Please specify repository location (-r or --repository-file)"),
        };
        let source = PasswordSource {
            file: pw_file.as_deref(),
            command: pw_cmd.as_deref(),
            env_var,
            insecure_no_password: insecure,
            insecure_flag: flag,
        };
        let password = source.read(&format!("enter password for {role} repository: "))?;
        Ok(Resolved {
            location,
            password,
            key_hint: hint.clone(),
            is_from_repo,
        })
    }
}

impl Resolved {
    /// Opens the repository with the global backend options and cache.
    pub fn open(&self, global: &GlobalOptions) -> Result<Repository> {
        let backend = open_backend_with(&self.location, &global.backend_options()?)?;
        let mut repo =
            Repository::open_with_key_hint(backend, &self.password, self.key_hint.as_deref())?;
        repo.set_extra_verify(!global.no_extra_verify);
        crate::commands::cache::attach(global, &mut repo);
        Ok(repo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_exclude_each_other() {
        let s = SecondaryRepo {
            from_repo: Some("/a".into()),
            key_hint2: Some("x".into()),
            ..Default::default()
        };
        let e = s.resolve("secondary").unwrap_err().to_string();
        assert_eq!(
            e,
            "Option groups repo2 and from-repo are mutually exclusive, please specify only one"
        );
        let s = SecondaryRepo {
            repo2: Some("/a".into()),
            repository_file2: Some("/b".into()),
            ..Default::default()
        };
        let e = s.resolve("secondary").unwrap_err().to_string();
        assert!(
            e.starts_with("Options --repo2 and --repository-file2"),
            "{e}"
        );
        let e = SecondaryRepo::default()
            .resolve("x")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("Please specify a source repository location"),
            "{e}"
        );
    }
}
