//! Restic's content-defined chunker. Arrives with the backup work (issue 3).
