//! Property tests: every format round-trips, and parsers never panic.

use std::collections::BTreeMap;

use cairn_format::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn id() -> impl Strategy<Value = Id> {
    any::<[u8; 32]>().prop_map(Id)
}

/// Years 0..=9999 (what Go can encode), offsets in whole minutes.
fn gotime() -> impl Strategy<Value = GoTime> {
    (
        -62_167_219_200i64..253_402_300_799,
        0u32..1_000_000_000,
        -1439i32..=1439,
    )
        .prop_map(|(s, n, m)| GoTime {
            unix_secs: s,
            nanos: n,
            offset_secs: m * 60,
        })
        .prop_filter("local year in 0..=9999", |t| (0..=9999).contains(&t.year()))
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        "[a-z<>&\"\\\\\u{0}-\u{1f}\u{2028}\u{2029}\u{7f}é😀]{0,12}",
    ]
}

fn node_type() -> impl Strategy<Value = NodeType> {
    prop_oneof![
        Just(NodeType::File),
        Just(NodeType::Dir),
        Just(NodeType::Symlink),
        Just(NodeType::Dev),
        Just(NodeType::Chardev),
        Just(NodeType::Fifo),
        Just(NodeType::Socket),
        Just(NodeType::Irregular),
        "[a-z]{0,6}".prop_map(|s| NodeType::parse(&s)),
    ]
}

fn raw_json() -> impl Strategy<Value = RawJson> {
    prop_oneof![
        any::<i64>().prop_map(|v| RawJson::new(&v.to_string()).unwrap()),
        text().prop_map(|s| RawJson::new(&serde_json::to_string(&s).unwrap()).unwrap()),
        Just(RawJson::new("{ \"a\" : [1, 2.50, null, true] }").unwrap()),
    ]
}

prop_compose! {
    fn node()(
        name in vec(any::<u8>(), 1..20),
        node_type in node_type(),
        mode in any::<u32>(),
        times in (gotime(), gotime(), gotime()),
        ids in (any::<u32>(), any::<u32>()),
        names in (text(), text(), text()),
        nums in (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
        link_target in prop_oneof![vec(any::<u8>(), 0..20), text().prop_map(String::into_bytes)],
        xattrs in vec((text(), vec(any::<u8>(), 0..10)), 0..3),
        generic in proptest::option::of(proptest::collection::btree_map(text(), raw_json(), 1..3)),
        content in proptest::option::of(vec(id(), 0..3)),
        subtree in proptest::option::of(id()),
    ) -> Node {
        Node {
            name,
            node_type,
            mode,
            mtime: times.0,
            atime: times.1,
            ctime: times.2,
            uid: ids.0,
            gid: ids.1,
            user: names.0,
            group: names.1,
            inode: nums.0,
            device_id: nums.1,
            size: nums.2,
            links: nums.3,
            link_target,
            extended_attributes: xattrs
                .into_iter()
                .map(|(name, value)| ExtendedAttribute { name, value })
                .collect(),
            generic_attributes: generic,
            device: nums.4,
            content,
            subtree,
            error: names.2,
        }
    }
}

prop_compose! {
    fn packed_blobs()(v in vec((any::<bool>(), id(), any::<u32>(), proptest::option::of(any::<u32>())), 0..30)) -> Vec<PackedBlob> {
        let mut off = 0u64;
        v.into_iter().map(|(tree, id, length, u)| {
            let b = PackedBlob {
                blob_type: if tree { BlobType::Tree } else { BlobType::Data },
                id, offset: off, length, uncompressed_length: u,
            };
            off += u64::from(length);
            b
        }).collect()
    }
}

/// A JSON value as another program might spell it: odd number forms,
/// serde_json's (not Go's) string escaping, whitespace inside.
fn raw_json_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("1.50e3".to_string()),
        Just("-0.0".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        text().prop_map(|t| serde_json::to_string(&t).unwrap()),
        (text(), any::<u64>()).prop_map(|(t, n)| format!(
            "{{ {} : [ {n} , {{}} ],\"b\":\"\\u003c\" }}",
            serde_json::to_string(&t).unwrap()
        )),
    ]
}

