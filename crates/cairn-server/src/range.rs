//! HTTP `Range` requests (RFC 9110 §14), single byte ranges only.
//!
//! restic asks for `bytes=START-END` or `bytes=START-`; suffix ranges
//! (`bytes=-N`) are honoured too. A header with several ranges or in
//! another unit is ignored and the whole file sent, which the RFC allows.

/// What to send for a file of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Selection {
    /// 200 with the whole file.
    Full,
    /// 206 with `len` bytes from `start`.
    Partial { start: u64, len: u64 },
    /// 416: the range starts past the end.
    Unsatisfiable,
}

/// Decides what a `Range` header asks of a file of `size` bytes.
pub(crate) fn select(header: Option<&str>, size: u64) -> Selection {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Selection::Full;
    };
    if spec.contains(',') {
        return Selection::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Selection::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // Suffix: the last N bytes.
        let Ok(n) = last.parse::<u64>() else {
            return Selection::Full;
        };
        if n == 0 {
            return Selection::Unsatisfiable;
        }
        let len = n.min(size);
        return Selection::Partial {
            start: size - len,
            len,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return Selection::Full;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match last.parse::<u64>() {
            Ok(e) if e >= start => e,
            _ => return Selection::Full,
        }
    };
    if start >= size {
        return Selection::Unsatisfiable;
    }
    let end = end.min(size - 1);
    Selection::Partial {
        start,
        len: end - start + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use Selection::*;
        assert_eq!(select(None, 10), Full);
        assert_eq!(select(Some("bytes=0-"), 10), Partial { start: 0, len: 10 });
        assert_eq!(select(Some("bytes=2-4"), 10), Partial { start: 2, len: 3 });
        assert_eq!(
            select(Some("bytes=2-400"), 10),
            Partial { start: 2, len: 8 }
        );
        assert_eq!(select(Some("bytes=-3"), 10), Partial { start: 7, len: 3 });
        assert_eq!(select(Some("bytes=-30"), 10), Partial { start: 0, len: 10 });
        assert_eq!(select(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(select(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(select(Some("bytes=5-2"), 10), Full);
        assert_eq!(select(Some("bytes=0-1,4-5"), 10), Full);
        assert_eq!(select(Some("items=0-1"), 10), Full);
        assert_eq!(select(Some("bytes=x-1"), 10), Full);
    }
}
