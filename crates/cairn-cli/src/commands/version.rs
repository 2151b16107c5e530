//! `cairn version`.
//!
//! Wrappers read restic's version from this command to decide what they
//! may use (resticpy matches `restic X.Y.Z compiled with goN on os/arch`
//! in the text, and reads `version` from the JSON), so both forms name
//! the restic version Cairn is a drop-in for, and also say that this is
//! Cairn and which version of it.

use crate::global::GlobalOptions;
use anyhow::Result;

/// The restic release whose command line and output Cairn follows.
pub const RESTIC_COMPATIBLE: &str = "0.19.1";

/// Prints the version like restic does, or its JSON form.
pub fn run(global: &GlobalOptions) -> Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    let (os, arch) = (std::env::consts::OS, go_arch());
    if global.json {
        let mut o = crate::output::JsonObject::default();
        o.set("message_type", "version")
            .set("version", RESTIC_COMPATIBLE)
            .set("go_version", "rust")
            .set("go_os", os)
            .set("go_arch", arch)
            .set("cairn_version", version);
        println!("{}", o.to_json());
    } else {
        // "go0": no Go compiler was involved; the form is restic's so
        // that wrappers parsing it still find the version.
        println!(
            "restic {RESTIC_COMPATIBLE} compiled with go0 on {os}/{arch} (cairn {version}, written in Rust, compatible with restic {RESTIC_COMPATIBLE})"
        );
    }
    Ok(())
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}
