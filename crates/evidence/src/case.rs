//! A case folder and the handle that writes into it.
//!
//! Every change goes through the journal lock: a mutex for the threads of this process and an
//! advisory file lock (`flock`) on `journal.jsonl` for other processes, so two `kir` commands
//! recording into the same case interleave whole entries. Before each append the handle reads
//! whatever other processes appended, so the chain continues from the real last entry.
//!
//! Every handle holds a journal key (see [`JournalKey`]): each line it appends carries a MAC under
//! it, and each line it reads is checked against it, so [`Case::authenticated_entries`] can
//! refuse a journal with a line this user's kir did not write.
//!
//! `case` and `artifact` import each other, the one cycle among this crate's modules: a
//! [`Case`] hands out [`ArtifactWriter`]s, and a writer holds its `Case` (a clone of the handle)
//! to reserve its path, find the staging folder and commit through the journal lock. Both are
//! the writing side; nothing that only verifies imports either.

use std::{
    collections::{BTreeMap, HashSet},
    fs::{self, File, OpenOptions},
    io::{self, BufReader, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use jiff::{Timestamp, Unit};
use serde::Serialize;
use serde_json::json;

use crate::{
    Error, Result,
    artifact::{ArtifactWriter, StagedArtifact},
    error::io_error,
    fsutil::{
        Capped, create_real_dirs, random_hex, read_path_capped, replace_file, sync_dir, write_new_file,
    },
    hash::{Measured, hash_file_of_size, sha256_hex},
    journal::{
        self, ACTION_COLLECT, ACTION_NOT_COLLECTED, ACTION_OPEN, ACTION_REPAIR, ChainPosition,
        CollectParameters, CollectResult, GENESIS_HASH, JournalEntry, JournalRecord, MAX_LINE,
        NotCollectedParameters, NotCollectedResult, OpenParameters, Tail,
    },
    key::JournalKey,
    layout::{
        CASE_FILE, EVIDENCE_DIR, JOURNAL_FILE, MANIFEST_FILE, MANIFEST_TEMP_FILE, MAX_CASE_JSON, MAX_JOURNAL,
        MAX_MANIFEST, STAGING_DIR, TORN_COPY_PREFIX, staging_name,
    },
    manifest::{ArtifactRecord, EntryProblem, Manifest, artifact_of, open_parameters},
    metadata::{self, CaseInfo, CaseMetadata},
    path::check_evidence_path,
};

/// The actor of entries kir writes on its own (opening, collecting, repairing).
pub const KIR_ACTOR: &str = "kir";

/// A handle on an open case. Cheap to clone; clones share one journal lock, so artifacts can be
/// written from several threads (or `spawn_blocking` tasks) at once.
#[derive(Debug, Clone)]
pub struct Case {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    metadata: CaseMetadata,
    key: JournalKey,
    ledger: Mutex<Ledger>,
    /// Evidence paths that writers of this process are writing now.
    writing: Mutex<HashSet<String>>,
}

/// The manifest is a derived index of the journal, rewritten when the last handle on the case
/// is dropped rather than after every artifact (each rewrite is a write, a sync and a rename
/// under the journal lock). A handle that dies before (kill -9) leaves a manifest that lags the
/// journal, which a case folder may have (see `verify`); the next handle's open rewrites it.
impl Drop for Inner {
    fn drop(&mut self) {
        let ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        if ledger.journal.lock().is_err() {
            return;
        }
        let mut guard = LedgerGuard { ledger, root: &self.root, key: &self.key };
        if guard.catch_up().is_ok() {
            let _ = guard.write_manifest();
        }
    }
}

/// The journal file and what has been read of it.
#[derive(Debug)]
struct Ledger {
    journal: File,
    /// Bytes of the journal already read and checked.
    read_len: u64,
    position: ChainPosition,
    entries: Vec<JournalEntry>,
    /// The first line read that the handle's key does not authenticate: line, seq and why.
    unauthenticated: Option<(u64, u64, String)>,
}

/// The current time, to the microsecond (finer digits only make the journal harder to read).
pub(crate) fn now() -> Timestamp {
    let now = Timestamp::now();
    now.round(Unit::Microsecond).unwrap_or(now)
}

impl Case {
    /// Create a new case folder at `dir`, which must not exist or be an empty folder. Its lines
    /// are authenticated with the user's journal key ([`JournalKey::from_environment`]).
    ///
    /// The folder is assembled under a temporary name beside `dir` and renamed into place, so an
    /// interrupted create leaves no half-made case.
    pub fn create(dir: impl AsRef<Path>, info: CaseInfo) -> Result<Case> {
        Case::create_with_key(dir, info, JournalKey::from_environment()?)
    }

    /// [`Case::create`] with the journal key given.
    pub fn create_with_key(dir: impl AsRef<Path>, info: CaseInfo, key: JournalKey) -> Result<Case> {
        let created = now();
        create_case(dir.as_ref(), info, created, new_case_id(created), key)
    }

    /// Create a new case folder named after its id inside `parent` (e.g. `./cases/<id>`).
    pub fn create_in(parent: impl AsRef<Path>, info: CaseInfo) -> Result<Case> {
        Case::create_in_with_key(parent, info, JournalKey::from_environment()?)
    }

    /// [`Case::create_in`] with the journal key given.
    pub fn create_in_with_key(parent: impl AsRef<Path>, info: CaseInfo, key: JournalKey) -> Result<Case> {
        let created = now();
        let id = new_case_id(created);
        create_case(&parent.as_ref().join(&id), info, created, id, key)
    }

    /// Open the case at `dir` to add to it, or create it there with `info` when `dir` does not
    /// hold one yet; `true` when this call created it. Two processes doing this at once on one
    /// new folder both succeed: one creates the case and the other opens it.
    pub fn open_or_create(dir: impl AsRef<Path>, info: CaseInfo) -> Result<(Case, bool)> {
        Case::open_or_create_with_key(dir, info, JournalKey::from_environment()?)
    }

    /// [`Case::open_or_create`] with the journal key given.
    pub fn open_or_create_with_key(
        dir: impl AsRef<Path>,
        info: CaseInfo,
        key: JournalKey,
    ) -> Result<(Case, bool)> {
        let dir = dir.as_ref();
        if fs::symlink_metadata(dir.join(CASE_FILE)).is_err() {
            let created = now();
            match create_case(dir, info, created, new_case_id(created), key.clone()) {
                Ok(case) => return Ok((case, true)),
                // Another process created it first. A case moves into place whole, so once its
                // case.json is there the case is complete and can be opened.
                Err(Error::CannotCreate { .. }) if fs::symlink_metadata(dir.join(CASE_FILE)).is_ok() => {}
                Err(error) => return Err(error),
            }
        }
        Ok((Case::open_with_key(dir, key)?, false))
    }

    /// Open an existing case to add to it (resume after an interruption).
    ///
    /// Refuses a case whose journal or case.json was changed. Repairs what a crash leaves: an
    /// unfinished last journal line is cut off and kept as `journal.jsonl.torn-<offset>`;
    /// committed artifacts still in `evidence/.partial` are moved into place; staged files of
    /// artifacts that were never committed (and that no live writer holds) are deleted; the
    /// manifest is rewritten. Any repair is itself journaled (action `repair`).
    ///
    /// Lines are appended with, and read against, the user's journal key
    /// ([`JournalKey::from_environment`]).
    pub fn open(dir: impl AsRef<Path>) -> Result<Case> {
        // A path that is no case is named before a key is looked up (or created).
        check_folder(dir.as_ref())?;
        Case::open_with_key(dir, JournalKey::from_environment()?)
    }

    /// [`Case::open`] with the journal key given.
    pub fn open_with_key(dir: impl AsRef<Path>, key: JournalKey) -> Result<Case> {
        let root = dir.as_ref().to_path_buf();
        check_folder(&root)?;
        let case_path = root.join(CASE_FILE);
        let case_bytes = match read_path_capped(&case_path, MAX_CASE_JSON) {
            Ok(Capped::Read(bytes)) => bytes,
            Ok(Capped::TooLarge(size)) => {
                return Err(Error::TooLarge { path: case_path, size, limit: MAX_CASE_JSON });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotACase { path: root, detail: "case.json is missing".into() });
            }
            Err(e) => return Err(io_error("read", &case_path)(e)),
        };
        let metadata: CaseMetadata = serde_json::from_slice(&case_bytes).map_err(|e| Error::NotACase {
            path: root.clone(),
            detail: format!("case.json is not valid: {e}"),
        })?;
        let journal_path = root.join(JOURNAL_FILE);
        let journal =
            OpenOptions::new().read(true).append(true).open(&journal_path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => {
                    Error::NotACase { path: root.clone(), detail: "journal.jsonl is missing".into() }
                }
                _ => io_error("open", &journal_path)(e),
            })?;
        let case = Case {
            inner: Arc::new(Inner {
                root,
                metadata,
                key,
                ledger: Mutex::new(Ledger {
                    journal,
                    read_len: 0,
                    position: ChainPosition::start(),
                    entries: Vec::new(),
                    unauthenticated: None,
                }),
                writing: Mutex::new(HashSet::new()),
            }),
        };
        let mut guard = case.lock()?;
        let mut repairs: Vec<String> = guard.catch_up()?.into_iter().collect();
        guard.check_case_json(&case_bytes)?;
        repairs.extend(guard.repair_evidence()?);
        let manifest_temp = guard.root.join(MANIFEST_TEMP_FILE);
        if manifest_temp.exists() {
            fs::remove_file(&manifest_temp).map_err(io_error("remove", &manifest_temp))?;
            repairs.push(format!("removed {MANIFEST_TEMP_FILE}, left by an interrupted manifest rewrite"));
        }
        if !repairs.is_empty() {
            guard.append(&repair_record(repairs))?;
        }
        guard.write_manifest()?;
        drop(guard);
        Ok(case)
    }

    /// The case folder.
    pub fn path(&self) -> &Path {
        &self.inner.root
    }

    /// What `case.json` says.
    pub fn metadata(&self) -> &CaseMetadata {
        &self.inner.metadata
    }

    pub fn id(&self) -> &str {
        &self.inner.metadata.id
    }

    /// Journal an action (isolate, label change, policy created, ...) and return its entry.
    /// The entry is durable (fsync) when this returns.
    pub fn record(&self, record: JournalRecord) -> Result<JournalEntry> {
        let hint = match record.action.as_str() {
            ACTION_COLLECT => "write evidence with Case::artifact or Case::store_bytes",
            ACTION_NOT_COLLECTED => "use Case::not_collected",
            ACTION_OPEN | ACTION_REPAIR => "kir writes these itself",
            _ => return self.lock_current()?.append(&record),
        };
        Err(Error::ReservedAction { action: record.action, hint })
    }

    /// Journal that the artifact at `path` (relative to `evidence/`) could not be collected
    /// from `source`, and why. The path stays free: a later attempt may still collect it.
    pub fn not_collected(&self, path: &str, source: &str, reason: &str) -> Result<JournalEntry> {
        check_evidence_path(path)?;
        let record = JournalRecord::new(KIR_ACTOR, ACTION_NOT_COLLECTED)
            .target(path)
            .parameters(to_json(NotCollectedParameters { source: source.to_string() }))
            .result(to_json(NotCollectedResult { reason: reason.to_string() }));
        let mut guard = self.lock_current()?;
        guard.append(&record)
    }

    /// The journal key this handle writes and checks lines with.
    pub fn journal_key(&self) -> &JournalKey {
        &self.inner.key
    }

    /// Every journal entry, including those other processes appended since this handle read,
    /// authenticated or not: for display. What kir acts on comes from
    /// [`Case::authenticated_entries`].
    pub fn entries(&self) -> Result<Vec<JournalEntry>> {
        Ok(self.lock_current()?.ledger.entries.clone())
    }

    /// Every journal entry, including those other processes appended since this handle read,
    /// provided every line carries a MAC that verifies under this handle's journal key: proof
    /// that this user's kir wrote the whole journal. Otherwise [`Error::Unauthenticated`] names
    /// the first line that does not, and why (no MAC, another responder's key, a forged MAC).
    pub fn authenticated_entries(&self) -> Result<Vec<JournalEntry>> {
        let guard = self.lock_current()?;
        match &guard.ledger.unauthenticated {
            Some((line, seq, detail)) => {
                Err(Error::Unauthenticated { line: *line, seq: *seq, detail: detail.clone() })
            }
            None => Ok(guard.ledger.entries.clone()),
        }
    }

    /// The current manifest, as derived from the whole journal.
    pub fn manifest(&self) -> Result<Manifest> {
        self.lock_current()?.manifest()
    }

    /// Every committed artifact, in journal order.
    pub fn artifacts(&self) -> Result<Vec<ArtifactRecord>> {
        Ok(self.manifest()?.artifacts)
    }

    /// Start writing an artifact at `path` (relative to `evidence/`); `source` names the API call
    /// or command the bytes come from. See [`ArtifactWriter`].
    ///
    /// Fails with [`Error::AlreadyCollected`] when any process committed `path`; if that process
    /// died before moving the artifact out of staging, the move is finished (and journaled).
    pub fn artifact(&self, path: &str, source: &str) -> Result<ArtifactWriter> {
        check_evidence_path(path)?;
        // Under the journal lock, caught up with other processes: no commit of `path` can land
        // between this check and the creation of its staging file, so a staging file of that
        // name found meanwhile was never committed and may be replaced.
        let mut guard = self.lock_current()?;
        if let Some(artifact) = guard.committed_artifact(path)? {
            if let Some(repair) = guard.promote_staged(&artifact)? {
                guard.append(&repair_record(vec![repair]))?;
            }
            return Err(Error::AlreadyCollected { path: path.to_string(), seq: artifact.journal_seq });
        }
        ArtifactWriter::start(self.clone(), path, source)
    }

    /// Store `bytes` as a complete artifact.
    pub fn store_bytes(&self, path: &str, source: &str, bytes: &[u8]) -> Result<ArtifactRecord> {
        let mut writer = self.artifact(path, source)?;
        writer.write_all(bytes).map_err(io_error("write", writer.staging_path()))?;
        writer.finish()
    }

    pub(crate) fn staging_dir(&self) -> PathBuf {
        self.inner.root.join(EVIDENCE_DIR).join(STAGING_DIR)
    }

    /// Claim `path` for one writer of this process; `false` when another one has it.
    pub(crate) fn reserve(&self, path: &str) -> bool {
        self.inner.writing.lock().unwrap_or_else(PoisonError::into_inner).insert(path.to_string())
    }

    pub(crate) fn release(&self, path: &str) {
        self.inner.writing.lock().unwrap_or_else(PoisonError::into_inner).remove(path);
    }

    /// Commit a sealed artifact: journal it (the commit point) and move it into place. Fails
    /// without committing when the path is taken.
    pub(crate) fn commit_artifact(&self, staged: &StagedArtifact) -> Result<ArtifactRecord> {
        let mut guard = self.lock_current()?;
        let final_path = guard.prepare_final_path(&staged.path)?;
        let entry = guard.append(&staged.collect_record())?;
        let record = artifact_of(&entry).map_err(|p| guard.broken(p))?;
        fs::rename(&staged.staging_file, &final_path).map_err(|source| Error::Promote {
            path: staged.path.clone(),
            seq: entry.seq,
            source,
        })?;
        Ok(record)
    }

    /// The journal, locked against other threads and processes.
    pub(crate) fn lock(&self) -> Result<LedgerGuard<'_>> {
        let ledger = self.inner.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        ledger.journal.lock().map_err(io_error("lock", self.inner.root.join(JOURNAL_FILE)))?;
        Ok(LedgerGuard { ledger, root: &self.inner.root, key: &self.inner.key })
    }

    /// The journal, locked and caught up with what other processes appended.
    pub(crate) fn lock_current(&self) -> Result<LedgerGuard<'_>> {
        let mut guard = self.lock()?;
        if let Some(repair) = guard.catch_up()? {
            guard.append(&repair_record(vec![repair]))?;
        }
        Ok(guard)
    }
}

