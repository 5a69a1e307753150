//! Writing one artifact: streamed into a staging file while hashed, committed by one journal line.
//!
//! The steps, and what a crash after each leaves (see `src/crash_tests.rs` of this crate):
//! 1. bytes go to `evidence/.partial/<name>` (hashed as written, capped by `limit`) — a crash
//!    leaves an uncommitted staging file, which verification ignores and resume deletes;
//! 2. the staging file and its folder are fsynced;
//! 3. the COMMIT POINT: a `collect` journal line with path, sha256, size and source, fsynced — a
//!    crash after it leaves a committed artifact still in staging, which verification accepts
//!    when its hash matches and resume moves into place;
//! 4. the staging file is renamed to `evidence/<path>`;
//! 5. `manifest.json` is rewritten (temporary file, fsync, rename) when the last handle on the
//!    case goes, not after every artifact — until then it lags the journal, which verification
//!    of a case folder allows.
//!
//! A writer holds a [`Case`] and the case hands writers out: `artifact` and `case` import each
//! other (see `case`).

use std::{
    fs::{self, File, OpenOptions},
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

use crate::{
    Case, Error, Result,
    error::io_error,
    fsutil::{create_real_dirs, sync_dir},
    hash::to_hex,
    layout::{EVIDENCE_DIR, STAGING_DIR, staging_name},
    manifest::ArtifactRecord,
};

/// Streams one artifact into the case. Implements [`std::io::Write`].
///
/// Bytes beyond [`limit`](ArtifactWriter::limit) are accepted and discarded, so a copy loop from
/// a hostile source never fails because of the cap; the artifact is then marked `truncated`.
/// Dropping the writer without [`finish`](ArtifactWriter::finish) abandons the artifact.
#[derive(Debug)]
pub struct ArtifactWriter {
    case: Case,
    path: String,
    source: String,
    note: Option<String>,
    limit: Option<u64>,
    staging_file: PathBuf,
    /// `None` once the artifact is finished or abandoned.
    file: Option<BufWriter<File>>,
    hasher: Sha256,
    size: u64,
    truncated: bool,
    /// A write that failed: the staged bytes and the hash may disagree, so nothing is committed.
    failure: Option<String>,
}

/// A staged artifact whose bytes are durable, ready for its journal line.
#[derive(Debug)]
pub(crate) struct StagedArtifact {
    pub path: String,
    pub source: String,
    pub note: Option<String>,
    pub sha256: String,
    pub size: u64,
    pub truncated: bool,
    pub staging_file: PathBuf,
}

impl ArtifactWriter {
    pub(crate) fn start(case: Case, path: &str, source: &str) -> Result<ArtifactWriter> {
        if !case.reserve(path) {
            return Err(Error::Busy { path: path.to_string() });
        }
        match open_staging_file(&case, path) {
            Ok((staging_file, file)) => Ok(ArtifactWriter {
                case,
                path: path.to_string(),
                source: source.to_string(),
                note: None,
                limit: None,
                staging_file,
                file: Some(BufWriter::with_capacity(64 * 1024, file)),
                hasher: Sha256::new(),
                size: 0,
                truncated: false,
                failure: None,
            }),
            Err(error) => {
                case.release(path);
                Err(error)
            }
        }
    }

    /// Keep at most `bytes` bytes; discard the rest and mark the artifact truncated.
    pub fn limit(mut self, bytes: u64) -> ArtifactWriter {
        self.limit = Some(bytes);
        self
    }

    /// A remark kept in the journal and manifest, e.g. "collected by the container's own binaries".
    pub fn note(mut self, note: impl Into<String>) -> ArtifactWriter {
        self.note = Some(note.into());
        self
    }

    /// Whether bytes were discarded because of the limit; a caller may stop reading its source.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Record that the source had more than was written: a caller that stopped reading at its
    /// own cap (rather than this writer's limit) marks the artifact truncated this way.
    pub fn mark_truncated(&mut self) {
        self.truncated = true;
    }

    /// Bytes kept so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The evidence path (relative to `evidence/`).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn staging_path(&self) -> &Path {
        &self.staging_file
    }

    /// Commit the artifact: it is in the journal, in place and in the manifest when this returns.
    pub fn finish(mut self) -> Result<ArtifactRecord> {
        let (staged, file) = match self.seal() {
            Ok(sealed) => sealed,
            Err(error) => {
                let _ = fs::remove_file(&self.staging_file);
                return Err(error);
            }
        };
        let committed = self.case.commit_artifact(&staged);
        // The staging file stays locked until the rename is done, so no repair takes it away.
        drop(file);
        if let Err(error) = &committed
            && !matches!(error, Error::Promote { .. })
        {
            let _ = fs::remove_file(&self.staging_file);
        }
        committed
    }

    /// Discard the artifact; nothing is journaled. Callers that want the gap on record use
    /// [`Case::not_collected`].
    pub fn abandon(mut self) -> Result<()> {
        drop(self.file.take());
        fs::remove_file(&self.staging_file).map_err(io_error("remove", &self.staging_file))
    }

    /// Steps 1 and 2: flush and fsync the staging file and its folder. The returned file keeps
    /// the staging lock until the caller drops it.
    pub(crate) fn seal(&mut self) -> Result<(StagedArtifact, File)> {
        let writer = self.file.take().expect("a writer is sealed once");
        if let Some(detail) = self.failure.take() {
            return Err(Error::WriteFailed { path: self.path.clone(), detail });
        }
        let file = writer.into_inner().map_err(|e| io_error("write", &self.staging_file)(e.into_error()))?;
        file.sync_all().map_err(io_error("sync", &self.staging_file))?;
        let staging_dir = self.case.staging_dir();
        sync_dir(&staging_dir).map_err(io_error("sync", &staging_dir))?;
        let staged = StagedArtifact {
            path: self.path.clone(),
            source: self.source.clone(),
            note: self.note.clone(),
            sha256: to_hex(&std::mem::take(&mut self.hasher).finalize()),
            size: self.size,
            truncated: self.truncated,
            staging_file: self.staging_file.clone(),
        };
        Ok((staged, file))
    }

    /// Stop as a killed process would: close the staging file, clean nothing up.
    #[cfg(test)]
    pub(crate) fn die(mut self) {
        drop(self.file.take());
    }
}

