//! `cairn version`.

use crate::global::GlobalOptions;
use anyhow::Result;

/// Prints the version like restic does, or its JSON form.
pub fn run(global: &GlobalOptions) -> Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    let (os, arch) = (std::env::consts::OS, go_arch());
    if global.json {
        let v = serde_json::json!({
            "message_type": "version",
            "version": version,
            "go_version": "rust",
            "go_os": os,
            "go_arch": arch,
        });
        println!("{}", crate::output::go_json(&v));
    } else {
        println!("cairn {version} compiled with rust on {os}/{arch}");
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
