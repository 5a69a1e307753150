//! What verification reports: findings and the report that gathers them.
//!
//! Plain data (serialised as the JSON of `kir verify` and `kir journal`), with no logic beyond
//! building a report; the checks that fill one are in `checks`, `verify` and `archive`.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use serde::Serialize;

/// What kind of difference a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A file's bytes differ from what the journal recorded.
    Changed,
    /// A file the case must have is absent.
    Missing,
    /// A file the journal does not record.
    Extra,
    /// A journal line that is not intact or does not chain to the one before.
    BrokenEntry,
    /// What an interrupted journal append leaves.
    TornTail,
    /// A committed artifact still in `evidence/.partial`.
    Staged,
    /// A staging file that was never committed.
    Uncommitted,
    /// A file left by an interrupted manifest rewrite or a repair.
    Leftover,
    /// A file that is not in the format kir writes.
    Malformed,
    /// About the manifest's signature.
    Signature,
    /// A link, device or escaping path: something that must never be followed or extracted.
    Unsafe,
    /// A journal line that names the verifier's journal key but whose MAC does not verify.
    Forged,
    /// A journal line without a MAC after lines with one.
    Unauthenticated,
}

/// One problem or warning, located as precisely as possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub kind: FindingKind,
    /// Relative to the case folder (or the archive's top folder).
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub message: String,
}

impl Finding {
    pub(crate) fn new(kind: FindingKind, file: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding { kind, file: file.into(), line: None, seq: None, message: message.into() }
    }

    pub(crate) fn at_seq(mut self, seq: u64) -> Finding {
        self.seq = Some(seq);
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(seq) = self.seq {
            write!(f, " (entry {seq})")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseForm {
    Folder,
    Archive,
}

/// The outcome of checking the manifest's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum SignatureStatus {
    /// Not signed, and no public key was given.
    Absent,
    /// Signed, but no public key was given.
    NotChecked,
    /// Signed by the given key.
    Valid {
        #[serde(rename = "keyId")]
        key_id: String,
    },
    /// Signed, but the signature does not verify with the given key.
    Invalid { reason: String },
    /// A public key was given, but there is no signature.
    Missing,
}

/// Journal lines that carry a MAC under one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyLines {
    pub key_id: String,
    pub lines: u64,
}

/// Who provably wrote the journal's lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Authentication {
    /// The journal keys lines carry MACs under, in order of first use, with how many lines each.
    pub keys: Vec<KeyLines>,
    /// Lines without a MAC: written by a kir older than journal keys, or by anyone else.
    pub lines_without_mac: u64,
    /// The first of those lines.
    pub first_line_without_mac: Option<u64>,
    /// The id of the journal key verification had; `None` when it had none.
    pub your_key_id: Option<String>,
    /// Lines whose MAC verifies under that key, i.e. that its kir wrote; `None` without a key.
    pub authenticated_lines: Option<u64>,
}

/// Everything `verify` found. The case is intact when `problems` is empty.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub location: PathBuf,
    pub form: CaseForm,
    pub intact: bool,
    pub case_id: Option<String>,
    pub journal_entries: u64,
    pub artifacts: u64,
    pub signature: SignatureStatus,
    pub authentication: Authentication,
    pub problems: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

impl VerifyReport {
    pub(crate) fn new(location: &Path, form: CaseForm) -> VerifyReport {
        VerifyReport {
            location: location.to_path_buf(),
            form,
            intact: false,
            case_id: None,
            journal_entries: 0,
            artifacts: 0,
            signature: SignatureStatus::Absent,
            authentication: Authentication::default(),
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(crate) fn problem(&mut self, finding: Finding) {
        self.problems.push(finding);
    }

    pub(crate) fn finish(mut self) -> VerifyReport {
        self.intact = self.problems.is_empty();
        self
    }
}
