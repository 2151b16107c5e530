//! What the HTTP-based backends (REST, rclone, the object stores) share:
//! trusted roots, one-line error chains, file names safe in a URL.

#[cfg(any(feature = "rest", feature = "s3", feature = "cloud"))]
use crate::BackendOptions;
use crate::{BackendError, FileType, Result};

#[cfg(any(feature = "rest", feature = "s3", feature = "cloud"))]
/// The certificates of the `--cacert` files, each file checked to hold
/// at least one.
pub(crate) fn cacert_roots(opts: &BackendOptions) -> Result<Vec<reqwest::Certificate>> {
    let mut roots = Vec::new();
    for path in &opts.cacerts {
        let pem = std::fs::read(path)
            .map_err(|e| BackendError::io(format!("--cacert {}", path.display()), e))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            BackendError::InvalidOption(format!(
                "--cacert {}: no usable PEM certificates: {e}",
                path.display()
            ))
        })?;
        if certs.is_empty() {
            return Err(BackendError::InvalidOption(format!(
                "--cacert {}: no certificates found",
                path.display()
            )));
        }
        roots.extend(certs);
    }
    Ok(roots)
}

/// The error and its causes on one line.
#[cfg(any(feature = "rest", feature = "s3", feature = "cloud"))]
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out.replace('\n', " ")
}

/// Names are plain file names: no folders, nothing a URL would read
/// differently.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\', '\0', '?', '#', '%'])
    {
        return Err(BackendError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// A request as messages name it: `GET config`, `POST data/NAME`.
pub(crate) fn what(method: &str, file_type: FileType, name: &str) -> String {
    match file_type {
        FileType::Config => format!("{method} config"),
        t => format!("{method} {}/{name}", t.dir_name()),
    }
}
