//! Each repository's cached state and its refresh.

use super::render::{render, RepositoryReport};
use super::Target;
use cairn::monitor::SnapshotCatalog;
use cairn::Repository;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// One repository: how to open it, the open handle and what it showed.
struct Watched {
    target: Target,
    repo: Option<Repository>,
    catalog: SnapshotCatalog,
    refreshed: Option<Instant>,
    report: RepositoryReport,
}

/// Every repository, refreshed on scrape when older than the interval.
pub(crate) struct ExporterState {
    watched: Mutex<Vec<Watched>>,
    interval: Duration,
}

impl ExporterState {
    pub(crate) fn new(targets: Vec<Target>, interval: Duration) -> ExporterState {
        let watched = targets
            .into_iter()
            .map(|target| Watched {
                report: RepositoryReport {
                    label: target.label.clone(),
                    ..RepositoryReport::default()
                },
                target,
                repo: None,
                catalog: SnapshotCatalog::new(),
                refreshed: None,
            })
            .collect();
        ExporterState {
            watched: Mutex::new(watched),
            interval,
        }
    }

    /// Refreshes what is due and renders everything. Blocking; one scrape
    /// at a time refreshes, the others wait and get its result.
    pub(crate) fn scrape(&self) -> String {
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        for w in watched.iter_mut() {
            let due = w
                .refreshed
                .is_none_or(|at| now.duration_since(at) >= self.interval);
            if due {
                w.refresh();
                w.refreshed = Some(Instant::now());
            }
        }
        let reports: Vec<RepositoryReport> = watched.iter().map(|w| w.report.clone()).collect();
        render(&reports)
    }
}

impl Watched {
    fn refresh(&mut self) {
        let started = Instant::now();
        match self.try_refresh() {
            Ok(problems) => {
                self.report.up = true;
                self.report.scrape_errors_total += problems.len() as u64;
                for p in problems {
                    self.log(&p);
                }
            }
            Err(e) => {
                // Reopen next time: the password or the store may change.
                self.repo = None;
                self.report.up = false;
                self.report.scrape_errors_total += 1;
                self.log(&e);
            }
        }
        self.report.scrape_duration_seconds = started.elapsed().as_secs_f64();
    }

    /// Reads the repository; the problems are files that could not be read.
    fn try_refresh(&mut self) -> Result<Vec<String>, String> {
        let repo = match self.repo.take() {
            Some(r) => r,
            None => (self.target.open)()?,
        };
        let refreshed = self
            .catalog
            .refresh(&repo)
            .map_err(|e| e.to_string())
            .and_then(|report| {
                let status = repo.status(SystemTime::now()).map_err(|e| e.to_string())?;
                Ok((report, status))
            });
        self.repo = Some(repo);
        let (report, status) = refreshed?;
        self.report.groups = self.catalog.groups();
        self.report.locks = status.locks;
        self.report.oldest_lock_age_seconds =
            status.oldest_lock_age.map_or(0.0, |a| a.as_secs_f64());
        self.report.size_bytes = status.pack_bytes;
        self.report.packs = status.packs;
        Ok(report
            .problems
            .iter()
            .chain(&status.lock_problems)
            .map(ToString::to_string)
            .collect())
    }

    /// Logs a problem of this repository, with any URL password masked.
    fn log(&self, problem: &str) {
        let mut line = problem.to_string();
        for secret in &self.target.secrets {
            if !secret.is_empty() {
                line = line.replace(secret.as_str(), "***");
            }
        }
        eprintln!("cairn exporter: repository {}: {line}", self.target.label);
    }
}
