//! What [`crate::inspect`] and [`crate::grep`] share while the archive streams past: which
//! entries are read, the duplicate and size checks, and the notes on what was not read.

use std::collections::HashSet;
use std::io::Read;

use crate::Limits;
use crate::error::CheckpointError;
use crate::image::{Budget, ImageError};
use crate::layout::{Item, classify};
use crate::tarball::{self, Bounds, Kind, Member, ReadAt, WalkError};

/// Notes kept; past that they are counted.
const MAX_NOTES: usize = 100;

/// Remarks on what was not read and why, bounded.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    kept: Vec<String>,
    dropped: u64,
}

impl Notes {
    pub(crate) fn push(&mut self, note: String) {
        if self.kept.len() < MAX_NOTES {
            self.kept.push(note);
        } else {
            self.dropped += 1;
        }
    }

    pub(crate) fn finish(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.kept.push(format!("and {} more notes", self.dropped));
        }
        self.kept
    }
}

/// The checks every entry passes before it is read.
pub(crate) struct Gate<'l> {
    pub(crate) limits: &'l Limits,
    seen: HashSet<String>,
    metadata_bytes: u64,
    pub(crate) entries: u64,
    /// Whether any entry of a checkpoint's layout was seen.
    pub(crate) checkpoint_seen: bool,
    pub(crate) notes: Notes,
    pub(crate) budget: Budget,
}

impl<'l> Gate<'l> {
    pub(crate) fn new(limits: &'l Limits) -> Self {
        Gate {
            limits,
            seen: HashSet::new(),
            metadata_bytes: 0,
            entries: 0,
            checkpoint_seen: false,
            notes: Notes::default(),
            budget: Budget::new(limits.max_records),
        }
    }

    /// What `member` is, if kir reads it: regular files of the checkpoint layout, each once.
    pub(crate) fn admit(&mut self, member: &Member<'_>) -> Result<Option<Item>, CheckpointError> {
        self.entries += 1;
        let Some(item) = classify(member.name) else { return Ok(None) };
        self.checkpoint_seen = true;
        if member.kind != Kind::File {
            // A link is never followed: its target is whatever the archive's writer chose.
            self.notes
                .push(format!("{} is a {:?} entry, not a regular file; not read", member.name, member.kind));
            return Ok(None);
        }
        if !self.seen.insert(member.name.to_string()) {
            return Err(CheckpointError::DuplicateEntry { name: member.name.to_string() });
        }
        Ok(Some(item))
    }

    /// Counts `bytes` more kept in memory against the metadata allowance; `false` when they
    /// would go past it.
    pub(crate) fn keep(&mut self, bytes: u64) -> bool {
        let total = self.metadata_bytes.saturating_add(bytes);
        let fits = total <= self.limits.max_metadata_bytes;
        if fits {
            self.metadata_bytes = total;
        }
        fits
    }

    /// Reads a metadata entry (an image or JSON file) into memory, within the caps.
    pub(crate) fn read_small(&mut self, member: &mut Member<'_>) -> Result<Vec<u8>, CheckpointError> {
        let limit = self.limits.max_image_bytes;
        if member.size > limit {
            return Err(CheckpointError::EntryTooLarge {
                name: member.name.to_string(),
                size: member.size,
                limit,
            });
        }
        self.metadata_bytes += member.size;
        if self.metadata_bytes > self.limits.max_metadata_bytes {
            return Err(CheckpointError::MetadataTooLarge { limit: self.limits.max_metadata_bytes });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(member.size).unwrap_or(0));
        member
            .data
            .take(member.size)
            .read_to_end(&mut bytes)
            .map_err(|error| malformed(member.name, format!("unreadable: {error}")))?;
        if (bytes.len() as u64) < member.size {
            return Err(truncated(member.name));
        }
        Ok(bytes)
    }
}

pub(crate) fn malformed(name: &str, reason: String) -> CheckpointError {
    CheckpointError::Malformed { name: name.to_string(), reason }
}

pub(crate) fn truncated(name: &str) -> CheckpointError {
    malformed(name, "truncated: the archive ends inside it".to_string())
}

/// An image that does not decode, as the error that names it.
pub(crate) fn image_error(name: &str, expected: &'static str, error: ImageError) -> CheckpointError {
    match error {
        ImageError::Magic { found } => CheckpointError::BadMagic { name: name.to_string(), expected, found },
        ImageError::TooMany(what) => CheckpointError::TooManyRecords { name: name.to_string(), what },
        other => malformed(name, other.to_string()),
    }
}

/// Streams the archive through `visit`, mapping the walk's failures to typed errors.
pub(crate) fn walk_archive(
    reader: impl Read,
    limits: &Limits,
    visit: impl FnMut(Member<'_>) -> Result<(), CheckpointError>,
) -> Result<u64, CheckpointError> {
    let bounds = bounds(limits);
    tarball::walk(reader, &bounds, visit).map_err(|error| walk_error(error, limits))
}

/// Walks the archive that is the `length` bytes of `source` through `visit`, as
/// [`walk_archive`] does.
pub(crate) fn walk_archive_at(
    source: &(impl ReadAt + ?Sized),
    length: u64,
    limits: &Limits,
    visit: impl FnMut(Member<'_>) -> Result<(), CheckpointError>,
) -> Result<u64, CheckpointError> {
    let bounds = bounds(limits);
    tarball::walk_at(source, length, &bounds, visit).map_err(|error| walk_error(error, limits))
}

fn bounds(limits: &Limits) -> Bounds {
    Bounds { max_bytes: limits.max_archive_bytes, max_entries: limits.max_entries }
}

fn walk_error(error: WalkError<CheckpointError>, limits: &Limits) -> CheckpointError {
    match error {
        WalkError::Read { offset, source } => CheckpointError::Read { offset, source },
        WalkError::TooLarge => CheckpointError::TooLarge { limit: limits.max_archive_bytes },
        WalkError::TooManyEntries => CheckpointError::TooManyEntries { limit: limits.max_entries },
        WalkError::Header { name, reason } => CheckpointError::Malformed { name, reason },
        WalkError::Visit(error) => error,
    }
}
