//! restic repository file formats as plain data, with no I/O.
//!
//! This crate parses and writes every file kind of a restic repository
//! (config, keys, locks, snapshots, indexes, pack headers and tree blobs)
//! byte-compatibly with the Go implementation. Tree blobs in particular are
//! content-addressed, so [`Tree::to_json`] reproduces restic's exact bytes.
//!
//! ```
//! use cairn_format::{GoTime, Id};
//!
//! let id = Id::hash(b"{\"nodes\":[]}\n");
//! assert_eq!(Id::from_hex(&id.to_hex()).unwrap(), id);
//! let t = GoTime::parse("2022-08-04T12:34:56.5+02:00").unwrap();
//! assert_eq!(t.to_rfc3339_nano(), "2022-08-04T12:34:56.5+02:00");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod gojson;
pub mod goquote;
pub mod gotime;
mod id;

pub use error::FormatError;
pub use gojson::to_go_json;
pub use goquote::{go_quote, go_unquote};
pub use gotime::GoTime;
pub use id::{BlobType, Id};
