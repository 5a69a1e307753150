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
//!
//! # Reading map
//!
//! The modules import each other in one direction, leaves first, except `case` and `artifact`
//! (the writing side: a case hands out artifact writers, which commit through it). Each line
//! names what a module imports from the crate, tests aside:
//!
//! ```text
//! hash     -> (nothing)                        SHA-256 as hex, of bytes, readers and files
//! error    -> (nothing)                        Error, Result
//! report   -> (nothing)                        Finding, VerifyReport and the other report types
//! metadata -> (nothing)                        case.json: CaseInfo, CaseMetadata
//! layout   -> hash                             the names in a case folder and the read caps
//! fsutil   -> error, hash                      capped reads, durable writes, real folders
//! path     -> error, layout                    which evidence paths are allowed
//! key      -> error, fsutil, hash              the journal key that MACs the lines
//! signing  -> error, layout                    minisign keys; signing and checking the manifest
//! journal  -> hash, key, layout, report        the line format: sealing, reading, checking
//! manifest -> journal                          the index derived from the journal
//! checks   -> hash, journal, key, layout, manifest, metadata, path, report, signing
//! archive  -> checks, error, hash, journal, layout, manifest, path, report
//! verify   -> archive, checks, error, fsutil, hash, journal, key, layout, metadata, report, signing
//! export   -> error, fsutil, hash, journal, layout, manifest, report, signing, verify
//! case     -> artifact, error, fsutil, hash, journal, key, layout, manifest, metadata, path
//! artifact -> case, error, fsutil, hash, layout, manifest
//! ```
//!
//! A reader who only wants to know what verification checks starts at `verify` (a folder) and
//! `archive` (an exported archive), which read the files, then `checks`, which compares them
//! with the journal, with `report`, `layout`, `journal` and `manifest` beside it. Nothing on
//! that path imports `case`, `artifact` or `export`, the modules that write.

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
pub use verify::{JournalReading, read_authenticated_journal, read_journal, verify, verify_with_journal_key};
