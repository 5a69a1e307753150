//! Writing what a step collects into the case: each artifact hashed as it is written, each
//! gap recorded with its reason, an artifact already in the case (a resumed run) kept as is.
//! Every write runs off the async workers (see [`crate::blocking`]).

use std::{
    collections::BTreeMap,
    future::Future,
    io::Write,
    sync::{Arc, Mutex, PoisonError},
};

use futures::{AsyncRead, AsyncReadExt};
use kir_cluster::Retry;
use kir_evidence::{ArtifactRecord, ArtifactWriter, Case};
use serde::Serialize;

use crate::blocking::{blocking, in_place};

/// An artifact that could not be collected, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    pub path: String,
    pub reason: String,
    /// The API server could not be reached, or the stream was cut before its end: running the
    /// same command again with the same case collects it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub transient: bool,
    /// The permission the API server said is missing (`create pods/exec in shop`): once it is
    /// granted, running again with the same case collects it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_permission: Option<String>,
    /// The path under the step's folder, for messages.
    #[serde(skip)]
    pub item: String,
}

impl Gap {
    /// Whether the evidence is incomplete without it: another run may still collect it. Other
    /// gaps are facts (a previous log the node no longer has, a container without a shell).
    pub fn blocks(&self) -> bool {
        self.transient || self.missing_permission.is_some()
    }
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
    /// The gaps that leave the evidence incomplete (see [`Gap::blocks`]).
    pub fn missing(&self) -> impl Iterator<Item = &Gap> {
        self.not_collected.iter().filter(|g| g.blocks())
    }

    /// Nothing is in the case for this step, from this run or an earlier one.
    pub fn nothing(&self) -> bool {
        self.artifacts.is_empty() && self.already_collected.is_empty()
    }

    /// What is missing and why, in a line: each missing permission with what it kept out of
    /// the case, then what an unreachable server or a cut stream kept out. Empty when nothing
    /// is missing.
    pub fn describe_missing(&self) -> String {
        let mut by_permission: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut unreachable = Vec::new();
        for gap in self.missing() {
            match &gap.missing_permission {
                Some(permission) => by_permission.entry(permission).or_default().push(&gap.item),
                None => unreachable.push(gap.item.as_str()),
            }
        }
        let mut parts: Vec<String> = by_permission
            .into_iter()
            .map(|(permission, items)| format!("forbidden: {permission} ({})", items.join(", ")))
            .collect();
        if !unreachable.is_empty() {
            parts.push(format!(
                "cut off by an unreachable API server or a broken stream ({})",
                unreachable.join(", ")
            ));
        }
        parts.join("; ")
    }
}

/// Whether an artifact is in the case after [`Collector::store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Committed by this run.
    Committed,
    /// Committed by an earlier run of the case.
    Kept,
    /// Not in the case (the gap is recorded).
    Missing,
}

/// Bytes of a stream kept in memory beside the artifact, so that what arrived before a cut
/// can still be committed (as a partial artifact of its own) when the stream is given up.
pub(crate) const PARTIAL_KEEP: usize = 8 << 20;

/// One try at streaming an artifact: the writer at the artifact's own path and a bounded copy
/// of what was written (see [`Collector::cut`]).
pub(crate) struct Attempt {
    writer: ArtifactWriter,
    copy: Vec<u8>,
    keep: usize,
    received: u64,
}

impl Attempt {
    /// The first bytes written (at most the `keep` given to [`Collector::attempt`]).
    pub fn copy(&self) -> &[u8] {
        &self.copy
    }

    /// The writer, to commit what was written.
    pub fn into_writer(self) -> ArtifactWriter {
        self.writer
    }

    /// Discard this try: nothing of it is committed.
    pub async fn abandon(self) {
        let _ = blocking(move || self.writer.abandon()).await;
    }
}

/// Writes in place (see [`in_place`]): an attempt is fed by streams that cannot wait.
impl Write for Attempt {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.keep.saturating_sub(self.copy.len());
        self.copy.extend_from_slice(&buf[..buf.len().min(room)]);
        self.received += buf.len() as u64;
        in_place(|| self.writer.write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        in_place(|| self.writer.flush())
    }
}

/// Shared by the concurrent tasks of one step.
#[derive(Clone)]
pub(crate) struct Collector {
    case: Case,
    base: String,
    collected: Arc<Mutex<Collected>>,
    /// Names this run's partial artifacts apart from those of other runs.
    run: String,
}

impl Collector {
    pub fn new(case: &Case, base: impl Into<String>) -> Collector {
        Collector { case: case.clone(), base: base.into(), collected: Arc::default(), run: random_hex(4) }
    }

