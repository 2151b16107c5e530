//! Whole restic 0.14 repositories (tests/data/raw-v1, raw-v2; password
//! "cairn-test-password"): every file is decrypted with cairn-crypto and
//! parsed, and every JSON file is re-serialized to restic's exact bytes.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use cairn_crypto::MasterKey;
use cairn_format::*;

const PASSWORD: &[u8] = b"cairn-test-password";

fn repo(v: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/raw-v{v}"))
}

/// (file name as ID, raw bytes) of every file in `dir`, checking that the
/// name is the SHA-256 of the content.
fn files(dir: &Path) -> Vec<(Id, Vec<u8>)> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let id = Id::from_hex(p.file_name().unwrap().to_str().unwrap()).unwrap();
        let raw = fs::read(&p).unwrap();
        assert_eq!(Id::hash(&raw), id, "{}", p.display());
        out.push((id, raw));
    }
    out.sort();
    out
}

fn open_repo(v: u32) -> (MasterKey, Config) {
    let keys = files(&repo(v).join("keys"));
    assert_eq!(keys.len(), 1);
    let kf = KeyFile::from_json(&keys[0].1).unwrap();
    assert_eq!(kf.to_json(), keys[0].1, "key file re-serializes exactly");
    assert!(matches!(kf.open(b"wrong"), Err(FormatError::WrongPassword)));
    let master = kf.open(PASSWORD).unwrap();
    let cfg_raw = fs::read(repo(v).join("config")).unwrap();
    let plain = master.open(&cfg_raw).unwrap();
    let cfg = Config::from_json(&plain).unwrap();
    assert_eq!(cfg.version, v);
    assert_eq!(cfg.to_json(), plain, "config re-serializes exactly");
    (master, cfg)
}

fn unpacked(master: &MasterKey, v: u32, raw: &[u8]) -> Vec<u8> {
    let plain = master.open(raw).unwrap();
    if v == 2 {
        assert_eq!(plain[0], 2, "restic 0.14 compresses unpacked files in v2");
    }
    decode_unpacked(v, plain).unwrap()
}

fn check_repo(v: u32) {
    let (master, _cfg) = open_repo(v);

    for (_, raw) in files(&repo(v).join("snapshots")) {
        let json = unpacked(&master, v, &raw);
        let sn = Snapshot::from_json(&json).unwrap();
        assert_eq!(sn.hostname, "fixture-host");
        assert_eq!(sn.to_json(), json, "snapshot re-serializes exactly");
    }
    for (_, raw) in files(&repo(v).join("locks")) {
        let json = unpacked(&master, v, &raw);
        let lock = Lock::from_json(&json).unwrap();
        assert!(!lock.exclusive);
        assert!(lock.pid > 0);
        assert_eq!(lock.to_json(), json, "lock re-serializes exactly");
    }

    // (pack, blob) -> index entry
    let mut index: HashMap<(Id, Id, BlobType), IndexBlob> = HashMap::new();
    for (_, raw) in files(&repo(v).join("index")) {
        let json = unpacked(&master, v, &raw);
        let idx = IndexFile::from_json(&json).unwrap();
        assert_eq!(idx.to_json(), json, "index re-serializes exactly");
        for p in &idx.packs {
            for b in &p.blobs {
                if v == 1 {
                    assert_eq!(b.uncompressed_length, None);
                }
                index.insert((p.id, b.id, b.blob_type), *b);
            }
        }
    }

    let mut seen = 0;
    let mut trees = 0;
    for (pack_id, raw) in files(&repo(v).join("data")) {
        let n = raw.len();
        let hlen = header_length(raw[n - 4..].try_into().unwrap());
        let enc_header = &raw[n - 4 - hlen as usize..n - 4];
        let header = master.open(enc_header).unwrap();
        let blobs = parse_header(&header).unwrap();
        assert_eq!(serialize_header(&blobs), header);
        check_pack_layout(&blobs, hlen, n as u64).unwrap();
        for b in &blobs {
            let ib = index[&(pack_id, b.id, b.blob_type)];
            assert_eq!(
                (ib.offset, ib.length, ib.uncompressed_length),
                (b.offset, b.length, b.uncompressed_length)
            );
            let sealed = &raw[b.offset as usize..b.offset as usize + b.length as usize];
            let stored = master.open(sealed).unwrap();
            let plain = match b.uncompressed_length {
                Some(u) => decompress_blob(&stored, u).unwrap(),
                None => stored,
            };
            assert_eq!(Id::hash(&plain), b.id);
            if b.blob_type == BlobType::Tree {
                let tree = Tree::from_json(&plain).unwrap();
                tree.validate().unwrap();
                let lossy = tree.nodes.iter().any(|n| n.name == b"link");
                let bs_ff = plain.windows(6).any(|w| w == b"\\u0008");
                let f = if bs_ff {
                    gojson::GoJsonFormatter::go_pre_1_22()
                } else {
                    gojson::GoJsonFormatter::new()
                };
                if !lossy {
                    assert_eq!(tree.to_json_with(f), plain);
                    trees += 1;
                }
            }
            seen += 1;
        }
    }
    assert_eq!(seen, index.len(), "every indexed blob is in a pack");
    assert!(trees >= 12);
}

#[test]
fn repo_v1() {
    check_repo(1);
}

#[test]
fn repo_v2() {
    check_repo(2);
}

#[test]
fn cat_outputs() {
    // `restic cat` output captured alongside: masterkey JSON and
    // pretty-printed snapshots/config parse too.
    for v in [1, 2] {
        let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/v{v}"));
        let mk = master_key_from_json(&fs::read(d.join("masterkey.json")).unwrap()).unwrap();
        let (master, cfg) = open_repo(v);
        assert_eq!(mk.encrypt_key(), master.encrypt_key());
        assert_eq!(mk.mac_k(), master.mac_k());
        assert_eq!(mk.mac_r(), master.mac_r());
        assert_eq!(
            Config::from_json(&fs::read(d.join("config.json")).unwrap()).unwrap(),
            cfg
        );
        let kf = KeyFile::from_json(&fs::read(d.join("key.json")).unwrap()).unwrap();
        assert_eq!(kf.kdf, "scrypt");
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            let b = fs::read(&p).unwrap();
            if name.starts_with("snapshot-") {
                let sn = Snapshot::from_json(&b).unwrap();
                assert_eq!(sn.paths.len(), 1);
            } else if name.starts_with("index-") {
                let idx = IndexFile::from_json(&b).unwrap();
                assert!(idx.blob_count() > 0);
            }
        }
    }
}
