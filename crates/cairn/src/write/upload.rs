//! Upload threads: write finished packs, then the index files naming them.

use super::known::KnownBlobs;
use super::pack::{FinishedPack, PackBuilder};
use super::WriteOptions;
use crate::{Error, Result};
use cairn_backend::{Backend, FileType};
use cairn_crypto::MasterKey;
use cairn_format::{encode_unpacked, Id, IndexBlob, IndexFile, IndexPack};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Shared between the writer and its upload threads.
struct State {
    /// Packs uploaded but not yet named by an index file.
    pending: Vec<IndexPack>,
    pending_blobs: usize,
    /// When the oldest pending pack was uploaded.
    pending_since: Option<std::time::Instant>,
    /// Index files written so far.
    index_ids: Vec<Id>,
    /// Every pack uploaded, numbered by its position (see
    /// [`KnownBlobs::place`]).
    pack_ids: Vec<Id>,
    packs: u64,
    /// The first failure; once set, everything stops.
    failure: Option<String>,
}

struct Shared {
    backend: Arc<dyn Backend>,
    key: MasterKey,
    version: u32,
    index_blobs: usize,
    index_max_age: std::time::Duration,
    dry_run: bool,
    /// Learns where each uploaded blob went.
    known: Arc<KnownBlobs>,
    state: Mutex<State>,
}

/// Hands finished packs to upload threads through a bounded queue (which
/// bounds the memory held by packs waiting for upload).
pub(super) struct Uploader {
    shared: Arc<Shared>,
    queue: Option<Sender<PackBuilder>>,
    threads: Vec<JoinHandle<()>>,
}

impl Uploader {
    pub(super) fn start(
        backend: Arc<dyn Backend>,
        key: MasterKey,
        version: u32,
        opts: &WriteOptions,
        known: Arc<KnownBlobs>,
    ) -> Uploader {
        let shared = Arc::new(Shared {
            backend,
            key,
            version,
            index_blobs: opts.index_blobs.max(1),
            index_max_age: opts.index_max_age,
            dry_run: opts.dry_run,
            known,
            state: Mutex::new(State {
                pending: Vec::new(),
                pending_blobs: 0,
                pending_since: None,
                index_ids: Vec::new(),
                pack_ids: Vec::new(),
                packs: 0,
                failure: None,
            }),
        });
        let (tx, rx) = bounded::<PackBuilder>(super::UPLOAD_QUEUE);
        let threads = (0..opts.upload_threads.max(1))
            .map(|_| {
                let shared = shared.clone();
                let rx: Receiver<PackBuilder> = rx.clone();
                std::thread::spawn(move || {
                    for pack in rx {
                        shared.upload(pack);
                    }
                })
            })
            .collect();
        Uploader {
            shared,
            queue: Some(tx),
            threads,
        }
    }

    /// Fails if an upload has failed.
    pub(super) fn check(&self) -> Result<()> {
        match &self.shared.lock().failure {
            Some(msg) => Err(Error::InvalidArgument(format!(
                "saving packs failed: {msg}"
            ))),
            None => Ok(()),
        }
    }

    /// Queues a pack; blocks while the queue is full.
    pub(super) fn submit(&self, pack: PackBuilder) -> Result<()> {
        self.check()?;
        let queue = self.queue.as_ref().expect("queue open until finish");
        queue
            .send(pack)
            .map_err(|_| Error::InvalidArgument("upload threads have stopped".into()))
    }

    /// Waits for all uploads, then writes the index of what is pending.
    /// Returns the number of packs written, the index files written and
    /// the packs' IDs in the order [`KnownBlobs::place`] numbered them.
    pub(super) fn finish(mut self) -> Result<(u64, Vec<Id>, Vec<Id>)> {
        self.queue = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.check()?;
        self.shared.write_pending_index()?;
        let mut state = self.shared.lock();
        let pack_ids = std::mem::take(&mut state.pack_ids);
        Ok((state.packs, std::mem::take(&mut state.index_ids), pack_ids))
    }

    /// Stops without writing an index.
    pub(super) fn abort(mut self) {
        self.shared
            .lock()
            .failure
            .get_or_insert_with(|| "aborted".into());
        self.queue = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        self.queue = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("upload state lock poisoned")
    }

    fn upload(&self, pack: PackBuilder) {
        if self.lock().failure.is_some() {
            return;
        }
        let FinishedPack { id, bytes, blobs } = pack.finish(&self.key);
        let written = if self.dry_run {
            Ok(())
        } else {
            self.backend.write(FileType::Pack, &id.to_hex(), &bytes)
        };
        if let Err(e) = written {
            self.lock().failure.get_or_insert(e.to_string());
            return;
        }
        let entry = IndexPack {
            id,
            blobs: blobs.iter().map(IndexBlob::from).collect(),
        };
        let (number, write_now) = {
            let mut state = self.lock();
            let number = state.pack_ids.len() as u32;
            state.pack_ids.push(id);
            state.packs += 1;
            state.pending_blobs += entry.blobs.len();
            state.pending.push(entry);
            let since = *state
                .pending_since
                .get_or_insert_with(std::time::Instant::now);
            let due =
                state.pending_blobs >= self.index_blobs || since.elapsed() >= self.index_max_age;
            (number, due)
        };
        if let Err(e) = self.known.place(number, &blobs) {
            self.lock().failure.get_or_insert(e);
            return;
        }
        if write_now {
            if let Err(e) = self.write_pending_index() {
                self.lock().failure.get_or_insert(e.to_string());
            }
        }
    }

    /// Writes one index file for every uploaded pack not yet indexed.
    fn write_pending_index(&self) -> Result<()> {
        let packs = {
            let mut state = self.lock();
            state.pending_blobs = 0;
            state.pending_since = None;
            std::mem::take(&mut state.pending)
        };
        if packs.is_empty() {
            return Ok(());
        }
        if self.dry_run {
            return Ok(());
        }
        let file = IndexFile { packs };
        let json = file.to_json();
        let sealed = self.key.seal(&encode_unpacked(self.version, &json));
        let id = Id::hash(&sealed);
        self.backend.write(FileType::Index, &id.to_hex(), &sealed)?;
        self.lock().index_ids.push(id);
        Ok(())
    }
}
