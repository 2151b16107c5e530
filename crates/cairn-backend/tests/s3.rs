//! The S3 backend against a real S3 API: moto's server on 127.0.0.1.
//! Every test starts its own server (see `moto/mod.rs`); a missing
//! `moto_server` fails the tests unless `CAIRN_SKIP_S3=1`.

mod moto;
mod support;

use cairn_backend::{
    open, open_wrapped, Backend, BackendError, BackendOptions, FileType, Location,
    ObjectStoreBackend, RetryPolicy,
};
use moto::{Moto, ACCESS_KEY, SECRET_KEY};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

/// The same fake credentials for every test of this binary, so setting
/// them from several threads never changes what another one reads.
fn credentials() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::remove_var("AWS_SESSION_TOKEN");
        std::env::remove_var("AWS_DEFAULT_REGION");
    });
}

fn backend(repo: &str) -> Arc<dyn Backend> {
    credentials();
    open(&Location::parse(repo).unwrap(), &BackendOptions::default()).unwrap()
}

/// The backend as the CLI opens it: with restic's retry policy.
fn wrapped(repo: &str) -> Arc<dyn Backend> {
    credentials();
    let loc = Location::parse(repo).unwrap();
    open_wrapped(
        &loc,
        &BackendOptions::default(),
        RetryPolicy::default(),
        None,
    )
    .unwrap()
}

