//! `cairn migrate`: restic 0.14's messages over
//! [`cairn::Repository::apply_migration`], under an exclusive lock.

use super::copy::counter_line;
use crate::global::GlobalOptions;
use anyhow::{anyhow, Result};
use cairn::check::{CheckIssue, CheckPhase, CheckProgress};
use cairn::migrate::Migration;
use std::sync::Mutex;
use std::time::Instant;

/// Arguments of `migrate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Apply a migration a second time
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Migrations to apply (default: list those available)
    #[arg(value_name = "migration name")]
    pub names: Vec<String>,
}

/// Lists the migrations that apply, or applies the named ones.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let mut repo = global.open_repository()?;
    let lock = global.lock_always(&repo, true)?;
    let say = |msg: &str| {
        if !global.quiet {
            println!("{msg}");
        }
    };
    if args.names.is_empty() {
        say("available migrations:");
        let available: Vec<Migration> = Migration::ALL
            .into_iter()
            .filter(|m| repo.migration_applies(*m))
            .collect();
        for m in &available {
            say(&format!("  {}\t{}", m.name(), m.description()));
        }
        if available.is_empty() && !global.quiet {
            // restic prints this one without a newline.
            print!("no migrations found");
        }
        return Ok(());
    }
    let mut first_error = None;
    for m in args.names.iter().filter_map(|n| Migration::from_name(n)) {
        if !repo.migration_applies(m) {
            if !args.force {
                eprintln!(
                    "migration {} cannot be applied: check failed\nIf you want to apply this migration anyway, re-run with option --force",
                    m.name()
                );
                continue;
            }
            eprintln!("check for migration {} failed, continuing anyway", m.name());
        }
        if m.checks_repository() {
            say("checking repository integrity...");
        }
        let printer = CheckPrinter {
            quiet: global.quiet,
            snapshots: Mutex::new((Instant::now(), 0, 0)),
        };
        match repo.apply_migration(&lock, m, &printer) {
            Ok(report) if !report.applied => return Err(anyhow!("repository contains errors")),
            Ok(report) => {
                if report.check.is_some() {
                    say("no errors were found");
                }
            }
            Err(e) => {
                eprintln!("migration {} failed: {e}", m.name());
                first_error.get_or_insert(e);
                continue;
            }
        }
        // restic announces the migration after its check has passed.
        say(&format!("applying migration {}...", m.name()));
        say(&format!("migration {}: success", m.name()));
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// The check's phases on standard output, its errors on standard error.
struct CheckPrinter {
    quiet: bool,
    /// Start, snapshots done and to do, for the structure phase.
    snapshots: Mutex<(Instant, u64, u64)>,
}

impl CheckProgress for CheckPrinter {
    fn phase(&self, phase: CheckPhase) {
        let msg = match phase {
            CheckPhase::LoadIndex => "load indexes",
            CheckPhase::Packs => "check all packs",
            CheckPhase::Structure { snapshots } => {
                *self.snapshots.lock().expect("printer poisoned") = (Instant::now(), 0, snapshots);
                "check snapshots, trees and blobs"
            }
            _ => return,
        };
        if !self.quiet {
            println!("{msg}");
        }
    }

    fn advance(&self) {
        self.snapshots.lock().expect("printer poisoned").1 += 1;
    }

    fn phase_done(&self) {
        let (started, done, total) = *self.snapshots.lock().expect("printer poisoned");
        if total > 0 && done == total && !self.quiet {
            println!(
                "{}\n",
                counter_line(started.elapsed(), done, total, "snapshots")
            );
        }
    }

    fn issue(&self, issue: &CheckIssue, error: bool) {
        if error {
            eprintln!("error: {issue}");
        } else if !self.quiet {
            println!("{issue}");
        }
    }
}
