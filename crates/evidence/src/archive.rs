//! Export of a case as one archive (tar + zstd), and verification of such an archive.
//!
//! Every entry sits under one top folder named after the case id: `ID/case.json`,
//! `ID/journal.jsonl`, `ID/manifest.json`, optionally `ID/manifest.json.minisig`, then
//! `ID/evidence/...` in path order. Headers are deterministic (uid/gid 0, mode 0644, no user
//! names, mtime from the journal), so exporting the same case twice gives the same bytes
//! (signatures aside, which minisign randomises).
//!
//! Verification streams the archive: nothing is extracted, evidence is hashed as it passes,
//! only the case's own small files are held in memory (each under a size cap), and anything
//! but a regular file with a safe relative path is reported, never followed. The case's own
//! files come first, so each evidence entry is compared with the size the journal recorded
//! before it is hashed, and the decompressed bytes are metered against what the case accounts
//! for: a small archive cannot make verification do more work than the case it claims to be.

use std::{
    cell::Cell,
    collections::{BTreeMap, BTreeSet},
    fs::{self, File},
    io::{self, BufReader, BufWriter, Read, Write},
    path::{Path, PathBuf},
};

use tar::{EntryType, Header};

use crate::{
    Error, Result,
    case::{CASE_FILE, EVIDENCE_DIR, MAX_CASE_JSON, staging_name},
    error::io_error,
    fsutil::{Capped, random_hex, read_capped, read_path_capped, sync_dir},
    hash::{FileFacts, hash_reader},
    journal::{self, ChainPosition, JOURNAL_FILE, MAX_JOURNAL, Tail},
    manifest::{ArtifactRecord, MANIFEST_FILE, MAX_MANIFEST, MAX_SIGNATURE, Manifest, SIGNATURE_FILE},
    path::{STAGING_DIR, evidence_path_problem},
    signing::{SigningKey, sign},
    verify::{
        CaseFiles, CaseForm, Finding, FindingKind, Keys, VerifyReport, check_case_files, check_facts,
        extra_artifact, missing_artifact, read_journal_lines, size_mismatch, too_large, verify,
    },
};

/// zstd level 3: fast, and evidence (logs, JSON) compresses well at it.
const ZSTD_LEVEL: i32 = 3;
/// Decoder window limit (2^27 = 128 MiB, zstd's own default), stated so the bound is explicit.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;
/// Longest GNU long-name record accepted (the top folder, `evidence/` and a 1024-byte path fit).
const MAX_LONG_NAME: u64 = 4096;
const MAX_ENTRIES: usize = 1_000_000;
/// The tar block: headers are one block, data is padded to whole blocks.
const BLOCK: u64 = 512;
/// Decompressed bytes allowed beyond what the entries that are read account for: the headers and
/// data of entries that are reported, not read.
const SLACK: u64 = 64 << 10;
/// Zeros accepted after the tar end marker (tar writers pad to their record size: GNU tar's is
/// 10 KiB).
const MAX_TRAILER: u64 = 20 << 10;

/// What `export` wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportSummary {
    pub archive: PathBuf,
    /// SHA-256 of the archive file itself, to note in a chain-of-custody form.
    pub sha256: String,
    pub size: u64,
    pub case_id: String,
    pub journal_entries: u64,
    pub artifacts: u64,
    /// minisign key ID of the signature, when signed.
    pub signed_by: Option<String>,
}

/// Export the case folder `case_dir` into a new archive `archive` (never overwritten).
///
/// The folder must verify (warnings such as uncommitted staging files are fine: they are left
/// out). The archive holds a manifest covering the whole journal, signed with `signing_key`
/// when given. The folder itself is not changed.
pub fn export(case_dir: &Path, archive: &Path, signing_key: Option<&SigningKey>) -> Result<ExportSummary> {
    if fs::symlink_metadata(archive).is_ok() {
        return Err(Error::ArchiveExists { path: archive.to_path_buf() });
    }
    let report = verify(case_dir, None)?;
    if report.form != CaseForm::Folder {
        return Err(Error::NotACase {
            path: case_dir.to_path_buf(),
            detail: "export takes a case folder; this is already an archive".into(),
        });
    }
    if let Some(first) = report.problems.first() {
        return Err(Error::NotIntact {
            path: case_dir.to_path_buf(),
            count: report.problems.len(),
            first: first.to_string(),
        });
    }
    let contents = read_export_contents(case_dir)?;
    let signature = signing_key
        .map(|key| {
            sign(key, &contents.manifest_bytes, &contents.manifest.case_id, contents.manifest.journal.seq)
        })
        .transpose()?;

    let parent = match archive.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = archive.file_name().ok_or_else(|| Error::Io {
        action: "write",
        path: archive.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "the path does not end in a file name"),
    })?;
    let temporary = parent.join(format!(".{}.{}.tmp", file_name.to_string_lossy(), random_hex(4)));
    let written = write_archive(case_dir, &temporary, &contents, signature.as_deref())
        // A hard link, unlike a rename, fails when the name exists: an archive is never replaced.
        .and_then(|()| fs::hard_link(&temporary, archive).map_err(io_error("create", archive)));
    let _ = fs::remove_file(&temporary);
    written?;
    sync_dir(&parent).map_err(io_error("sync", &parent))?;
    let facts = hash_reader(File::open(archive).map_err(io_error("read", archive))?)
        .map_err(io_error("read", archive))?;
    Ok(ExportSummary {
        archive: archive.to_path_buf(),
        sha256: facts.sha256,
        size: facts.size,
        case_id: contents.manifest.case_id.clone(),
        journal_entries: contents.manifest.journal.seq,
        artifacts: contents.manifest.artifacts.len() as u64,
        signed_by: signing_key.map(|key| key.key_id().to_string()),
    })
}

