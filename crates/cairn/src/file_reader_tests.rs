use super::*;
use crate::testing::{file, Crafter};
use proptest::prelude::*;

/// A crafted repository holding one file of `parts`; returns the crafter
/// (keep it alive), the file node and its full content.
fn crafted_file(parts: &[Vec<u8>]) -> (tempfile::TempDir, Crafter, Node, Vec<u8>) {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Crafter::init(&tmp.path().join("repo"), 2).unwrap();
    let ids: Vec<Id> = parts.iter().map(|p| c.data(p).unwrap()).collect();
    let whole: Vec<u8> = parts.concat();
    let node = file("f", &ids, whole.len() as u64);
    c.flush().unwrap();
    (tmp, c, node, whole)
}

fn reader(c: &Crafter, node: &Node, cache: Arc<BlobCache>) -> FileReader {
    FileReader::new(Arc::new(c.repo().clone()), node, cache).unwrap()
}

fn parts(sizes: &[usize]) -> Vec<Vec<u8>> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n).map(|j| (j * 7 + i * 31) as u8).collect())
        .collect()
}

#[test]
fn reads_across_blob_boundaries_and_stops_at_the_end() {
    let (_tmp, c, node, whole) = crafted_file(&parts(&[1000, 1, 2500, 0, 700]));
    let r = reader(&c, &node, Arc::new(BlobCache::new(1 << 20)));
    assert_eq!(r.size(), whole.len() as u64);
    let mut buf = vec![0; 1500];
    assert_eq!(r.read_at(900, &mut buf).unwrap(), 1500);
    assert_eq!(buf[..], whole[900..2400]);
    let n = r.read_at(whole.len() as u64 - 10, &mut buf).unwrap();
    assert_eq!(n, 10);
    assert_eq!(buf[..10], whole[whole.len() - 10..]);
    assert_eq!(r.read_at(whole.len() as u64, &mut buf).unwrap(), 0);
    assert_eq!(r.read_at(u64::MAX, &mut buf).unwrap(), 0);
}

#[test]
fn only_blobs_under_the_range_are_loaded() {
    let (_tmp, c, node, _) = crafted_file(&parts(&[100, 100, 100, 100]));
    let cache = Arc::new(BlobCache::new(1 << 20));
    let mut r = reader(&c, &node, cache.clone());
    r.set_read_ahead(0);
    let mut buf = vec![0; 50];
    r.read_at(120, &mut buf).unwrap();
    let ids = node.content.clone().unwrap();
    assert!(cache.contains(&ids[1]));
    assert!(!cache.contains(&ids[0]));
    assert!(!cache.contains(&ids[2]));
    assert_eq!(cache.bytes(), 100);
}

