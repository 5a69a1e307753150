//! Errors that name the file and say what is wrong with it.

use std::{io, path::PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The path does not exist.
    #[error("{} does not exist", path.display())]
    NotFound { path: PathBuf },

    /// The folder lacks a file every case has, or that file is unreadable.
    #[error("{} is not a kir case folder: {detail}", path.display())]
    NotACase { path: PathBuf, detail: String },

    /// A new case cannot be created at that place.
    #[error("cannot create a case in {}: {detail}", path.display())]
    CannotCreate { path: PathBuf, detail: String },

    /// The journal or case.json was changed; kir refuses to extend a record that is not intact.
    #[error(
        "{} is not intact at line {line}: {detail}; kir will not add to it (`kir case verify` lists every problem)",
        path.display()
    )]
    BrokenJournal { path: PathBuf, line: u64, detail: String },

    /// A file of the case is larger than kir reads of it; nothing of it was read into memory.
    #[error(
        "{} is {size} bytes, more than the {limit} bytes kir reads of it: kir did not write it so; not read (`kir case verify` lists every problem)",
        path.display()
    )]
    TooLarge { path: PathBuf, size: u64, limit: u64 },

    /// An entry too large for a journal line: it would make the journal unreadable.
    #[error(
        "the journal entry for {action:?} would be {size} bytes, more than the {limit} a journal line may have; store large data as evidence and refer to it"
    )]
    EntryTooLarge { action: String, size: u64, limit: u64 },

    /// A journal line that this handle's journal key does not authenticate: kir will not act on
    /// what the journal says.
    #[error("journal line {line} (entry {seq}) is not authenticated by your journal key: {detail}")]
    Unauthenticated { line: u64, seq: u64, detail: String },

    /// An evidence path that could leave `evidence/` or is otherwise unusable.
    #[error("invalid evidence path {path:?}: {reason}")]
    InvalidEvidencePath { path: String, reason: &'static str },

    /// Evidence is written once: the path is taken.
    #[error(
        "evidence/{path} was already collected in this case (journal entry {seq}); evidence is written once"
    )]
    AlreadyCollected { path: String, seq: u64 },

    /// Another writer, in this process or another, is writing the same path.
    #[error("evidence/{path} is being written by another writer right now")]
    Busy { path: String },

    /// Something that kir did not record sits where the artifact would go.
    #[error("{} already exists but the journal does not record it: kir did not create it", path.display())]
    Occupied { path: PathBuf },

    /// A folder on the way to an artifact is a link or a file; kir writes only into real folders.
    #[error("{} is not a folder (a link or a file is in its place); kir writes evidence only into real folders", path.display())]
    NotAFolder { path: PathBuf },

    /// Journal actions that kir writes itself, with meanings the verifier relies on.
    #[error("action {action:?} is reserved for kir's own journal entries; {hint}")]
    ReservedAction { action: String, hint: &'static str },

    /// An earlier write into the artifact failed, so its content and hash cannot be trusted.
    #[error("writing evidence/{path} failed earlier ({detail}); the artifact was discarded")]
    WriteFailed { path: String, detail: String },

    /// The artifact is committed but still in the staging folder; resuming the case finishes the move.
    #[error(
        "evidence/{path} is recorded in journal entry {seq} but could not be moved out of evidence/.partial: {source}; opening the case again finishes the move"
    )]
    Promote {
        path: String,
        seq: u64,
        #[source]
        source: io::Error,
    },

    /// A signing, public or journal key that cannot be used.
    #[error("key {}: {detail}", path.display())]
    Key { path: PathBuf, detail: String },

    /// Signing failed inside the minisign library.
    #[error("cannot sign the manifest of {}: {detail}", path.display())]
    Sign { path: PathBuf, detail: String },

    /// Export never overwrites.
    #[error("{} already exists; kir never overwrites an archive, choose another file name", path.display())]
    ArchiveExists { path: PathBuf },

    /// Only a case that verifies is exported.
    #[error(
        "{} does not verify ({count} problem(s), first: {first}); run `kir case verify` on it before exporting",
        path.display()
    )]
    NotIntact { path: PathBuf, count: usize, first: String },

    /// An artifact changed between verification and export.
    #[error("{} changed while it was being exported: {detail}", path.display())]
    ChangedDuringExport { path: PathBuf, detail: String },
}

/// `map_err` helper: `.map_err(io_error("read", &path))`.
pub(crate) fn io_error(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { action, path, source }
}