/// The case's own files as the archive carries them.
struct ExportContents {
    case_json: Vec<u8>,
    /// Complete entries only, each with its newline.
    journal: Vec<u8>,
    manifest: Manifest,
    manifest_bytes: Vec<u8>,
    created: u64,
    last_entry: u64,
}

fn read_export_contents(case_dir: &Path) -> Result<ExportContents> {
    let case_path = case_dir.join(CASE_FILE);
    let case_json = match read_path_capped(&case_path, MAX_CASE_JSON).map_err(io_error("read", &case_path))? {
        Capped::Read(bytes) => bytes,
        Capped::TooLarge(size) => {
            return Err(Error::TooLarge { path: case_path, size, limit: MAX_CASE_JSON });
        }
    };
    let journal_path = case_dir.join(JOURNAL_FILE);
    let mut journal = {
        // Read under the shared lock so no append is half visible.
        let file = File::open(&journal_path).map_err(io_error("open", &journal_path))?;
        let _ = file.lock_shared();
        match read_capped(&file, MAX_JOURNAL).map_err(io_error("read", &journal_path))? {
            Capped::Read(bytes) => bytes,
            Capped::TooLarge(size) => {
                return Err(Error::TooLarge { path: journal_path, size, limit: MAX_JOURNAL });
            }
        }
    };
    let parsed = journal::parse(&journal, &ChainPosition::start(), None);
    if let Some(problem) = parsed.problems.first() {
        return Err(Error::BrokenJournal {
            path: journal_path,
            line: problem.line.unwrap_or_default(),
            detail: problem.message.clone(),
        });
    }
    match parsed.tail {
        Tail::Clean => {}
        Tail::Unterminated => journal.push(b'\n'),
        Tail::Torn { offset, .. } => journal.truncate(usize::try_from(offset).unwrap_or(usize::MAX)),
    }
    let manifest = Manifest::derive(&parsed.entries).map_err(|p| Error::BrokenJournal {
        path: journal_path.clone(),
        line: p.seq,
        detail: p.detail,
    })?;
    let seconds = |time: jiff::Timestamp| u64::try_from(time.as_second()).unwrap_or(0);
    Ok(ExportContents {
        created: parsed.entries.first().map_or(0, |e| seconds(e.time)),
        last_entry: parsed.entries.last().map_or(0, |e| seconds(e.time)),
        case_json,
        journal,
        manifest_bytes: manifest.to_bytes(),
        manifest,
    })
}

fn write_archive(
    case_dir: &Path,
    temporary: &Path,
    contents: &ExportContents,
    signature: Option<&[u8]>,
) -> Result<()> {
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(temporary)
        .map_err(io_error("create", temporary))?;
    let write_error = io_error("write", temporary);
    let result = (|| -> io::Result<File> {
        let mut encoder = zstd::stream::write::Encoder::new(BufWriter::new(file), ZSTD_LEVEL)?;
        encoder.include_checksum(true)?;
        let mut builder = tar::Builder::new(encoder);
        let top = &contents.manifest.case_id;
        append(&mut builder, &format!("{top}/{CASE_FILE}"), contents.created, &contents.case_json)?;
        append(&mut builder, &format!("{top}/{JOURNAL_FILE}"), contents.last_entry, &contents.journal)?;
        append(
            &mut builder,
            &format!("{top}/{MANIFEST_FILE}"),
            contents.last_entry,
            &contents.manifest_bytes,
        )?;
        if let Some(signature) = signature {
            append(&mut builder, &format!("{top}/{SIGNATURE_FILE}"), contents.last_entry, signature)?;
        }
        let mut artifacts: Vec<_> = contents.manifest.artifacts.iter().collect();
        artifacts.sort_by(|a, b| a.path.cmp(&b.path));
        for artifact in artifacts {
            let evidence = case_dir.join(EVIDENCE_DIR);
            let placed = evidence.join(&artifact.path);
            let source = if placed.is_file() {
                placed
            } else {
                evidence.join(STAGING_DIR).join(staging_name(&artifact.path))
            };
            let mut hashing = HashingReader::new(File::open(&source)?.take(artifact.size));
            let mut header =
                header(artifact.size, u64::try_from(artifact.collected.as_second()).unwrap_or(0));
            builder.append_data(
                &mut header,
                format!("{top}/{EVIDENCE_DIR}/{}", artifact.path),
                &mut hashing,
            )?;
            let facts = hashing.finish();
            if facts.sha256 != artifact.sha256 || facts.size != artifact.size {
                return Err(io::Error::other(ChangedDuringExport {
                    path: source,
                    detail: format!(
                        "SHA-256 {} and {} bytes, journal entry {} recorded {} and {} bytes",
                        facts.sha256, facts.size, artifact.journal_seq, artifact.sha256, artifact.size
                    ),
                }));
            }
        }
        let encoder = builder.into_inner()?;
        let file = encoder.finish()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(file)
    })();
    match result {
        Ok(_) => Ok(()),
        Err(e) => match e.downcast::<ChangedDuringExport>() {
            Ok(changed) => Err(Error::ChangedDuringExport { path: changed.path, detail: changed.detail }),
            Err(e) => Err(write_error(e)),
        },
    }
}

