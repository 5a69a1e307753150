//! A process killed at any step of writing an artifact leaves a case that verifies (minus that
//! artifact, unless its journal line was complete), and opening the case repairs it.

use std::{
    fs::{self, OpenOptions},
    io::Write,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::{
    Case, CaseInfo, Error, FindingKind, JournalRecord,
    case::now,
    journal::{self, ACTION_REPAIR},
    layout::{EVIDENCE_DIR, JOURNAL_FILE, MANIFEST_TEMP_FILE},
    verify,
};

/// Where the simulated process dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Death {
    /// While bytes are streamed into the staging file.
    WhileStreaming,
    /// After the staging file is fsynced, before its journal line.
    AfterSeal,
    /// Part of the journal line is written.
    MidJournalLine,
    /// The journal line is written but for its newline.
    BeforeJournalNewline,
    /// The journal line is durable (committed), the file is still staged.
    AfterCommit,
    /// The file is in place; the manifest is not rewritten.
    AfterRename,
    /// The new manifest is in its temporary file, not renamed.
    AfterManifestTemp,
}

const EVERY_STEP: [Death; 7] = [
    Death::WhileStreaming,
    Death::AfterSeal,
    Death::MidJournalLine,
    Death::BeforeJournalNewline,
    Death::AfterCommit,
    Death::AfterRename,
    Death::AfterManifestTemp,
];

impl Death {
    /// Whether the artifact's journal line is complete, i.e. it is committed.
    fn committed(self) -> bool {
        matches!(
            self,
            Death::BeforeJournalNewline | Death::AfterCommit | Death::AfterRename | Death::AfterManifestTemp
        )
    }
}

const PATH: &str = "pods/web-1/logs/app.log";
const CONTENT: &[u8] = b"first half, second half";

/// Write one artifact the way `ArtifactWriter::finish` does, stopping dead at `death`.
fn write_and_die(dir: &Path, death: Death) {
    // A killed process drops nothing.
    let case = std::mem::ManuallyDrop::new(Case::open_for_tests(dir).unwrap());
    let mut writer = case.artifact(PATH, "GET /api/v1/namespaces/prod/pods/web-1/log").unwrap();
    writer.write_all(&CONTENT[..11]).unwrap();
    if death == Death::WhileStreaming {
        writer.die();
        return;
    }
    writer.write_all(&CONTENT[11..]).unwrap();
    let (staged, staging_lock) = writer.seal().unwrap();
    drop(writer);
    if death == Death::AfterSeal {
        return;
    }
    let record = staged.collect_record();
    if matches!(death, Death::MidJournalLine | Death::BeforeJournalNewline) {
        let last = case.entries().unwrap().pop().unwrap();
        let (line, _) = journal::seal(last.seq + 1, now(), &record, &last.hash, case.journal_key());
        let written = if death == Death::MidJournalLine { line.len() / 2 } else { line.len() - 1 };
        let mut journal = OpenOptions::new().append(true).open(dir.join(JOURNAL_FILE)).unwrap();
        journal.write_all(&line[..written]).unwrap();
        return;
    }
    let final_path = dir.join(EVIDENCE_DIR).join(PATH);
    fs::create_dir_all(final_path.parent().unwrap()).unwrap();
    case.lock_current().unwrap().append(&record).unwrap();
    if death == Death::AfterCommit {
        return;
    }
    fs::rename(&staged.staging_file, final_path).unwrap();
    drop(staging_lock);
    if death == Death::AfterRename {
        return;
    }
    fs::write(dir.join(MANIFEST_TEMP_FILE), case.manifest().unwrap().to_bytes()).unwrap();
}

#[test]
fn a_death_at_every_step_leaves_a_case_that_verifies_and_resumes() {
    for death in EVERY_STEP {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("case");
        let case = Case::create_for_tests(&dir, CaseInfo::new("crash")).unwrap();
        case.store_bytes("before.txt", "test", b"collected before the crash").unwrap();
        drop(case);

        write_and_die(&dir, death);

        let report = verify(&dir, None).unwrap();
        assert!(report.intact, "{death:?}: {:#?}", report.problems);
        let expected_artifacts = if death.committed() { 2 } else { 1 };
        assert_eq!(report.artifacts, expected_artifacts, "{death:?}");

        let resumed = Case::open_for_tests(&dir).unwrap();
        let repaired = verify(&dir, None).unwrap();
        assert!(repaired.intact, "{death:?} after resume: {:#?}", repaired.problems);
        let only_torn_copy_left = repaired.warnings.iter().all(|w| w.kind == FindingKind::Leftover)
            && repaired.warnings.len() == usize::from(death == Death::MidJournalLine);
        assert!(only_torn_copy_left, "{death:?} after resume: {:#?}", repaired.warnings);

        let entries = resumed.entries().unwrap();
        let repair_recorded = entries.last().unwrap().action == ACTION_REPAIR;
        assert_eq!(repair_recorded, death != Death::AfterRename, "{death:?}: {entries:#?}");

        let listed = resumed.artifacts().unwrap().iter().any(|a| a.path == PATH);
        assert_eq!(listed, death.committed(), "{death:?}");
        if death.committed() {
            assert_eq!(fs::read(dir.join(EVIDENCE_DIR).join(PATH)).unwrap(), CONTENT, "{death:?}");
        } else {
            // Nothing of the lost artifact remains, and it can be collected again.
            resumed.store_bytes(PATH, "retry", CONTENT).unwrap();
            assert!(verify(&dir, None).unwrap().intact, "{death:?} after the retry");
        }
    }
}