/// Tests write with a fixed key and never touch the user's.
#[cfg(test)]
impl Case {
    pub(crate) fn create_for_tests(dir: impl AsRef<Path>, info: CaseInfo) -> Result<Case> {
        Case::create_with_key(dir, info, JournalKey::for_tests(1))
    }

    pub(crate) fn open_for_tests(dir: impl AsRef<Path>) -> Result<Case> {
        Case::open_with_key(dir, JournalKey::for_tests(1))
    }
}

/// A case id: creation time (UTC) to the second plus random hex, sortable and unique.
fn new_case_id(created: Timestamp) -> String {
    format!("{}-{}", created.strftime("%Y%m%d-%H%M%S"), random_hex(3))
}

/// `dir` must be a folder that exists.
fn check_folder(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(Error::NotACase { path: dir.to_path_buf(), detail: "it is not a folder".into() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotFound { path: dir.to_path_buf() }),
        Err(e) => Err(io_error("inspect", dir)(e)),
    }
}

fn create_case(dir: &Path, info: CaseInfo, created: Timestamp, id: String, key: JournalKey) -> Result<Case> {
    let cannot = |detail: &str| Error::CannotCreate { path: dir.to_path_buf(), detail: detail.to_string() };
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            if fs::read_dir(dir).map_err(io_error("read", dir))?.next().is_some() {
                return Err(cannot("the folder exists and is not empty; choose a new folder"));
            }
        }
        Ok(_) => return Err(cannot("it exists and is not a folder")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("inspect", dir)(e)),
    }
    let name = dir.file_name().ok_or_else(|| cannot("the path does not end in a folder name"))?;
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io_error("create folder", &parent))?;
    let assembly = parent.join(format!(".{}.creating-{}", name.to_string_lossy(), random_hex(4)));
    fs::create_dir(&assembly).map_err(io_error("create folder", &assembly))?;

    let metadata = CaseMetadata { format: metadata::FORMAT, id, created, info };
    let assembled = assemble(&assembly, &metadata, &key).and_then(|()| {
        fs::rename(&assembly, dir).map_err(|e| Error::CannotCreate {
            path: dir.to_path_buf(),
            detail: match e.kind() {
                io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::AlreadyExists => {
                    "another process created a case in this folder at the same moment; open that one instead (commands given --case DIR open it)".to_string()
                }
                _ => format!("cannot move the new case into place: {e}"),
            },
        })
    });
    if let Err(error) = assembled {
        let _ = fs::remove_dir_all(&assembly);
        return Err(error);
    }
    sync_dir(&parent).map_err(io_error("sync", &parent))?;
    Case::open_with_key(dir, key)
}

