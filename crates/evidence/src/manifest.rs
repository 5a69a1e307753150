//! The manifest: an index of the evidence derived from the journal.
//!
//! Everything in `manifest.json` comes from journal entries up to the one it names as its head,
//! so its exact bytes can be recomputed: `verify` compares byte for byte, and a signature on the
//! manifest also covers the journal up to that head through the head's hash.
//!
//! An artifact is either collected or not: a `collect` entry is final (it removes the path from
//! the not-collected list, and later `not-collected` entries of that path are history, not
//! gaps), and of several `not-collected` entries of one path the latest stands. Two processes
//! recording into one case therefore never leave a path listed as both. Manifests of format 1,
//! written before this rule, listed every entry; they are still verified as they were written.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::journal::{
    ACTION_COLLECT, ACTION_NOT_COLLECTED, ACTION_OPEN, CollectParameters, CollectResult, JournalEntry,
    NotCollectedParameters, NotCollectedResult, OpenParameters,
};

const FORMAT: u32 = 2;
/// The format that listed every `collect` and `not-collected` entry, even of one path.
const FORMAT_EVERY_ENTRY: u32 = 1;

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
    /// The manifest of a journal whose last entry is `entries.last()`, as kir writes it now.
    pub(crate) fn derive(entries: &[JournalEntry]) -> Result<Manifest, EntryProblem> {
        Manifest::derive_format(entries, FORMAT)
    }

    /// The manifest of `entries` in format `format` (1 or 2), to check one an older kir wrote.
    pub(crate) fn derive_format(entries: &[JournalEntry], format: u32) -> Result<Manifest, EntryProblem> {
        let first = entries.first().ok_or(EntryProblem { seq: 1, detail: "the journal is empty".into() })?;
        let opened = open_parameters(first)?;
        let head = entries.last().unwrap_or(first);
        let mut manifest = Manifest {
            format,
            case_id: opened.case_id,
            journal: JournalHead { seq: head.seq, hash: head.hash.clone() },
            artifacts: Vec::new(),
            not_collected: Vec::new(),
        };
        if format == FORMAT_EVERY_ENTRY {
            for entry in entries {
                match entry.action.as_str() {
                    ACTION_COLLECT => manifest.artifacts.push(artifact_of(entry)?),
                    ACTION_NOT_COLLECTED => manifest.not_collected.push(not_collected_of(entry)?),
                    _ => {}
                }
            }
            return Ok(manifest);
        }
        let mut collected = HashSet::new();
        // The standing not-collected entry of each path, by its index in `gaps`.
        let mut gaps: Vec<Option<NotCollected>> = Vec::new();
        let mut gap_of_path: HashMap<String, usize> = HashMap::new();
        for entry in entries {
            match entry.action.as_str() {
                ACTION_COLLECT => {
                    let artifact = artifact_of(entry)?;
                    if let Some(index) = gap_of_path.remove(&artifact.path) {
                        gaps[index] = None;
                    }
                    collected.insert(artifact.path.clone());
                    manifest.artifacts.push(artifact);
                }
                ACTION_NOT_COLLECTED => {
                    let gap = not_collected_of(entry)?;
                    if collected.contains(&gap.path) {
                        continue;
                    }
                    if let Some(earlier) = gap_of_path.insert(gap.path.clone(), gaps.len()) {
                        gaps[earlier] = None;
                    }
                    gaps.push(Some(gap));
                }
                _ => {}
            }
        }
        manifest.not_collected = gaps.into_iter().flatten().collect();
        Ok(manifest)
    }

    /// Whether this kir can derive manifests of `format` (to check them).
    pub(crate) fn known_format(format: u32) -> bool {
        format == FORMAT || format == FORMAT_EVERY_ENTRY
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{
        JournalKey, JournalRecord,
        journal::{GENESIS_HASH, seal},
    };

    /// Entries with the given actions and targets after an open-case entry, chained.
    fn entries(steps: &[(&str, &str)]) -> Vec<JournalEntry> {
        let key = JournalKey::for_tests(1);
        let open =
            JournalRecord::new("kir", ACTION_OPEN).parameters(json!({"caseId": "c", "caseJsonSha256": "00"}));
        let mut records = vec![open];
        for (action, target) in steps {
            let record = JournalRecord::new("kir", *action).target(*target);
            records.push(match *action {
                ACTION_COLLECT => record
                    .parameters(json!({"source": "test"}))
                    .result(json!({"sha256": "ab", "size": 1, "truncated": false})),
                _ => record.parameters(json!({"source": "test"})).result(json!({"reason": "gone"})),
            });
        }
        let mut prev = GENESIS_HASH.to_string();
        let mut out = Vec::new();
        for (index, record) in records.iter().enumerate() {
            let time = Timestamp::from_second(1_800_000_000 + index as i64).unwrap();
            let (_, entry) = seal(index as u64 + 1, time, record, &prev, &key);
            prev = entry.hash.clone();
            out.push(entry);
        }
        out
    }

    fn listed(manifest: &Manifest) -> (Vec<&str>, Vec<(&str, u64)>) {
        (
            manifest.artifacts.iter().map(|a| a.path.as_str()).collect(),
            manifest.not_collected.iter().map(|n| (n.path.as_str(), n.journal_seq)).collect(),
        )
    }

    #[test]
    fn a_path_is_never_both_collected_and_not_collected() {
        // Two processes: one gives up on a.log, the other collects it; either order.
        for steps in [
            [(ACTION_NOT_COLLECTED, "a.log"), (ACTION_COLLECT, "a.log")],
            [(ACTION_COLLECT, "a.log"), (ACTION_NOT_COLLECTED, "a.log")],
        ] {
            let manifest = Manifest::derive(&entries(&steps)).unwrap();
            assert_eq!(listed(&manifest), (vec!["a.log"], vec![]), "{steps:?}");
        }
        // Of two gaps of one path the later stands; other paths keep their order.
        let steps = [
            (ACTION_NOT_COLLECTED, "a.log"),
            (ACTION_NOT_COLLECTED, "b.log"),
            (ACTION_NOT_COLLECTED, "a.log"),
        ];
        let manifest = Manifest::derive(&entries(&steps)).unwrap();
        assert_eq!(listed(&manifest), (vec![], vec![("b.log", 3), ("a.log", 4)]));
        assert_eq!(manifest.format, FORMAT);
    }

    #[test]
    fn format_1_lists_every_entry_as_older_kir_wrote_it() {
        let steps = [(ACTION_NOT_COLLECTED, "a.log"), (ACTION_COLLECT, "a.log")];
        let manifest = Manifest::derive_format(&entries(&steps), FORMAT_EVERY_ENTRY).unwrap();
        assert_eq!(listed(&manifest), (vec!["a.log"], vec![("a.log", 2)]));
        assert!(Manifest::known_format(1) && Manifest::known_format(2) && !Manifest::known_format(3));
    }
}
