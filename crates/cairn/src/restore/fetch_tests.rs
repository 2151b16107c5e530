use super::*;

fn job(pack: u8, offset: u64, length: u32, file: usize) -> BlobJob {
    let id = Id::hash(&[pack, offset as u8, length as u8]);
    BlobJob {
        loc: BlobLocation {
            id,
            blob_type: BlobType::Data,
            pack: Id([pack; 32]),
            offset,
            length,
            uncompressed_length: Some(length),
        },
        targets: vec![Target { file, offset: 0 }],
    }
}

#[test]
fn neighbours_merge_into_one_read_per_pack() {
    let mut blobs = vec![
        job(1, 200, 100, 0),
        job(1, 0, 100, 1),
        job(1, 100, 100, 2),
        job(2, 0, 50, 3),
    ];
    let ranges = group_ranges(&mut blobs, MAX_RANGE, MAX_GAP);
    assert_eq!(ranges.len(), 2);
    let r1 = ranges.iter().find(|r| r.pack == Id([1; 32])).unwrap();
    assert_eq!((r1.start, r1.end), (0, 300));
    let offsets: Vec<u64> = blobs[r1.blobs.clone()]
        .iter()
        .map(|b| b.loc.offset)
        .collect();
    assert_eq!(offsets, [0, 100, 200]);
    // Ordered by the first file that needs them.
    assert_eq!(ranges[0].pack, Id([1; 32]));
}

#[test]
fn gaps_and_size_limits_split_reads() {
    // A gap larger than allowed starts a new read.
    let ranges = group_ranges(
        &mut vec![job(1, 0, 10, 0), job(1, 1000, 10, 0)],
        1 << 20,
        100,
    );
    assert_eq!(ranges.len(), 2);
    // A small gap is read through.
    let ranges = group_ranges(&mut vec![job(1, 0, 10, 0), job(1, 50, 10, 0)], 1 << 20, 100);
    assert_eq!(ranges.len(), 1);
    assert_eq!((ranges[0].start, ranges[0].end), (0, 60));
    // No read grows beyond the limit; a big blob is read alone.
    let mut blobs = (0..10).map(|i| job(1, i * 100, 100, 0)).collect();
    let ranges = group_ranges(&mut blobs, 300, 0);
    assert_eq!(ranges.len(), 4);
    assert!(ranges.iter().all(|r| r.end - r.start <= 300));
    let ranges = group_ranges(&mut vec![job(1, 0, 1000, 0), job(1, 1000, 10, 0)], 300, 0);
    assert_eq!(ranges.len(), 2);
}

#[test]
fn zero_prefix_and_targets_per_file_stay_together() {
    // Targets of one blob are grouped by file, as `write` expects.
    let mut b = job(1, 0, 10, 0);
    b.targets = vec![
        Target { file: 0, offset: 0 },
        Target {
            file: 0,
            offset: 10,
        },
        Target { file: 3, offset: 0 },
    ];
    let mut blobs = vec![b];
    let ranges = group_ranges(&mut blobs, MAX_RANGE, MAX_GAP);
    let files: Vec<usize> = blobs[ranges[0].blobs.start]
        .targets
        .iter()
        .map(|t| t.file)
        .collect();
    assert_eq!(files, [0, 0, 3]);
}

/// One entry per place a blob goes (as `plan_content` makes them) become
/// one blob with every target, in file order; other blobs stay apart.
#[test]
fn entries_of_one_blob_merge_in_file_order() {
    let place = |file, offset| {
        let mut b = job(1, 0, 10, file);
        b.targets[0].offset = offset;
        b
    };
    let mut blobs = vec![
        place(7, 0),
        job(1, 10, 10, 1),
        place(2, 30),
        place(2, 10),
        place(5, 0),
    ];
    let ranges = group_ranges(&mut blobs, MAX_RANGE, MAX_GAP);
    assert_eq!(blobs.len(), 2);
    assert_eq!(ranges.len(), 1);
    let targets: Vec<(usize, u64)> = blobs[0]
        .targets
        .iter()
        .map(|t| (t.file, t.offset))
        .collect();
    assert_eq!(targets, [(2, 10), (2, 30), (5, 0), (7, 0)]);
    assert_eq!(blobs[1].targets, [Target { file: 1, offset: 0 }]);
}