/// Write the files of a new case into `dir`.
fn assemble(dir: &Path, metadata: &CaseMetadata, key: &JournalKey) -> Result<()> {
    let case_bytes = metadata.to_bytes();
    let case_path = dir.join(CASE_FILE);
    write_new_file(&case_path, &case_bytes).map_err(io_error("write", &case_path))?;
    let opened =
        JournalRecord::new(metadata.info.responder.clone().unwrap_or_else(|| KIR_ACTOR.into()), ACTION_OPEN)
            .target(metadata.id.clone())
            .parameters(to_json(OpenParameters {
                case_id: metadata.id.clone(),
                case_json_sha256: sha256_hex(&case_bytes),
            }))
            .result(json!({"title": metadata.info.title}));
    let (line, entry) = journal::seal(1, metadata.created, &opened, GENESIS_HASH, key);
    let journal_path = dir.join(JOURNAL_FILE);
    write_new_file(&journal_path, &line).map_err(io_error("write", &journal_path))?;
    let evidence = dir.join(EVIDENCE_DIR);
    fs::create_dir(&evidence).map_err(io_error("create folder", &evidence))?;
    let manifest = Manifest::derive(&[entry]).expect("the first entry is an open-case entry");
    let manifest_path = dir.join(MANIFEST_FILE);
    write_new_file(&manifest_path, &manifest.to_bytes()).map_err(io_error("write", &manifest_path))?;
    sync_dir(dir).map_err(io_error("sync", dir))
}

fn repair_record(repairs: Vec<String>) -> JournalRecord {
    JournalRecord::new(KIR_ACTOR, ACTION_REPAIR).parameters(json!({ "repairs": repairs }))
}

/// The journal while locked. Dropping it releases the file lock.
pub(crate) struct LedgerGuard<'a> {
    ledger: MutexGuard<'a, Ledger>,
    root: &'a Path,
    key: &'a JournalKey,
}

impl Drop for LedgerGuard<'_> {
    fn drop(&mut self) {
        let _ = self.ledger.journal.unlock();
    }
}