/// An artifact that no longer matches its journal entry, carried through `io::Error`.
#[derive(Debug)]
struct ChangedDuringExport {
    path: PathBuf,
    detail: String,
}

impl std::fmt::Display for ChangedDuringExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.detail)
    }
}

impl std::error::Error for ChangedDuringExport {}

fn header(size: u64, mtime: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header
}

fn append<W: Write>(builder: &mut tar::Builder<W>, name: &str, mtime: u64, bytes: &[u8]) -> io::Result<()> {
    builder.append_data(&mut header(bytes.len() as u64, mtime), name, bytes)
}

/// Hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
    size: u64,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> HashingReader<R> {
        HashingReader { inner, hasher: sha2::Digest::new(), size: 0 }
    }

    fn finish(self) -> FileFacts {
        FileFacts { sha256: crate::hash::to_hex(&sha2::Digest::finalize(self.hasher)), size: self.size }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..read]);
        self.size += read as u64;
        Ok(read)
    }
}

/// Verify an exported archive without extracting it.
pub(crate) fn verify_archive(path: &Path, keys: Keys<'_>) -> Result<VerifyReport> {
    let file = File::open(path).map_err(io_error("read", path))?;
    Ok(verify_stream(BufReader::new(file), path, keys, &Meter::new()))
}

/// Verify the archive that `reader` yields (`location` names it in the report). `meter` counts
/// the bytes decompressed and stops the stream where the case no longer accounts for them.
fn verify_stream(reader: impl Read, location: &Path, keys: Keys<'_>, meter: &Meter) -> VerifyReport {
    let mut check = ArchiveCheck {
        report: VerifyReport::new(location, CaseForm::Archive),
        keys,
        files: CaseFiles::default(),
        expected: None,
        found: BTreeSet::new(),
    };
    match check.read(reader, meter) {
        Ok(()) => check.finish(),
        Err(why) => {
            let message = if meter.exceeded() {
                format!(
                    "stopped reading after {} decompressed bytes: the archive holds more than its case files and the evidence its journal records",
                    meter.read.get()
                )
            } else {
                format!("not a readable kir archive (tar + zstd): {why}")
            };
            check.report.problem(Finding::new(
                FindingKind::Malformed,
                location.display().to_string(),
                message,
            ));
        }
    }
    check.report.finish()
}

/// Bytes decompressed so far and how many the archive's accepted entries account for.
///
/// Entries that are read (a case file under its cap, evidence of the size its journal records)
/// add what they take in the stream; everything else (headers and data of entries that are
/// reported, not read) comes out of a fixed slack. So a small archive cannot make verification
/// decompress, or hash, more than the case it claims to be.
#[derive(Debug)]
struct Meter {
    read: Cell<u64>,
    allowed: Cell<u64>,
}

impl Meter {
    fn new() -> Meter {
        Meter { read: Cell::new(0), allowed: Cell::new(SLACK) }
    }

    fn allow(&self, bytes: u64) {
        self.allowed.set(self.allowed.get().saturating_add(bytes));
    }

    fn exceeded(&self) -> bool {
        self.read.get() > self.allowed.get()
    }
}

/// The decompressed stream, metered: reading past the allowance is an error.
struct Metered<'m, R> {
    inner: R,
    meter: &'m Meter,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = self.meter.allowed.get().saturating_sub(self.meter.read.get());
        // One byte past the allowance tells a stream that goes on from one that ends there.
        let wanted = buf.len().min(usize::try_from(room.saturating_add(1)).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..wanted])?;
        self.meter.read.set(self.meter.read.get() + read as u64);
        if self.meter.exceeded() {
            return Err(io::Error::other("the archive holds more than its case accounts for"));
        }
        Ok(read)
    }
}