    pub fn path(&self, relative: &str) -> String {
        format!("{}/{relative}", self.base)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Collected) -> T) -> T {
        f(&mut self.collected.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Start an artifact at `relative` (under the step's base). `None` when there is nothing
    /// to write: an earlier run collected it, or the case refused it (recorded as a gap).
    /// Blocking: called on the blocking threads, or from a sink inside [`in_place`].
    fn start(&self, relative: &str, source: &str) -> Option<ArtifactWriter> {
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
    pub async fn stored(&self, relative: &str, limit: u64) -> Option<Vec<u8>> {
        use std::io::Read;
        let path = self.case.path().join("evidence").join(self.path(relative));
        blocking(move || {
            let file = std::fs::File::open(path).ok()?;
            let mut bytes = Vec::new();
            file.take(limit).read_to_end(&mut bytes).ok()?;
            Some(bytes)
        })
        .await
    }

    /// Store `bytes` as the artifact `relative`.
    pub async fn store(&self, relative: &str, source: &str, bytes: Vec<u8>) -> Stored {
        let (collector, relative, source) = (self.clone(), relative.to_string(), source.to_string());
        blocking(move || collector.store_blocking(&relative, &source, &bytes)).await
    }

    /// [`Collector::store`] for a sink inside [`in_place`], which cannot wait.
    pub fn store_blocking(&self, relative: &str, source: &str, bytes: &[u8]) -> Stored {
        let path = self.path(relative);
        let Some(mut writer) = self.start(relative, source) else {
            return if self.with(|c| c.already_collected.contains(&path)) {
                Stored::Kept
            } else {
                Stored::Missing
            };
        };
        match writer.write_all(bytes) {
            Ok(()) => self.finish_blocking(writer, source),
            Err(error) => {
                let _ = writer.abandon();
                self.gap_at(path, source, &format!("cannot write into the case: {error}"));
                Stored::Missing
            }
        }
    }

    /// Store a value as pretty JSON (for what kir assembled rather than fetched verbatim).
    pub async fn store_json<T: Serialize>(&self, relative: &str, source: &str, value: &T) -> Stored {
        let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
        bytes.push(b'\n');
        self.store(relative, source, bytes).await
    }

    /// Start one try at streaming `relative`, keeping a copy of its first `keep` bytes.
    /// `None` when there is nothing to write (see [`Collector::start`]).
    pub async fn attempt(
        &self,
        relative: &str,
        source: &str,
        keep: usize,
        configure: impl FnOnce(ArtifactWriter) -> ArtifactWriter + Send + 'static,
    ) -> Option<Attempt> {
        let (collector, relative, source) = (self.clone(), relative.to_string(), source.to_string());
        let writer = blocking(move || collector.start(&relative, &source)).await?;
        Some(Attempt { writer: configure(writer), copy: Vec::new(), keep, received: 0 })
    }

    /// Copy the stream `open` gives into an artifact of at most `limit` bytes (stopping at the
    /// cap). A stream that cannot be opened for a transient reason, or breaks before its end, is
    /// tried again a few times; given up, it is a transient gap, with what arrived kept aside.
    pub async fn store_stream<R, F, Fut>(&self, relative: &str, source: &str, mut open: F, limit: u64)
    where
        R: AsyncRead + Unpin,
        F: FnMut() -> Fut,
        Fut: Future<Output = kir_cluster::Result<R>>,
    {
        let mut retry = Retry::new();
        loop {
            let mut stream = match open().await {
                Ok(stream) => stream,
                Err(error) if retry.again(&error).await => continue,
                Err(error) => return self.gap_error(relative, source, &error).await,
            };
            let Some(mut attempt) =
                self.attempt(relative, source, PARTIAL_KEEP, move |w| w.limit(limit)).await
            else {
                return;
            };
            let mut buffer = vec![0u8; 64 * 1024];
            let cut = loop {
                match stream.read(&mut buffer).await {
                    Ok(0) => break None,
                    Ok(n) => {
                        if let Err(error) = attempt.write_all(&buffer[..n]) {
                            let path = attempt.writer.path().to_string();
                            attempt.abandon().await;
                            let reason = format!("cannot write into the case: {error}");
                            let collector = self.clone();
                            let source = source.to_string();
                            return blocking(move || collector.gap_at(path, &source, &reason)).await;
                        }
                        if attempt.writer.truncated() {
                            break None;
                        }
                    }
                    Err(error) => break Some(format!("the stream broke: {error}")),
                }
            };
            match cut {
                None => {
                    self.finish(attempt.writer, source).await;
                    return;
                }
                Some(why) if retry.pause().await => {
                    tracing::debug!("{relative}: {why}; trying again");
                    attempt.abandon().await;
                }
                Some(why) => return self.cut(attempt, relative, source, &why).await,
            }
        }
    }

    /// Give up an artifact whose stream stopped before its end (`why`): its path stays free for
    /// another run, the gap is transient, and what arrived is committed beside it as a partial
    /// artifact, marked truncated, so that nothing received is lost.
    pub async fn cut(&self, attempt: Attempt, relative: &str, source: &str, why: &str) {
        let (collector, relative, source, why) =
            (self.clone(), relative.to_string(), source.to_string(), why.to_string());
        blocking(move || collector.cut_blocking(attempt, &relative, &source, &why)).await
    }

    fn cut_blocking(&self, attempt: Attempt, relative: &str, source: &str, why: &str) {
        let Attempt { writer, copy, received, .. } = attempt;
        let _ = writer.abandon();
        let mut reason = format!("incomplete: {why}");
        if received > 0 {
            let partial = format!("{relative}.incomplete-{}", self.run);
            let kept = if (copy.len() as u64) < received {
                format!("the first {} of {received} bytes that arrived", copy.len())
            } else {
                format!("the {received} bytes that arrived")
            };
            if let Some(mut writer) = self.start(&partial, source) {
                writer.mark_truncated();
                let mut writer = writer.note(format!(
                    "incomplete: {why}; {kept}; the whole artifact is collected at {} by another run",
                    self.path(relative)
                ));
                match writer.write_all(&copy) {
                    Ok(()) => {
                        if self.finish_blocking(writer, source) == Stored::Committed {
                            reason.push_str(&format!("; {kept} are kept in {}", self.path(&partial)));
                        }
                    }
                    Err(error) => {
                        let _ = writer.abandon();
                        tracing::warn!("cannot keep the partial {partial}: {error}");
                    }
                }
            }
        }
        self.record_gap_blocking(&self.path(relative), relative, source, &reason, true, None);
    }

    /// Commit what `writer` holds.
    pub async fn finish(&self, writer: ArtifactWriter, source: &str) -> Stored {
        let (collector, source) = (self.clone(), source.to_string());
        blocking(move || collector.finish_blocking(writer, &source)).await
    }

    fn finish_blocking(&self, writer: ArtifactWriter, source: &str) -> Stored {
        let path = writer.path().to_string();
        match writer.finish() {
            Ok(record) => {
                self.with(|c| c.artifacts.push(record));
                Stored::Committed
            }
            // Another writer committed the same path first: it is in the case.
            Err(kir_evidence::Error::AlreadyCollected { .. }) => {
                self.with(|c| c.already_collected.push(path));
                Stored::Kept
            }
            // Journaled (committed) but not yet moved into place: opening the case finishes it.
            Err(error @ kir_evidence::Error::Promote { .. }) => {
                tracing::warn!(
                    "{path} is committed but still staged ({error}); opening the case moves it into place"
                );
                self.with(|c| c.already_collected.push(path));
                Stored::Kept
            }
            Err(error) => {
                self.gap_at(path, source, &format!("cannot commit into the case: {error}"));
                Stored::Missing
            }
        }
    }

    /// Record that `relative` was wanted but could not be collected.
    pub async fn gap(&self, relative: &str, source: &str, reason: &str) {
        self.record_gap(&self.path(relative), relative, source, reason, false, None).await;
    }

    /// Record that `relative` could not be fetched, classified by the error. Only a 404 is a
    /// fact (the object does not exist); any other failure leaves the evidence incomplete
    /// until another run collects it: a missing permission, and every error kir cannot tell
    /// apart from a passing one (an API server starting up answers oddly for a moment).
    pub async fn gap_error(&self, relative: &str, source: &str, error: &kir_cluster::Error) {
        let permission = error.missing_permission();
        let reason = match &permission {
            Some(permission) => format!("forbidden: {permission} ({error})"),
            None => error.to_string(),
        };
        let transient = permission.is_none() && error.status_code() != Some(404);
        self.record_gap(&self.path(relative), relative, source, &reason, transient, permission).await;
    }

    fn gap_at(&self, path: String, source: &str, reason: &str) {
        let item = path.strip_prefix(&format!("{}/", self.base)).unwrap_or(&path).to_string();
        self.record_gap_blocking(&path, &item, source, reason, false, None);
    }

    async fn record_gap(
        &self,
        path: &str,
        item: &str,
        source: &str,
        reason: &str,
        transient: bool,
        missing_permission: Option<String>,
    ) {
        let collector = self.clone();
        let texts = [path, item, source, reason].map(String::from);
        blocking(move || {
            let [path, item, source, reason] = texts;
            collector.record_gap_blocking(&path, &item, &source, &reason, transient, missing_permission);
        })
        .await
    }

    fn record_gap_blocking(
        &self,
        path: &str,
        item: &str,
        source: &str,
        reason: &str,
        transient: bool,
        missing_permission: Option<String>,
    ) {
        if let Err(error) = self.case.not_collected(path, source, reason) {
            tracing::warn!("cannot record that {path} was not collected: {error}");
        }
        let gap = Gap {
            path: path.to_string(),
            reason: reason.to_string(),
            transient,
            missing_permission,
            item: item.to_string(),
        };
        self.with(|c| c.not_collected.push(gap));
    }

    pub fn into_collected(self) -> Collected {
        let mut collected = self.with(std::mem::take);
        collected.artifacts.sort_by(|a, b| a.path.cmp(&b.path));
        collected.not_collected.sort_by(|a, b| a.path.cmp(&b.path));
        collected
    }
}

/// `bytes` random bytes in hex: unpredictable names and markers.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut random = vec![0u8; bytes];
    if getrandom::fill(&mut random).is_err() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let seed = (now.as_nanos() as u64 ^ u64::from(std::process::id())).to_le_bytes();
        for (i, byte) in random.iter_mut().enumerate() {
            *byte = seed[i % seed.len()].wrapping_add(i as u8);
        }
    }
    random.iter().map(|b| format!("{b:02x}")).collect()
}