/// A 64-digit hex name from a number.
fn id(n: u64) -> String {
    format!("{:064x}", (n + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn one_line_without_secret(e: &BackendError) -> String {
    let text = e.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(!text.contains(SECRET_KEY), "{text}");
    text
}

#[test]
fn files_round_trip_in_restics_layout() {
    let Some(moto) = Moto::start(false) else {
        return;
    };
    let be = backend(&moto.repo("round-trip", "repo/x"));
    be.create().expect("create makes the bucket");
    be.create()
        .expect("a bucket without a config is not a repository yet");
    be.write(FileType::Config, "config", b"cfg").unwrap();
    assert!(matches!(
        be.create(),
        Err(BackendError::AlreadyExists { .. })
    ));

    let pack = id(1);
    let data = pattern(100_000, 7);
    be.write(FileType::Pack, &pack, &data).unwrap();
    be.write(FileType::Key, "k1", b"key").unwrap();
    assert_eq!(be.read(FileType::Pack, &pack).unwrap(), data);
    assert_eq!(
        be.read_range(FileType::Pack, &pack, 1000, 234).unwrap(),
        &data[1000..1234]
    );
    assert_eq!(
        be.read_range(FileType::Pack, &pack, 99_990, 10).unwrap(),
        &data[99_990..]
    );
    assert_eq!(be.read_range(FileType::Pack, &pack, 5, 0).unwrap(), b"");
    match be.read_range(FileType::Pack, &pack, 99_990, 20) {
        Err(BackendError::ShortRead { got: 10, .. }) => {}
        other => panic!("a range past the end must be a short read: {other:?}"),
    }
    match be.read_range(FileType::Pack, &pack, 200_000, 5) {
        Err(BackendError::ShortRead { got: 0, .. }) => {}
        other => panic!("a range after the end must be a short read: {other:?}"),
    }
    assert_eq!(be.stat(FileType::Pack, &pack).unwrap().size, 100_000);
    assert_eq!(be.stat(FileType::Config, "").unwrap().size, 3);
    let packs = be.list(FileType::Pack).unwrap();
    assert_eq!(packs.len(), 1);
    assert_eq!(
        (packs[0].name.as_str(), packs[0].size),
        (pack.as_str(), 100_000)
    );
    assert_eq!(be.list(FileType::Config).unwrap().len(), 1);
    assert!(be.list(FileType::Snapshot).unwrap().is_empty());

    // The objects are where restic looks for them.
    let raw = Raw::new(&moto, "round-trip");
    let key = format!("repo/x/data/{}/{pack}", &pack[..2]);
    assert_eq!(raw.read(&key), data);
    assert_eq!(raw.read("repo/x/keys/k1"), b"key");
    assert_eq!(raw.read("repo/x/config"), b"cfg");

    be.remove(FileType::Key, "k1").unwrap();
    assert!(be.read(FileType::Key, "k1").unwrap_err().is_not_found());
    assert!(be.stat(FileType::Key, "k1").unwrap_err().is_not_found());
    assert!(be.remove(FileType::Key, "k1").unwrap_err().is_not_found());
    assert!(be.list(FileType::Key).unwrap().is_empty());
    assert!(be.read(FileType::Pack, &id(2)).unwrap_err().is_not_found());
    assert!(be.write(FileType::Key, "../x", b"").is_err());
}

#[test]
fn listing_pages_through_more_than_a_thousand_objects() {
    let Some(moto) = Moto::start(false) else {
        return;
    };
    let be = backend(&moto.repo("many", "p"));
    be.create().unwrap();
    let n: u64 = 1_050;
    std::thread::scope(|s| {
        for t in 0..8 {
            let be = &be;
            s.spawn(move || {
                for i in (t..n).step_by(8) {
                    be.write(FileType::Pack, &id(i), &i.to_le_bytes()[..(i % 8) as usize])
                        .unwrap();
                }
            });
        }
    });
    be.write(FileType::Snapshot, &id(0), b"s").unwrap();
    let mut listed = be.list(FileType::Pack).unwrap();
    listed.sort();
    let mut want: Vec<_> = (0..n).map(|i| (id(i), i % 8)).collect();
    want.sort();
    let got: Vec<_> = listed.into_iter().map(|f| (f.name, f.size)).collect();
    assert_eq!(got, want);
    assert_eq!(be.list(FileType::Snapshot).unwrap().len(), 1);
}

#[test]
fn large_files_go_up_in_parts() {
    let Some(moto) = Moto::start(false) else {
        return;
    };
    credentials();
    let loc = Location::parse(&moto.repo("multipart", "r")).unwrap();
    let be = open(&loc, &BackendOptions::default()).unwrap();
    be.create().unwrap();
    // S3 wants at least 5 MiB in every part but the last.
    let mut parts = object_store(&moto.repo("multipart", "r"));
    parts.set_part_size(5 << 20);
    let data = pattern((11 << 20) + 123, 3);
    let name = id(9);
    parts.write(FileType::Pack, &name, &data).unwrap();
    assert_eq!(be.read(FileType::Pack, &name).unwrap(), data);
    assert_eq!(
        be.read_range(FileType::Pack, &name, (6 << 20) - 10, 20)
            .unwrap(),
        &data[(6 << 20) - 10..(6 << 20) + 10]
    );
    // A multipart upload's ETag ends in "-PARTS".
    let raw = Raw::new(&moto, "multipart");
    let etag = raw.etag(&format!("r/data/{}/{name}", &name[..2]));
    assert!(etag.trim_matches('"').ends_with("-3"), "ETag {etag}");
    // A small file is one plain upload.
    parts.write(FileType::Index, &name, b"small").unwrap();
    assert!(!raw.etag(&format!("r/index/{name}")).contains('-'));
}

/// Direct access to a bucket, bypassing the backend, to see what it
/// stored where.
struct Raw {
    op: opendal::Operator,
    rt: tokio::runtime::Runtime,
}

impl Raw {
    fn new(moto: &Moto, bucket: &str) -> Raw {
        let b = opendal::services::S3::default()
            .endpoint(&format!("http://127.0.0.1:{}", moto.port))
            .bucket(bucket)
            .region("us-east-1")
            .access_key_id(ACCESS_KEY)
            .secret_access_key(SECRET_KEY);
        Raw {
            op: opendal::Operator::new(b).unwrap().finish(),
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    fn read(&self, key: &str) -> Vec<u8> {
        let got = self.rt.block_on(self.op.read(key));
        got.unwrap_or_else(|e| panic!("{key}: {e}")).to_vec()
    }

    fn etag(&self, key: &str) -> String {
        let meta = self.rt.block_on(self.op.stat(key));
        let meta = meta.unwrap_or_else(|e| panic!("{key}: {e}"));
        meta.etag().expect("S3 gives ETags").to_string()
    }
}

/// The concrete backend, to set its part size.
fn object_store(repo: &str) -> ObjectStoreBackend {
    credentials();
    ObjectStoreBackend::open(&Location::parse(repo).unwrap(), &BackendOptions::default()).unwrap()
}

#[test]
fn a_missing_bucket_is_a_missing_repository_and_init_creates_it() {
    let Some(moto) = Moto::start(false) else {
        return;
    };
    let be = backend(&moto.repo("not-there", "p"));
    let e = be.read(FileType::Config, "").unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = be.list(FileType::Snapshot).unwrap_err();
    let text = one_line_without_secret(&e);
    assert!(text.contains("does not exist"), "{text}");
    assert!(text.starts_with(&moto.repo("not-there", "p")), "{text}");
    assert!(!e.is_transient());
    be.create().unwrap();
    assert!(be.list(FileType::Snapshot).unwrap().is_empty());
}

#[test]
fn refused_credentials_fail_at_once_with_one_line() {
    let Some(moto) = Moto::start(true) else {
        return;
    };
    let be = wrapped(&moto.repo("locked", "p"));
    let start = Instant::now();
    for e in [
        be.read(FileType::Config, "").unwrap_err(),
        be.list(FileType::Key).unwrap_err(),
        be.create().unwrap_err(),
    ] {
        let text = one_line_without_secret(&e);
        assert!(!e.is_transient(), "{text}");
        assert!(
            text.contains("InvalidAccessKeyId") || text.contains("403"),
            "{text}"
        );
    }
    assert!(start.elapsed() < Duration::from_secs(10), "no retries");
}

#[test]
fn an_unreachable_endpoint_is_retried_briefly_then_reported() {
    let port = moto::free_port();
    let be = wrapped(&format!("s3:http://127.0.0.1:{port}/b/p"));
    let start = Instant::now();
    let e = be.read(FileType::Config, "").unwrap_err();
    let took = start.elapsed();
    let text = one_line_without_secret(&e);
    assert!(e.is_transient(), "{text}");
    assert!(text.to_lowercase().contains("connect"), "{text}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn unknown_s3_options_are_refused_and_known_ones_accepted() {
    credentials();
    let loc = Location::parse("s3:http://127.0.0.1:1/b/p").unwrap();
    let mut o = BackendOptions::default();
    o.set_extended(&["s3.bogus=1"]).unwrap();
    let e = open(&loc, &o).err().unwrap();
    assert_eq!(e.to_string(), "option s3.bogus is not known");
    let mut o = BackendOptions::default();
    o.set_extended(&[
        "s3.region=eu-west-1",
        "s3.bucket-lookup=path",
        "s3.storage-class=STANDARD_IA",
        "s3.connections=2",
    ])
    .unwrap();
    let be = open(&loc, &o).unwrap();
    assert_eq!(be.location(), "s3:http://127.0.0.1:1/b/p");
}

#[test]
fn s3_works_from_inside_tokio_tasks() {
    let Some(moto) = Moto::start(false) else {
        return;
    };
    let repo = moto.repo("tokio", "repo");
    backend(&repo).create().unwrap();
    support::in_tokio_tasks(move || wrapped(&repo));
}