/// Bytes a tar entry's data takes in the stream: padded to whole blocks.
fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK).saturating_mul(BLOCK)
}

/// An archive being checked as it streams past.
struct ArchiveCheck<'k> {
    report: VerifyReport,
    keys: Keys<'k>,
    files: CaseFiles,
    /// The artifacts the journal records, once the case's own files are checked: at the first
    /// evidence entry (the journal comes before the evidence) or at the end.
    expected: Option<BTreeMap<String, ArtifactRecord>>,
    /// Evidence entries the journal records that the archive holds.
    found: BTreeSet<String>,
}

impl ArchiveCheck<'_> {
    /// Stream the archive's entries, checking each as it passes and reporting unsafe or
    /// unexpected ones. Errors mean the stream is unreadable (corrupt compression or tar
    /// structure) or holds more than the meter allows.
    fn read(&mut self, reader: impl Read, meter: &Meter) -> io::Result<()> {
        let mut decoder = zstd::stream::read::Decoder::new(reader)?;
        decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
        let mut archive = tar::Archive::new(Metered { inner: decoder, meter });
        let mut top: Option<String> = None;
        let mut seen = BTreeSet::new();
        // A GNU long name and the bytes its record takes in the stream.
        let mut long_name: Option<(Vec<u8>, u64)> = None;
        // Raw entries: the tar crate would read GNU long names and PAX records into memory
        // without a bound, so long names are handled here, capped, and PAX is refused.
        for (count, entry) in archive.entries()?.raw(true).enumerate() {
            let mut entry = entry?;
            if count >= MAX_ENTRIES {
                self.report.problem(Finding::new(
                    FindingKind::Unsafe,
                    "",
                    format!("more than {MAX_ENTRIES} entries; stopped reading"),
                ));
                return Ok(());
            }
            let entry_type = entry.header().entry_type();
            if entry_type.is_gnu_longname() {
                if entry.size() > MAX_LONG_NAME {
                    return Err(io::Error::other(format!("a long-name record of {} bytes", entry.size())));
                }
                let mut name = Vec::new();
                (&mut entry).take(MAX_LONG_NAME).read_to_end(&mut name)?;
                while name.last() == Some(&0) {
                    name.pop();
                }
                long_name = Some((name, BLOCK + padded(entry.size())));
                continue;
            }
            let (raw_name, name_record) =
                long_name.take().unwrap_or_else(|| (entry.path_bytes().into_owned(), 0));
            let name = String::from_utf8_lossy(&raw_name).into_owned();
            let size = entry.size();
            // What the entry takes in the stream, allowed to the meter when it is read.
            let stream_bytes = (name_record + BLOCK).saturating_add(padded(size));
            if !entry_type.is_file() {
                self.report.problem(Finding::new(
                    FindingKind::Unsafe,
                    name,
                    format!("an entry of type {entry_type:?}; a kir archive holds regular files only"),
                ));
                continue;
            }
            let Some(relative) = case_relative_name(&name, &mut top, &mut self.report) else { continue };
            if !seen.insert(relative.clone()) {
                self.report.problem(Finding::new(
                    FindingKind::Unsafe,
                    relative,
                    "appears twice in the archive",
                ));
                continue;
            }
            let (slot, file_name, cap) = match relative.as_str() {
                CASE_FILE => (Some(&mut self.files.case_json), CASE_FILE, MAX_CASE_JSON),
                JOURNAL_FILE => (None, JOURNAL_FILE, MAX_JOURNAL),
                MANIFEST_FILE => (Some(&mut self.files.manifest), MANIFEST_FILE, MAX_MANIFEST),
                SIGNATURE_FILE => (Some(&mut self.files.signature), SIGNATURE_FILE, MAX_SIGNATURE),
                other => {
                    match other.strip_prefix(&format!("{EVIDENCE_DIR}/")) {
                        Some(evidence_path) => match evidence_path_problem(evidence_path) {
                            None => {
                                self.evidence_entry(evidence_path, &mut entry, size, stream_bytes, meter)?
                            }
                            Some(reason) => {
                                self.report.problem(Finding::new(FindingKind::Unsafe, other, reason))
                            }
                        },
                        None => self.report.problem(Finding::new(
                            FindingKind::Extra,
                            other,
                            "not part of a kir case",
                        )),
                    }
                    continue;
                }
            };
            if self.expected.is_some() {
                self.report.problem(Finding::new(
                    FindingKind::Malformed,
                    relative,
                    "comes after evidence; a kir archive has the case's own files first, so that the evidence is checked against the journal as it passes; not read",
                ));
                continue;
            }
            if size > cap {
                self.report.problem(too_large(file_name, size, cap));
                self.files.unread.insert(file_name);
                continue;
            }
            meter.allow(stream_bytes);
            match slot {
                Some(slot) => {
                    let mut bytes = Vec::new();
                    (&mut entry).take(cap).read_to_end(&mut bytes)?;
                    *slot = Some(bytes);
                }
                // The journal is checked as it streams past, one line at a time.
                None => {
                    self.files.journal = Some(read_journal_lines((&mut entry).take(cap), self.keys.journal)?)
                }
            }
        }
        // tar stops at the first block of its end marker. Reading on to the end of the
        // compressed stream checks zstd's checksum and finds anything hidden after the marker;
        // tar writers pad with zeros to their record size, so a little of that is accepted.
        meter.allow(BLOCK + MAX_TRAILER);
        let mut trailer = Vec::new();
        archive.into_inner().take(MAX_TRAILER + 1).read_to_end(&mut trailer)?;
        let location = self.report.location.display().to_string();
        if trailer.iter().any(|&b| b != 0) {
            self.report.problem(Finding::new(
                FindingKind::Extra,
                location,
                "data after the end of the tar archive",
            ));
        } else if trailer.len() as u64 > MAX_TRAILER {
            self.report.problem(Finding::new(
                FindingKind::Extra,
                location,
                format!(
                    "more than {} KiB of zeros after the end of the tar archive; the rest was not read",
                    MAX_TRAILER >> 10
                ),
            ));
        }
        Ok(())
    }

    /// Check one evidence entry against the journal. One the journal does not record, or of
    /// another size than recorded, is reported without being read: hashing it would be work
    /// that only the archive's author bounds.
    fn evidence_entry(
        &mut self,
        path: &str,
        entry: &mut impl Read,
        entry_size: u64,
        stream_bytes: u64,
        meter: &Meter,
    ) -> io::Result<()> {
        let expected = self
            .expected
            .get_or_insert_with(|| check_case_files(&mut self.report, &mut self.files, self.keys));
        let Some(artifact) = expected.get(path) else {
            self.report.problem(extra_artifact(path));
            return Ok(());
        };
        self.found.insert(path.to_string());
        let file = format!("{EVIDENCE_DIR}/{path}");
        if entry_size != artifact.size {
            self.report.problem(size_mismatch(artifact, entry_size, &file));
            return Ok(());
        }
        meter.allow(stream_bytes);
        let facts = hash_reader(entry.take(artifact.size))?;
        check_facts(&mut self.report, artifact, &facts, &file);
        Ok(())
    }

    /// After the last entry: check the case's own files if no evidence entry did, and report
    /// every artifact the journal records that the archive lacks.
    fn finish(&mut self) {
        let expected = self
            .expected
            .get_or_insert_with(|| check_case_files(&mut self.report, &mut self.files, self.keys));
        for artifact in expected.values().filter(|a| !self.found.contains(&a.path)) {
            self.report.problem(missing_artifact(artifact));
        }
    }
}

