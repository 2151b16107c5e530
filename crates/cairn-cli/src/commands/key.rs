//! `cairn key list|add|remove|passwd`.

use crate::global::GlobalOptions;
use crate::output::{local_time, print_table, JsonObject};
use anyhow::{bail, Context, Result};
use cairn::{KeyInfo, KeyOptions, Repository};
use std::path::{Path, PathBuf};

/// Arguments of `key`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: KeyCommand,
}

/// The `key` sub-commands.
#[derive(clap::Subcommand, Debug)]
pub enum KeyCommand {
    /// List keys (passwords)
    List,
    /// Add a new key (password) to the repository; returns the new key ID
    Add(NewKeyArgs),
    /// Remove key ID (password) from the repository.
    Remove {
        /// The key ID (or a unique prefix) to remove
        id: String,
    },
    /// Change key (password); creates a new key ID and removes the old key ID, returns new key ID
    Passwd(NewKeyArgs),
}

/// Options for a new key (`key add`, `key passwd`).
#[derive(clap::Args, Debug)]
pub struct NewKeyArgs {
    /// File from which to read the new password
    #[arg(long, value_name = "file")]
    pub new_password_file: Option<PathBuf>,
    /// The username for new key
    #[arg(long)]
    pub user: Option<String>,
    /// The hostname for new key
    #[arg(long)]
    pub host: Option<String>,
    /// Add an empty password for the repository (insecure)
    #[arg(long)]
    pub new_insecure_no_password: bool,
}

impl NewKeyArgs {
    /// The new password: the whole file, trimmed (as restic reads it), or
    /// asked twice.
    fn password(&self) -> Result<String> {
        if self.new_insecure_no_password {
            if self.new_password_file.is_some() {
                bail!("only either --new-password-file or --new-insecure-no-password may be specified");
            }
            return Ok(String::new());
        }
        if let Some(f) = &self.new_password_file {
            let pw = load_password_file(f)?;
            if pw.is_empty() {
                bail!("an empty password is not allowed by default. Pass the flag `--new-insecure-no-password` to restic to disable this check");
            }
            return Ok(pw);
        }
        // Asked anew: no file, command or variable of the repository's own.
        crate::global::PasswordSource {
            file: None,
            command: None,
            env_var: "",
            insecure_no_password: false,
            insecure_flag: "--new-insecure-no-password",
        }
        .read_twice("enter new password: ", "enter password again: ")
    }

    fn key_options(&self) -> KeyOptions {
        KeyOptions {
            scrypt: None,
            username: self.user.clone(),
            hostname: self.host.clone(),
        }
    }
}

fn load_password_file(f: &Path) -> Result<String> {
    if !f.exists() {
        bail!("{} does not exist", f.display());
    }
    let text = std::fs::read_to_string(f)
        .with_context(|| format!("unable to read password file {}", f.display()))?;
    Ok(text.trim().to_string())
}

/// Runs a `key` sub-command. Locks as restic does: `list` shared (unless
/// `--no-lock`), `add` shared, `remove` and `passwd` exclusive, the last
/// three even with `--no-lock`.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let mut repo = global.open_repository()?;
    match args.command {
        KeyCommand::List => {
            let _lock = global.lock(&repo, false)?;
            list(global, &repo)
        }
        KeyCommand::Add(a) => {
            let lock = global.lock_always(&repo, false)?;
            let password = a.password()?;
            let id = repo.add_key(&lock, &password, &a.key_options())?;
            println!("saved new key with ID {}", id.to_hex());
            Ok(())
        }
        KeyCommand::Remove { id } => {
            let lock = global.lock_always(&repo, true)?;
            let removed = repo.remove_key(&lock, &id)?;
            println!("removed key {}", removed.to_hex());
            Ok(())
        }
        KeyCommand::Passwd(a) => {
            let lock = global.lock_always(&repo, true)?;
            let password = a.password()?;
            let id = repo.change_password(&lock, &password, &a.key_options())?;
            let (keys, _) = repo.keys()?;
            match keys.iter().find(|k| k.id == id) {
                Some(k) => println!("saved new key as {}", go_key_string(k)),
                None => println!("saved new key as {}", id.to_hex()),
            }
            Ok(())
        }
    }
}

fn list(global: &GlobalOptions, repo: &Repository) -> Result<()> {
    let (keys, problems) = repo.keys()?;
    for p in problems {
        eprintln!("LoadKey() failed: {p}");
    }
    if global.json {
        let items: Vec<String> = keys.iter().map(|k| key_json(k).to_json()).collect();
        println!("[{}]", items.join(","));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let mark = if k.current { "*" } else { " " };
            vec![
                format!("{mark}{}", k.id.short()),
                k.username.clone(),
                k.hostname.clone(),
                local_time(&k.created),
            ]
        })
        .collect();
    print_table(&[" ID", "User", "Host", "Created"], &rows, None);
    Ok(())
}

/// One key as restic's `key list --json` prints it (the full ID, as newer
/// restic prints it; 0.14 printed the short one).
fn key_json(k: &KeyInfo) -> JsonObject {
    let mut o = JsonObject::default();
    o.set("current", k.current)
        .set("id", k.id.to_hex())
        .set("userName", k.username.clone())
        .set("hostName", k.hostname.clone())
        .set("created", local_time(&k.created));
    o
}

/// restic prints the new key of `key passwd` with Go's `%s` of its key
/// struct: `<Key of user@host, created on 2006-01-02 15:04:05.999 -0700 MST>`.
/// The zone is shown as `UTC` or as its offset (the abbreviation is not
/// known here).
fn go_key_string(k: &KeyInfo) -> String {
    let t = &k.created;
    let (y, mo, d, h, mi, s) = t.civil();
    let mut frac = String::new();
    if t.nanos != 0 {
        frac = format!(".{:09}", t.nanos).trim_end_matches('0').to_string();
    }
    let off = t.offset_secs;
    let sign = if off < 0 { '-' } else { '+' };
    let zone = format!("{sign}{:02}{:02}", off.abs() / 3600, off.abs() / 60 % 60);
    let name = if off == 0 {
        "UTC".to_string()
    } else {
        zone.clone()
    };
    format!(
        "<Key of {}@{}, created on {y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{frac} {zone} {name}>",
        k.username, k.hostname
    )
}
