//! restic repository file formats as plain data, with no I/O.
//!
//! This crate parses and writes every file kind of a restic repository
//! (config, keys, locks, snapshots, indexes, pack headers and tree blobs)
//! byte-compatibly with the Go implementation. Tree blobs in particular are
//! content-addressed, so [`Tree::to_json`] reproduces restic's exact bytes.
//!
//! Modules, one per concept:
//! - [`Id`], [`BlobType`]; [`GoTime`] (Go `time.Time` in JSON);
//!   [`gojson`] (Go `encoding/json` escaping); [`goquote`] (`strconv.Quote`).
//! - Repository files: [`Config`], [`KeyFile`], [`Lock`], [`Snapshot`],
//!   [`IndexFile`], [`pack`] headers, [`Tree`] / [`Node`] (with [`mode`]).
//! - [`decode_unpacked`] / [`encode_unpacked`]: v2 compression framing;
//!   [`compress_blob`] / [`decompress_blob`] for blobs.
//!
//! Encryption lives in `cairn-crypto`; this crate only calls it to open and
//! create key files. Readers ignore unknown JSON fields but, unlike Go,
//! match field names case-sensitively (restic only writes lowercase).
//! Snapshots are the exception: they keep unknown members (rustic's
//! `label`, `delete`, …) in [`UnknownFields`] and write them back.
//!
//! ```
//! use cairn_format::{GoTime, Id, Node, NodeType, Tree};
//!
//! let mut file = Node::new(b"a\tb".to_vec(), NodeType::File);
//! file.mtime = GoTime::parse("2022-08-04T12:34:56.5+02:00").unwrap();
//! let tree = Tree { nodes: vec![file] };
//! let json = tree.to_json();
//! assert!(json.starts_with(br#"{"nodes":[{"name":"a\\tb","type":"file","mtime":"2022-08-04T12:34:56.5+02:00""#));
//! assert!(json.ends_with(b"\"content\":[]}]}\n"));
//! assert_eq!(tree.id(), Id::hash(&json));
//! assert_eq!(Tree::from_json(&json).unwrap(), tree);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod b64;
mod config;
mod error;
pub mod gojson;
pub mod goquote;
pub mod gotime;
mod id;
mod index;
mod key;
pub mod limits;
mod lock;
pub mod mode;
mod node;
pub mod pack;
mod snapshot;
mod tree;
mod unknown;
mod unpacked;

pub use config::Config;
pub use error::FormatError;
pub use gojson::to_go_json;
pub use goquote::{go_quote, go_unquote};
pub use gotime::GoTime;
pub use id::{BlobType, Id};
pub use index::{IndexBlob, IndexFile, IndexPack};
pub use key::{master_key_from_json, master_key_to_json, KeyFile, SALT_LEN};
pub use lock::Lock;
pub use node::{ExtendedAttribute, GenericAttributes, Node, NodeType, RawJson};
pub use pack::{
    check_pack_layout, entry_size, header_length, parse_header, serialize_header, PackedBlob,
    HEADER_LENGTH_SIZE,
};
pub use snapshot::{Snapshot, SnapshotSummary};
pub use tree::Tree;
pub use unknown::UnknownFields;
pub use unpacked::{
    compress_blob, decode_unpacked, decode_unpacked_limited, decompress_blob, decompress_blob_into,
    decompress_bounded, encode_unpacked, COMPRESSED_MARKER, MAX_UNPACKED_SIZE,
};