/// The entry's path inside the case, once the one top folder is stripped; `None` (with a
/// finding) when the name is unsafe or outside that folder.
fn case_relative_name(name: &str, top: &mut Option<String>, report: &mut VerifyReport) -> Option<String> {
    let unsafe_name = |report: &mut VerifyReport, why: &str| {
        report.problem(Finding::new(FindingKind::Unsafe, name, why));
        None
    };
    if name.starts_with('/') {
        return unsafe_name(report, "an absolute path");
    }
    if name.split('/').any(|c| c == "..") {
        return unsafe_name(report, "a path with .. components");
    }
    let Some((first, rest)) = name.split_once('/') else {
        return unsafe_name(report, "outside the case's top folder");
    };
    if first.is_empty() || first == "." || rest.is_empty() {
        return unsafe_name(report, "not a file inside the case's top folder");
    }
    match top {
        Some(top) if top != first => unsafe_name(report, "outside the case's top folder"),
        Some(_) => Some(rest.to_string()),
        None => {
            *top = Some(first.to_string());
            Some(rest.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::{Case, CaseInfo, JournalRecord, SignatureStatus, VerifyingKey, generate_keys};

    fn fixture(dir: &Path) -> Case {
        let case = Case::create_for_tests(dir.join("case"), CaseInfo::new("export")).unwrap();
        case.store_bytes("pod.json", "GET /api/v1/namespaces/prod/pods/web-1", b"{\"kind\":\"Pod\"}")
            .unwrap();
        let long_path = format!("{}/app.log", "deep-folder-name".repeat(8));
        case.store_bytes(&long_path, "GET .../log", &vec![b'x'; 100_000]).unwrap();
        case.record(JournalRecord::new("alice", "isolate").target("pod prod/web-1")).unwrap();
        case
    }

    fn entry_names(archive: &Path) -> Vec<String> {
        let decoder = zstd::stream::read::Decoder::new(File::open(archive).unwrap()).unwrap();
        let mut archive = tar::Archive::new(decoder);
        archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect()
    }

    #[test]
    fn an_export_verifies_and_is_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());
        let first = dir.path().join("first.tar.zst");
        let summary = export(case.path(), &first, None).unwrap();
        assert_eq!((summary.journal_entries, summary.artifacts), (4, 2));
        assert_eq!(summary.signed_by, None);

        let report = verify(&first, None).unwrap();
        assert!(report.intact, "{:#?}", report.problems);
        assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
        assert_eq!(report.form, CaseForm::Archive);
        assert_eq!((report.journal_entries, report.artifacts), (4, 2));
        assert_eq!(report.case_id.as_deref(), Some(case.id()));
        let key = crate::JournalKey::for_tests(1);
        let report = crate::verify_with_journal_key(&first, None, Some(&key)).unwrap();
        assert_eq!(report.authentication.authenticated_lines, Some(4), "MACs travel with the journal");

        let names = entry_names(&first);
        let id = case.id();
        assert_eq!(
            names[..3],
            [format!("{id}/case.json"), format!("{id}/journal.jsonl"), format!("{id}/manifest.json")]
        );
        assert_eq!(names.len(), 5);
        assert!(names[3].ends_with("/app.log") && names[3].len() > 100, "long names survive: {}", names[3]);

        let second = dir.path().join("second.tar.zst");
        export(case.path(), &second, None).unwrap();
        assert_eq!(fs::read(&first).unwrap(), fs::read(&second).unwrap());
    }

    #[test]
    fn export_never_overwrites_and_refuses_a_case_that_does_not_verify() {
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());
        let archive = dir.path().join("a.tar.zst");
        fs::write(&archive, "precious").unwrap();
        assert!(matches!(export(case.path(), &archive, None), Err(Error::ArchiveExists { .. })));
        assert_eq!(fs::read(&archive).unwrap(), b"precious");

        fs::write(case.path().join("evidence/pod.json"), "changed").unwrap();
        let error = export(case.path(), &dir.path().join("b.tar.zst"), None).unwrap_err();
        assert!(matches!(error, Error::NotIntact { count: 1, .. }), "{error}");
        assert!(error.to_string().contains("evidence/pod.json"), "{error}");
        assert!(!dir.path().join("b.tar.zst").exists());
        let leftovers = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"));
        assert_eq!(leftovers.count(), 0);
    }

    #[test]
    fn a_tampered_archive_fails() {
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());
        let archive = dir.path().join("case.tar.zst");
        export(case.path(), &archive, None).unwrap();
        let original = fs::read(&archive).unwrap();
        for index in [10, original.len() / 3, original.len() / 2, original.len() - 6, original.len() - 1] {
            let mut tampered = original.clone();
            tampered[index] ^= 0x20;
            let copy = dir.path().join(format!("tampered-{index}.tar.zst"));
            fs::write(&copy, &tampered).unwrap();
            let report = verify(&copy, None).unwrap();
            assert!(!report.intact, "a changed byte at {index} of {} went unnoticed", original.len());
        }
        fs::write(dir.path().join("truncated.tar.zst"), &original[..original.len() / 2]).unwrap();
        assert!(!verify(&dir.path().join("truncated.tar.zst"), None).unwrap().intact);
    }

    #[test]
    fn signed_exports_check_against_the_right_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());
        let keys = generate_keys(&dir.path().join("signer"), None).unwrap();
        let other = generate_keys(&dir.path().join("other"), None).unwrap();
        let signing = SigningKey::from_file(&keys.secret_key, None).unwrap();
        let archive = dir.path().join("signed.tar.zst");
        let summary = export(case.path(), &archive, Some(&signing)).unwrap();
        assert_eq!(summary.signed_by.as_deref(), Some(keys.key_id.as_str()));
        assert!(entry_names(&archive).iter().any(|n| n.ends_with("/manifest.json.minisig")));

        let right = VerifyingKey::from_file(&keys.public_key).unwrap();
        let report = verify(&archive, Some(&right)).unwrap();
        assert!(report.intact, "{:#?}", report.problems);
        assert_eq!(report.signature, SignatureStatus::Valid { key_id: keys.key_id.clone() });

        let wrong = VerifyingKey::from_file(&other.public_key).unwrap();
        let report = verify(&archive, Some(&wrong)).unwrap();
        assert!(!report.intact);
        assert!(report.problems[0].message.contains(&other.key_id), "{}", report.problems[0]);

        let report = verify(&archive, None).unwrap();
        assert!(report.intact);
        assert_eq!(report.signature, SignatureStatus::NotChecked);
    }

    #[test]
    fn an_interrupted_case_exports_without_its_debris() {
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());
        let mut unfinished = case.artifact("unfinished.bin", "test").unwrap();
        unfinished.write_all(b"never committed").unwrap();
        let mut journal = File::options().append(true).open(case.path().join(JOURNAL_FILE)).unwrap();
        journal.write_all(b"{\"seq\":5,\"ti").unwrap();
        let folder = verify(case.path(), None).unwrap();
        assert!(folder.intact && folder.warnings.len() == 2, "{folder:#?}");

        let archive = dir.path().join("case.tar.zst");
        export(case.path(), &archive, None).unwrap();
        let report = verify(&archive, None).unwrap();
        assert!(report.intact && report.warnings.is_empty(), "{report:#?}");
        assert!(!entry_names(&archive).iter().any(|n| n.contains(".partial") || n.contains("unfinished")));
        unfinished.abandon().unwrap();
    }

    /// An archive written entry by entry, names and types exactly as given.
    fn raw_archive(path: &Path, entries: &[(&[u8], EntryType, &[u8])]) {
        raw_archive_with_trailer(path, entries, b"");
    }

    fn raw_archive_with_trailer(path: &Path, entries: &[(&[u8], EntryType, &[u8])], trailer: &[u8]) {
        let encoder = zstd::stream::write::Encoder::new(File::create(path).unwrap(), 3).unwrap();
        let mut builder = tar::Builder::new(encoder);
        for (name, entry_type, data) in entries {
            let mut header = Header::new_gnu();
            header.as_old_mut().name[..name.len()].copy_from_slice(name);
            header.set_entry_type(*entry_type);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        let mut encoder = builder.into_inner().unwrap();
        encoder.write_all(trailer).unwrap();
        encoder.finish().unwrap();
    }

    #[test]
    fn data_hidden_after_the_tar_end_marker_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trailer.tar.zst");
        raw_archive_with_trailer(&path, &[(b"c/case.json", EntryType::Regular, b"{}")], b"hidden payload");
        let report = verify(&path, None).unwrap();
        assert!(report.problems.iter().any(|p| p.message.contains("after the end of the tar archive")));
    }

    #[test]
    fn hostile_entries_are_reported_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hostile.tar.zst");
        raw_archive(
            &path,
            &[
                (b"c/case.json", EntryType::Regular, b"{}"),
                (b"c/evidence/link", EntryType::Symlink, b""),
                (b"c/evidence/hard", EntryType::Link, b""),
                (b"c/evidence/dev", EntryType::Char, b""),
                (b"c/evidence/dir", EntryType::Directory, b""),
                (b"c/../../etc/cron.d/x", EntryType::Regular, b"* * * * * root sh"),
                (b"/etc/passwd", EntryType::Regular, b"root::0:0"),
                (b"other/case.json", EntryType::Regular, b"{}"),
                (b"c/case.json", EntryType::Regular, b"{}"),
                (b"c/evidence/.partial/x", EntryType::Regular, b"x"),
                (b"c/run.sh", EntryType::Regular, b"x"),
                (b"c/pax", EntryType::XHeader, b"10 a=bcdef\n"),
            ],
        );
        let report = verify(&path, None).unwrap();
        assert!(!report.intact);
        let unsafe_files: Vec<&str> = report
            .problems
            .iter()
            .filter(|p| p.kind == FindingKind::Unsafe)
            .map(|p| p.file.as_str())
            .collect();
        for expected in [
            "c/evidence/link",
            "c/evidence/hard",
            "c/evidence/dev",
            "c/evidence/dir",
            "c/../../etc/cron.d/x",
            "/etc/passwd",
            "other/case.json",
            "case.json",
            "evidence/.partial/x",
        ] {
            assert!(unsafe_files.contains(&expected), "{expected} not reported: {:#?}", report.problems);
        }
        assert!(report.problems.iter().any(|p| p.kind == FindingKind::Extra && p.file == "run.sh"));
        assert!(!dir.path().join("etc").exists());
    }

    #[test]
    fn oversized_case_files_are_not_read_into_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.tar.zst");
        let big = vec![b' '; (MAX_CASE_JSON + 1) as usize];
        raw_archive(&path, &[(b"c/case.json", EntryType::Regular, &big)]);
        let report = verify(&path, None).unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.kind == FindingKind::Malformed && p.message.contains("not read"))
        );
    }

    /// The entries of an archive, names and contents, in order.
    fn read_entries(archive: &Path) -> Vec<(String, Vec<u8>)> {
        let decoder = zstd::stream::read::Decoder::new(File::open(archive).unwrap()).unwrap();
        let mut archive = tar::Archive::new(decoder);
        let entries = archive.entries().unwrap();
        entries
            .map(|entry| {
                let mut entry = entry.unwrap();
                let name = entry.path().unwrap().display().to_string();
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).unwrap();
                (name, bytes)
            })
            .collect()
    }

    type Content = (String, u64, Box<dyn Read>);

    fn in_memory(entries: &[(String, Vec<u8>)]) -> Vec<Content> {
        let content = |(name, bytes): &(String, Vec<u8>)| -> Content {
            (name.clone(), bytes.len() as u64, Box::new(io::Cursor::new(bytes.clone())))
        };
        entries.iter().map(content).collect()
    }

    /// An archive of `entries` (name, size, content), then `trailer` after the tar end marker.
    fn write_entries(path: &Path, entries: Vec<Content>, mut trailer: impl Read) {
        let encoder = zstd::stream::write::Encoder::new(File::create(path).unwrap(), 3).unwrap();
        let mut builder = tar::Builder::new(encoder);
        for (name, size, content) in entries {
            builder.append_data(&mut header(size, 0), name, content).unwrap();
        }
        let mut encoder = builder.into_inner().unwrap();
        io::copy(&mut trailer, &mut encoder).unwrap();
        encoder.finish().unwrap();
    }

    /// Verify `path` and say how many bytes were decompressed (everything hashed among them).
    fn verify_metered(path: &Path) -> (VerifyReport, u64) {
        let meter = Meter::new();
        let keys = Keys { public: None, journal: None };
        let report = verify_stream(BufReader::new(File::open(path).unwrap()), path, keys, &meter);
        (report, meter.read.get())
    }

    #[test]
    fn verification_work_is_bounded_by_what_the_journal_records() {
        const HUGE: u64 = 64 << 20;
        let zeros = |size: u64| -> Box<dyn Read> { Box::new(io::repeat(0).take(size)) };
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());
        let exported = dir.path().join("case.tar.zst");
        export(case.path(), &exported, None).unwrap();
        let (genuine, genuine_work) = verify_metered(&exported);
        assert!(genuine.intact, "{:#?}", genuine.problems);
        let entries = read_entries(&exported);
        let id = case.id();

        let mut larger = in_memory(&entries[..3]);
        larger.push((format!("{id}/evidence/pod.json"), HUGE, zeros(HUGE)));
        let mut unrecorded = in_memory(&entries);
        unrecorded.push((format!("{id}/evidence/planted.bin"), HUGE, zeros(HUGE)));
        let hostile: [(&str, Vec<Content>, u64, &str); 3] = [
            ("larger", larger, 0, "67108864 bytes, but journal entry 2 recorded 14 bytes (not hashed)"),
            ("unrecorded", unrecorded, 0, "not recorded in the journal"),
            ("padded", in_memory(&entries), HUGE, "more than 20 KiB of zeros after the end"),
        ];
        for (name, entries, padding, expected) in hostile {
            let path = dir.path().join(format!("{name}.tar.zst"));
            write_entries(&path, entries, io::repeat(0).take(padding));
            assert!(fs::metadata(&path).unwrap().len() < 64 << 10, "{name}: a small file");
            let (report, work) = verify_metered(&path);
            assert!(report.problems.iter().any(|p| p.message.contains(expected)), "{name}: {report:#?}");
            assert!(work < genuine_work + (256 << 10), "{name}: {work} bytes decompressed");
        }

        // A tar writer's own padding to its record size (GNU tar: 10 KiB) is fine.
        let path = dir.path().join("record-padded.tar.zst");
        write_entries(&path, in_memory(&entries), io::repeat(0).take(10 << 10));
        let (report, _) = verify_metered(&path);
        assert!(report.intact, "{:#?}", report.problems);
    }

    #[test]
    fn evidence_before_the_journal_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let case = fixture(dir.path());
        let exported = dir.path().join("case.tar.zst");
        export(case.path(), &exported, None).unwrap();
        let entries = read_entries(&exported);
        let pod = entries.iter().position(|(name, _)| name.ends_with("/evidence/pod.json")).unwrap();
        let reordered = [entries[0].clone(), entries[pod].clone(), entries[1].clone(), entries[2].clone()];
        let path = dir.path().join("reordered.tar.zst");
        write_entries(&path, in_memory(&reordered), io::empty());
        let report = verify(&path, None).unwrap();
        let found: Vec<(FindingKind, &str)> =
            report.problems.iter().map(|p| (p.kind, p.file.as_str())).collect();
        for expected in [
            (FindingKind::Missing, JOURNAL_FILE),
            (FindingKind::Extra, "evidence/pod.json"),
            (FindingKind::Malformed, JOURNAL_FILE),
            (FindingKind::Malformed, MANIFEST_FILE),
        ] {
            assert!(found.contains(&expected), "{expected:?} not in {found:?}");
        }
        assert!(report.problems.iter().any(|p| p.message.contains("comes after evidence")));
    }

    #[test]
    fn garbage_is_not_an_archive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("garbage.tar.zst");
        fs::write(&path, b"this is not zstd").unwrap();
        let report = verify(&path, None).unwrap();
        assert!(!report.intact);
        assert_eq!(report.problems.len(), 1);
        assert!(report.problems[0].message.contains("not a readable kir archive"));
    }
}
