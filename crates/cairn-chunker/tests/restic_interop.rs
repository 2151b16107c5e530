//! Differential test against the real restic binary: back up files with
//! `restic`, then check that our chunker, given the repository's
//! polynomial, produces exactly the data blobs restic stored for each file.
//!
//! Requires `restic` on PATH (CI installs it); fails, never skips, without it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use cairn_chunker::{ChunkerKind, Polynomial};
use serde_json::Value;
use sha2::{Digest, Sha256};

const PASSWORD: &str = "cairn-chunker-interop";

/// Run restic against `repo`, returning stdout; panic with its stderr on failure.
fn restic(repo: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("restic")
        .args(["--no-cache", "--quiet", "-r"])
        .arg(repo)
        .args(args)
        .env("RESTIC_PASSWORD", PASSWORD)
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("RESTIC_PASSWORD_FILE")
        .env_remove("RESTIC_PASSWORD_COMMAND")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `restic` ({e}); this test needs restic on PATH (e.g. `apt-get install restic`)")
        });
    assert!(
        out.status.success(),
        "restic {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "bad JSON from restic ({e}): {}",
            String::from_utf8_lossy(bytes)
        )
    })
}

/// xorshift64* bytes: deterministic, incompressible-looking.
struct Prng(u64);

impl Prng {
    fn fill(&mut self, out: &mut Vec<u8>, len: usize) {
        let target = out.len() + len;
        while out.len() < target {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            let take = (target - out.len()).min(8);
            out.extend_from_slice(&v[..take]);
        }
    }
}

const MIB: usize = 1 << 20;

/// The test files: name and contents.
fn files() -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = Prng(0x5eed_0001);
    let mut random_5m = Vec::new();
    rng.fill(&mut random_5m, 5 * MIB);

    // 9.5 MiB: random, a zero run, a repeat of earlier data, random again.
    let mut mixed = Vec::new();
    rng.fill(&mut mixed, 3 * MIB);
    mixed.resize(mixed.len() + 1536 * 1024, 0);
    let repeat = mixed[100_000..100_000 + 2 * MIB].to_vec();
    mixed.extend_from_slice(&repeat);
    let rest = 9 * MIB + MIB / 2 - mixed.len();
    rng.fill(&mut mixed, rest);

    // 20 MiB: long zero runs (max-size and min-size cuts), repeats and
    // a stretch of low-entropy text.
    let mut big = Vec::new();
    rng.fill(&mut big, 4 * MIB + 12_345);
    big.resize(big.len() + 9 * MIB, 0);
    let repeat = big[..3 * MIB].to_vec();
    big.extend_from_slice(&repeat);
    while big.len() < 18 * MIB {
        big.extend_from_slice(b"the quick brown fox jumps over the lazy dog 0123456789\n");
    }
    let rest = 20 * MIB - big.len();
    rng.fill(&mut big, rest);

    let mut small = Vec::new();
    rng.fill(&mut small, 100_000);
    let mut just_over_min = Vec::new();
    rng.fill(&mut just_over_min, 512 * 1024 + 1);

    vec![
        ("random-5m", random_5m),
        ("mixed-9.5m", mixed),
        ("big-20m", big),
        ("small", small),
        ("just-over-min", just_over_min),
        ("empty", Vec::new()),
    ]
}

/// Walk a tree blob, collecting every file's content blob IDs by name.
fn collect_files(repo: &Path, tree_id: &str, found: &mut BTreeMap<String, Vec<String>>) {
    let tree = json(&restic(repo, &["cat", "blob", tree_id]));
    for node in tree["nodes"].as_array().expect("tree has nodes") {
        let name = node["name"].as_str().expect("node name").to_owned();
        match node["type"].as_str() {
            Some("dir") => {
                collect_files(repo, node["subtree"].as_str().expect("dir subtree"), found)
            }
            Some("file") => {
                let ids = node["content"]
                    .as_array()
                    .map(|c| {
                        c.iter()
                            .map(|id| id.as_str().expect("blob id").to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                found.insert(name, ids);
            }
            _ => {}
        }
    }
}

#[test]
fn chunks_match_restic_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let data_dir = tmp.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();

    restic(&repo, &["init"]);
    let config = json(&restic(&repo, &["cat", "config"]));
    let pol_hex = config["chunker_polynomial"]
        .as_str()
        .expect("config has chunker_polynomial");
    let pol: Polynomial = pol_hex.parse().unwrap();
    assert!(
        pol.is_irreducible(),
        "restic's polynomial {pol_hex} must be irreducible"
    );
    assert_eq!(pol.degree(), Some(53));
    assert_eq!(
        pol.to_string(),
        pol_hex,
        "hex formatting must round-trip restic's"
    );

    let files = files();
    for (name, contents) in &files {
        std::fs::write(data_dir.join(name), contents).unwrap();
    }
    restic(&repo, &["backup", data_dir.to_str().unwrap()]);

    let snapshots = json(&restic(&repo, &["snapshots", "--json"]));
    let snapshots = snapshots.as_array().expect("snapshot list");
    assert_eq!(snapshots.len(), 1);
    let snap_id = snapshots[0]["id"].as_str().unwrap();
    let snapshot = json(&restic(&repo, &["cat", "snapshot", snap_id]));
    let mut stored = BTreeMap::new();
    collect_files(&repo, snapshot["tree"].as_str().unwrap(), &mut stored);

    let engine = ChunkerKind::Rabin(pol).build().unwrap();
    let sha = |c: &[u8]| hex::encode(Sha256::digest(c));
    let mut total_chunks = 0;
    for (name, contents) in &files {
        let theirs = stored
            .get(*name)
            .unwrap_or_else(|| panic!("{name} not in the snapshot"));
        let from_slice: Vec<String> = engine.chunks(contents).map(sha).collect();
        let mut chunker = engine.chunker(&contents[..]);
        let mut from_reader = Vec::new();
        while let Some(chunk) = chunker.read_chunk().unwrap() {
            from_reader.push(sha(chunk));
        }
        assert_eq!(
            &from_slice, theirs,
            "{name}: chunk IDs differ from restic's (polynomial {pol})"
        );
        assert_eq!(
            from_reader, from_slice,
            "{name}: reader and slice chunking differ"
        );
        total_chunks += theirs.len();
    }
    // The big files must really have been split, or the test proves little.
    assert!(stored["big-20m"].len() >= 6, "{:?}", stored["big-20m"]);
    assert!(stored["random-5m"].len() >= 2);
    assert_eq!(stored["empty"].len(), 0);
    assert!(total_chunks >= 15, "only {total_chunks} chunks in total");
}
