//! `cairn init`.

use crate::global::{open_backend, password_from, prompt_password, GlobalOptions};
use crate::output::JsonObject;
use anyhow::{anyhow, bail, Context, Result};
use cairn::{BackendError, InitOptions, Repository};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Arguments of `init`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Copy chunker parameters from the secondary repository (useful with the copy command)
    #[arg(long)]
    pub copy_chunker_params: bool,
    /// Repository format version to use, allowed values are a format version, 'latest' and 'stable'
    #[arg(long, default_value = "stable")]
    pub repository_version: String,
    #[command(flatten)]
    pub from: SecondaryRepo,
}

/// The source repository options (`--from-*`), as restic's `init` and
/// `copy` take them.
#[derive(clap::Args, Debug, Default)]
pub struct SecondaryRepo {
    /// Source repository to copy chunker parameters from
    #[arg(long, env = "RESTIC_FROM_REPOSITORY", hide_env_values = true)]
    pub from_repo: Option<String>,
    /// File from which to read the source repository location to copy chunker parameters from
    #[arg(long, env = "RESTIC_FROM_REPOSITORY_FILE", hide_env_values = true)]
    pub from_repository_file: Option<PathBuf>,
    /// File to read the source repository password from
    #[arg(long, env = "RESTIC_FROM_PASSWORD_FILE", hide_env_values = true)]
    pub from_password_file: Option<PathBuf>,
    /// Shell command to obtain the source repository password from
    #[arg(long, env = "RESTIC_FROM_PASSWORD_COMMAND", hide_env_values = true)]
    pub from_password_command: Option<String>,
    /// Key ID of key to try decrypting the source repository first
    #[arg(long, env = "RESTIC_FROM_KEY_HINT")]
    pub from_key_hint: Option<String>,
}

impl SecondaryRepo {
    fn given(&self) -> bool {
        self.from_repo.is_some()
            || self.from_repository_file.is_some()
            || self.from_password_file.is_some()
            || self.from_password_command.is_some()
            || self.from_key_hint.is_some()
    }

    pub(crate) fn location(&self) -> Result<String> {
        match (&self.from_repo, &self.from_repository_file) {
            (Some(_), Some(_)) => bail!("Options --from-repo and --from-repository-file are mutually exclusive, please specify only one"),
            (Some(r), None) => Ok(r.clone()),
            (None, Some(f)) => {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("unable to read repository file {}", f.display()))?;
                Ok(text.trim_end_matches(['\n', '\r']).to_string())
            }
            (None, None) => bail!(
                "Please specify a source repository location (--from-repo or --from-repository-file)"
            ),
        }
    }

    /// The source password: file, command, `RESTIC_FROM_PASSWORD`, then
    /// the terminal or standard input.
    pub(crate) fn password(&self) -> Result<String> {
        password_from(
            self.from_password_file.as_deref(),
            self.from_password_command.as_deref(),
            "RESTIC_FROM_PASSWORD",
            "enter password for source repository: ",
        )
    }

    /// Opens the source repository.
    fn open(&self) -> Result<Repository> {
        let backend = open_backend(&self.location()?)?;
        let password = self.password()?;
        Ok(Repository::open_with_key_hint(
            backend,
            &password,
            self.from_key_hint.as_deref(),
        )?)
    }
}

/// A new password: asked twice on a terminal (restic's prompts), once
/// from a pipe.
pub fn read_new_password(prompt1: &str, prompt2: &str) -> Result<String> {
    let first = prompt_password(prompt1)?;
    if std::io::stdin().is_terminal() {
        let second = prompt_password(prompt2)?;
        if first != second {
            bail!("passwords do not match");
        }
    }
    Ok(first)
}

/// The repository version `--repository-version` names.
fn parse_version(text: &str) -> Result<u32> {
    let version = match text {
        "latest" | "" | "stable" => 2,
        other => other
            .parse::<u32>()
            .map_err(|_| anyhow!("invalid repository version"))?,
    };
    if !(1..=2).contains(&version) {
        bail!("only repository versions between 1 and 2 are allowed");
    }
    Ok(version)
}

/// Creates a repository and prints its ID.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let version = parse_version(&args.repository_version)?;
    let chunker_polynomial = if args.copy_chunker_params {
        Some(args.from.open()?.config().chunker_polynomial)
    } else if args.from.given() {
        bail!("Secondary repository must only be specified when copying the chunker parameters");
    } else {
        None
    };
    let location = cairn::strip_password(&global.location()?);
    let backend = global.backend()?;
    let password = if global.password_file.is_some()
        || global.password_command.is_some()
        || std::env::var_os("RESTIC_PASSWORD").is_some()
        || !std::io::stdin().is_terminal()
    {
        global.password()?
    } else {
        read_new_password(
            "enter password for new repository: ",
            "enter password again: ",
        )?
    };
    if password.is_empty() {
        bail!("an empty password is not allowed by default");
    }
    let opts = InitOptions {
        version,
        chunker_polynomial,
        ..InitOptions::default()
    };
    let repo = match Repository::init(backend, &password, &opts) {
        Ok(r) => r,
        Err(cairn::Error::Backend(BackendError::AlreadyExists { .. })) => {
            bail!("create repository at {location} failed: config file already exists")
        }
        Err(e) => bail!("create key in repository at {location} failed: {e}"),
    };
    let id = repo.config().id.clone();
    if global.json {
        let mut o = JsonObject::default();
        o.set("message_type", "initialized")
            .set("id", id)
            .set("repository", location);
        println!("{}", o.to_json());
        return Ok(());
    }
    if global.quiet {
        return Ok(());
    }
    let copied = if chunker_polynomial.is_some() {
        " with chunker parameters copied from secondary repository"
    } else {
        ""
    };
    println!(
        "created restic repository {} at {location}{copied}",
        &id[..id.len().min(10)]
    );
    println!();
    println!("Please note that knowledge of your password is required to access");
    println!("the repository. Losing your password means that your data is");
    println!("irrecoverably lost.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions() {
        assert_eq!(parse_version("stable").unwrap(), 2);
        assert_eq!(parse_version("latest").unwrap(), 2);
        assert_eq!(parse_version("1").unwrap(), 1);
        assert!(parse_version("3").is_err());
        assert!(parse_version("x").is_err());
    }
}
