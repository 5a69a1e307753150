//! Reading a case folder for a report, without writing a byte into it.
//!
//! The case is hostile input: the journal is read with kir-evidence's caps, the case is verified
//! with kir-evidence, and only evidence files the journal records are read, each through real
//! folders (no link is followed), capped, and used only when its bytes have the recorded hash.

use std::{
    fs::{self, File},
    io::Read,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use jiff::Timestamp;
use kir_evidence::{CaseMetadata, JournalEntry, journal::ACTION_OPEN};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Error;

/// The most of one evidence file a report reads (captured objects are far smaller).
const MAX_DOCUMENT: u64 = 8 << 20;
/// The most evidence a report reads in all.
const MAX_DOCUMENTS_TOTAL: u64 = 128 << 20;

/// One artifact as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedArtifact {
    /// Relative to `evidence/`.
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub truncated: bool,
    pub time: Timestamp,
    pub actor: String,
    pub source: String,
    pub seq: u64,
}

/// An artifact that could not be collected, as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gap {
    pub path: String,
    pub source: String,
    pub reason: String,
}

/// What verification found, in words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Integrity {
    pub intact: bool,
    /// Every problem, one line each.
    pub problems: Vec<String>,
}

/// Everything a report is built from.
#[derive(Debug, Clone)]
pub struct CaseSource {
    pub path: PathBuf,
    /// `None` when case.json is missing or unreadable (the case then does not verify).
    pub metadata: Option<CaseMetadata>,
    pub entries: Vec<JournalEntry>,
    pub integrity: Integrity,
    pub artifacts: Vec<RecordedArtifact>,
    pub gaps: Vec<Gap>,
    /// JSON evidence a report reads (captured pods, events, permissions, credentials), by path.
    pub documents: Vec<(String, Value)>,
    /// Evidence a report wanted to read but did not, and why.
    pub unread: Vec<String>,
}

impl CaseSource {
    /// Read the case folder `dir`. A folder that is not a case at all is an error; a case that
    /// does not verify is read, and its problems are in [`CaseSource::integrity`].
    pub fn read(dir: &Path) -> Result<CaseSource, Error> {
        // The folder the user names may be reached through a link; what is inside it is not followed.
        let meta = fs::metadata(dir).map_err(|_| Error::NotFound { path: dir.to_path_buf() })?;
        if !meta.is_dir() {
            let detail = if meta.is_file() {
                "it is a file, not a folder (an exported archive is extracted first: tar --zstd -xf FILE)"
            } else {
                "it is not a folder (a link or a special file)"
            };
            return Err(Error::NotACase { path: dir.to_path_buf(), detail: detail.into() });
        }
        let reading = kir_evidence::read_journal(dir).map_err(|error| match error {
            kir_evidence::Error::NotACase { detail, .. } => {
                Error::NotACase { path: dir.to_path_buf(), detail }
            }
            kir_evidence::Error::NotFound { path } => Error::NotFound { path },
            other => Error::Evidence(other),
        })?;
        if reading.entries.first().is_none_or(|first| first.action != ACTION_OPEN) {
            return Err(Error::NotACase {
                path: dir.to_path_buf(),
                detail: "its journal.jsonl does not start with the open-case entry every kir case has".into(),
            });
        }
        let verification = kir_evidence::verify(dir, None).map_err(Error::Evidence)?;
        let integrity = Integrity {
            intact: verification.intact,
            problems: verification.problems.iter().map(ToString::to_string).collect(),
        };
        let (artifacts, gaps) = recorded(&reading.entries);
        let mut source = CaseSource {
            path: dir.to_path_buf(),
            metadata: reading.case,
            entries: reading.entries,
            integrity,
            artifacts,
            gaps,
            documents: Vec::new(),
            unread: Vec::new(),
        };
        source.read_documents();
        Ok(source)
    }

    fn read_documents(&mut self) {
        let mut budget = MAX_DOCUMENTS_TOTAL;
        let evidence = self.path.join("evidence");
        for artifact in &self.artifacts {
            if !wanted(&artifact.path) {
                continue;
            }
            if artifact.size > MAX_DOCUMENT.min(budget) {
                self.unread.push(format!(
                    "evidence/{}: {} bytes, more than a report reads",
                    artifact.path, artifact.size
                ));
                continue;
            }
            match read_evidence(&evidence, artifact) {
                Ok(value) => {
                    budget -= artifact.size;
                    self.documents.push((artifact.path.clone(), value));
                }
                Err(why) => self.unread.push(format!("evidence/{}: {why}", artifact.path)),
            }
        }
    }

