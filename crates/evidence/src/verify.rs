//! Verification: is every byte of a case what its journal recorded?
//!
//! The journal is the authority. Its chain must be intact; `case.json` must be the file whose
//! hash the first entry recorded; every `collect` entry's artifact must exist with that hash and
//! size; nothing else may be in the case; `manifest.json` must be byte for byte the manifest
//! derived from the journal up to the entry it names (it may lag the journal in a live folder,
//! never in an export or a signed case). What a crash explains is a warning, not a problem: a
//! torn last journal line, a committed artifact still in staging, an uncommitted staging file.
//!
//! All of that proves the files are unchanged relative to each other, not who wrote them: anyone
//! who can write the folder can rewrite all of it consistently. So the report also says which
//! journal keys the lines carry MACs under and, given the verifier's own key, how many of them
//! its kir provably wrote; a line that names that key but whose MAC does not verify is a problem.
//! The case's own files are read with caps (see [`MAX_JOURNAL`] and the others), the journal line
//! by line.
//!
//! This module reads a case folder; `checks` compares what it read with the journal, and
//! `archive` reads an exported archive instead. The report's types are in `report`.

use std::{
    collections::BTreeSet,
    fs::{self, File},
    io::{self, Read},
    path::Path,
};

use serde::Serialize;

use crate::{
    Error, Result,
    archive::verify_archive,
    checks::{
        CaseFiles, Keys, check_case_files, check_facts, extra_artifact, missing_artifact, size_mismatch,
        too_large,
    },
    error::io_error,
    fsutil::{Capped, read_capped, read_path_capped},
    hash::{Measured, hash_file_of_size},
    journal::{JournalEntry, read_journal_lines},
    key::JournalKey,
    layout::{
        CASE_FILE, EVIDENCE_DIR, JOURNAL_FILE, MANIFEST_FILE, MANIFEST_TEMP_FILE, MAX_CASE_JSON, MAX_JOURNAL,
        MAX_MANIFEST, MAX_SIGNATURE, SIGNATURE_FILE, STAGING_DIR, TORN_COPY_PREFIX, staging_name,
    },
    metadata::CaseMetadata,
    report::{CaseForm, Finding, FindingKind, VerifyReport},
    signing::VerifyingKey,
};

/// Verify a case folder or an exported archive (`.tar.zst`). `public_key` checks the manifest's
/// signature; without it a signature is reported as present but not checked. Journal lines are
/// not authenticated (see [`verify_with_journal_key`]).
///
/// Errors only when `path` cannot be examined at all; everything wrong with the case is in the
/// report.
pub fn verify(path: &Path, public_key: Option<&VerifyingKey>) -> Result<VerifyReport> {
    verify_with_journal_key(path, public_key, None)
}

/// [`verify`], also checking the journal lines' MACs under `journal_key` (the verifier's own,
/// e.g. [`JournalKey::find`]): the report counts the lines that key's kir wrote, and a line that
/// names the key but whose MAC does not verify is a problem.
pub fn verify_with_journal_key(
    path: &Path,
    public_key: Option<&VerifyingKey>,
    journal_key: Option<&JournalKey>,
) -> Result<VerifyReport> {
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotFound { path: path.to_path_buf() },
        _ => io_error("inspect", path)(e),
    })?;
    let keys = Keys { public: public_key, journal: journal_key };
    if meta.is_dir() { verify_folder(path, keys) } else { verify_archive(path, keys) }
}

/// The files of a case folder, listed while no commit can land.
#[derive(Debug, Default)]
struct FolderListing {
    /// Regular files under `evidence/`, outside the staging folder, relative to `evidence/`.
    evidence: BTreeSet<String>,
    /// Regular files in `evidence/.partial`, by name.
    staged: BTreeSet<String>,
}

