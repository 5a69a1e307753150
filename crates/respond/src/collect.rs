//! Writing what a step collects into the case: each artifact hashed as it is written, each
//! gap recorded with its reason, an artifact already in the case (a resumed run) kept as is.

use std::{
    io::Write,
    sync::{Arc, Mutex, PoisonError},
};

use futures::{AsyncRead, AsyncReadExt};
use kir_evidence::{ArtifactRecord, ArtifactWriter, Case};
use serde::Serialize;

/// An artifact that could not be collected, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub path: String,
    pub reason: String,
    /// The API server could not be reached (refused, timed out): running the same command
    /// again with the same case collects it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub transient: bool,
}

/// What a collecting step produced.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Collected {
    pub artifacts: Vec<ArtifactRecord>,
    pub not_collected: Vec<Gap>,
    /// Paths that an earlier (interrupted) run of the same step already collected.
    pub already_collected: Vec<String>,
}

impl Collected {
    /// Gaps that another run with the same case can fill (the server was unreachable).
    pub fn transient_gaps(&self) -> usize {
        self.not_collected.iter().filter(|g| g.transient).count()
    }
}

/// Shared by the concurrent tasks of one step.
#[derive(Clone)]
pub(crate) struct Collector {
    case: Case,
    base: String,
    collected: Arc<Mutex<Collected>>,
}

impl Collector {
    pub fn new(case: &Case, base: impl Into<String>) -> Collector {
        Collector { case: case.clone(), base: base.into(), collected: Arc::default() }
    }

    pub fn path(&self, relative: &str) -> String {
        format!("{}/{relative}", self.base)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Collected) -> T) -> T {
        f(&mut self.collected.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Start an artifact at `relative` (under the step's base). `None` when there is nothing
    /// to write: an earlier run collected it, or the case refused it (recorded as a gap).
    pub fn start(&self, relative: &str, source: &str) -> Option<ArtifactWriter> {
        let path = self.path(relative);
        match self.case.artifact(&path, source) {
            Ok(writer) => Some(writer),
            Err(kir_evidence::Error::AlreadyCollected { .. }) => {
                self.with(|c| c.already_collected.push(path));
                None
            }
            Err(error) => {
                self.gap_at(path, source, &format!("cannot write into the case: {error}"));
                None
            }
        }
    }

    /// The bytes of `relative` as an earlier run committed it (at most `limit` of them), to
    /// analyse on resume what was collected before the interruption.
    pub fn stored(&self, relative: &str, limit: u64) -> Option<Vec<u8>> {
        use std::io::Read;
        let file = std::fs::File::open(self.case.path().join("evidence").join(self.path(relative))).ok()?;
        let mut bytes = Vec::new();
        file.take(limit).read_to_end(&mut bytes).ok()?;
        Some(bytes)
    }

    pub fn store(&self, relative: &str, source: &str, bytes: &[u8]) {
        if let Some(mut writer) = self.start(relative, source) {
            match writer.write_all(bytes) {
                Ok(()) => self.finish(writer, source),
                Err(error) => {
                    let path = writer.path().to_string();
                    let _ = writer.abandon();
                    self.gap_at(path, source, &format!("cannot write into the case: {error}"));
                }
            }
        }
    }

    /// Store a value as pretty JSON (for what kir assembled rather than fetched verbatim).
    pub fn store_json<T: Serialize>(&self, relative: &str, source: &str, value: &T) {
        let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
        bytes.push(b'\n');
        self.store(relative, source, &bytes);
    }

    /// Copy an async stream into an artifact of at most `limit` bytes; stop reading at the cap.
    pub async fn store_stream<R: AsyncRead + Unpin>(
        &self,
        relative: &str,
        source: &str,
        mut stream: R,
        limit: u64,
    ) {
        let Some(writer) = self.start(relative, source) else { return };
        let mut writer = writer.limit(limit);
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) => break,
                Ok(n) => {
                    if let Err(error) = writer.write_all(&buffer[..n]) {
                        let path = writer.path().to_string();
                        let _ = writer.abandon();
                        return self.gap_at(path, source, &format!("cannot write into the case: {error}"));
                    }
                    if writer.truncated() {
                        break;
                    }
                }
                Err(error) => {
                    // Keep what arrived: a partial log is evidence too; the note says it is cut.
                    writer = writer.note(format!("stream ended early: {error}"));
                    break;
                }
            }
        }
        self.finish(writer, source);
    }

    pub fn finish(&self, writer: ArtifactWriter, source: &str) {
        let path = writer.path().to_string();
        match writer.finish() {
            Ok(record) => self.with(|c| c.artifacts.push(record)),
            // Another writer committed the same path first: it is in the case.
            Err(kir_evidence::Error::AlreadyCollected { .. }) => {
                self.with(|c| c.already_collected.push(path))
            }
            // Journaled (committed) but not yet moved into place: opening the case finishes it.
            Err(error @ kir_evidence::Error::Promote { .. }) => {
                tracing::warn!(
                    "{path} is committed but still staged ({error}); opening the case moves it into place"
                );
                self.with(|c| c.already_collected.push(path));
            }
            Err(error) => self.gap_at(path, source, &format!("cannot commit into the case: {error}")),
        }
    }

    /// Record that `relative` was wanted but could not be collected.
    pub fn gap(&self, relative: &str, source: &str, reason: &str) {
        self.gap_at(self.path(relative), source, reason);
    }

    /// Record that `relative` could not be fetched: for lack of a server, the gap is
    /// transient (see [`Gap::transient`]).
    pub fn gap_error(&self, relative: &str, source: &str, error: &kir_cluster::Error) {
        let path = self.path(relative);
        self.record_gap(&path, source, &error.to_string(), error.connect_failure().is_some());
    }

    fn gap_at(&self, path: String, source: &str, reason: &str) {
        self.record_gap(&path, source, reason, false);
    }

    fn record_gap(&self, path: &str, source: &str, reason: &str, transient: bool) {
        if let Err(error) = self.case.not_collected(path, source, reason) {
            tracing::warn!("cannot record that {path} was not collected: {error}");
        }
        let gap = Gap { path: path.to_string(), reason: reason.to_string(), transient };
        self.with(|c| c.not_collected.push(gap));
    }

    pub fn into_collected(self) -> Collected {
        let mut collected = self.with(std::mem::take);
        collected.artifacts.sort_by(|a, b| a.path.cmp(&b.path));
        collected.not_collected.sort_by(|a, b| a.path.cmp(&b.path));
        collected
    }
}