impl Write for ArtifactWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("the artifact is already finished"));
        };
        if let Some(failure) = &self.failure {
            return Err(io::Error::other(failure.clone()));
        }
        let room = self.limit.map_or(u64::MAX, |limit| limit.saturating_sub(self.size));
        let keep = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        if keep < buf.len() {
            self.truncated = true;
        }
        if keep > 0 {
            if let Err(error) = file.write_all(&buf[..keep]) {
                self.failure = Some(error.to_string());
                return Err(error);
            }
            self.hasher.update(&buf[..keep]);
            self.size += keep as u64;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for ArtifactWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.staging_file);
        }
        self.case.release(&self.path);
    }
}

/// Create the staging file and lock it (the lock tells a concurrent repair that it is in use).
/// A staging file left by a crashed writer of the same path is replaced: the caller holds the
/// journal lock and found the path uncommitted, so that file is not evidence.
fn open_staging_file(case: &Case, path: &str) -> Result<(PathBuf, File)> {
    let staging_dir = case.staging_dir();
    create_real_dirs(&case.path().join(EVIDENCE_DIR), Path::new(STAGING_DIR))?;
    let staging_file = staging_dir.join(staging_name(path));
    let create = || OpenOptions::new().write(true).create_new(true).open(&staging_file);
    let file = match create() {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let stale = File::open(&staging_file).map_err(io_error("open", &staging_file))?;
            if stale.try_lock().is_err() {
                return Err(Error::Busy { path: path.to_string() });
            }
            fs::remove_file(&staging_file).map_err(io_error("remove", &staging_file))?;
            drop(stale);
            create().map_err(io_error("create", &staging_file))?
        }
        Err(e) => return Err(io_error("create", &staging_file)(e)),
    };
    if file.try_lock().is_err() {
        return Err(Error::Busy { path: path.to_string() });
    }
    Ok((staging_file, file))
}