fn verify_folder(dir: &Path, keys: Keys<'_>) -> Result<VerifyReport> {
    let mut report = VerifyReport::new(dir, CaseForm::Folder);
    let (mut files, listing) = read_folder(dir, &mut report, keys.journal)?;
    let expected = check_case_files(&mut report, &mut files, keys);

    let evidence = dir.join(EVIDENCE_DIR);
    let mut staged_used = BTreeSet::new();
    for (path, artifact) in &expected {
        let file = format!("{EVIDENCE_DIR}/{path}");
        if listing.evidence.contains(path) {
            match hash_file_of_size(&evidence.join(path), artifact.size) {
                Ok(Measured::Hashed(facts)) => check_facts(&mut report, artifact, &facts, &file),
                Ok(Measured::OtherSize(size)) => report.problem(size_mismatch(artifact, size, &file)),
                Err(e) => {
                    report.problem(Finding::new(FindingKind::Missing, file, format!("cannot be read: {e}")))
                }
            }
            continue;
        }
        let name = staging_name(path);
        if !listing.staged.contains(&name) {
            report.problem(missing_artifact(artifact));
            continue;
        }
        staged_used.insert(name.clone());
        let staged_file = format!("{EVIDENCE_DIR}/{STAGING_DIR}/{name}");
        match hash_file_of_size(&evidence.join(STAGING_DIR).join(&name), artifact.size) {
            Ok(Measured::Hashed(facts)) if facts.sha256 == artifact.sha256 => {
                let message = format!(
                    "committed in journal entry {} but still in {staged_file}: an interruption stopped it before it was moved; opening the case moves it",
                    artifact.journal_seq
                );
                report
                    .warnings
                    .push(Finding::new(FindingKind::Staged, file, message).at_seq(artifact.journal_seq));
            }
            Ok(Measured::Hashed(facts)) => check_facts(&mut report, artifact, &facts, &staged_file),
            Ok(Measured::OtherSize(size)) => report.problem(size_mismatch(artifact, size, &staged_file)),
            Err(e) => report.problem(Finding::new(
                FindingKind::Missing,
                staged_file,
                format!("cannot be read: {e}"),
            )),
        }
    }
    for path in listing.evidence.iter().filter(|p| !expected.contains_key(*p)) {
        report.problem(extra_artifact(path));
    }
    for name in listing.staged.iter().filter(|n| !staged_used.contains(*n)) {
        report.warnings.push(Finding::new(
            FindingKind::Uncommitted,
            format!("{EVIDENCE_DIR}/{STAGING_DIR}/{name}"),
            "an artifact being written, or whose writing was interrupted, never committed: not evidence (opening the case deletes it)",
        ));
    }
    Ok(report.finish())
}

/// Read the case's own files and list the evidence under a shared journal lock, so that no
/// artifact is committed between reading the journal and listing the files. Each file is read
/// only up to its cap, the journal line by line.
fn read_folder(
    dir: &Path,
    report: &mut VerifyReport,
    journal_key: Option<&JournalKey>,
) -> Result<(CaseFiles, FolderListing)> {
    let journal_lock = File::open(dir.join(JOURNAL_FILE)).ok();
    if let Some(file) = &journal_lock {
        // A read-only copy may not support locks; verification then reads without one.
        let _ = file.lock_shared();
    }
    let mut files = CaseFiles::default();
    let mut listing = FolderListing::default();
    for item in fs::read_dir(dir).map_err(io_error("read", dir))? {
        let item = item.map_err(io_error("read", dir))?;
        let name = item.file_name().to_string_lossy().into_owned();
        let file_type = item.file_type().map_err(io_error("inspect", item.path()))?;
        let (slot, file_name, cap) = match name.as_str() {
            CASE_FILE => (&mut files.case_json, CASE_FILE, MAX_CASE_JSON),
            JOURNAL_FILE if file_type.is_file() => {
                let path = item.path();
                let file = File::open(&path).map_err(io_error("read", &path))?;
                let size = file.metadata().map_err(io_error("inspect", &path))?.len();
                if size > MAX_JOURNAL {
                    report.problem(too_large(JOURNAL_FILE, size, MAX_JOURNAL));
                    files.unread.insert(JOURNAL_FILE);
                } else {
                    // Appends by other processes wait for the lock; reading stops where it was taken.
                    let parsed =
                        read_journal_lines(file.take(size), journal_key).map_err(io_error("read", &path))?;
                    files.journal = Some(parsed);
                }
                continue;
            }
            JOURNAL_FILE => {
                report.problem(Finding::new(FindingKind::Unsafe, name, "not a regular file"));
                continue;
            }
            MANIFEST_FILE => (&mut files.manifest, MANIFEST_FILE, MAX_MANIFEST),
            SIGNATURE_FILE => (&mut files.signature, SIGNATURE_FILE, MAX_SIGNATURE),
            EVIDENCE_DIR if file_type.is_dir() => {
                list_evidence(&item.path(), "", report, &mut listing)?;
                continue;
            }
            EVIDENCE_DIR => {
                report.problem(Finding::new(FindingKind::Unsafe, name, "not a folder (a link or a file)"));
                continue;
            }
            MANIFEST_TEMP_FILE => {
                report.warnings.push(Finding::new(
                    FindingKind::Leftover,
                    name,
                    "left by an interrupted manifest rewrite; opening the case removes it",
                ));
                continue;
            }
            torn if torn.starts_with(TORN_COPY_PREFIX) && file_type.is_file() => {
                report.warnings.push(Finding::new(
                    FindingKind::Leftover,
                    name,
                    "an unfinished journal line that opening the case cut off (see the journal's repair entry)",
                ));
                continue;
            }
            _ => {
                report.problem(Finding::new(FindingKind::Extra, name, "not part of a kir case"));
                continue;
            }
        };
        if !file_type.is_file() {
            report.problem(Finding::new(FindingKind::Unsafe, name, "not a regular file"));
            continue;
        }
        let path = item.path();
        let file = File::open(&path).map_err(io_error("read", &path))?;
        match read_capped(&file, cap).map_err(io_error("read", &path))? {
            Capped::Read(bytes) => *slot = Some(bytes),
            Capped::TooLarge(size) => {
                report.problem(too_large(file_name, size, cap));
                files.unread.insert(file_name);
            }
        }
    }
    drop(journal_lock);
    Ok((files, listing))
}