impl LedgerGuard<'_> {
    fn journal_path(&self) -> PathBuf {
        self.root.join(JOURNAL_FILE)
    }

    fn broken(&self, problem: EntryProblem) -> Error {
        Error::BrokenJournal { path: self.journal_path(), line: problem.seq, detail: problem.detail }
    }

    /// Read entries appended since the last look, line by line (see [`journal::read`]); a
    /// journal larger than [`MAX_JOURNAL`] is refused unread. A line a crashed writer left
    /// unfinished is cut off (and kept in a side file); the returned text says what was repaired.
    pub(crate) fn catch_up(&mut self) -> Result<Option<String>> {
        let path = self.journal_path();
        let ledger = &mut *self.ledger;
        let len = ledger.journal.metadata().map_err(io_error("inspect", &path))?.len();
        if len == ledger.read_len {
            return Ok(None);
        }
        if len < ledger.read_len {
            return Err(Error::BrokenJournal {
                path,
                line: ledger.position.lines,
                detail: "the file got shorter while the case was open".into(),
            });
        }
        if len > MAX_JOURNAL {
            return Err(Error::TooLarge { path, size: len, limit: MAX_JOURNAL });
        }
        ledger.journal.seek(SeekFrom::Start(ledger.read_len)).map_err(io_error("read", &path))?;
        let unread = BufReader::with_capacity(64 * 1024, (&ledger.journal).take(len - ledger.read_len));
        let parsed =
            journal::read(unread, &ledger.position, Some(self.key)).map_err(io_error("read", &path))?;
        if let Some(problem) = parsed.problems.first() {
            return Err(Error::BrokenJournal {
                path,
                line: problem.line.unwrap_or_default(),
                detail: problem.message.clone(),
            });
        }
        if ledger.unauthenticated.is_none() {
            ledger.unauthenticated =
                parsed.auth.iter().find_map(|auth| Some((auth.line, auth.seq, auth.mac.problem(self.key)?)));
        }
        ledger.entries.extend(parsed.entries);
        ledger.position = parsed.end;
        match parsed.tail {
            Tail::Clean => {
                ledger.read_len = len;
                Ok(None)
            }
            Tail::Unterminated => {
                ledger.journal.write_all(b"\n").map_err(io_error("append to", &path))?;
                ledger.journal.sync_data().map_err(io_error("sync", &path))?;
                ledger.read_len = len + 1;
                Ok(Some(format!("added the newline missing after journal entry {}", ledger.position.seq)))
            }
            Tail::Torn { offset, bytes } => {
                let torn_at = ledger.read_len + offset;
                let copy = keep_torn_copy(self.root, torn_at, &bytes)?;
                ledger.journal.set_len(torn_at).map_err(io_error("truncate", &path))?;
                ledger.journal.sync_all().map_err(io_error("sync", &path))?;
                ledger.read_len = torn_at;
                Ok(Some(format!(
                    "cut off an unfinished journal line of {} bytes after entry {} (an interrupted append); its bytes are kept in {copy}",
                    bytes.len(),
                    ledger.position.seq
                )))
            }
        }
    }

    /// Append one entry and make it durable.
    pub(crate) fn append(&mut self, record: &JournalRecord) -> Result<JournalEntry> {
        let path = self.journal_path();
        let ledger = &mut *self.ledger;
        let (line, entry) =
            journal::seal(ledger.position.seq + 1, now(), record, &ledger.position.hash, self.key);
        if line.len() > MAX_LINE {
            return Err(Error::EntryTooLarge {
                action: record.action.clone(),
                size: line.len() as u64,
                limit: MAX_LINE as u64,
            });
        }
        ledger.journal.write_all(&line).map_err(io_error("append to", &path))?;
        ledger.journal.sync_data().map_err(io_error("sync", &path))?;
        ledger.read_len += line.len() as u64;
        ledger.position =
            ChainPosition { seq: entry.seq, hash: entry.hash.clone(), lines: ledger.position.lines + 1 };
        ledger.entries.push(entry.clone());
        Ok(entry)
    }

    pub(crate) fn manifest(&self) -> Result<Manifest> {
        Manifest::derive(&self.ledger.entries).map_err(|p| self.broken(p))
    }

    /// Rewrite manifest.json from the journal, atomically, unless it already is what the whole
    /// journal gives, in its own format: opening a case an older kir wrote, and recording
    /// nothing, leaves its files as they were.
    pub(crate) fn write_manifest(&self) -> Result<()> {
        let manifest = self.manifest()?;
        let bytes = manifest.to_bytes();
        let path = self.root.join(MANIFEST_FILE);
        if let Ok(Capped::Read(current)) = read_path_capped(&path, MAX_MANIFEST)
            && (current == bytes || self.older_format_of(&manifest, &current))
        {
            return Ok(());
        }
        replace_file(&path, &self.root.join(MANIFEST_TEMP_FILE), &bytes).map_err(io_error("write", &path))
    }

    /// Whether `current` is, byte for byte, the manifest of the same journal head as `manifest`
    /// in an older format this kir knows.
    fn older_format_of(&self, manifest: &Manifest, current: &[u8]) -> bool {
        let Ok(written) = serde_json::from_slice::<Manifest>(current) else { return false };
        written.format != manifest.format
            && written.journal == manifest.journal
            && Manifest::known_format(written.format)
            && Manifest::derive_format(&self.ledger.entries, written.format)
                .is_ok_and(|derived| derived.to_bytes() == current)
    }

    /// case.json must be the file whose hash the first entry recorded.
    fn check_case_json(&self, case_bytes: &[u8]) -> Result<()> {
        let first = self.ledger.entries.first().ok_or_else(|| Error::BrokenJournal {
            path: self.journal_path(),
            line: 1,
            detail: "the journal has no entries".into(),
        })?;
        let opened = open_parameters(first).map_err(|p| self.broken(p))?;
        if opened.case_json_sha256 != sha256_hex(case_bytes) {
            return Err(Error::BrokenJournal {
                path: self.journal_path(),
                line: 1,
                detail:
                    "case.json is not the file whose SHA-256 the first entry recorded: case.json was changed"
                        .into(),
            });
        }
        Ok(())
    }

    /// The final location of an artifact, with its folders created; fails when the path is taken.
    fn prepare_final_path(&self, path: &str) -> Result<PathBuf> {
        if let Some(artifact) = self.committed_artifact(path)? {
            return Err(Error::AlreadyCollected { path: path.to_string(), seq: artifact.journal_seq });
        }
        let evidence = self.root.join(EVIDENCE_DIR);
        let final_path = evidence.join(path);
        create_real_dirs(&evidence, Path::new(path).parent().unwrap_or(Path::new("")))?;
        if fs::symlink_metadata(&final_path).is_ok() {
            return Err(Error::Occupied { path: final_path });
        }
        Ok(final_path)
    }

    /// The artifact committed at `path`, if any.
    fn committed_artifact(&self, path: &str) -> Result<Option<ArtifactRecord>> {
        self.ledger
            .entries
            .iter()
            .find(|e| e.action == ACTION_COLLECT && e.target.as_deref() == Some(path))
            .map(|entry| artifact_of(entry).map_err(|p| self.broken(p)))
            .transpose()
    }

    fn committed_artifacts(&self) -> Result<BTreeMap<String, ArtifactRecord>> {
        let mut artifacts = BTreeMap::new();
        for entry in self.ledger.entries.iter().filter(|e| e.action == ACTION_COLLECT) {
            let artifact = artifact_of(entry).map_err(|p| self.broken(p))?;
            artifacts.insert(artifact.path.clone(), artifact);
        }
        Ok(artifacts)
    }

    /// Move a committed artifact that an interruption left in staging into place, when it is
    /// there with the recorded size and hash; returns what was repaired.
    fn promote_staged(&self, artifact: &ArtifactRecord) -> Result<Option<String>> {
        let evidence = self.root.join(EVIDENCE_DIR);
        let final_path = evidence.join(&artifact.path);
        if fs::symlink_metadata(&final_path).is_ok() {
            return Ok(None);
        }
        let staged = evidence.join(STAGING_DIR).join(staging_name(&artifact.path));
        let matches = matches!(
            hash_file_of_size(&staged, artifact.size),
            Ok(Measured::Hashed(facts)) if facts.sha256 == artifact.sha256
        );
        if !matches {
            return Ok(None);
        }
        create_real_dirs(&evidence, Path::new(&artifact.path).parent().unwrap_or(Path::new("")))?;
        fs::rename(&staged, &final_path).map_err(io_error("move into place", &staged))?;
        Ok(Some(format!(
            "moved evidence/{} (journal entry {}) out of staging, where an interruption had left it",
            artifact.path, artifact.journal_seq
        )))
    }

    /// Finish moves a crash interrupted and delete staged files nobody will commit.
    fn repair_evidence(&self) -> Result<Vec<String>> {
        let evidence = self.root.join(EVIDENCE_DIR);
        let staging = evidence.join(STAGING_DIR);
        let mut repairs = Vec::new();
        let mut still_needed = HashSet::new();
        for (path, artifact) in self.committed_artifacts()? {
            if fs::symlink_metadata(evidence.join(&path)).is_ok() {
                continue;
            }
            match self.promote_staged(&artifact)? {
                Some(repair) => repairs.push(repair),
                // Missing evidence is for `verify` to report; the staged bytes, if any, stay.
                None => {
                    still_needed.insert(staging_name(&path));
                }
            }
        }
        let listing = match fs::read_dir(&staging) {
            Ok(listing) => listing,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(repairs),
            Err(e) => return Err(io_error("read", &staging)(e)),
        };
        for item in listing {
            let item = item.map_err(io_error("read", &staging))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if still_needed.contains(&name) || !item.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let staged = item.path();
            let Ok(file) = File::open(&staged) else { continue };
            // A live writer (here or in another process) holds a lock on its staging file.
            if file.try_lock().is_err() {
                continue;
            }
            fs::remove_file(&staged).map_err(io_error("remove", &staged))?;
            repairs.push(format!(
                "removed evidence/{STAGING_DIR}/{name}, an artifact whose writing was interrupted before it was committed"
            ));
        }
        Ok(repairs)
    }
}