    /// The documents whose path satisfies `select`, in journal order.
    pub fn documents_where<'a>(
        &'a self,
        select: impl Fn(&str) -> bool + 'a,
    ) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.documents
            .iter()
            .filter(move |(path, _)| select(path))
            .map(|(path, value)| (path.as_str(), value))
    }
}

/// The evidence files a report reads: what pods, events, permissions and credentials were.
fn wanted(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let pod_evidence = name == "pod.json"
        || name == "serviceaccount-permissions.json"
        || path.contains("/events/")
        || path.contains("/owners/");
    (path.starts_with("pods/") && pod_evidence)
        || (path.starts_with("credentials/") && name == "credential.json")
}

/// The artifacts and gaps the journal records: the `collect` entries (the last of a path
/// stands) and the `not-collected` entries of paths never collected.
fn recorded(entries: &[JournalEntry]) -> (Vec<RecordedArtifact>, Vec<Gap>) {
    let text =
        |value: &Value, key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let mut artifacts: Vec<RecordedArtifact> = Vec::new();
    let mut gaps: Vec<Gap> = Vec::new();
    for entry in entries {
        let Some(path) = entry.target.clone() else { continue };
        match entry.action.as_str() {
            kir_evidence::journal::ACTION_COLLECT => {
                gaps.retain(|gap| gap.path != path);
                artifacts.retain(|artifact| artifact.path != path);
                artifacts.push(RecordedArtifact {
                    sha256: text(&entry.result, "sha256"),
                    size: entry.result.get("size").and_then(Value::as_u64).unwrap_or(0),
                    truncated: entry.result.get("truncated").and_then(Value::as_bool).unwrap_or(false),
                    time: entry.time,
                    actor: entry.actor.clone(),
                    source: text(&entry.parameters, "source"),
                    seq: entry.seq,
                    path,
                });
            }
            kir_evidence::journal::ACTION_NOT_COLLECTED if !artifacts.iter().any(|a| a.path == path) => {
                gaps.retain(|gap| gap.path != path);
                gaps.push(Gap {
                    source: text(&entry.parameters, "source"),
                    reason: text(&entry.result, "reason"),
                    path,
                });
            }
            _ => {}
        }
    }
    (artifacts, gaps)
}

/// A relative path of normal components only: nothing that climbs out of `evidence/`.
fn plain_relative(path: &str) -> bool {
    !path.contains('\\') && path.split('/').all(|component| !matches!(component, "" | "." | ".."))
}

/// Read one artifact as JSON: through real folders only, never a link, capped at its recorded
/// size, and only when its bytes have the recorded hash.
fn read_evidence(evidence: &Path, artifact: &RecordedArtifact) -> Result<Value, String> {
    if !plain_relative(&artifact.path) {
        return Err("not a plain relative path: not read".into());
    }
    let mut current = evidence.to_path_buf();
    let components: Vec<&str> = artifact.path.split('/').collect();
    for (index, component) in components.iter().enumerate() {
        if index == 0 {
            check_real(&current, true)?;
        }
        current.push(component);
        check_real(&current, index + 1 < components.len())?;
    }
    let expected = fs::symlink_metadata(&current).map_err(|e| e.to_string())?;
    let file = File::open(&current).map_err(|e| e.to_string())?;
    let opened = file.metadata().map_err(|e| e.to_string())?;
    // The file opened is the one inspected: no link was swapped in between.
    if (opened.dev(), opened.ino()) != (expected.dev(), expected.ino()) {
        return Err("it changed while it was opened: not read".into());
    }
    let mut bytes = Vec::new();
    file.take(artifact.size + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    let digest: String = Sha256::digest(&bytes).iter().map(|byte| format!("{byte:02x}")).collect();
    if bytes.len() as u64 != artifact.size || digest != artifact.sha256 {
        return Err(format!("its bytes are not the ones journal entry {} recorded: not used", artifact.seq));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("not JSON ({e})"))
}

/// `path` is a real folder (`folder`) or a regular file, not a link to one.
fn check_real(path: &Path, folder: bool) -> Result<(), String> {
    let meta = fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    match (folder, meta.is_dir(), meta.is_file()) {
        (true, true, _) | (false, _, true) => Ok(()),
        _ => Err(format!("{} is a link or special file: not followed", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_read() {
        assert!(plain_relative("pods/prod/web/uid/pod.json"));
        for bad in ["", "a//b", "/etc/passwd", "../x", "a/../b", "a/./b", "a\\b"] {
            assert!(!plain_relative(bad), "{bad}");
        }
    }
}