fn list_evidence(
    dir: &Path,
    prefix: &str,
    report: &mut VerifyReport,
    listing: &mut FolderListing,
) -> Result<()> {
    for item in fs::read_dir(dir).map_err(io_error("read", dir))? {
        let item = item.map_err(io_error("read", dir))?;
        let file_type = item.file_type().map_err(io_error("inspect", item.path()))?;
        let Some(name) = item.file_name().to_str().map(str::to_string) else {
            let shown = format!("{EVIDENCE_DIR}/{prefix}{}", item.file_name().to_string_lossy());
            report.problem(Finding::new(
                FindingKind::Extra,
                shown,
                "a name that is not UTF-8: kir never writes one",
            ));
            continue;
        };
        let relative = format!("{prefix}{name}");
        let shown = format!("{EVIDENCE_DIR}/{relative}");
        if prefix.is_empty() && name == STAGING_DIR && file_type.is_dir() {
            list_staging(&item.path(), report, listing)?;
        } else if file_type.is_dir() {
            list_evidence(&item.path(), &format!("{relative}/"), report, listing)?;
        } else if file_type.is_file() {
            listing.evidence.insert(relative);
        } else {
            report.problem(Finding::new(
                FindingKind::Unsafe,
                shown,
                "a link or special file; evidence is regular files only",
            ));
        }
    }
    Ok(())
}

fn list_staging(dir: &Path, report: &mut VerifyReport, listing: &mut FolderListing) -> Result<()> {
    for item in fs::read_dir(dir).map_err(io_error("read", dir))? {
        let item = item.map_err(io_error("read", dir))?;
        let name = item.file_name().to_string_lossy().into_owned();
        if item.file_type().map_err(io_error("inspect", item.path()))?.is_file() {
            listing.staged.insert(name);
        } else {
            report.problem(Finding::new(
                FindingKind::Unsafe,
                format!("{EVIDENCE_DIR}/{STAGING_DIR}/{name}"),
                "not a regular file; kir stages regular files only",
            ));
        }
    }
    Ok(())
}

/// A case's journal read for display, without opening the case for writing.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalReading {
    pub case: Option<CaseMetadata>,
    /// Every line that parses as an entry; broken ones are also listed in `problems`.
    pub entries: Vec<JournalEntry>,
    pub problems: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

/// The journal file of the case folder `dir`, its path and size; one larger than
/// [`MAX_JOURNAL`] is refused unread.
fn open_journal(dir: &Path) -> Result<(std::path::PathBuf, File, u64)> {
    let journal_path = dir.join(JOURNAL_FILE);
    let file = File::open(&journal_path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            Error::NotACase { path: dir.to_path_buf(), detail: "journal.jsonl is missing".into() }
        }
        _ => io_error("read", &journal_path)(e),
    })?;
    let size = file.metadata().map_err(io_error("inspect", &journal_path))?.len();
    if size > MAX_JOURNAL {
        return Err(Error::TooLarge { path: journal_path, size, limit: MAX_JOURNAL });
    }
    Ok((journal_path, file, size))
}