/// Keep the bytes of a cut-off line beside the journal, never overwriting an earlier copy.
fn keep_torn_copy(root: &Path, offset: u64, bytes: &[u8]) -> Result<String> {
    let mut attempt = 0u32;
    loop {
        let name = match attempt {
            0 => format!("{TORN_COPY_PREFIX}{offset}"),
            n => format!("{TORN_COPY_PREFIX}{offset}.{n}"),
        };
        let path = root.join(&name);
        match write_new_file(&path, bytes) {
            Ok(()) => return Ok(name),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => attempt += 1,
            Err(e) => return Err(io_error("write", &path)(e)),
        }
    }
}

/// Typed journal parameters and results as JSON values.
fn to_json(value: impl Serialize) -> serde_json::Value {
    serde_json::to_value(value).expect("journal parameters serialise")
}

impl StagedArtifact {
    pub(crate) fn collect_record(&self) -> JournalRecord {
        JournalRecord::new(KIR_ACTOR, ACTION_COLLECT)
            .target(self.path.clone())
            .parameters(to_json(CollectParameters { source: self.source.clone(), note: self.note.clone() }))
            .result(to_json(CollectResult {
                sha256: self.sha256.clone(),
                size: self.size,
                truncated: self.truncated,
            }))
    }
}

#[cfg(test)]
mod tests {
    use std::{io::Write, sync::Barrier, thread};

    use serde_json::json;

    use super::*;
    use crate::{FindingKind, read_journal, verify, verify_with_journal_key};

    fn new_case(dir: &Path) -> Case {
        let mut info = CaseInfo::new("crypto miner in prod");
        info.cluster = Some("https://127.0.0.1:6443".into());
        info.context = Some("prod".into());
        info.responder = Some("alice".into());
        Case::create_for_tests(dir.join("case"), info).unwrap()
    }

    fn assert_intact(dir: &Path) {
        let report = verify(dir, None).unwrap();
        assert!(report.intact, "{:#?}", report.problems);
    }

