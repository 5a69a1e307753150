//! Kubernetes audit logs at grep speed.
//!
//! - [`event`]: the audit event, decoded without copying where possible;
//! - [`credential`]: the credential id a request used and the token annotations of its use;
//! - [`envelope`]: one record (a line or a document) to its events, whatever the envelope
//!   (plain, EventList, GKE, AKS, CloudWatch);
//! - [`input`] and [`scan`]: files, directories and stdin, plain, gzip or zstd, read on all
//!   cores in bounded memory; bad records are counted and reported, never fatal;
//! - [`json`]: request and response bodies as JSON values, however deeply nested;
//! - [`filter`], [`stats`], [`timeline`]: what the `kir audit` commands compute;
//! - [`window`]: `--since`/`--until`, the one time parser of every command that filters by time.
//!
//! No Kubernetes client here: audit logs are files.

pub mod credential;
pub mod envelope;
pub mod event;
pub mod filter;
pub mod footprint;
pub mod input;
pub mod json;
pub mod pattern;
pub mod scan;
pub mod stats;
pub mod text;
pub mod timeline;
pub mod window;

pub use envelope::{DecodeError, Decoded, Format, decode};
pub use event::Event;
pub use input::{Input, InputError, expand};
pub use scan::{Processor, ScanError, ScanOptions, ScanReport, Skip, SkipReason, scan};
pub use text::Text;
pub use window::{TimeSpec, Window, Windowed};
