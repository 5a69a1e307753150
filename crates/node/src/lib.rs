//! Node-side forensics: what a collector running on the suspect's node (a helper with the host's
//! PID namespace and the host's /proc, cgroups and container state mounted) can learn about one
//! container without ever writing into it or running anything of it: its processes
//! ([`find_container_processes`], [`write_inventory`]), its changed files
//! ([`upper_directory`], [`write_changed_files`]) and its memory ([`dump_memory`]).
//!
//! Everything read here is under the suspect's control: every read is capped, no symlink under
//! the suspect's control is ever followed, no device is ever opened, and text that is not UTF-8
//! is recorded with the bad bytes visibly replaced. Nothing here talks to Kubernetes.

mod changes;
mod env;
mod error;
mod freeze;
mod memory;
pub mod parse;
mod process;
mod read;

pub use read::open_without_links;

pub use changes::{
    ChangeCaps, ChangedFiles, Deletion, DeletionKind, Skipped, TRUNCATED_PAX_KEY, TruncatedFile,
    upper_directory, write_changed_files,
};
pub use env::{EnvironmentVariable, KEPT_VARIABLES, redact_environment};
pub use error::{Error, Result};
pub use freeze::{FreezerRoots, Freezing};
pub use memory::{
    BlankedRange, FRAME_BYTES, FrameHeader, MAGIC, MappingRead, MemoryCaps, MemoryDump, MemoryFrames,
    MemoryOptions, SkippedMapping, dump_memory,
};
pub use process::{
    Executable, InventoryCaps, InventorySummary, Namespace, OpenFile, OpenFileKind, Pid, ProcessRecord,
    Socket, find_container_processes, inspect_process, write_inventory,
};