/// The journal of the case folder `dir`, read without opening the case for writing, provided
/// it is intact and every line carries a MAC that verifies under `key`: what this user's kir
/// provably wrote, for acting or reading back on it. Otherwise the error names the first line
/// that is broken or not authenticated.
pub fn read_authenticated_journal(dir: &Path, key: &JournalKey) -> Result<Vec<JournalEntry>> {
    let (journal_path, file, size) = open_journal(dir)?;
    let parsed = read_journal_lines(file.take(size), Some(key)).map_err(io_error("read", &journal_path))?;
    if let Some(problem) = parsed.problems.first() {
        return Err(Error::BrokenJournal {
            path: journal_path,
            line: problem.line.unwrap_or_default(),
            detail: problem.message.clone(),
        });
    }
    if let Some((line, seq, detail)) =
        parsed.auth.iter().find_map(|auth| Some((auth.line, auth.seq, auth.mac.problem(key)?)))
    {
        return Err(Error::Unauthenticated { line, seq, detail });
    }
    Ok(parsed.entries)
}

/// Read the journal of the case folder `dir` for display, line by line; a journal larger than
/// [`MAX_JOURNAL`] is refused unread.
pub fn read_journal(dir: &Path) -> Result<JournalReading> {
    if !dir.is_dir() {
        return Err(if dir.exists() {
            Error::NotACase { path: dir.to_path_buf(), detail: "it is not a folder".into() }
        } else {
            Error::NotFound { path: dir.to_path_buf() }
        });
    }
    let (journal_path, file, size) = open_journal(dir)?;
    let case = match read_path_capped(&dir.join(CASE_FILE), MAX_CASE_JSON) {
        Ok(Capped::Read(bytes)) => serde_json::from_slice(&bytes).ok(),
        _ => None,
    };
    let parsed = read_journal_lines(file.take(size), None).map_err(io_error("read", &journal_path))?;
    Ok(JournalReading {
        case,
        entries: parsed.entries,
        problems: parsed.problems,
        warnings: parsed.tail_finding.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use std::{os::unix::fs::symlink, path::PathBuf};

    use super::*;
    use crate::{
        Case, CaseInfo, JournalRecord, generate_keys, hash::sha256_hex, manifest::Manifest,
        report::SignatureStatus, signing::sign,
    };

    /// A case with two artifacts, a recorded action, a not-collected artifact and a lagging manifest.
    fn fixture(dir: &Path) -> PathBuf {
        let case = Case::create_for_tests(dir.join("case"), CaseInfo::new("fixture")).unwrap();
        case.store_bytes("pod.json", "GET /api/v1/namespaces/prod/pods/web-1", b"{\"kind\":\"Pod\"}")
            .unwrap();
        case.store_bytes("logs/app.log", "GET .../log?container=app", b"line 1\nline 2\n").unwrap();
        case.not_collected("etc.tar", "exec tar", "no tar in the image").unwrap();
        let root = case.path().to_path_buf();
        drop(case);
        // A handle that dies (kill -9) after its last entry leaves the manifest behind it.
        let dying = Case::open_for_tests(&root).unwrap();
        dying.record(JournalRecord::new("alice", "isolate").target("pod prod/web-1").result("done")).unwrap();
        std::mem::forget(dying);
        root
    }

    /// The case's folder, once its handle is gone and the manifest rewritten.
    fn flushed(case: Case) -> PathBuf {
        let root = case.path().to_path_buf();
        drop(case);
        root
    }

    fn kinds(report: &VerifyReport) -> Vec<(FindingKind, String)> {
        report.problems.iter().map(|p| (p.kind, p.file.clone())).collect()
    }

    #[test]
    fn an_untouched_case_is_intact_with_a_lagging_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());
        let report = verify(&case, None).unwrap();
        assert!(report.intact, "{:#?}", report.problems);
        assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
        assert_eq!((report.journal_entries, report.artifacts), (5, 2));
        assert_eq!(report.form, CaseForm::Folder);
        assert_eq!(report.signature, SignatureStatus::Absent);
        let manifest: Manifest =
            serde_json::from_slice(&fs::read(case.join(MANIFEST_FILE)).unwrap()).unwrap();
        assert_eq!(manifest.journal.seq, 4, "the manifest lags the last (isolate) entry");
    }

    /// Every byte of every file counts: flipping any one of them is a problem.
    #[test]
    fn every_changed_byte_of_every_file_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());
        for file in [CASE_FILE, JOURNAL_FILE, MANIFEST_FILE, "evidence/pod.json", "evidence/logs/app.log"] {
            let path = case.join(file);
            let original = fs::read(&path).unwrap();
            for index in 0..original.len() {
                let mut changed = original.clone();
                changed[index] ^= 0x01;
                fs::write(&path, &changed).unwrap();
                let report = verify(&case, None).unwrap();
                assert!(!report.intact, "{file}: flipping byte {index} went unnoticed");
                assert!(
                    report.problems.iter().any(|p| p.file == file),
                    "{file} byte {index}: {:#?}",
                    report.problems
                );
            }
            fs::write(&path, &original).unwrap();
        }
        assert!(verify(&case, None).unwrap().intact);
    }

    #[test]
    fn findings_name_the_file_and_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());

        fs::write(case.join("evidence/pod.json"), "{\"kind\":\"Pwned\"}").unwrap();
        let report = verify(&case, None).unwrap();
        assert_eq!(kinds(&report), vec![(FindingKind::Changed, "evidence/pod.json".into())]);
        assert_eq!(report.problems[0].seq, Some(2));
        assert!(report.problems[0].message.contains("journal entry 2 recorded"), "{}", report.problems[0]);
        fs::remove_file(case.join("evidence/pod.json")).unwrap();
        let report = verify(&case, None).unwrap();
        assert_eq!(kinds(&report), vec![(FindingKind::Missing, "evidence/pod.json".into())]);

        fs::write(case.join("evidence/planted.sh"), "curl | sh").unwrap();
        fs::write(case.join("notes.txt"), "x").unwrap();
        symlink("/etc/passwd", case.join("evidence/logs/link")).unwrap();
        let report = verify(&case, None).unwrap();
        let found = kinds(&report);
        for expected in [
            (FindingKind::Extra, "evidence/planted.sh".to_string()),
            (FindingKind::Extra, "notes.txt".to_string()),
            (FindingKind::Unsafe, "evidence/logs/link".to_string()),
        ] {
            assert!(found.contains(&expected), "{expected:?} not in {found:?}");
        }
    }

    /// Bytes this process has read so far (`rchar` of /proc/self/io).
    fn bytes_read_by_this_process() -> u64 {
        let io = fs::read_to_string("/proc/self/io").unwrap();
        io.lines().find_map(|line| line.strip_prefix("rchar: ")).unwrap().parse().unwrap()
    }

    #[test]
    fn files_larger_than_recorded_are_reported_without_being_read() {
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());
        let grown = 1u64 << 30;
        // Sparse files: a GiB each on paper, nothing on disk.
        File::options().write(true).open(case.join("evidence/pod.json")).unwrap().set_len(grown).unwrap();
        // A committed artifact still in staging is checked the same way.
        let staged = case.join(EVIDENCE_DIR).join(STAGING_DIR).join(staging_name("logs/app.log"));
        fs::rename(case.join("evidence/logs/app.log"), &staged).unwrap();
        File::options().write(true).open(&staged).unwrap().set_len(grown).unwrap();

        let before = bytes_read_by_this_process();
        let report = verify(&case, None).unwrap();
        let read = bytes_read_by_this_process() - before;
        let staged_file = format!("{EVIDENCE_DIR}/{STAGING_DIR}/{}", staging_name("logs/app.log"));
        assert_eq!(
            kinds(&report),
            vec![(FindingKind::Changed, staged_file), (FindingKind::Changed, "evidence/pod.json".into())]
        );
        assert!(
            report.problems[1].message.contains("1073741824 bytes, but journal entry 2 recorded 14 bytes"),
            "{}",
            report.problems[1]
        );
        // Tests running alongside read a little; hashing either file would read a GiB.
        assert!(read < 64 << 20, "verification read {read} bytes");
    }

    #[test]
    fn a_reformatted_manifest_is_a_problem_even_with_the_same_values() {
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());
        let manifest: Manifest =
            serde_json::from_slice(&fs::read(case.join(MANIFEST_FILE)).unwrap()).unwrap();
        fs::write(case.join(MANIFEST_FILE), serde_json::to_vec(&manifest).unwrap()).unwrap();
        let report = verify(&case, None).unwrap();
        assert_eq!(kinds(&report), vec![(FindingKind::Changed, MANIFEST_FILE.into())]);
        assert!(
            report.problems[0].message.contains("right values but not the bytes"),
            "{}",
            report.problems[0]
        );

        let mut forged = manifest.clone();
        forged.artifacts[0].sha256 = sha256_hex(b"forged");
        fs::write(case.join(MANIFEST_FILE), forged.to_bytes()).unwrap();
        let report = verify(&case, None).unwrap();
        assert!(report.problems[0].message.contains("evidence/pod.json"), "{}", report.problems[0]);
    }

    #[test]
    fn a_signed_folder_must_have_a_manifest_covering_the_whole_journal() {
        let dir = tempfile::tempdir().unwrap();
        let keys = generate_keys(&dir.path().join("k"), None).unwrap();
        let other = generate_keys(&dir.path().join("other"), None).unwrap();
        let signing = crate::SigningKey::from_file(&keys.secret_key, None).unwrap();
        let public = VerifyingKey::from_file(&keys.public_key).unwrap();
        let wrong = VerifyingKey::from_file(&other.public_key).unwrap();

        let case = Case::create_for_tests(dir.path().join("case"), CaseInfo::new("signed")).unwrap();
        case.store_bytes("a.txt", "test", b"a").unwrap();
        let case = Case::open_for_tests(flushed(case)).unwrap();
        let manifest = fs::read(case.path().join(MANIFEST_FILE)).unwrap();
        fs::write(case.path().join(SIGNATURE_FILE), sign(&signing, &manifest, case.id(), 2).unwrap())
            .unwrap();

        let report = verify(case.path(), Some(&public)).unwrap();
        assert!(report.intact, "{:#?}", report.problems);
        assert_eq!(report.signature, SignatureStatus::Valid { key_id: keys.key_id.clone() });
        let report = verify(case.path(), None).unwrap();
        assert!(report.intact);
        assert_eq!(report.signature, SignatureStatus::NotChecked);
        assert_eq!(report.warnings[0].kind, FindingKind::Signature);
        let report = verify(case.path(), Some(&wrong)).unwrap();
        assert!(!report.intact);
        assert!(matches!(report.signature, SignatureStatus::Invalid { .. }));

        case.record(JournalRecord::new("mallory", "appended-after-signing")).unwrap();
        let report = verify(case.path(), Some(&public)).unwrap();
        assert_eq!(kinds(&report), vec![(FindingKind::Changed, MANIFEST_FILE.into())]);
        assert!(report.problems[0].message.contains("1 more entry follow"), "{}", report.problems[0]);
    }

    #[test]
    fn a_public_key_for_an_unsigned_case_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());
        let keys = generate_keys(&dir.path().join("k"), None).unwrap();
        let public = VerifyingKey::from_file(&keys.public_key).unwrap();
        let report = verify(&case, Some(&public)).unwrap();
        assert_eq!(report.signature, SignatureStatus::Missing);
        assert_eq!(kinds(&report), vec![(FindingKind::Signature, SIGNATURE_FILE.into())]);
    }

    #[test]
    fn missing_case_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());
        for file in [CASE_FILE, MANIFEST_FILE, JOURNAL_FILE] {
            fs::remove_file(case.join(file)).unwrap();
            let report = verify(&case, None).unwrap();
            assert!(
                report.problems.iter().any(|p| p.kind == FindingKind::Missing && p.file == file),
                "{file}"
            );
        }
        assert!(matches!(verify(&dir.path().join("nope"), None), Err(Error::NotFound { .. })));
    }

    #[test]
    fn read_journal_lists_entries_and_problems() {
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());
        let reading = read_journal(&case).unwrap();
        assert_eq!(reading.entries.len(), 5);
        assert_eq!(reading.case.unwrap().info.title, "fixture");
        assert!(reading.problems.is_empty());
        let journal = case.join(JOURNAL_FILE);
        let text = fs::read_to_string(&journal).unwrap();
        fs::write(&journal, text.replace("prod/web-1\",\"param", "prod/web-2\",\"param")).unwrap();
        let reading = read_journal(&case).unwrap();
        assert_eq!(reading.entries.len(), 5);
        assert_eq!(reading.problems.len(), 1);
        assert_eq!(reading.problems[0].line, Some(5));
    }
}
