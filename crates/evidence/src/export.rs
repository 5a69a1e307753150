//! Export of a case as one archive (tar + zstd), optionally with a signed manifest.
//!
//! Every entry sits under one top folder named after the case id: `ID/case.json`,
//! `ID/journal.jsonl`, `ID/manifest.json`, optionally `ID/manifest.json.minisig`, then
//! `ID/evidence/...` in path order. Headers are deterministic (uid/gid 0, mode 0644, no user
//! names, mtime from the journal), so exporting the same case twice gives the same bytes
//! (signatures aside, which minisign randomises).
//!
//! Only a case folder that verifies is exported, so this module uses `verify`; reading an
//! archive back (`archive`) uses nothing of this one.

use std::{
    fs::{self, File},
    io::{self, BufWriter, Read, Write},
    path::{Path, PathBuf},
};

use tar::{EntryType, Header};

use crate::{
    Error, Result,
    error::io_error,
    fsutil::{Capped, random_hex, read_capped, read_path_capped, sync_dir},
    hash::{FileFacts, hash_reader},
    journal::{self, ChainPosition, Tail},
    layout::{
        CASE_FILE, EVIDENCE_DIR, JOURNAL_FILE, MANIFEST_FILE, MAX_CASE_JSON, MAX_JOURNAL, SIGNATURE_FILE,
        STAGING_DIR, staging_name,
    },
    manifest::Manifest,
    report::CaseForm,
    signing::{SigningKey, sign},
    verify::verify,
};

/// zstd level 3: fast, and evidence (logs, JSON) compresses well at it.
const ZSTD_LEVEL: i32 = 3;

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

/// The header of every entry an export writes (tests that build archives by hand use it too).
pub(crate) fn header(size: u64, mtime: u64) -> Header {
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

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use super::*;
    use crate::{Case, CaseInfo, JournalRecord, SignatureStatus, VerifyingKey, generate_keys};

    /// A case with two artifacts (one with a long path) and a recorded action.
    pub(crate) fn fixture(dir: &Path) -> Case {
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
}
