//! Reading a repository password as restic 0.19 does: from a file, a
//! command or an environment variable, else the terminal or standard
//! input; an empty password only with `--insecure-no-password` (or the
//! `--from-`/`--new-` variant of that flag).

use anyhow::{bail, Context, Result};
use std::io::{BufRead, IsTerminal};
use std::path::Path;

/// Where one repository's password comes from.
#[derive(Debug, Clone, Copy)]
pub struct PasswordSource<'a> {
    /// `--password-file` (or its `--from-`/`2` variant).
    pub file: Option<&'a Path>,
    /// `--password-command` (or its variant).
    pub command: Option<&'a str>,
    /// The environment variable with the password (`RESTIC_PASSWORD`, …).
    pub env_var: &'a str,
    /// `--insecure-no-password` (or its variant): the password is empty.
    pub insecure_no_password: bool,
    /// The name of that flag, for the error that asks for it.
    pub insecure_flag: &'a str,
}

impl PasswordSource<'_> {
    /// The password the options give without asking (restic's
    /// `resolvePassword`): empty when none does.
    pub fn resolve(&self) -> Result<String> {
        if self.file.is_some() && self.command.is_some() {
            bail!("Resolving password failed: Password file and command are mutually exclusive options");
        }
        if let Some(cmd) = self.command {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .stderr(std::process::Stdio::inherit())
                .output()
                .context("password command could not be run")?;
            if !out.status.success() {
                bail!("password command exited with {}", out.status);
            }
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        if let Some(f) = self.file {
            if !f.exists() {
                bail!("{} does not exist", f.display());
            }
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("unable to read password file {}", f.display()))?;
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            return Ok(first_line(text));
        }
        Ok(std::env::var(self.env_var).unwrap_or_default())
    }

    /// The password (restic's `readPassword`): the resolved one, else
    /// asked with `prompt`; empty only with the insecure flag, which in
    /// turn refuses a password given by an option or the environment.
    pub fn read(&self, prompt: &str) -> Result<String> {
        let resolved = self.resolve()?;
        self.check(resolved, prompt)
    }

    fn check(&self, resolved: String, prompt: &str) -> Result<String> {
        if self.insecure_no_password {
            if !resolved.is_empty() {
                bail!(
                    "{} must not be specified together with providing a password via a cli option or environment variable",
                    self.insecure_flag
                );
            }
            return Ok(String::new());
        }
        if !resolved.is_empty() {
            return Ok(resolved);
        }
        let password = prompt_password(prompt)?;
        if password.is_empty() {
            bail!(
                "an empty password is not allowed by default. Pass the flag `{}` to restic to disable this check",
                self.insecure_flag
            );
        }
        Ok(password)
    }

    /// A new password (restic's `ReadPasswordTwice`): read once, and asked
    /// a second time on a terminal, where both must match.
    pub fn read_twice(&self, prompt1: &str, prompt2: &str) -> Result<String> {
        let resolved = self.resolve()?;
        let first = self.check(resolved.clone(), prompt1)?;
        if std::io::stdin().is_terminal() {
            let second = self.check(resolved, prompt2)?;
            if first != second {
                bail!("passwords do not match");
            }
        }
        Ok(first)
    }
}

/// The first line of `s`, as the password file and command are read.
pub fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

/// Asks for a password on the terminal, or reads the first line of
/// standard input when it is not a terminal.
pub fn prompt_password(prompt: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt).context("unable to read password");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("unable to read password from stdin")?;
    Ok(first_line(&line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(file: Option<&Path>, insecure: bool) -> PasswordSource<'_> {
        PasswordSource {
            file,
            command: None,
            env_var: "CAIRN_TEST_PASSWORD_THAT_IS_NEVER_SET",
            insecure_no_password: insecure,
            insecure_flag: "--insecure-no-password",
        }
    }

    #[test]
    fn insecure_flag_refuses_a_given_password() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "\u{feff}secret\n").unwrap();
        assert_eq!(source(Some(&f), false).read("x").unwrap(), "secret");
        let err = source(Some(&f), true).read("x").unwrap_err().to_string();
        assert!(
            err.starts_with("--insecure-no-password must not be specified together"),
            "{err}"
        );
        assert_eq!(source(None, true).read("x").unwrap(), "");
    }

    #[test]
    fn file_and_command_are_exclusive() {
        let mut s = source(Some(Path::new("/nonexistent")), false);
        s.command = Some("echo x");
        assert!(s
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("mutually exclusive"));
    }
}
