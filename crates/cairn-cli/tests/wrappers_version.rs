//! Wrappers written for restic read its version from `restic version`:
//! resticpy (`restic.version()`, JSON first, then the plain text with its
//! regex) must read 0.19.1 from `cairn`. runrestic does not parse the
//! version at all.
//!
//! Needs python3 with resticpy (scripts/install-deps.sh).

use std::process::Command;

const PYTHON: &str = r#"
import json, sys
import restic
from restic.internal import version as v
restic.binary_path = sys.argv[1]
out = {"json": restic.version()}
import subprocess
text = subprocess.run([sys.argv[1], "version"], capture_output=True, text=True, check=True).stdout
out["plain"] = v._parse_plaintext(text)
print(json.dumps(out))
"#;

#[test]
fn resticpy_reads_restic_0_19_1_from_cairn_version() {
    let out = Command::new("python3")
        .args(["-c", PYTHON, env!("CARGO_BIN_EXE_cairn")])
        .output()
        .expect("python3 is needed (with resticpy: scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "resticpy failed (is it installed? scripts/install-deps.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for form in ["json", "plain"] {
        assert_eq!(v[form]["restic_version"], "0.19.1", "{v}");
        assert_eq!(v[form]["platform_version"], std::env::consts::OS, "{v}");
    }
}