/// Names no restic snapshot or summary field uses.
fn unknown_name() -> impl Strategy<Value = String> {
    text().prop_map(|t| format!("x-{t}"))
}

fn unknown_fields() -> impl Strategy<Value = UnknownFields> {
    vec((unknown_name(), raw_json_value()), 0..4).prop_map(|members| {
        let mut u = UnknownFields::new();
        for (name, value) in members {
            u.push(&name, &value).unwrap();
        }
        u
    })
}

prop_compose! {
    fn snapshot()(
        time in gotime(), parent in proptest::option::of(id()), tree in id(),
        paths in vec(text(), 0..3), host in text(), user in text(),
        uid in any::<u32>(), gid in any::<u32>(),
        excludes in vec(text(), 0..3), tags in vec(text(), 0..3),
        original in proptest::option::of(id()), pv in text(),
        summary in proptest::option::of((gotime(), gotime(), any::<[u64; 12]>(), unknown_fields())),
        unknown in unknown_fields(),
    ) -> Snapshot {
        Snapshot {
            time, parent, tree, paths, hostname: host, username: user, uid, gid,
            excludes, tags, original, program_version: pv,
            unknown,
            summary: summary.map(|(s, e, n, unknown)| SnapshotSummary {
                backup_start: s, backup_end: e,
                files_new: n[0], files_changed: n[1], files_unmodified: n[2],
                dirs_new: n[3], dirs_changed: n[4], dirs_unmodified: n[5],
                data_blobs: n[6], tree_blobs: n[7], data_added: n[8],
                data_added_packed: n[9], total_files_processed: n[10],
                total_bytes_processed: n[11], unknown,
            }),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn id_hex_round_trip(bytes in any::<[u8; 32]>()) {
        let id = Id(bytes);
        prop_assert_eq!(Id::from_hex(&id.to_hex()).unwrap(), id);
        prop_assert_eq!(Id::from_hex(&id.to_hex().to_uppercase()).unwrap(), id);
    }

    /// The table-driven parser accepts exactly what the hex crate accepts
    /// (64 characters, either case) and gives the same bytes.
    #[test]
    fn id_from_hex_agrees_with_the_hex_crate(s in "[0-9a-fA-F]{0,70}|[0-9a-f]{20}[g-zG-Z:/@`\\x00-\\x2f\\x7f-\\xff][0-9a-f]{43}") {
        let mut want = [0u8; 32];
        let ok = s.len() == 64 && hex::decode_to_slice(&s, &mut want).is_ok();
        match Id::from_hex(&s) {
            Ok(id) => prop_assert!(ok && id.0 == want, "{s:?}"),
            Err(_) => prop_assert!(!ok, "{s:?}"),
        }
    }

    #[test]
    fn quote_round_trip(b in vec(any::<u8>(), 0..64)) {
        let q = go_quote(&b);
        prop_assert!(!q.contains('\n'));
        prop_assert_eq!(go_unquote(&q).unwrap(), b);
    }

    #[test]
    fn quote_round_trip_text(s in text()) {
        prop_assert_eq!(go_unquote(&go_quote(s.as_bytes())).unwrap(), s.into_bytes());
    }

    #[test]
    fn unquote_never_panics(s in ".*") {
        let _ = go_unquote(&s);
    }

    #[test]
    fn gotime_round_trip(t in gotime()) {
        let s = t.to_rfc3339_nano();
        prop_assert_eq!(GoTime::parse(&s).unwrap(), t);
        prop_assert_eq!(t.clamp_year(), t);
    }

    #[test]
    fn gotime_parse_never_panics(s in "[0-9T:.+Z-]{0,40}") {
        let _ = GoTime::parse(&s);
    }

    #[test]
    fn node_and_tree_round_trip(nodes in vec(node(), 0..6)) {
        for n in &nodes {
            prop_assert_eq!(&Node::from_json(&n.to_json()).unwrap(), n);
        }
        let tree = Tree { nodes };
        let j = tree.to_json();
        prop_assert!(j.ends_with(b"]}\n"), "trailing");
        let back = Tree::from_json(&j).unwrap();
        prop_assert_eq!(back.id(), tree.id());
        prop_assert_eq!(back, tree);
        // Go's JSON encoder output is always valid UTF-8 and valid JSON.
        prop_assert!(std::str::from_utf8(&j).is_ok());
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&j).is_ok());
    }

    #[test]
    fn pack_header_round_trip(blobs in packed_blobs()) {
        let h = serialize_header(&blobs);
        prop_assert_eq!(h.len(), blobs.iter().map(entry_size).sum::<usize>());
        prop_assert_eq!(parse_header(&h).unwrap(), blobs);
    }

    #[test]
    fn parse_header_never_panics(b in vec(any::<u8>(), 0..200)) {
        if let Ok(blobs) = parse_header(&b) {
            prop_assert_eq!(serialize_header(&blobs), b);
        }
    }

    #[test]
    fn unpacked_round_trip(b in vec(any::<u8>(), 0..2000), level in 1i32..10) {
        let mut json = b.clone();
        json.insert(0, b'{');
        prop_assert_eq!(decode_unpacked(2, encode_unpacked(2, &json)).unwrap(), json.clone());
        prop_assert_eq!(decode_unpacked(1, encode_unpacked(1, &json)).unwrap(), json);
        let c = compress_blob(&b, level);
        prop_assert_eq!(decompress_blob(&c, b.len() as u32).unwrap(), b);
    }

    #[test]
    fn decompress_blob_accepts_only_the_true_length(
        b in vec(0u8..8, 1..5000),
        claim in 0usize..10_002,
        level in 1i32..4,
    ) {
        let c = compress_blob(&b, level);
        let out = decompress_blob(&c, claim as u32);
        if claim == b.len() {
            prop_assert_eq!(out.unwrap(), b);
        } else {
            prop_assert!(out.is_err());
        }
    }

    #[test]
    fn decode_unpacked_never_panics(b in vec(any::<u8>(), 0..300)) {
        let mut z = b.clone();
        z.insert(0, 2);
        let _ = decode_unpacked(2, z);
        let _ = decode_unpacked(2, b);
    }

    #[test]
    fn snapshot_round_trip(s in snapshot()) {
        let json = s.to_json();
        let again = Snapshot::from_json(&json).unwrap();
        prop_assert_eq!(&again, &s);
        prop_assert_eq!(again.to_json(), json);
    }

    /// Unknown members anywhere in the object (as rustic interleaves them)
    /// are found in order and written back with their exact value text.
    #[test]
    fn snapshot_unknown_members_survive(
        s in snapshot(),
        extra in vec((unknown_name(), raw_json_value(), any::<prop::sample::Index>()), 0..5),
    ) {
        let mut s = s;
        s.unknown = UnknownFields::new();
        let known = String::from_utf8(s.to_json()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&known).unwrap();
        // serde_json's map sorts the names: restic's fields come in another
        // order than restic writes them, as from another program.
        let mut members: Vec<String> = v.as_object().unwrap().iter()
            .map(|(k, val)| format!(
                "{}:{}",
                serde_json::to_string(k).unwrap(),
                serde_json::to_string(val).unwrap()
            )).collect();
        let mut want = UnknownFields::new();
        let mut placed: Vec<(usize, String, String)> = Vec::new();
        for (name, value, at) in &extra {
            placed.push((at.index(members.len() + 1), name.clone(), value.clone()));
        }
        // Insert from the back so earlier positions stay valid; keep the
        // resulting order to compare with.
        placed.sort_by_key(|p| p.0);
        for (at, name, value) in placed.iter().rev() {
            members.insert(*at, format!("{} : {value}", serde_json::to_string(name).unwrap()));
        }
        for (_, name, value) in &placed {
            want.push(name, value).unwrap();
        }
        let text = format!("{{ {} }}", members.join(" , "));
        let parsed = Snapshot::from_json(text.as_bytes()).unwrap();
        prop_assert_eq!(&parsed.unknown, &want);
        let out = parsed.to_json();
        let out_text = String::from_utf8(out.clone()).unwrap();
        for (_, _, value) in &placed {
            prop_assert!(out_text.contains(value.as_str()));
        }
        let again = Snapshot::from_json(&out).unwrap();
        prop_assert_eq!(&again, &parsed);
        prop_assert_eq!(again.to_json(), out);
    }

    #[test]
    fn lock_round_trip(t in gotime(), ex in any::<bool>(), h in text(), u in text(), nums in any::<[u32; 3]>()) {
        let l = Lock { time: t, exclusive: ex, hostname: h, username: u, pid: nums[0], uid: nums[1], gid: nums[2] };
        prop_assert_eq!(Lock::from_json(&l.to_json()).unwrap(), l);
    }

    #[test]
    fn index_round_trip(packs in vec((id(), vec((id(), any::<bool>(), any::<u64>(), any::<u32>(), proptest::option::of(1u32..)), 0..5)), 0..4)) {
        let idx = IndexFile { packs: packs.into_iter().map(|(pid, blobs)| IndexPack {
            id: pid,
            blobs: blobs.into_iter().map(|(id, tree, offset, length, u)| IndexBlob {
                id, blob_type: if tree { BlobType::Tree } else { BlobType::Data }, offset, length, uncompressed_length: u,
            }).collect(),
        }).collect() };
        let j = idx.to_json();
        prop_assert_eq!(IndexFile::from_json(&j).unwrap(), idx);
    }

    #[test]
    fn config_and_key_round_trip(v in 1u32..=2, id in "[0-9a-f]{64}", pol in any::<u64>(), t in gotime(),
                                 user in text(), host in text(), n in any::<u64>(), r in any::<u32>(), p in any::<u32>(),
                                 salt in any::<[u8; 32]>(), data in vec(any::<u8>(), 0..100)) {
        let c = Config { version: v, id, chunker_polynomial: pol };
        prop_assert_eq!(Config::from_json(&c.to_json()).unwrap(), c);
        let k = KeyFile { created: t, username: user, hostname: host, kdf: "scrypt".into(), n, r, p,
                          salt: [salt, salt].concat(), data };
        prop_assert_eq!(KeyFile::from_json(&k.to_json()).unwrap(), k);
    }

    #[test]
    fn json_parsers_never_panic(s in prop_oneof![".*", "[\\[\\]{}\",:0-9a-z ]{0,60}"]) {
        let b = s.as_bytes();
        let _ = Tree::from_json(b);
        let _ = Node::from_json(b);
        let _ = IndexFile::from_json(b);
        let _ = Snapshot::from_json(b);
        let _ = KeyFile::from_json(b);
        let _ = Lock::from_json(b);
        let _ = Config::from_json(b);
    }
}

#[test]
fn generic_attributes_sorted_map() {
    let mut n = Node::new(b"x".to_vec(), NodeType::File);
    let mut m = BTreeMap::new();
    m.insert("b".to_string(), RawJson::new("1").unwrap());
    m.insert("a".to_string(), RawJson::new("\"x\"").unwrap());
    n.generic_attributes = Some(m);
    let j = String::from_utf8(n.to_json()).unwrap();
    assert!(
        j.contains(r#""generic_attributes":{"a":"x","b":1},"content":[]"#),
        "{j}"
    );
}
