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
//! but a regular file with a safe relative path is reported, never followed.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::{self, File},
    io::{self, BufReader, BufWriter, Read, Write},
    path::{Path, PathBuf},
};

use tar::{EntryType, Header};

use crate::{
    Error, Result,
    case::{CASE_FILE, EVIDENCE_DIR, staging_name},
    error::io_error,
    fsutil::{random_hex, sync_dir},
    hash::{FileFacts, hash_reader},
    journal::{self, ChainPosition, JOURNAL_FILE, Tail},
    manifest::{MANIFEST_FILE, Manifest, SIGNATURE_FILE},
    path::{STAGING_DIR, evidence_path_problem},
    signing::{SigningKey, VerifyingKey, sign},
    verify::{
        CaseFiles, CaseForm, Finding, FindingKind, VerifyReport, check_case_files, compare_evidence, verify,
    },
};

/// zstd level 3: fast, and evidence (logs, JSON) compresses well at it.
const ZSTD_LEVEL: i32 = 3;
/// Decoder window limit (2^27 = 128 MiB, zstd's own default), stated so the bound is explicit.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;
const MAX_CASE_JSON: u64 = 1 << 20;
const MAX_JOURNAL: u64 = 256 << 20;
const MAX_MANIFEST: u64 = 256 << 20;
const MAX_SIGNATURE: u64 = 64 << 10;
/// Longest GNU long-name record accepted (the top folder, `evidence/` and a 1024-byte path fit).
const MAX_LONG_NAME: u64 = 4096;
const MAX_ENTRIES: usize = 1_000_000;

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
    let case_json = fs::read(&case_path).map_err(io_error("read", &case_path))?;
    let journal_path = case_dir.join(JOURNAL_FILE);
    let mut journal = {
        // Read under the shared lock so no append is half visible.
        let file = File::open(&journal_path).map_err(io_error("open", &journal_path))?;
        let _ = file.lock_shared();
        let mut bytes = Vec::new();
        (&file).read_to_end(&mut bytes).map_err(io_error("read", &journal_path))?;
        bytes
    };
    let parsed = journal::parse(&journal, &ChainPosition::start());
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
        Tail::Torn { offset } => journal.truncate(offset),
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
pub(crate) fn verify_archive(path: &Path, public_key: Option<&VerifyingKey>) -> Result<VerifyReport> {
    let mut report = VerifyReport::new(path, CaseForm::Archive);
    let file = File::open(path).map_err(io_error("read", path))?;
    let mut files = CaseFiles::default();
    let mut evidence = BTreeMap::new();
    if let Err(why) = read_archive(BufReader::new(file), &mut report, &mut files, &mut evidence) {
        report.problem(Finding::new(
            FindingKind::Malformed,
            path.display().to_string(),
            format!("not a readable kir archive (tar + zstd): {why}"),
        ));
        return Ok(report.finish());
    }
    let expected = check_case_files(&mut report, &files, public_key);
    compare_evidence(&mut report, &expected, &evidence);
    Ok(report.finish())
}

/// Stream the archive's entries into `files` and `evidence`, reporting unsafe or unexpected
/// ones. Errors mean the stream itself is unreadable (corrupt compression or tar structure).
fn read_archive(
    reader: impl Read,
    report: &mut VerifyReport,
    files: &mut CaseFiles,
    evidence: &mut BTreeMap<String, FileFacts>,
) -> io::Result<()> {
    let mut decoder = zstd::stream::read::Decoder::new(reader)?;
    decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
    let mut archive = tar::Archive::new(decoder);
    let mut top: Option<String> = None;
    let mut seen = BTreeSet::new();
    let mut long_name: Option<Vec<u8>> = None;
    // Raw entries: the tar crate would read GNU long names and PAX records into memory
    // without a bound, so long names are handled here, capped, and PAX is refused.
    for (count, entry) in archive.entries()?.raw(true).enumerate() {
        let mut entry = entry?;
        if count >= MAX_ENTRIES {
            report.problem(Finding::new(
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
            entry.read_to_end(&mut name)?;
            while name.last() == Some(&0) {
                name.pop();
            }
            long_name = Some(name);
            continue;
        }
        let raw_name = long_name.take().unwrap_or_else(|| entry.path_bytes().into_owned());
        let name = String::from_utf8_lossy(&raw_name).into_owned();
        if !entry_type.is_file() {
            report.problem(Finding::new(
                FindingKind::Unsafe,
                name,
                format!("an entry of type {entry_type:?}; a kir archive holds regular files only"),
            ));
            continue;
        }
        let Some(relative) = case_relative_name(&name, &mut top, report) else { continue };
        if !seen.insert(relative.clone()) {
            report.problem(Finding::new(FindingKind::Unsafe, relative, "appears twice in the archive"));
            continue;
        }
        let size = entry.size();
        let (slot, cap) = match relative.as_str() {
            CASE_FILE => (&mut files.case_json, MAX_CASE_JSON),
            JOURNAL_FILE => (&mut files.journal, MAX_JOURNAL),
            MANIFEST_FILE => (&mut files.manifest, MAX_MANIFEST),
            SIGNATURE_FILE => (&mut files.signature, MAX_SIGNATURE),
            other => {
                match other.strip_prefix(&format!("{EVIDENCE_DIR}/")) {
                    Some(evidence_path) => match evidence_path_problem(evidence_path) {
                        None => {
                            evidence.insert(evidence_path.to_string(), hash_reader(&mut entry)?);
                        }
                        Some(reason) => report.problem(Finding::new(FindingKind::Unsafe, other, reason)),
                    },
                    None => report.problem(Finding::new(FindingKind::Extra, other, "not part of a kir case")),
                }
                continue;
            }
        };
        if size > cap {
            report.problem(Finding::new(
                FindingKind::Malformed,
                relative,
                format!("{size} bytes, more than the {cap} a kir case file may have; not read"),
            ));
            continue;
        }
        let mut bytes = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut bytes)?;
        *slot = Some(bytes);
    }
    Ok(())
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
