//! Verification of an exported archive (tar + zstd; see `export` for how one is written).
//!
//! Verification streams the archive: nothing is extracted, evidence is hashed as it passes,
//! only the case's own small files are held in memory (each under a size cap), and anything
//! but a regular file with a safe relative path is reported, never followed. The case's own
//! files come first, so each evidence entry is compared with the size the journal recorded
//! before it is hashed, and the decompressed bytes are metered against what the case accounts
//! for: a small archive cannot make verification do more work than the case it claims to be.
//! What is read goes through the same checks as a folder's (`checks`).

use std::{
    cell::Cell,
    collections::{BTreeMap, BTreeSet},
    fs::File,
    io::{self, BufReader, Read},
    path::Path,
};

use crate::{
    Result,
    checks::{
        CaseFiles, Keys, check_case_files, check_facts, extra_artifact, missing_artifact, size_mismatch,
        too_large,
    },
    error::io_error,
    hash::hash_reader,
    journal::read_journal_lines,
    layout::{
        CASE_FILE, EVIDENCE_DIR, JOURNAL_FILE, MANIFEST_FILE, MAX_CASE_JSON, MAX_JOURNAL, MAX_MANIFEST,
        MAX_SIGNATURE, SIGNATURE_FILE,
    },
    manifest::ArtifactRecord,
    path::evidence_path_problem,
    report::{CaseForm, Finding, FindingKind, VerifyReport},
};

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
    use std::{fs, io::Write};

    use tar::{EntryType, Header};

    use super::*;
    use crate::{
        export,
        export::{header, tests::fixture},
        verify,
    };

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