/// A handle opened before another process wrote (and died) sees that process's commit before it
/// touches staging: committed evidence is moved into place, never deleted as debris.
#[test]
fn a_long_running_handle_never_discards_what_a_dead_process_committed() {
    for death in EVERY_STEP {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("case");
        let long_running = Case::create_for_tests(&dir, CaseInfo::new("two processes")).unwrap();

        write_and_die(&dir, death);

        let started = long_running.artifact(PATH, "a second attempt");
        if death.committed() {
            let error = started.unwrap_err();
            assert!(matches!(error, Error::AlreadyCollected { seq: 2, .. }), "{death:?}: {error}");
        } else {
            let mut writer = started.unwrap();
            writer.write_all(CONTENT).unwrap();
            writer.finish().unwrap();
        }
        assert_eq!(fs::read(dir.join(EVIDENCE_DIR).join(PATH)).unwrap(), CONTENT, "{death:?}");
        let report = verify(&dir, None).unwrap();
        assert!(report.intact, "{death:?}: {:#?}", report.problems);
        assert_eq!(report.artifacts, 1, "{death:?}");
        let unexplained: Vec<_> =
            report.warnings.iter().filter(|w| w.kind != FindingKind::Leftover).collect();
        assert!(unexplained.is_empty(), "{death:?}: {unexplained:#?}");
        if death == Death::AfterCommit {
            let last = long_running.entries().unwrap().pop().unwrap();
            assert_eq!(last.action, ACTION_REPAIR, "the move out of staging is journaled");
            assert!(last.parameters["repairs"][0].as_str().unwrap().contains("moved evidence/"), "{last:#?}");
        }
    }
}

const CHILD_CASE_ENV: &str = "KIR_EVIDENCE_TEST_CHILD_CASE";
const CHILD_RUN_ENV: &str = "KIR_EVIDENCE_TEST_CHILD_RUN";

/// The child side of `real_kills_leave_a_case_that_verifies`: write from three threads until
/// the parent kills the process with SIGKILL.
fn write_until_killed(dir: &str, run: &str) {
    let case = Case::open_for_tests(dir).unwrap();
    let writers: Vec<_> = (0..3)
        .map(|writer| {
            let case = case.clone();
            let run = run.to_string();
            thread::spawn(move || {
                for index in 0.. {
                    let mut artifact =
                        case.artifact(&format!("run-{run}/w{writer}/{index}.bin"), "test").unwrap();
                    for chunk in 0..(index % 7 + 1) {
                        artifact.write_all(&[chunk as u8; 16 * 1024]).unwrap();
                    }
                    artifact.finish().unwrap();
                    case.record(JournalRecord::new("test", "step").target(format!("{writer}/{index}")))
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
}

#[test]
fn real_kills_leave_a_case_that_verifies() {
    // The test binary runs this test again as the child that gets killed.
    if let (Ok(dir), Ok(run)) = (std::env::var(CHILD_CASE_ENV), std::env::var(CHILD_RUN_ENV)) {
        return write_until_killed(&dir, &run);
    }
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("case");
    drop(Case::create_for_tests(&dir, CaseInfo::new("killed")).unwrap());
    let journal = dir.join(JOURNAL_FILE);
    for run in 0..8u64 {
        let length_before = fs::metadata(&journal).unwrap().len();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_tests::real_kills_leave_a_case_that_verifies"])
            .env(CHILD_CASE_ENV, &dir)
            .env(CHILD_RUN_ENV, run.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill it while it writes: once its first entries land, after a delay that varies by run.
        let started = Instant::now();
        while fs::metadata(&journal).unwrap().len() < length_before + 2000 {
            assert!(started.elapsed() < Duration::from_secs(20), "the child never wrote");
            thread::sleep(Duration::from_millis(1));
        }
        thread::sleep(Duration::from_millis(run * 7 % 23));
        child.kill().unwrap();
        child.wait().unwrap();

        let report = verify(&dir, None).unwrap();
        assert!(report.intact, "run {run}: {:#?}", report.problems);
        drop(Case::open_for_tests(&dir).unwrap());
        let repaired = verify(&dir, None).unwrap();
        assert!(repaired.intact, "run {run} after resume: {:#?}", repaired.problems);
        let unexplained: Vec<_> =
            repaired.warnings.iter().filter(|w| w.kind != FindingKind::Leftover).collect();
        assert!(unexplained.is_empty(), "run {run} after resume: {unexplained:#?}");
    }
}
