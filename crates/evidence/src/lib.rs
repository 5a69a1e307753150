//! Incident cases: the folder where kir keeps evidence and the record of what it did.
//!
//! ```text
//! CASE/
//!   case.json          id, title, cluster, context, responder, kir version, creation time
//!   journal.jsonl      append-only, hash-chained: every action and every artifact committed
//!   evidence/          write-once artifacts (staged in evidence/.partial while written)
//!   manifest.json      index of the evidence, derived from the journal, rewritten atomically
//! ```
//!
//! The journal is the authority: an artifact exists once its `collect` line is durable, and
//! [`verify`] checks every file against the journal. Every line kir writes carries a MAC under
//! the user's [`JournalKey`], which lives outside the case folder, so
//! [`Case::authenticated_entries`] tells what this user's kir wrote from lines anyone who can
//! write the folder could have added. A process killed at any moment leaves a
//! case that verifies (minus the artifact being written); [`Case::open`] repairs what it left.
//! [`export`] writes one `.tar.zst` archive, optionally with a minisign signature of the
//! manifest, which [`verify`] also accepts. Nothing here talks to Kubernetes; the API is
//! synchronous (callers on an async runtime use `spawn_blocking`).

mod archive;
mod artifact;
mod case;
mod checks;
#[cfg(test)]
mod crash_tests;
mod error;
mod export;
mod fsutil;
mod hash;
pub mod journal;
mod key;
mod layout;
mod manifest;
mod metadata;
mod path;
mod report;
mod signing;
mod verify;

pub use artifact::ArtifactWriter;
pub use case::{Case, KIR_ACTOR};
pub use error::{Error, Result};
pub use export::{ExportSummary, export};
pub use journal::{JournalEntry, JournalRecord};
pub use key::{JOURNAL_KEY_ENV, JournalKey};
pub use manifest::{ArtifactRecord, JournalHead, Manifest, NotCollected};
pub use metadata::{CaseInfo, CaseMetadata};
pub use report::{Authentication, CaseForm, Finding, FindingKind, KeyLines, SignatureStatus, VerifyReport};
pub use signing::{GeneratedKeys, SigningKey, VerifyingKey, generate_keys};
pub use verify::{JournalReading, read_journal, verify, verify_with_journal_key};
