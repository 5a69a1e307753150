//! KEP-2008 container checkpoints, read without I/O of their own: the tar archive the kubelet's
//! checkpoint API writes (containerd and CRI-O layout: `config.dump`, `spec.dump`,
//! `rootfs-diff.tar`, `deleted.files`, `stats-dump` and the CRIU images under `checkpoint/`).
//!
//! [`inspect`] reports the container, its process tree (command name, executable, arguments),
//! each process's open files and sockets and its memory mappings, and the files the container
//! changed. [`grep`] searches the memory pages for a byte string and reports the process and
//! virtual address of every occurrence.
//!
//! Both read a stream ([`inspect`], [`grep`]) or, faster, an archive at offsets ([`inspect_at`],
//! [`grep_at`]: a file), where the headers are read and what is not needed is passed over.
//!
//! The archive is hostile (a checkpoint of a compromised container holds whatever the attacker
//! put in memory, file names and sockets, and the archive itself may be forged): both read it
//! as one stream, never extract anything, never resolve a path or follow a link, decode only
//! the protobuf fields they report (by hand, with bounds checks), and stay within [`Limits`].
//! Text from the archive is lossy UTF-8 cut to [`Limits::max_text`] bytes and may hold control
//! characters: whoever prints it escapes it. A truncated or forged archive gives a
//! [`CheckpointError`], never a panic.
//!
//! Not read (noted, or reported as not found, never guessed): shared memory pages
//! (`pagemap-shmem-*.img`), pages compressed by newer CRIU (their size does not match the
//! pagemap), the environment (it holds secrets; `--grep` finds a value in memory without it),
//! pipe and socket queue contents, thread names, the per-type file images of CRIU before 3.x,
//! and entries of 8 GiB or more (PAX sizes). The runtimes write entries in name order, so a
//! pagemap comes before the pages it maps; [`grep`] refuses an archive where it does not.

mod changes;
mod error;
mod grep;
mod image;
mod inspect;
mod layout;
mod meta;
mod pages;
mod stream;
mod tarball;
mod text;
mod wire;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use changes::{ChangeKind, ChangedFile, ChangedFiles};
pub use error::CheckpointError;
pub use grep::{GrepReport, Hit, grep, grep_at, grep_with_limits};
pub use image::DumpStats;
pub use inspect::{
    ArchiveSummary, FileKind, Inventory, Mapping, Memory, OpenFile, Process, inspect, inspect_at,
    inspect_with_limits,
};
pub use meta::Container;
pub use tarball::ReadAt;
pub use text::CUT_MARK;

/// The bounds every read stays within. [`Limits::default`] fits a real container checkpoint
/// (a few hundred processes, a few GiB of memory) with room to spare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes read from the archive stream in all.
    pub max_archive_bytes: u64,
    /// Entries of the archive, and of the `rootfs-diff.tar` inside it.
    pub max_entries: u64,
    /// Bytes of one CRIU image (other than memory pages) or JSON file, read into memory.
    pub max_image_bytes: u64,
    /// Bytes of all of them together.
    pub max_metadata_bytes: u64,
    pub max_processes: usize,
    /// Records decoded from all CRIU images together: processes, threads, mappings, page
    /// ranges, files and descriptors.
    pub max_records: usize,
    /// Bytes kept of any text: a path, a name, an argument.
    pub max_text: usize,
    /// Bytes of a process's argument area read back from its memory.
    pub max_argv_bytes: u64,
    /// Changed files listed; the rest are counted.
    pub max_listed_changes: usize,
    /// Search hits listed; the rest are counted.
    pub max_hits: usize,
    /// Length of a search string.
    pub max_needle: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_archive_bytes: 64 << 30,
            max_entries: 1_000_000,
            max_image_bytes: 64 << 20,
            max_metadata_bytes: 512 << 20,
            max_processes: 10_000,
            max_records: 1_000_000,
            max_text: 4096,
            max_argv_bytes: 128 << 10,
            max_listed_changes: 20_000,
            max_hits: 10_000,
            max_needle: 4096,
        }
    }
}
