//! The checks that folder and archive verification share: a case's own files against its
//! journal, and evidence files' facts against the journal's records.
//!
//! Nothing here reads the file system: `verify` (a folder) and `archive` (an exported archive)
//! read the files, each in its own way, and hand them here as [`CaseFiles`] and [`FileFacts`].

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    hash::{FileFacts, sha256_hex},
    journal::{ACTION_COLLECT, JournalEntry, LineAuth, LineMac, ParsedJournal},
    key::JournalKey,
    layout::{CASE_FILE, EVIDENCE_DIR, JOURNAL_FILE, MANIFEST_FILE, SIGNATURE_FILE},
    manifest::{ArtifactRecord, Manifest, artifact_of, open_parameters},
    metadata::CaseMetadata,
    path::evidence_path_problem,
    report::{CaseForm, Finding, FindingKind, KeyLines, SignatureStatus, VerifyReport},
    signing::{VerifyingKey, check_signature},
};

/// The keys a verification checks with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keys<'k> {
    pub public: Option<&'k VerifyingKey>,
    pub journal: Option<&'k JournalKey>,
}

/// The case's own files, however they were read. `None` when absent or not read.
#[derive(Debug, Default)]
pub(crate) struct CaseFiles {
    pub case_json: Option<Vec<u8>>,
    /// The journal, checked as it was read.
    pub journal: Option<ParsedJournal>,
    pub manifest: Option<Vec<u8>>,
    pub signature: Option<Vec<u8>>,
    /// Files that are there but were not read (a problem says why): not missing.
    pub unread: BTreeSet<&'static str>,
}

/// A case file larger than kir reads of it.
pub(crate) fn too_large(file: &str, size: u64, limit: u64) -> Finding {
    Finding::new(
        FindingKind::Malformed,
        file,
        format!("{size} bytes, more than the {limit} a kir case file may have; not read"),
    )
}

/// Check everything but the evidence files; returns the artifacts the journal says exist.
pub(crate) fn check_case_files(
    report: &mut VerifyReport,
    files: &mut CaseFiles,
    keys: Keys<'_>,
) -> BTreeMap<String, ArtifactRecord> {
    let public_key = keys.public;
    let mut expected = BTreeMap::new();
    match &files.case_json {
        None if files.unread.contains(CASE_FILE) => {}
        None => report.problem(Finding::new(FindingKind::Missing, CASE_FILE, "case.json is missing")),
        Some(bytes) => match serde_json::from_slice::<CaseMetadata>(bytes) {
            Ok(metadata) => report.case_id = Some(metadata.id),
            Err(e) => {
                report.problem(Finding::new(FindingKind::Malformed, CASE_FILE, format!("not valid: {e}")))
            }
        },
    }
    let Some(parsed) = files.journal.take() else {
        if !files.unread.contains(JOURNAL_FILE) {
            report.problem(Finding::new(FindingKind::Missing, JOURNAL_FILE, "journal.jsonl is missing"));
        }
        check_signature_file(report, files, public_key);
        return expected;
    };
    report.problems.extend(parsed.problems);
    check_authentication(report, &parsed.auth, keys.journal);
    if let Some(mut finding) = parsed.tail_finding {
        if report.form == CaseForm::Archive {
            finding.message.push_str("; an exported journal never has one");
            report.problem(finding);
        } else {
            report.warnings.push(finding);
        }
    }
    let entries = parsed.entries;
    report.journal_entries = entries.len() as u64;
    check_first_entry(report, files, &entries);

    for entry in entries.iter().filter(|e| e.action == ACTION_COLLECT) {
        let artifact = match artifact_of(entry) {
            Ok(artifact) => artifact,
            Err(problem) => {
                report.problem(
                    Finding::new(FindingKind::BrokenEntry, JOURNAL_FILE, problem.detail).at_seq(entry.seq),
                );
                continue;
            }
        };
        if let Some(reason) = evidence_path_problem(&artifact.path) {
            let message =
                format!("records the evidence path {:?}, which is not allowed: {reason}", artifact.path);
            report.problem(Finding::new(FindingKind::Unsafe, JOURNAL_FILE, message).at_seq(entry.seq));
            continue;
        }
        let seq = artifact.journal_seq;
        if let Some(earlier) = expected.insert(artifact.path.clone(), artifact) {
            let message = format!(
                "evidence/{} is collected again (first in entry {})",
                earlier.path, earlier.journal_seq
            );
            report.problem(Finding::new(FindingKind::BrokenEntry, JOURNAL_FILE, message).at_seq(seq));
        }
    }
    report.artifacts = expected.len() as u64;
    check_manifest(report, files, &entries);
    check_signature_file(report, files, public_key);
    expected
}