    #[test]
    fn a_new_case_has_its_files_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        for file in [CASE_FILE, JOURNAL_FILE, MANIFEST_FILE, EVIDENCE_DIR] {
            assert!(case.path().join(file).exists(), "{file}");
        }
        assert_eq!(case.metadata().info.title, "crypto miner in prod");
        assert_eq!(case.metadata().info.responder.as_deref(), Some("alice"));
        assert!(case.id().len() > 15 && case.id().chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        let entries = case.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].action, ACTION_OPEN);
        assert_eq!(entries[0].actor, "alice");
        assert_eq!(entries[0].prev_hash, GENESIS_HASH);
        let case_bytes = fs::read(case.path().join(CASE_FILE)).unwrap();
        assert_eq!(entries[0].parameters["caseJsonSha256"], sha256_hex(&case_bytes));
        assert_intact(case.path());
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, vec!["case"], "no assembly folder is left behind");
    }

    #[test]
    fn create_takes_an_empty_folder_and_refuses_a_used_one() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        fs::create_dir(&empty).unwrap();
        Case::create_for_tests(&empty, CaseInfo::new("x")).unwrap();
        let error = Case::create_for_tests(&empty, CaseInfo::new("again")).unwrap_err().to_string();
        assert!(error.contains("not empty") && error.contains("empty"), "{error}");
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        assert!(
            Case::create_for_tests(&file, CaseInfo::new("x"))
                .unwrap_err()
                .to_string()
                .contains("not a folder")
        );
    }

    #[test]
    fn create_in_names_the_folder_after_the_id() {
        let dir = tempfile::tempdir().unwrap();
        let case =
            Case::create_in_with_key(dir.path().join("cases"), CaseInfo::new("x"), JournalKey::for_tests(1))
                .unwrap();
        assert_eq!(case.path(), dir.path().join("cases").join(case.id()));
        assert_intact(case.path());
    }

    #[test]
    fn open_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let error = Case::open(dir.path().join("nope")).unwrap_err().to_string();
        assert!(error.contains("does not exist"), "{error}");
        let error = Case::open_for_tests(dir.path()).unwrap_err().to_string();
        assert!(error.contains("not a kir case folder: case.json is missing"), "{error}");
    }

    #[test]
    fn records_are_chained_durable_and_readable_by_another_handle() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        let entry = case
            .record(
                JournalRecord::new("alice", "isolate")
                    .target("pod prod/web-1")
                    .parameters(json!({"policy": "kir-quarantine-1"}))
                    .result("isolated")
                    .undo(json!({"delete": "networkpolicy/prod/kir-quarantine-1"})),
            )
            .unwrap();
        assert_eq!(entry.seq, 2);
        let other = Case::open_for_tests(case.path()).unwrap();
        let read_back = other.entries().unwrap();
        assert_eq!(read_back[1], entry);
        // Two handles (as two processes would) append in turn; each sees the other's entries.
        other.record(JournalRecord::new("bob", "label")).unwrap();
        let third = case.record(JournalRecord::new("alice", "cordon")).unwrap();
        assert_eq!(third.seq, 4);
        assert_eq!(third.prev_hash, other.entries().unwrap()[2].hash);
        assert_intact(case.path());
    }

    #[test]
    fn an_entry_too_large_to_read_back_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        let huge = JournalRecord::new("alice", "label").parameters(json!({"value": "x".repeat(MAX_LINE)}));
        let error = case.record(huge).unwrap_err();
        assert!(matches!(error, Error::EntryTooLarge { .. }), "{error}");
        assert_eq!(case.entries().unwrap().len(), 1);
        drop(case);
        Case::open_for_tests(dir.path().join("case")).unwrap();
    }

    #[test]
    fn reserved_actions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        for action in [ACTION_OPEN, ACTION_COLLECT, ACTION_NOT_COLLECTED, ACTION_REPAIR] {
            let error = case.record(JournalRecord::new("x", action)).unwrap_err();
            assert!(matches!(error, Error::ReservedAction { .. }), "{action}: {error}");
        }
    }

    #[test]
    fn artifacts_are_hashed_committed_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        let pod =
            case.store_bytes("pods/web-1/pod.json", "GET /api/v1/namespaces/prod/pods/web-1", b"{}").unwrap();
        assert_eq!(pod.sha256, sha256_hex(b"{}"));
        assert_eq!(pod.size, 2);
        assert!(!pod.truncated);

        let mut writer = case
            .artifact("pods/web-1/etc.tar", "exec tar -C /etc -cf - .")
            .unwrap()
            .limit(10)
            .note("collected by the container's own binaries");
        writer.write_all(b"0123456789abcdef").unwrap();
        writer.write_all(b"more").unwrap();
        assert!(writer.truncated());
        assert_eq!(writer.size(), 10);
        let capped = writer.finish().unwrap();
        assert!(capped.truncated);
        assert_eq!(capped.sha256, sha256_hex(b"0123456789"));
        assert_eq!(fs::read(case.path().join("evidence/pods/web-1/etc.tar")).unwrap(), b"0123456789");

        let artifacts = case.artifacts().unwrap();
        assert_eq!(artifacts, vec![pod.clone(), capped.clone()]);
        assert_eq!(artifacts[1].note.as_deref(), Some("collected by the container's own binaries"));
        assert!(!case.staging_dir().read_dir().unwrap().any(|_| true), "staging is empty");
        assert_intact(case.path());
        // The manifest is rewritten when the last handle goes.
        let root = case.path().to_path_buf();
        drop(case);
        let manifest: Manifest =
            serde_json::from_slice(&fs::read(root.join(MANIFEST_FILE)).unwrap()).unwrap();
        assert_eq!(manifest.artifacts, artifacts);
        assert_eq!(manifest.journal.seq, 3);
        assert_intact(&root);
    }

    #[test]
    fn evidence_is_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        case.store_bytes("a.txt", "test", b"first").unwrap();
        let error = case.store_bytes("a.txt", "test", b"second").unwrap_err();
        assert!(matches!(error, Error::AlreadyCollected { seq: 2, .. }), "{error}");
        // Another handle with a stale view is stopped at the commit.
        let stale = Case::open_for_tests(case.path()).unwrap();
        case.store_bytes("b.txt", "test", b"b").unwrap();
        let error = stale.store_bytes("b.txt", "test", b"other").unwrap_err();
        assert!(matches!(error, Error::AlreadyCollected { .. }), "{error}");
        assert_eq!(fs::read(case.path().join("evidence/b.txt")).unwrap(), b"b");
        // A file kir did not write is never replaced either.
        fs::write(case.path().join("evidence/planted.txt"), "x").unwrap();
        let error = case.store_bytes("planted.txt", "test", b"y").unwrap_err();
        assert!(matches!(error, Error::Occupied { .. }), "{error}");
        assert_eq!(case.entries().unwrap().len(), 3, "nothing was committed for the refused writes");
    }

    #[test]
    fn one_path_has_one_writer_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        let first = case.artifact("x.log", "test").unwrap();
        assert!(matches!(case.artifact("x.log", "test").unwrap_err(), Error::Busy { .. }));
        let elsewhere = Case::open_for_tests(case.path()).unwrap();
        assert!(matches!(elsewhere.artifact("x.log", "test").unwrap_err(), Error::Busy { .. }));
        drop(first);
        case.store_bytes("x.log", "test", b"now").unwrap();
    }

    #[test]
    fn hostile_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        for path in ["../escape", "/etc/passwd", "a//b", ".partial/x", ""] {
            let error = case.artifact(path, "test").unwrap_err();
            assert!(matches!(error, Error::InvalidEvidencePath { .. }), "{path}: {error}");
        }
        assert!(!dir.path().join("escape").exists());
    }

    #[test]
    fn a_planted_link_cannot_redirect_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, case.path().join("evidence/pods")).unwrap();
        let error = case.store_bytes("pods/pod.json", "test", b"{}").unwrap_err();
        assert!(matches!(error, Error::NotAFolder { .. }), "{error}");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        assert_eq!(case.entries().unwrap().len(), 1, "nothing was committed");
    }

    #[test]
    fn abandoned_and_dropped_writers_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        let mut writer = case.artifact("gone.txt", "test").unwrap();
        writer.write_all(b"x").unwrap();
        writer.abandon().unwrap();
        let mut writer = case.artifact("dropped.txt", "test").unwrap();
        writer.write_all(b"x").unwrap();
        drop(writer);
        assert_eq!(case.staging_dir().read_dir().unwrap().count(), 0);
        assert_eq!(case.entries().unwrap().len(), 1);
        let report = verify(case.path(), None).unwrap();
        assert!(report.intact && report.warnings.is_empty(), "{report:#?}");
    }

    #[test]
    fn not_collected_artifacts_are_journaled_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        let entry =
            case.not_collected("snapshot/etc.tar", "exec tar", "the container has no tar binary").unwrap();
        assert_eq!(entry.action, ACTION_NOT_COLLECTED);
        let manifest = case.manifest().unwrap();
        assert_eq!(manifest.not_collected.len(), 1);
        assert_eq!(manifest.not_collected[0].reason, "the container has no tar binary");
        // The path stays free for a later attempt.
        case.store_bytes("snapshot/etc.tar", "exec tar", b"tar").unwrap();
        assert_intact(case.path());
    }

    #[test]
    fn concurrent_writers_from_many_threads_keep_one_chain() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        fn assert_send<T: Send>() {}
        assert_send_sync::<Case>();
        assert_send::<ArtifactWriter>();
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let case = case.clone();
                thread::spawn(move || {
                    for i in 0..8 {
                        let mut writer = case.artifact(&format!("t{t}/{i}.bin"), "test").unwrap();
                        for chunk in 0..4u8 {
                            writer.write_all(&[chunk; 1000]).unwrap();
                        }
                        writer.finish().unwrap();
                        case.record(JournalRecord::new("test", "step").target(format!("{t}/{i}"))).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(case.entries().unwrap().len(), 1 + 6 * 8 * 2);
        assert_eq!(case.artifacts().unwrap().len(), 48);
        assert_intact(case.path());
    }

    #[test]
    fn a_changed_journal_or_case_json_is_not_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        case.record(JournalRecord::new("alice", "isolate").target("pod a")).unwrap();
        let root = case.path().to_path_buf();
        drop(case);

        let journal_path = root.join(JOURNAL_FILE);
        let original = fs::read(&journal_path).unwrap();
        fs::write(&journal_path, String::from_utf8(original.clone()).unwrap().replace("pod a", "pod b"))
            .unwrap();
        let error = Case::open_for_tests(&root).unwrap_err();
        assert!(matches!(error, Error::BrokenJournal { line: 2, .. }), "{error}");
        fs::write(&journal_path, &original).unwrap();

        let case_path = root.join(CASE_FILE);
        let case_json = fs::read_to_string(&case_path).unwrap();
        fs::write(&case_path, case_json.replace("crypto miner", "nothing")).unwrap();
        let error = Case::open_for_tests(&root).unwrap_err().to_string();
        assert!(error.contains("case.json was changed"), "{error}");
    }

    #[test]
    fn another_process_crashing_mid_append_is_repaired_by_a_live_handle() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        let journal_path = case.path().join(JOURNAL_FILE);
        let mut journal = OpenOptions::new().append(true).open(&journal_path).unwrap();
        journal.write_all(b"{\"seq\":2,\"time\":\"2026-").unwrap();
        let entry = case.record(JournalRecord::new("alice", "after")).unwrap();
        assert_eq!(entry.seq, 3, "a repair entry (2) precedes it");
        let entries = case.entries().unwrap();
        assert_eq!(entries[1].action, ACTION_REPAIR);
        let report = verify(case.path(), None).unwrap();
        assert!(report.intact, "{:#?}", report.problems);
        assert_eq!(report.warnings.len(), 1);
        assert_eq!(report.warnings[0].kind, FindingKind::Leftover);
        assert!(report.warnings[0].file.starts_with(TORN_COPY_PREFIX));
    }

    /// Append a line that chains, as anyone who can write the folder can: without a MAC, or
    /// sealed with `key`.
    fn append_forged(case: &Case, record: &JournalRecord, key: Option<&JournalKey>) {
        let last = case.entries().unwrap().pop().unwrap();
        let (line, _) = match key {
            Some(key) => journal::seal(last.seq + 1, now(), record, &last.hash, key),
            None => journal::seal_unauthenticated(last.seq + 1, now(), record, &last.hash),
        };
        let mut journal = OpenOptions::new().append(true).open(case.path().join(JOURNAL_FILE)).unwrap();
        journal.write_all(&line).unwrap();
    }

    fn delete_namespace() -> JournalRecord {
        JournalRecord::new("alice", "isolate")
            .target("namespace victim")
            .undo(json!({"op": "delete", "kind": "Namespace", "name": "victim"}))
    }

    #[test]
    fn a_forged_line_that_chains_is_not_authenticated() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        case.record(JournalRecord::new("alice", "isolate").target("pod prod/web-1")).unwrap();
        assert_eq!(case.authenticated_entries().unwrap().len(), 2);
        append_forged(&case, &delete_namespace(), None);
        // The chain holds: display and verification without a key accept the line.
        assert_eq!(case.entries().unwrap().len(), 3);
        assert_intact(case.path());
        // But this user's kir did not write it.
        match case.authenticated_entries().unwrap_err() {
            Error::Unauthenticated { line: 3, seq: 3, detail } => {
                assert!(detail.contains("no MAC") && detail.contains("forged"), "{detail}")
            }
            other => panic!("{other}"),
        }
        let reopened = Case::open_for_tests(case.path()).unwrap();
        assert!(matches!(reopened.authenticated_entries(), Err(Error::Unauthenticated { line: 3, .. })));
        // Lines appended after it do not make it good.
        reopened.record(JournalRecord::new("alice", "later")).unwrap();
        assert!(matches!(reopened.authenticated_entries(), Err(Error::Unauthenticated { line: 3, .. })));

        let report = verify_with_journal_key(case.path(), None, Some(&JournalKey::for_tests(1))).unwrap();
        assert!(report.intact, "{:#?}", report.problems);
        assert_eq!(report.authentication.authenticated_lines, Some(3));
        assert_eq!(report.authentication.first_line_without_mac, Some(3));
        assert!(report.warnings.iter().any(|w| w.kind == FindingKind::Unauthenticated && w.line == Some(3)));
    }

    #[test]
    fn a_forged_mac_under_the_readers_key_id_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        // The key id is public; the key is not. A forger names the id and makes up the MAC.
        let (mine, forger) = (JournalKey::for_tests(1), JournalKey::for_tests(9));
        let last = case.entries().unwrap().pop().unwrap();
        let (line, _) = journal::seal(2, now(), &delete_namespace(), &last.hash, &forger);
        let text = String::from_utf8(line).unwrap().replace(forger.id(), mine.id());
        let body = &text[..text.find(",\"hash\":\"").unwrap()];
        let forged = format!("{body},\"hash\":\"{}\"}}\n", sha256_hex(body.as_bytes()));
        OpenOptions::new()
            .append(true)
            .open(case.path().join(JOURNAL_FILE))
            .unwrap()
            .write_all(forged.as_bytes())
            .unwrap();

        let error = case.authenticated_entries().unwrap_err();
        assert!(matches!(error, Error::Unauthenticated { line: 2, seq: 2, .. }), "{error}");
        assert!(error.to_string().contains("forged or changed"), "{error}");
        let report = verify_with_journal_key(case.path(), None, Some(&mine)).unwrap();
        assert!(!report.intact);
        assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
        assert_eq!((report.problems[0].kind, report.problems[0].line), (FindingKind::Forged, Some(2)));
        // Without the key nothing tells the forgery from a real line.
        assert_intact(case.path());
    }

    #[test]
    fn lines_of_another_responder_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        let (alice, bob) = (JournalKey::for_tests(1), JournalKey::for_tests(2));
        let bobs = Case::open_with_key(case.path(), bob.clone()).unwrap();
        bobs.record(JournalRecord::new("bob", "cordon").target("node n1")).unwrap();
        let error = case.authenticated_entries().unwrap_err();
        assert!(matches!(error, Error::Unauthenticated { line: 2, seq: 2, .. }), "{error}");
        let text = error.to_string();
        assert!(
            text.contains(bob.id()) && text.contains(alice.id()) && text.contains("KIR_JOURNAL_KEY"),
            "{text}"
        );
        assert!(matches!(bobs.authenticated_entries(), Err(Error::Unauthenticated { line: 1, .. })));
        assert_eq!(bobs.journal_key().id(), bob.id());

        let report = verify_with_journal_key(case.path(), None, Some(&alice)).unwrap();
        assert!(report.intact, "{:#?}", report.problems);
        let keys: Vec<(&str, u64)> =
            report.authentication.keys.iter().map(|k| (k.key_id.as_str(), k.lines)).collect();
        assert_eq!(keys, vec![(alice.id(), 1), (bob.id(), 1)]);
        assert_eq!(report.authentication.authenticated_lines, Some(1));
        let report = verify(case.path(), None).unwrap();
        assert_eq!(
            (report.authentication.your_key_id.clone(), report.authentication.authenticated_lines),
            (None, None)
        );
    }

    #[test]
    fn a_journal_written_before_journal_keys_reads_and_verifies_unauthenticated() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        let root = case.path().to_path_buf();
        let first = case.entries().unwrap().remove(0);
        drop(case);
        // The same first entry as a kir without journal keys wrote it.
        let record = JournalRecord::new(first.actor.clone(), first.action.clone())
            .target(first.target.clone().unwrap())
            .parameters(first.parameters.clone())
            .result(first.result.clone());
        let (line, entry) = journal::seal_unauthenticated(1, first.time, &record, GENESIS_HASH);
        assert!(!String::from_utf8_lossy(&line).contains("\"mac\""));
        fs::write(root.join(JOURNAL_FILE), &line).unwrap();
        fs::write(root.join(MANIFEST_FILE), Manifest::derive(&[entry]).unwrap().to_bytes()).unwrap();
        assert_intact(&root);

        let case = Case::open_for_tests(&root).unwrap();
        case.record(JournalRecord::new("alice", "isolate")).unwrap();
        assert_eq!(case.entries().unwrap().len(), 2);
        let error = case.authenticated_entries().unwrap_err();
        assert!(matches!(error, Error::Unauthenticated { line: 1, .. }), "{error}");
        assert!(error.to_string().contains("older kir"), "{error}");
        let report = verify_with_journal_key(&root, None, Some(&JournalKey::for_tests(1))).unwrap();
        assert!(report.intact && report.warnings.is_empty(), "{report:#?}");
        assert_eq!(report.authentication.lines_without_mac, 1);
        assert_eq!(report.authentication.authenticated_lines, Some(1));
    }

    #[test]
    fn opening_a_case_an_older_kir_wrote_leaves_its_manifest_until_something_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let case = new_case(dir.path());
        let root = case.path().to_path_buf();
        let entries = case.entries().unwrap();
        drop(case);
        let older = Manifest::derive_format(&entries, 1).unwrap().to_bytes();
        fs::write(root.join(MANIFEST_FILE), &older).unwrap();

        let case = Case::open_for_tests(&root).unwrap();
        assert_eq!(fs::read(root.join(MANIFEST_FILE)).unwrap(), older, "opening rewrote it");
        case.record(JournalRecord::new("alice", "isolate")).unwrap();
        let entries = case.entries().unwrap();
        drop(case);
        let rewritten: Manifest =
            serde_json::from_slice(&fs::read(root.join(MANIFEST_FILE)).unwrap()).unwrap();
        assert_eq!(rewritten, Manifest::derive(&entries).unwrap());

        // An older-format manifest of another journal head is not kept.
        fs::write(root.join(MANIFEST_FILE), &older).unwrap();
        let case = Case::open_for_tests(&root).unwrap();
        let reopened: Manifest =
            serde_json::from_slice(&fs::read(root.join(MANIFEST_FILE)).unwrap()).unwrap();
        assert_eq!(reopened, Manifest::derive(&case.entries().unwrap()).unwrap());
    }

    /// Bytes this process has read so far (`rchar` of /proc/self/io).
    fn bytes_read_by_this_process() -> u64 {
        let io = fs::read_to_string("/proc/self/io").unwrap();
        io.lines().find_map(|line| line.strip_prefix("rchar: ")).unwrap().parse().unwrap()
    }

    fn set_len(path: &Path, len: u64) {
        File::options().write(true).open(path).unwrap().set_len(len).unwrap();
    }

    #[test]
    fn a_huge_sparse_journal_is_refused_without_being_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = new_case(dir.path()).path().to_path_buf();
        let journal_path = root.join(JOURNAL_FILE);
        let original = fs::metadata(&journal_path).unwrap().len();
        // Sparse: gigabytes on paper, nothing on disk.
        set_len(&journal_path, 3 << 30);
        let before = bytes_read_by_this_process();
        let error = Case::open_for_tests(&root).unwrap_err();
        let read_journal_error = read_journal(&root).unwrap_err();
        let report = verify(&root, None).unwrap();
        let read = bytes_read_by_this_process() - before;
        assert!(
            matches!(error, Error::TooLarge { size, limit: MAX_JOURNAL, .. } if size == 3 << 30),
            "{error}"
        );
        let text = error.to_string();
        assert!(text.contains("journal.jsonl") && text.contains("3221225472 bytes"), "{text}");
        assert!(matches!(read_journal_error, Error::TooLarge { .. }), "{read_journal_error}");
        let journal_problems: Vec<_> = report.problems.iter().filter(|p| p.file == JOURNAL_FILE).collect();
        assert_eq!(journal_problems.len(), 1, "{:#?}", report.problems);
        assert!(journal_problems[0].message.contains("not read"), "{}", journal_problems[0]);
        // Tests running alongside read a little; reading the journal would read gigabytes.
        assert!(read < 64 << 20, "read {read} bytes");

        // Under the cap, an endless line is a broken entry named by its number, never held whole.
        set_len(&journal_path, original + (8 << 20));
        let error = Case::open_for_tests(&root).unwrap_err();
        assert!(matches!(error, Error::BrokenJournal { line: 2, .. }), "{error}");
        assert!(error.to_string().contains("longer than 1048576 bytes"), "{error}");
        let report = verify(&root, None).unwrap();
        assert!(
            report.problems.iter().any(|p| p.line == Some(2) && p.message.contains("longer than")),
            "{:#?}",
            report.problems
        );
        set_len(&journal_path, original);
        assert_intact(&root);
    }

    #[test]
    fn huge_case_json_and_manifest_are_refused_without_being_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = new_case(dir.path()).path().to_path_buf();
        set_len(&root.join(CASE_FILE), 2 << 30);
        set_len(&root.join(MANIFEST_FILE), 2 << 30);
        let before = bytes_read_by_this_process();
        let error = Case::open_for_tests(&root).unwrap_err();
        let report = verify(&root, None).unwrap();
        let read = bytes_read_by_this_process() - before;
        assert!(matches!(error, Error::TooLarge { limit: MAX_CASE_JSON, .. }), "{error}");
        assert!(error.to_string().contains("case.json"), "{error}");
        for file in [CASE_FILE, MANIFEST_FILE] {
            let problems: Vec<_> = report.problems.iter().filter(|p| p.file == file).collect();
            assert_eq!(problems.len(), 1, "{file}: {:#?}", report.problems);
            assert_eq!(problems[0].kind, FindingKind::Malformed, "{file}");
            assert!(problems[0].message.contains("not read"), "{}", problems[0]);
        }
        assert!(read < 64 << 20, "read {read} bytes");
    }

    #[test]
    fn two_handles_never_list_a_path_as_both_collected_and_not() {
        let dir = tempfile::tempdir().unwrap();
        let first = new_case(dir.path());
        let second = Case::open_for_tests(first.path()).unwrap();
        // Two runs at once: one gives up on the log, the other collects it, the first gives up
        // again late.
        first.not_collected("logs/app.log", "GET log", "connection reset").unwrap();
        second.store_bytes("logs/app.log", "GET log", b"log").unwrap();
        first.not_collected("logs/app.log", "GET log", "connection reset again").unwrap();
        second.not_collected("logs/other.log", "GET log", "first try").unwrap();
        first.not_collected("logs/other.log", "GET log", "second try").unwrap();
        let root = first.path().to_path_buf();
        drop((first, second));
        let manifest: Manifest =
            serde_json::from_slice(&fs::read(root.join(MANIFEST_FILE)).unwrap()).unwrap();
        let collected: Vec<&str> = manifest.artifacts.iter().map(|a| a.path.as_str()).collect();
        let missing: Vec<(&str, &str)> =
            manifest.not_collected.iter().map(|n| (n.path.as_str(), n.reason.as_str())).collect();
        assert_eq!(collected, vec!["logs/app.log"]);
        assert_eq!(missing, vec![("logs/other.log", "second try")]);
        assert_intact(&root);
    }

    #[test]
    fn processes_opening_or_creating_one_new_case_at_once_share_it() {
        for round in 0..12 {
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("case");
            if round % 2 == 1 {
                // An empty folder made beforehand is taken as well.
                fs::create_dir(&target).unwrap();
            }
            let barrier = Barrier::new(6);
            let results: Vec<(String, bool)> = thread::scope(|scope| {
                let handles: Vec<_> = (0..6)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            let (case, created) = Case::open_or_create_with_key(
                                &target,
                                CaseInfo::new("race"),
                                JournalKey::for_tests(1),
                            )
                            .unwrap();
                            case.record(JournalRecord::new("kir", "step")).unwrap();
                            (case.id().to_string(), created)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1, "{results:?}");
            assert!(results.iter().all(|(id, _)| *id == results[0].0), "{results:?}");
            assert_intact(&target);
            let case = Case::open_for_tests(&target).unwrap();
            assert_eq!(case.authenticated_entries().unwrap().len(), 7);
            let leftovers: Vec<_> =
                fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(leftovers, vec!["case"], "no assembly folder is left behind");
        }
    }

    #[test]
    fn a_create_that_loses_a_race_says_so() {
        for _ in 0..12 {
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("case");
            let barrier = Barrier::new(4);
            let errors: Vec<String> = thread::scope(|scope| {
                let handles: Vec<_> = (0..4)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            Case::create_for_tests(&target, CaseInfo::new("race"))
                                .err()
                                .map(|e| e.to_string())
                        })
                    })
                    .collect();
                handles.into_iter().filter_map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(errors.len(), 3, "one create wins: {errors:?}");
            for error in errors {
                assert!(error.contains("at the same moment") || error.contains("is not empty"), "{error}");
                assert!(!error.contains("os error"), "{error}");
            }
        }
    }
}
