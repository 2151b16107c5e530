//! The exporter's repository list (`--repo-config FILE`, JSON).
//!
//! ```json
//! {
//!   "repositories": [
//!     {"name": "laptop", "repository": "/srv/restic/laptop",
//!      "password-file": "/etc/cairn/laptop.pass"},
//!     {"repository": "rest:https://user:secret@backup.example/db",
//!      "password-command": "pass show restic/db"},
//!     {"repository-file": "/etc/cairn/nas.repo", "password-env": "NAS_PASSWORD"}
//!   ]
//! }
//! ```

use crate::Error;
use serde::Deserialize;
use std::path::PathBuf;

/// Where one repository's password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSpec {
    /// The first line of this file.
    File(PathBuf),
    /// The output of this shell command.
    Command(String),
    /// This environment variable.
    Env(String),
}

/// Where one repository is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationSpec {
    /// A restic repository string.
    Location(String),
    /// A file holding one (restic's `--repository-file`).
    File(PathBuf),
}

/// One repository of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryEntry {
    /// The `repository` label; the location without secrets when absent.
    pub name: Option<String>,
    /// Where the repository is.
    pub location: LocationSpec,
    /// Where its password comes from.
    pub password: PasswordSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    repositories: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawEntry {
    name: Option<String>,
    repository: Option<String>,
    repository_file: Option<PathBuf>,
    password_file: Option<PathBuf>,
    password_command: Option<String>,
    password_env: Option<String>,
}

/// Parses the configuration file's text. Each entry needs exactly one of
/// `repository` / `repository-file` and exactly one of `password-file` /
/// `password-command` / `password-env`; names must be unique.
pub fn parse_config(text: &str) -> Result<Vec<RepositoryEntry>, Error> {
    let file: FileFormat = serde_json::from_str(text)
        .map_err(|e| Error::Config(format!("exporter configuration: {e}")))?;
    if file.repositories.is_empty() {
        return Err(Error::Config(
            "exporter configuration: no repositories".into(),
        ));
    }
    let mut entries = Vec::new();
    for (n, raw) in file.repositories.into_iter().enumerate() {
        let at =
            |what: &str| Error::Config(format!("exporter configuration, entry {}: {what}", n + 1));
        let location = match (raw.repository, raw.repository_file) {
            (Some(r), None) if !r.is_empty() => LocationSpec::Location(r),
            (None, Some(f)) => LocationSpec::File(f),
            _ => {
                return Err(at(
                    "give exactly one of \"repository\" and \"repository-file\"",
                ))
            }
        };
        let password = match (raw.password_file, raw.password_command, raw.password_env) {
            (Some(f), None, None) => PasswordSpec::File(f),
            (None, Some(c), None) => PasswordSpec::Command(c),
            (None, None, Some(v)) => PasswordSpec::Env(v),
            _ => return Err(at(
                "give exactly one of \"password-file\", \"password-command\" and \"password-env\"",
            )),
        };
        if let Some(name) = &raw.name {
            if entries
                .iter()
                .any(|e: &RepositoryEntry| e.name.as_ref() == Some(name))
            {
                return Err(at(&format!("the name {name:?} is used twice")));
            }
        }
        entries.push(RepositoryEntry {
            name: raw.name,
            location,
            password,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_source() {
        let text = r#"{"repositories": [
            {"name": "a", "repository": "/r/a", "password-file": "/p/a"},
            {"repository": "rest:http://u:p@h/x", "password-command": "echo x"},
            {"repository-file": "/r/f", "password-env": "PW"}]}"#;
        let entries = parse_config(text).unwrap();
        assert_eq!(
            entries,
            vec![
                RepositoryEntry {
                    name: Some("a".into()),
                    location: LocationSpec::Location("/r/a".into()),
                    password: PasswordSpec::File("/p/a".into()),
                },
                RepositoryEntry {
                    name: None,
                    location: LocationSpec::Location("rest:http://u:p@h/x".into()),
                    password: PasswordSpec::Command("echo x".into()),
                },
                RepositoryEntry {
                    name: None,
                    location: LocationSpec::File("/r/f".into()),
                    password: PasswordSpec::Env("PW".into()),
                },
            ]
        );
    }

    #[test]
    fn refuses_ambiguous_or_incomplete_entries() {
        for bad in [
            r#"{"repositories": []}"#,
            r#"{"repositories": [{"repository": "/r"}]}"#,
            r#"{"repositories": [{"password-env": "X"}]}"#,
            r#"{"repositories": [{"repository": "/r", "password-env": "X", "password-file": "/f"}]}"#,
            r#"{"repositories": [{"repository": "/r", "repository-file": "/f", "password-env": "X"}]}"#,
            r#"{"repositories": [{"repository": "/r", "password-env": "X", "passwd": "x"}]}"#,
            r#"{"repositories": [{"name": "n", "repository": "/r", "password-env": "X"},
                                 {"name": "n", "repository": "/s", "password-env": "X"}]}"#,
        ] {
            assert!(parse_config(bad).is_err(), "{bad}");
        }
    }
}