/// Which keys the lines carry MACs under, and what the verifier's key proves of them.
fn check_authentication(report: &mut VerifyReport, auth: &[LineAuth], key: Option<&JournalKey>) {
    let section = &mut report.authentication;
    section.your_key_id = key.map(|key| key.id().to_string());
    section.authenticated_lines = key.map(|_| 0);
    let mut seen_mac = false;
    for line in auth {
        match line.mac.key_id() {
            None => {
                section.lines_without_mac += 1;
                section.first_line_without_mac.get_or_insert(line.line);
                if seen_mac {
                    report.warnings.push(located(
                        FindingKind::Unauthenticated,
                        line,
                        "carries no MAC although earlier lines do: a kir older than journal keys wrote it, or someone who can write the case folder added it",
                    ));
                }
            }
            Some(key_id) => {
                seen_mac = true;
                match section.keys.iter_mut().find(|k| k.key_id == key_id) {
                    Some(known) => known.lines += 1,
                    None => section.keys.push(KeyLines { key_id: key_id.to_string(), lines: 1 }),
                }
            }
        }
        match &line.mac {
            LineMac::Valid { .. } => {
                if let Some(count) = section.authenticated_lines.as_mut() {
                    *count += 1;
                }
            }
            LineMac::Invalid { key_id } => {
                let message = format!(
                    "carries the id of your journal key {key_id}, but its MAC does not verify: the line was forged or changed after kir wrote it"
                );
                report.problems.push(located(FindingKind::Forged, line, &message));
            }
            LineMac::Absent | LineMac::Unchecked { .. } => {}
        }
    }
}

fn located(kind: FindingKind, line: &LineAuth, message: &str) -> Finding {
    Finding {
        kind,
        file: JOURNAL_FILE.into(),
        line: Some(line.line),
        seq: Some(line.seq),
        message: message.into(),
    }
}

fn check_first_entry(report: &mut VerifyReport, files: &CaseFiles, entries: &[JournalEntry]) {
    let Some(first) = entries.first() else {
        if report.problems.is_empty() {
            report.problem(Finding::new(
                FindingKind::BrokenEntry,
                JOURNAL_FILE,
                "the journal has no entries",
            ));
        }
        return;
    };
    match open_parameters(first) {
        Err(problem) => report.problem(
            Finding::new(FindingKind::BrokenEntry, JOURNAL_FILE, problem.detail).at_seq(problem.seq),
        ),
        Ok(opened) => {
            if let Some(case_bytes) = &files.case_json {
                let actual = sha256_hex(case_bytes);
                if actual != opened.case_json_sha256 {
                    let message = format!(
                        "changed: its SHA-256 is {actual}, journal entry 1 recorded {}",
                        opened.case_json_sha256
                    );
                    report.problem(Finding::new(FindingKind::Changed, CASE_FILE, message));
                }
            }
        }
    }
}

fn check_manifest(report: &mut VerifyReport, files: &CaseFiles, entries: &[JournalEntry]) {
    let problem = |kind, message: String| Finding::new(kind, MANIFEST_FILE, message);
    let Some(bytes) = &files.manifest else {
        if !files.unread.contains(MANIFEST_FILE) {
            report.problem(problem(FindingKind::Missing, "manifest.json is missing".into()));
        }
        return;
    };
    let manifest: Manifest = match serde_json::from_slice(bytes) {
        Ok(manifest) => manifest,
        Err(e) => return report.problem(problem(FindingKind::Malformed, format!("not a kir manifest: {e}"))),
    };
    let head = &manifest.journal;
    let Some(index) = entries.iter().position(|e| e.seq == head.seq) else {
        let message =
            format!("names journal entry {} as its head, which the journal does not have", head.seq);
        return report.problem(problem(FindingKind::Changed, message));
    };
    if entries[index].hash != head.hash {
        let message = format!(
            "records hash {} for journal entry {}, but that entry's hash is {}",
            head.hash, head.seq, entries[index].hash
        );
        return report.problem(problem(FindingKind::Changed, message));
    }
    let trailing = entries.len() - index - 1;
    if trailing > 0 && (report.form == CaseForm::Archive || files.signature.is_some()) {
        let message = format!(
            "covers the journal up to entry {} but {trailing} more entr{} follow; an exported or signed manifest covers the whole journal",
            head.seq,
            if trailing == 1 { "y" } else { "ies" }
        );
        report.problem(problem(FindingKind::Changed, message));
    }
    if !Manifest::known_format(manifest.format) {
        let message = format!("is of format {}, which this kir does not know", manifest.format);
        return report.problem(problem(FindingKind::Malformed, message));
    }
    let derived = match Manifest::derive_format(&entries[..=index], manifest.format) {
        Ok(derived) => derived,
        Err(e) => {
            return report
                .problem(Finding::new(FindingKind::BrokenEntry, JOURNAL_FILE, e.detail).at_seq(e.seq));
        }
    };
    if derived.to_bytes() == *bytes {
        return;
    }
    let differences = manifest_differences(&manifest, &derived);
    if differences.is_empty() {
        report.problem(problem(
            FindingKind::Changed,
            "holds the right values but not the bytes kir wrote (whitespace, order or number formatting changed)"
                .into(),
        ));
    }
    for difference in differences {
        report.problem(problem(FindingKind::Changed, difference));
    }
}

