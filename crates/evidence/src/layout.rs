//! The layout of a case folder: the name of every file and folder kir keeps in it, and the most
//! of each file kir reads.
//!
//! ```text
//! CASE/
//!   case.json                  CASE_FILE           read up to MAX_CASE_JSON
//!   journal.jsonl              JOURNAL_FILE        read up to MAX_JOURNAL
//!   journal.jsonl.torn-*       TORN_COPY_PREFIX    unfinished lines a repair cut off
//!   manifest.json              MANIFEST_FILE       read up to MAX_MANIFEST
//!   manifest.json.tmp          MANIFEST_TEMP_FILE  left by an interrupted rewrite
//!   manifest.json.minisig      SIGNATURE_FILE      read up to MAX_SIGNATURE
//!   evidence/                  EVIDENCE_DIR
//!     .partial/                STAGING_DIR         artifacts being written, by `staging_name`
//! ```
//!
//! An exported archive holds the same names under one top folder. Nothing here reads or writes a
//! file.

use crate::hash::sha256_hex;

pub(crate) const CASE_FILE: &str = "case.json";
/// The largest case.json read; kir writes a few hundred bytes.
pub(crate) const MAX_CASE_JSON: u64 = 1 << 20;

pub(crate) const JOURNAL_FILE: &str = "journal.jsonl";
/// The largest journal read (about half a million entries).
pub(crate) const MAX_JOURNAL: u64 = 256 << 20;
/// Unfinished journal lines cut off by a repair are kept in files named with this prefix.
pub(crate) const TORN_COPY_PREFIX: &str = "journal.jsonl.torn-";

pub(crate) const MANIFEST_FILE: &str = "manifest.json";
pub(crate) const MANIFEST_TEMP_FILE: &str = "manifest.json.tmp";
/// The largest manifest read (its size follows the journal's, which is capped alike).
pub(crate) const MAX_MANIFEST: u64 = 256 << 20;
pub(crate) const SIGNATURE_FILE: &str = "manifest.json.minisig";
/// The largest signature file read; minisign's are a few hundred bytes.
pub(crate) const MAX_SIGNATURE: u64 = 64 << 10;

pub(crate) const EVIDENCE_DIR: &str = "evidence";
/// The staging folder inside `evidence/`; no artifact may use it.
pub(crate) const STAGING_DIR: &str = ".partial";

/// Where an artifact is staged while it is written: named after its final path, so a crash
/// leaves at most one staging file per path and verification can find a committed one.
pub(crate) fn staging_name(path: &str) -> String {
    sha256_hex(path.as_bytes())[..32].to_string()
}
