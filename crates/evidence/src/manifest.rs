//! The manifest: an index of the evidence derived from the journal.
//!
//! Everything in `manifest.json` comes from journal entries up to the one it names as its head,
//! so its exact bytes can be recomputed: `verify` compares byte for byte, and a signature on the
//! manifest also covers the journal up to that head through the head's hash.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::journal::{
    ACTION_COLLECT, ACTION_NOT_COLLECTED, ACTION_OPEN, CollectParameters, CollectResult, JournalEntry,
    NotCollectedParameters, NotCollectedResult, OpenParameters,
};

pub(crate) const MANIFEST_FILE: &str = "manifest.json";
pub(crate) const MANIFEST_TEMP_FILE: &str = "manifest.json.tmp";
pub(crate) const SIGNATURE_FILE: &str = "manifest.json.minisig";
const FORMAT: u32 = 1;

/// The contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub case_id: String,
    /// The last journal entry this manifest covers.
    pub journal: JournalHead,
    /// Committed artifacts, in journal order.
    pub artifacts: Vec<ArtifactRecord>,
    /// Artifacts that could not be collected, in journal order.
    pub not_collected: Vec<NotCollected>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JournalHead {
    pub seq: u64,
    pub hash: String,
}

/// One committed artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactRecord {
    /// Relative to `evidence/`.
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub collected: Timestamp,
    /// The API call (or other origin) the bytes came from.
    pub source: String,
    pub journal_seq: u64,
    /// Bytes beyond the writer's limit were discarded.
    pub truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An artifact that was wanted but could not be collected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotCollected {
    pub path: String,
    pub source: String,
    pub reason: String,
    pub time: Timestamp,
    pub journal_seq: u64,
}

/// Why an entry cannot contribute to the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryProblem {
    pub seq: u64,
    pub detail: String,
}

impl Manifest {
    /// The manifest of a journal whose last entry is `entries.last()`.
    pub(crate) fn derive(entries: &[JournalEntry]) -> Result<Manifest, EntryProblem> {
        let first = entries.first().ok_or(EntryProblem { seq: 1, detail: "the journal is empty".into() })?;
        let opened = open_parameters(first)?;
        let head = entries.last().unwrap_or(first);
        let mut manifest = Manifest {
            format: FORMAT,
            case_id: opened.case_id,
            journal: JournalHead { seq: head.seq, hash: head.hash.clone() },
            artifacts: Vec::new(),
            not_collected: Vec::new(),
        };
        for entry in entries {
            match entry.action.as_str() {
                ACTION_COLLECT => manifest.artifacts.push(artifact_of(entry)?),
                ACTION_NOT_COLLECTED => manifest.not_collected.push(not_collected_of(entry)?),
                _ => {}
            }
        }
        Ok(manifest)
    }

    /// The exact bytes kir writes: pretty JSON and a final newline.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("manifests serialise");
        bytes.push(b'\n');
        bytes
    }
}

pub(crate) fn open_parameters(entry: &JournalEntry) -> Result<OpenParameters, EntryProblem> {
    if entry.seq != 1 || entry.action != ACTION_OPEN {
        return Err(EntryProblem {
            seq: entry.seq,
            detail: format!("the first entry must be {ACTION_OPEN:?}, found {:?}", entry.action),
        });
    }
    serde_json::from_value(entry.parameters.clone())
        .map_err(|e| EntryProblem { seq: entry.seq, detail: format!("{ACTION_OPEN} parameters: {e}") })
}

/// The artifact a `collect` entry commits.
pub(crate) fn artifact_of(entry: &JournalEntry) -> Result<ArtifactRecord, EntryProblem> {
    let problem = |detail: String| EntryProblem { seq: entry.seq, detail };
    let path = entry.target.clone().ok_or_else(|| problem("collect entry without a target path".into()))?;
    let parameters: CollectParameters = serde_json::from_value(entry.parameters.clone())
        .map_err(|e| problem(format!("collect parameters: {e}")))?;
    let result: CollectResult =
        serde_json::from_value(entry.result.clone()).map_err(|e| problem(format!("collect result: {e}")))?;
    Ok(ArtifactRecord {
        path,
        sha256: result.sha256,
        size: result.size,
        collected: entry.time,
        source: parameters.source,
        journal_seq: entry.seq,
        truncated: result.truncated,
        note: parameters.note,
    })
}

fn not_collected_of(entry: &JournalEntry) -> Result<NotCollected, EntryProblem> {
    let problem = |detail: String| EntryProblem { seq: entry.seq, detail };
    let path =
        entry.target.clone().ok_or_else(|| problem("not-collected entry without a target path".into()))?;
    let parameters: NotCollectedParameters = serde_json::from_value(entry.parameters.clone())
        .map_err(|e| problem(format!("not-collected parameters: {e}")))?;
    let result: NotCollectedResult = serde_json::from_value(entry.result.clone())
        .map_err(|e| problem(format!("not-collected result: {e}")))?;
    Ok(NotCollected {
        path,
        source: parameters.source,
        reason: result.reason,
        time: entry.time,
        journal_seq: entry.seq,
    })
}