/// What differs between the manifest found and the one the journal implies, in words.
fn manifest_differences(found: &Manifest, derived: &Manifest) -> Vec<String> {
    let mut differences = Vec::new();
    if found.format != derived.format || found.case_id != derived.case_id {
        differences.push(format!(
            "names case {:?} (format {}), the journal case {:?} (format {})",
            found.case_id, found.format, derived.case_id, derived.format
        ));
    }
    let found_artifacts: BTreeMap<&str, &ArtifactRecord> =
        found.artifacts.iter().map(|a| (a.path.as_str(), a)).collect();
    let derived_artifacts: BTreeMap<&str, &ArtifactRecord> =
        derived.artifacts.iter().map(|a| (a.path.as_str(), a)).collect();
    for (path, expected) in &derived_artifacts {
        match found_artifacts.get(path) {
            None => differences.push(format!(
                "does not list evidence/{path}, committed in journal entry {}",
                expected.journal_seq
            )),
            Some(listed) if listed != expected => differences.push(format!(
                "lists evidence/{path} with values that differ from journal entry {} (sha256 {}, size {})",
                expected.journal_seq, listed.sha256, listed.size
            )),
            Some(_) => {}
        }
    }
    for path in found_artifacts.keys().filter(|p| !derived_artifacts.contains_key(*p)) {
        differences.push(format!(
            "lists evidence/{path}, which the journal does not record up to entry {}",
            derived.journal.seq
        ));
    }
    if differences.is_empty() && found.artifacts != derived.artifacts {
        differences.push("lists the artifacts in another order than the journal".into());
    }
    if found.not_collected != derived.not_collected {
        differences.push("its not-collected list differs from the journal's not-collected entries".into());
    }
    differences
}

fn check_signature_file(report: &mut VerifyReport, files: &CaseFiles, public_key: Option<&VerifyingKey>) {
    report.signature = match (&files.signature, public_key) {
        (None, None) => SignatureStatus::Absent,
        (None, Some(_)) => {
            report.problem(Finding::new(
                FindingKind::Signature,
                SIGNATURE_FILE,
                "a public key was given but the case is not signed (no manifest.json.minisig)",
            ));
            SignatureStatus::Missing
        }
        (Some(_), None) => {
            report.warnings.push(Finding::new(
                FindingKind::Signature,
                SIGNATURE_FILE,
                "the manifest is signed, but no public key was given (--pubkey): the signature was not checked",
            ));
            SignatureStatus::NotChecked
        }
        (Some(signature), Some(key)) => {
            let manifest = files.manifest.as_deref().unwrap_or_default();
            match check_signature(key, manifest, signature) {
                Ok(()) => SignatureStatus::Valid { key_id: key.key_id().to_string() },
                Err(reason) => {
                    report.problem(Finding::new(
                        FindingKind::Signature,
                        SIGNATURE_FILE,
                        format!("the signature does not verify with key {}: {reason}", key.key_id()),
                    ));
                    SignatureStatus::Invalid { reason }
                }
            }
        }
    };
}

pub(crate) fn check_facts(
    report: &mut VerifyReport,
    artifact: &ArtifactRecord,
    facts: &FileFacts,
    file: &str,
) {
    if facts.sha256 != artifact.sha256 || facts.size != artifact.size {
        let message = format!(
            "changed: SHA-256 {} and {} bytes, but journal entry {} recorded {} and {} bytes",
            facts.sha256, facts.size, artifact.journal_seq, artifact.sha256, artifact.size
        );
        report.problem(Finding::new(FindingKind::Changed, file, message).at_seq(artifact.journal_seq));
    }
}

/// A file whose size is not the recorded one, reported without hashing it.
pub(crate) fn size_mismatch(artifact: &ArtifactRecord, size: u64, file: &str) -> Finding {
    let message = format!(
        "changed: {size} bytes, but journal entry {} recorded {} bytes (not hashed)",
        artifact.journal_seq, artifact.size
    );
    Finding::new(FindingKind::Changed, file, message).at_seq(artifact.journal_seq)
}

pub(crate) fn missing_artifact(artifact: &ArtifactRecord) -> Finding {
    let message = format!("missing: committed in journal entry {}", artifact.journal_seq);
    Finding::new(FindingKind::Missing, format!("{EVIDENCE_DIR}/{}", artifact.path), message)
        .at_seq(artifact.journal_seq)
}

pub(crate) fn extra_artifact(path: &str) -> Finding {
    Finding::new(FindingKind::Extra, format!("{EVIDENCE_DIR}/{path}"), "not recorded in the journal")
}
