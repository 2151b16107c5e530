//! `cairn init`.

use crate::global::GlobalOptions;
use crate::output::JsonObject;
pub use crate::secondary_repo::SecondaryRepo;
use anyhow::{anyhow, bail, Result};
use cairn::{BackendError, InitOptions, Repository};

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
    crate::secondary_repo::warn_deprecated(std::env::args());
    let version = parse_version(&args.repository_version)?;
    let chunker_polynomial = if args.copy_chunker_params {
        let other = args.from.resolve("secondary")?;
        Some(other.open(global)?.config().chunker_polynomial)
    } else if args.from.names_location() {
        bail!("Secondary repository must only be specified when copying the chunker parameters");
    } else {
        None
    };
    let location = cairn::strip_password(&global.location()?);
    let backend = global.backend()?;
    let password = global.password_source().read_twice(
        "enter password for new repository: ",
        "enter password again: ",
    )?;
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