#[test]
fn sequential_reads_load_the_next_blobs_ahead() {
    let (_tmp, c, node, _) = crafted_file(&parts(&[100, 100, 100, 100, 100]));
    let cache = Arc::new(BlobCache::new(1 << 20));
    let r = reader(&c, &node, cache.clone());
    let mut buf = vec![0; 100];
    r.read_at(0, &mut buf).unwrap();
    r.read_at(100, &mut buf).unwrap();
    let ids = node.content.clone().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !ids[2..].iter().all(|id| cache.contains(id)) {
        assert!(std::time::Instant::now() < deadline, "no read-ahead");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn the_cache_stays_within_its_capacity_dropping_the_oldest() {
    let cache = BlobCache::new(250);
    let ids: Vec<Id> = (0..4u8).map(|i| Id::hash(&[i])).collect();
    for id in &ids[..2] {
        cache.insert(*id, Arc::new(vec![0; 100]));
    }
    // Using the first makes the second the oldest.
    assert!(cache.get(&ids[0]).is_some());
    cache.insert(ids[2], Arc::new(vec![0; 100]));
    assert!(cache.bytes() <= 250);
    assert!(cache.contains(&ids[0]) && cache.contains(&ids[2]));
    assert!(!cache.contains(&ids[1]));
    // Larger than the whole cache: not kept, nothing evicted for it.
    cache.insert(ids[3], Arc::new(vec![0; 300]));
    assert!(!cache.contains(&ids[3]));
    assert_eq!(cache.bytes(), 200);
}

#[test]
fn a_blob_whose_content_does_not_match_its_id_fails_the_read() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Crafter::init(&tmp.path().join("repo"), 2).unwrap();
    let good = c.data(b"good bytes").unwrap();
    let claimed = Id::hash(b"what the ID promises");
    c.mismatched_blob(BlobType::Data, claimed, b"something else entirely")
        .unwrap();
    c.flush().unwrap();
    let node = file("f", &[good, claimed], 33);
    let cache = Arc::new(BlobCache::new(1 << 20));
    let r = reader(&c, &node, cache.clone());
    let mut buf = vec![0; 10];
    assert_eq!(r.read_at(0, &mut buf).unwrap(), 10);
    assert_eq!(&buf, b"good bytes");
    let err = r.read_at(12, &mut buf).unwrap_err();
    assert!(matches!(err, Error::BadBlob { .. }), "{err}");
    assert!(!cache.contains(&claimed));
}

#[test]
fn a_blob_that_does_not_decrypt_fails_the_read() {
    let (_tmp, c, node, _) = crafted_file(&parts(&[300, 300]));
    let ids = node.content.clone().unwrap();
    c.corrupt_blob(BlobType::Data, &ids[1]).unwrap();
    let r = reader(&c, &node, Arc::new(BlobCache::new(1 << 20)));
    let mut buf = vec![0; 100];
    assert!(r.read_at(0, &mut buf).is_ok());
    assert!(matches!(
        r.read_at(350, &mut buf),
        Err(Error::BadBlob { .. })
    ));
}

#[test]
fn a_blob_the_index_does_not_know_fails_at_open() {
    let (_tmp, c, _, _) = crafted_file(&parts(&[10]));
    let node = file("f", &[Id::hash(b"nowhere")], 10);
    let err = FileReader::new(
        Arc::new(c.repo().clone()),
        &node,
        Arc::new(BlobCache::new(1024)),
    )
    .unwrap_err();
    assert!(matches!(err, Error::BlobNotFound { .. }));
}

#[test]
fn concurrent_readers_share_the_cache() {
    let (_tmp, c, node, whole) = crafted_file(&parts(&[4000, 3000, 5000]));
    let r = Arc::new(reader(&c, &node, Arc::new(BlobCache::new(1 << 20))));
    let whole = Arc::new(whole);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (r, whole) = (r.clone(), whole.clone());
            std::thread::spawn(move || {
                for k in 0..20u64 {
                    let off = (t * 997 + k * 613) % whole.len() as u64;
                    let mut buf = vec![0; 1777];
                    let n = r.read_at(off, &mut buf).unwrap();
                    assert_eq!(buf[..n], whole[off as usize..off as usize + n]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn read_at_equals_the_dumped_content(
        sizes in proptest::collection::vec(0usize..3000, 1..6),
        ranges in proptest::collection::vec((0u64..16000, 0usize..5000), 1..12),
        cache_size in 0usize..8000,
    ) {
        let (_tmp, c, node, _) = crafted_file(&parts(&sizes));
        let mut dumped = Vec::new();
        crate::dump::write_file_content(c.repo(), &node, &mut dumped).unwrap();
        let r = reader(&c, &node, Arc::new(BlobCache::new(cache_size)));
        for (off, len) in ranges {
            let mut buf = vec![0; len];
            let n = r.read_at(off, &mut buf).unwrap();
            let start = (off as usize).min(dumped.len());
            let end = (start + len).min(dumped.len());
            prop_assert_eq!(&buf[..n], &dumped[start..end]);
        }
    }
}
