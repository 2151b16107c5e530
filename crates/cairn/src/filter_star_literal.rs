//! The fast path of [`super::glob_match`] for the most common kind of
//! pattern component, literal bytes and stars only (`*.o`, `*42.dat`):
//! `find` and excludes match every component of every path against it.

use super::glob_match;

/// [`glob_match`] for a pattern of literal runs joined by stars
/// (`literals` is the pattern split at its stars, so it has at least two
/// runs, some possibly empty): the first run must start `name`, the last
/// must end it, and the ones between must appear in order, each as early
/// as it can (taking the earliest place never loses a match). A star
/// matches no `/`, as in Go's `filepath.Match`. A name with a `/` in it
/// (never one path component) goes to [`glob_match`].
pub(super) fn star_literal_match(literals: &[Vec<u8>], name: &[u8]) -> bool {
    if name.contains(&b'/') {
        return glob_match(&literals.join(&b'*'), name).unwrap_or(false);
    }
    let (first, rest) = literals
        .split_first()
        .expect("split gives one run at least");
    let (last, middle) = rest.split_last().expect("a star gives two runs at least");
    if name.len() < first.len() + last.len() || !name.starts_with(first) || !name.ends_with(last) {
        return false;
    }
    let mut inner = &name[first.len()..name.len() - last.len()];
    for run in middle {
        if run.is_empty() {
            continue;
        }
        match inner.windows(run.len()).position(|w| w == run.as_slice()) {
            Some(at) => inner = &inner[at + run.len()..],
            None => return false,
        }
    }
    true
}
