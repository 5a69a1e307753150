use std::io;

/// Why a checkpoint archive could not be read. Names quoted from the archive are cut to
/// [`crate::Limits::max_text`] bytes and read as lossy UTF-8.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint archive is unreadable after {offset} bytes (truncated, or not a tar): {source}")]
    Read {
        offset: u64,
        #[source]
        source: io::Error,
    },
    #[error("the checkpoint archive goes on past {limit} bytes, the most kir reads")]
    TooLarge { limit: u64 },
    #[error("the checkpoint archive holds more than {limit} entries, the most kir reads")]
    TooManyEntries { limit: u64 },
    #[error("{name}: {size} bytes, more than the {limit} kir reads for such a file")]
    EntryTooLarge { name: String, size: u64, limit: u64 },
    #[error(
        "the checkpoint's metadata (images other than memory pages) goes past {limit} bytes, the \
         most kir reads"
    )]
    MetadataTooLarge { limit: u64 },
    #[error("{name} appears twice in the archive: which one the runtime would restore is ambiguous")]
    DuplicateEntry { name: String },
    #[error("{name}: not a CRIU {expected} image (it starts with {found:#010x})")]
    BadMagic { name: String, expected: &'static str, found: u32 },
    #[error("{name}: {reason}")]
    Malformed { name: String, reason: String },
    #[error("{name}: more {what} than kir reads (the CRIU images of a real container hold far fewer)")]
    TooManyRecords { name: String, what: &'static str },
    #[error("the checkpoint holds more than {limit} processes, the most kir reads")]
    TooManyProcesses { limit: usize },
    #[error(
        "not a container checkpoint: no config.dump, spec.dump or checkpoint/ CRIU images (a \
         KEP-2008 archive from the kubelet's checkpoint API has them)"
    )]
    NotACheckpoint,
    #[error(
        "{name} comes before the pagemap that maps it, so its pages cannot be placed in memory \
         while streaming; the runtime writes pagemap-PID.img first (names in sorted order)"
    )]
    PagesBeforePagemap { name: String },
    #[error("{name}: {reason}")]
    Unsupported { name: String, reason: String },
    #[error("the search string is empty")]
    EmptyNeedle,
    #[error("the search string is {length} bytes long, more than the {limit} allowed")]
    NeedleTooLong { length: usize, limit: usize },
}
