//! `kir snapshot pod` (C4): processes, sockets and `/etc` from inside a running container,
//! without writing into it. The commands are the container's own (`sh`, `cat`, `readlink`,
//! `tar`): their output is hostile, so it is capped, stored as opaque blobs and only parsed by
//! kir's own never-panicking parsers. Nothing is ever extracted or run on this machine.

use std::{io::Write, time::Duration};

use k8s_openapi::api::core::v1::Pod;
use kir_cluster::{
    Cluster, Retry,
    exec::{ExecLimits, ExecOutcome},
};
use kir_evidence::{Case, JournalRecord};
use serde::Serialize;
use serde_json::json;

use crate::{
    Error, Result,
    blocking::{self, in_place},
    capture::{missing_record, pod_base},
    collect::{Attempt, Collected, Collector, PARTIAL_KEEP, Stored, random_hex},
    findings::{Finding, analyse},
    observe::ObservedPod,
    procfs,
};

pub mod framing;

use framing::{FrameCheck, FrameEnd, TarEnd, TarFraming};

#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    /// The container; default: the pod's `kubectl.kubernetes.io/default-container`, else the first.
    pub container: Option<String>,
    /// Bytes of output kept from each command.
    pub max_bytes: u64,
    /// Time each command may take.
    pub timeout: Duration,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions { container: None, max_bytes: 64 << 20, timeout: Duration::from_secs(60) }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotReport {
    pub container: String,
    #[serde(flatten)]
    pub collected: Collected,
    pub processes: usize,
    pub sockets: usize,
    pub findings: Vec<Finding>,
}

impl SnapshotReport {
    /// Whether the process listing could be run in the container at all: a container without
    /// a shell gives a gap that no later run closes.
    pub fn exec_ran(&self) -> bool {
        self.collected.artifacts.iter().any(|a| a.path.ends_with("/proc.raw"))
            || self.collected.already_collected.iter().any(|p| p.ends_with("/proc.raw"))
            || self.collected.not_collected.iter().any(|g| g.item == "proc.raw" && g.blocks())
    }
}

const FROM_CONTAINER: &str =
    "collected by the container's own binaries; hostile input: stored as is, never executed";

/// Choose the container to snapshot, or say which exist.
pub fn choose_container(pod: &Pod, wanted: Option<&str>) -> Result<String> {
    let names: Vec<String> =
        pod.spec.iter().flat_map(|s| s.containers.iter().map(|c| c.name.clone())).collect();
    let default = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubectl.kubernetes.io/default-container"))
        .filter(|d| names.contains(d))
        .cloned();
    match wanted {
        Some(wanted) if names.iter().any(|n| n == wanted) => Ok(wanted.to_string()),
        Some(wanted) => Err(Error::NoSuchContainer {
            pod: format!(
                "{}/{}",
                pod.metadata.namespace.clone().unwrap_or_default(),
                pod.metadata.name.clone().unwrap_or_default()
            ),
            container: wanted.to_string(),
            available: names.join(", "),
        }),
        None => default
            .or_else(|| names.first().cloned())
            .ok_or_else(|| Error::Invalid("the pod has no containers".into())),
    }
}

pub async fn snapshot_pod(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    observed: &ObservedPod,
    options: &SnapshotOptions,
) -> Result<SnapshotReport> {
    snapshot_pod_signalling(cluster, case, actor, observed, options, None).await
}

/// [`snapshot_pod`], telling `volatile_done` as soon as the sockets (and the processes read with
/// them) are in the case: network isolation may cut those connections, so containment waits for
/// them. `/etc` survives isolation and is collected beside it.
pub async fn snapshot_pod_signalling(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    observed: &ObservedPod,
    options: &SnapshotOptions,
    volatile_done: Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<SnapshotReport> {
    let container = choose_container(&observed.pod, options.container.as_deref())?;
    let state = &observed.state;
    let collector = Collector::new(
        case,
        format!("{}/snapshot/{container}", pod_base(&state.namespace, &state.name, &state.uid)),
    );
    let run = &Runner {
        cluster,
        collector: &collector,
        namespace: &state.namespace,
        pod: &state.name,
        container: &container,
        options,
    };

    let nonce = random_hex(12);
    let proc_argv = vec!["sh".to_string(), "-c".to_string(), procfs::process_script(&nonce)];
    // One session reads sockets and processes: each exec costs the API server and the node a
    // connection and a process. The sockets come first in it, and are committed (and
    // containment told) as soon as their section is complete.
    let listing = async {
        let mut sockets = SocketSection::new(&nonce, &collector, volatile_done);
        let raw = run.listing(proc_argv, &nonce, &mut sockets).await;
        sockets.finish();
        raw
    };
    let (raw, ()) = tokio::join!(listing, run.etc_archive());

    // Only a listing in the case (whole, or cut at the size limit) is analysed into artifacts:
    // what is derived from a cut one would be kept by the run that collects it whole. A
    // listing kept from an earlier run was framed with that run's marker.
    let listing = match raw {
        Some(bytes) => {
            let framing = procfs::listing_nonce(&bytes).unwrap_or_else(|| nonce.clone());
            // Stored after the session, so that writing it does not delay the sockets.
            collector
                .store(
                    "proc.sh",
                    "the script kir ran with sh -c to produce proc.raw",
                    procfs::process_script(&framing).into_bytes(),
                )
                .await;
            Some(procfs::parse_process_listing(&framing, &bytes))
        }
        None => None,
    };
    let processes = listing.as_ref().map(|l| l.processes.clone()).unwrap_or_default();
    let sockets = listing.as_ref().and_then(|l| l.sockets.clone()).unwrap_or_default();
    let findings = analyse(&processes, &sockets);
    if let Some(listing) = &listing {
        collector
            .store_json(
                "processes.json",
                "parsed by kir from proc.raw",
                &json!({"complete": listing.complete, "processes": listing.processes}),
            )
            .await;
        if listing.sockets.is_some() {
            collector.store_json("connections.json", "parsed by kir from proc.raw", &sockets).await;
        }
        collector
            .store_json("findings.json", "kir's analysis of processes.json and connections.json", &findings)
            .await;
    }
    let collected = collector.into_collected();
    let report =
        SnapshotReport { container, processes: processes.len(), sockets: sockets.len(), findings, collected };
    blocking::record(
        case,
        JournalRecord::new(actor, "snapshot.pod")
            .target(format!("pod/{}/{}", state.namespace, state.name))
            .parameters(json!({"uid": state.uid, "container": report.container, "maxBytes": options.max_bytes, "timeoutSeconds": options.timeout.as_secs()}))
            .result(json!({
                "processes": report.processes,
                "sockets": report.sockets,
                "findings": report.findings.iter().map(|f| json!({"id": f.id, "severity": f.severity, "title": f.title})).collect::<Vec<_>>(),
                "notCollected": report.collected.not_collected.len(),
                "missing": missing_record(&report.collected),
                // What a resumed playbook decides its node step by.
                "execRan": report.exec_ran(),
            })),
    )
    .await?;
    Ok(report)
}

/// Parsing needs the output in memory too; at most this much of it.
const PARSE_LIMIT: usize = 16 << 20;

/// Runs commands in one container, each output streamed into the case as an artifact.
pub(crate) struct Runner<'a> {
    pub(crate) cluster: &'a Cluster,
    pub(crate) collector: &'a Collector,
    pub(crate) namespace: &'a str,
    pub(crate) pod: &'a str,
    pub(crate) container: &'a str,
    pub(crate) options: &'a SnapshotOptions,
}

/// Whether a command's output is whole, by its own framing.
enum Framing {
    Whole,
    /// It stops before its end: the stream was cut.
    Cut(String),
    /// It is not what the command prints: the container sent something else.
    Malformed(String),
}

impl Runner<'_> {
    fn limits(&self) -> ExecLimits {
        ExecLimits {
            max_stdout: self.options.max_bytes,
            max_stderr: 64 * 1024,
            timeout: self.options.timeout,
        }
    }

    fn source(&self, argv: &[String]) -> String {
        let shown = if argv.first().is_some_and(|a| a == "sh") {
            "sh -c \"$(cat proc.sh)\"".to_string()
        } else {
            argv.join(" ")
        };
        format!("exec in {}/{} container {}: {shown}", self.namespace, self.pod, self.container)
    }

    /// Run the process script and store its output as `proc.raw`; a copy for parsing, or
    /// `None` when it is not in the case (the gap is recorded with the reason). `sockets`
    /// sees the output as it arrives.
    async fn listing(
        &self,
        argv: Vec<String>,
        nonce: &str,
        sockets: &mut SocketSection<'_>,
    ) -> Option<Vec<u8>> {
        const RELATIVE: &str = "proc.raw";
        let source = self.source(&argv);
        let end = format!("\n--kir-{nonce} end\n").into_bytes();
        let mut retry = Tries::default();
        loop {
            let max_bytes = self.options.max_bytes;
            let Some(attempt) = self
                .collector
                .attempt(RELATIVE, &source, PARSE_LIMIT, move |w| w.limit(max_bytes).note(FROM_CONTAINER))
                .await
            else {
                // Collected by an earlier, interrupted run: analyse what it collected.
                return self.collector.stored(RELATIVE, PARSE_LIMIT as u64).await;
            };
            sockets.restart();
            let mut tee = Tee { attempt, watch: &mut *sockets, tail: Vec::new() };
            let outcome = self
                .cluster
                .exec_into(self.namespace, self.pod, self.container, &argv, &mut tee, self.limits())
                .await;
            let Tee { attempt, tail, .. } = tee;
            let framing = if tail.ends_with(&end) {
                Framing::Whole
            } else {
                Framing::Cut("the listing has no end marker".to_string())
            };
            let copy = attempt.copy().to_vec();
            match self.settle(attempt, RELATIVE, &source, FROM_CONTAINER, outcome, framing, &mut retry).await
            {
                None => continue,
                Some(kept) => return kept.then_some(copy),
            }
        }
    }

    /// `/etc` as the container's `tar` streams it (uncompressed, so nothing is unpacked inside),
    /// compressed here.
    async fn etc_archive(&self) {
        let argv: Vec<String> = ["tar", "cf", "-", "-C", "/", "etc"].map(String::from).to_vec();
        let note = format!(
            "{FROM_CONTAINER}; an uncompressed tar of /etc compressed by kir (zstd); never extracted"
        );
        self.tar_archive("etc.tar.zst", argv, &note).await;
    }

    /// The tar stream `argv` prints, compressed here with zstd while it is hashed, its framing
    /// followed as it goes by; stored at `relative`.
    pub(crate) async fn tar_archive(&self, relative: &str, argv: Vec<String>, note: &str) {
        self.archive(relative, argv, note, Arrives::Tar).await;
    }

    /// The zstd frame of a tar stream that `argv` compresses where it reads it (`kir node read
    /// --zstd`): stored as it arrives, hashed, and decoded on the way only to check its
    /// checksum and follow the tar framing inside.
    pub(crate) async fn zstd_tar_archive(&self, relative: &str, argv: Vec<String>, note: &str) {
        self.archive(relative, argv, note, Arrives::ZstdTar).await;
    }

    async fn archive(&self, relative: &str, argv: Vec<String>, note: &str, arrives: Arrives) {
        let source = self.source(&argv);
        let mut retry = Tries::default();
        loop {
            let max_bytes = self.options.max_bytes;
            let Some(attempt) =
                self.collector.attempt(relative, &source, PARTIAL_KEEP, move |w| w.limit(max_bytes)).await
            else {
                return;
            };
            let (attempt, outcome, framing) = match arrives {
                Arrives::Tar => {
                    let encoder = match zstd::Encoder::new(attempt, 1) {
                        Ok(encoder) => encoder,
                        Err(error) => {
                            return self.collector.gap(relative, &source, &format!("zstd: {error}")).await;
                        }
                    };
                    let mut sink = Framed { framing: TarFraming::new(), encoder };
                    let outcome = self
                        .cluster
                        .exec_into(self.namespace, self.pod, self.container, &argv, &mut sink, self.limits())
                        .await;
                    let framing = tar_framing(sink.framing.end());
                    // Ending the zstd frame makes what arrived readable, whole or not.
                    match in_place(|| sink.encoder.finish()) {
                        Ok(attempt) => (attempt, outcome, framing),
                        Err(error) => {
                            return self.collector.gap(relative, &source, &format!("zstd: {error}")).await;
                        }
                    }
                }
                Arrives::ZstdTar => {
                    let mut sink = FrameChecked::new(attempt, max_bytes);
                    let mut outcome = self
                        .cluster
                        .exec_into(self.namespace, self.pod, self.container, &argv, &mut sink, self.limits())
                        .await;
                    let (attempt, end) = sink.end();
                    let framing = match end {
                        FrameEnd::Whole(tar) => tar_framing(tar),
                        FrameEnd::Cut(why) => Framing::Cut(why),
                        FrameEnd::Malformed(why) => Framing::Malformed(why),
                        // The command stopped at the size bound, as the plain stream would.
                        FrameEnd::AtBound => {
                            if let Ok(outcome) = &mut outcome {
                                outcome.truncated = true;
                            }
                            Framing::Whole
                        }
                    };
                    (attempt, outcome, framing)
                }
            };
            if self.settle(attempt, relative, &source, note, outcome, framing, &mut retry).await.is_some() {
                return;
            }
        }
    }

    /// What `argv` prints, stored as it arrives at `relative`; whole when the command says so
    /// (exit 0). A copy for parsing (at most [`PARSE_LIMIT`]), when it is in the case.
    pub(crate) async fn output(&self, relative: &str, argv: Vec<String>, note: &str) -> Option<Vec<u8>> {
        let source = self.source(&argv);
        let mut retry = Tries::default();
        loop {
            let max_bytes = self.options.max_bytes;
            let Some(mut attempt) =
                self.collector.attempt(relative, &source, PARSE_LIMIT, move |w| w.limit(max_bytes)).await
            else {
                return self.collector.stored(relative, PARSE_LIMIT as u64).await;
            };
            let outcome = self
                .cluster
                .exec_into(self.namespace, self.pod, self.container, &argv, &mut attempt, self.limits())
                .await;
            let copy = attempt.copy().to_vec();
            match self.settle(attempt, relative, &source, note, outcome, Framing::Whole, &mut retry).await {
                None => continue,
                Some(kept) => return kept.then_some(copy),
            }
        }
    }

    /// Decide on one try of a command: keep its output at `relative` when it is whole (or cut
    /// only by the size limit), noting how the command ended; give it up as a transient gap
    /// (with what arrived kept aside) when it was cut; record the gap when the command could
    /// not run. `None`: try again (after the backoff). `Some(kept)`: settled.
    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        attempt: Attempt,
        relative: &str,
        source: &str,
        note: &str,
        outcome: kir_cluster::Result<ExecOutcome>,
        framing: Framing,
        retry: &mut Tries,
    ) -> Option<bool> {
        let outcome = match outcome {
            Err(error) if error.is_transient() => {
                if retry.backoff.again(&error).await {
                    attempt.abandon().await;
                    return None;
                }
                self.collector.cut(attempt, relative, source, &error.to_string()).await;
                return Some(false);
            }
            Err(error) => {
                attempt.abandon().await;
                if error.missing_permission().is_none() && retry.confirm().await {
                    return None;
                }
                if error.missing_permission().is_some() {
                    self.collector.gap_error(relative, source, &error).await;
                } else {
                    let reason = format!("the command could not run in the container: {error}");
                    self.collector.gap(relative, source, &reason).await;
                }
                return Some(false);
            }
            Ok(outcome) => outcome,
        };
        if outcome.stdout_bytes == 0 && !outcome.succeeded() {
            attempt.abandon().await;
            if retry.confirm().await {
                return None;
            }
            self.collector.gap(relative, source, &describe_failure(&outcome)).await;
            return Some(false);
        }
        if outcome.timed_out && !outcome.truncated {
            self.collector.cut(attempt, relative, source, &describe_failure(&outcome)).await;
            return Some(false);
        }
        let mut remarks = Vec::new();
        match framing {
            // At the size limit the output is as whole as it is allowed to be.
            _ if outcome.truncated => {}
            Framing::Whole => {}
            Framing::Malformed(why) => remarks.push(why),
            Framing::Cut(why) => {
                if retry.backoff.pause().await {
                    attempt.abandon().await;
                    return None;
                }
                self.collector.cut(attempt, relative, source, &why).await;
                return Some(false);
            }
        }
        if !outcome.succeeded() {
            remarks.insert(0, describe_failure(&outcome));
        }
        let mut writer = attempt.into_writer();
        if outcome.truncated {
            writer.mark_truncated();
        }
        let writer = if remarks.is_empty() {
            writer.note(note)
        } else {
            writer.note(format!("{note}; {}", remarks.join("; ")))
        };
        Some(self.collector.finish(writer, source).await != Stored::Missing)
    }
}

/// The tries of one command. Transient failures are tried again after a backoff. A failure
/// that would be recorded as a fact about the container (it lacks the command, the runtime
/// refused it) is first seen twice: an API server going away can end a session the same way,
/// and a fact is not collected again by a later run.
#[derive(Default)]
struct Tries {
    backoff: Retry,
    confirmed: bool,
}

impl Tries {
    /// Whether to try once more before taking a failure as a fact; waits the backoff first.
    async fn confirm(&mut self) -> bool {
        if self.confirmed {
            return false;
        }
        self.confirmed = true;
        self.backoff.pause().await
    }
}

fn describe_failure(outcome: &ExecOutcome) -> String {
    let mut parts = Vec::new();
    if outcome.timed_out {
        parts.push("stopped at the time limit".to_string());
    }
    if outcome.truncated {
        parts.push("output cut at the size limit".to_string());
    }
    match outcome.exit_code {
        Some(0) | None => {}
        Some(code) => parts.push(format!("exit code {code}")),
    }
    if !outcome.message.is_empty() {
        parts.push(outcome.message.chars().take(500).collect());
    }
    if parts.is_empty() { "the command failed".to_string() } else { parts.join("; ") }
}

/// How an archive comes out of its command.
#[derive(Debug, Clone, Copy)]
enum Arrives {
    Tar,
    ZstdTar,
}

fn tar_framing(end: TarEnd) -> Framing {
    match end {
        TarEnd::Complete { .. } => Framing::Whole,
        TarEnd::Cut(why) => Framing::Cut(format!("the tar stream ends early: {why}")),
        TarEnd::Malformed(why) => Framing::Malformed(format!("not a well-formed tar: {why}")),
    }
}

/// Follows the framing of the tar stream on its way into the compressed artifact.
struct Framed {
    framing: TarFraming,
    encoder: zstd::Encoder<'static, Attempt>,
}

/// Keeps a zstd frame as it arrives and decodes it on the way, only to follow the tar framing
/// inside and to check the frame's end and checksum.
struct FrameChecked {
    attempt: Attempt,
    frame: FrameCheck,
}

impl FrameChecked {
    fn new(attempt: Attempt, max_decoded: u64) -> FrameChecked {
        FrameChecked { attempt, frame: FrameCheck::new(max_decoded) }
    }

    fn end(self) -> (Attempt, FrameEnd) {
        (self.attempt, self.frame.end())
    }
}

impl Write for FrameChecked {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        in_place(|| {
            self.attempt.write_all(buf)?;
            self.frame.feed(buf);
            Ok::<_, std::io::Error>(())
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        in_place(|| self.attempt.flush())
    }
}

/// Compresses and writes in place (see [`in_place`]): the exec stream's sink cannot wait.
impl Write for Framed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.framing.feed(buf);
        in_place(|| self.encoder.write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        in_place(|| self.encoder.flush())
    }
}

/// Writes into the artifact (which keeps a bounded copy for the parsers), shows the output to
/// the socket watch, and keeps its last bytes, where the end marker is.
struct Tee<'w, 'c> {
    attempt: Attempt,
    watch: &'w mut SocketSection<'c>,
    tail: Vec<u8>,
}

/// Enough of the end of the output to hold the end marker.
const TAIL: usize = 64;

impl Write for Tee<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.attempt.write_all(buf)?;
        self.watch.observe(self.attempt.copy());
        self.tail.extend_from_slice(&buf[buf.len().saturating_sub(TAIL)..]);
        let excess = self.tail.len().saturating_sub(TAIL);
        self.tail.drain(..excess);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.attempt.flush()
    }
}

/// Watches the output of the process script for the end of its socket section: the sockets
/// are what isolation changes, so they are committed as an artifact of their own (`net/
/// sockets.raw`, the section's bytes as received) and containment is told at once, while the
/// processes are still being read. Without a complete section, containment is told when the
/// session ends.
struct SocketSection<'c> {
    opening: Vec<u8>,
    closing: Vec<u8>,
    scanned: usize,
    found: bool,
    collector: &'c Collector,
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl<'c> SocketSection<'c> {
    fn new(nonce: &str, collector: &'c Collector, done: Option<tokio::sync::oneshot::Sender<()>>) -> Self {
        SocketSection {
            opening: format!("--kir-{nonce} sockets\n").into_bytes(),
            closing: format!("\n--kir-{nonce} status\n").into_bytes(),
            scanned: 0,
            found: false,
            collector,
            done,
        }
    }

    /// A new session starts: its output is scanned from the start.
    fn restart(&mut self) {
        self.scanned = 0;
    }

    /// `output`: everything received so far (bounded).
    fn observe(&mut self, output: &[u8]) {
        if self.found {
            return;
        }
        let from = self.scanned.saturating_sub(self.closing.len());
        self.scanned = output.len();
        let Some(at) = memchr::memmem::find(&output[from..], &self.closing) else { return };
        self.found = true;
        let end = from + at;
        let start =
            memchr::memmem::find(&output[..end], &self.opening).map_or(end, |at| at + self.opening.len());
        in_place(|| {
            self.collector.store_blocking(
                "net/sockets.raw",
                "the socket section of proc.raw, committed as soon as it was complete",
                &output[start..end],
            )
        });
        self.finish();
    }

    /// Tell containment now, if it was not told yet.
    fn finish(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn pod(default: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                annotations: default
                    .map(|d| [("kubectl.kubernetes.io/default-container".to_string(), d.to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![
                    Container { name: "app".into(), ..Default::default() },
                    Container { name: "proxy".into(), ..Default::default() },
                ],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn container_choice_follows_kubectl() {
        assert_eq!(choose_container(&pod(None), None).unwrap(), "app");
        assert_eq!(choose_container(&pod(Some("proxy")), None).unwrap(), "proxy");
        assert_eq!(choose_container(&pod(Some("gone")), None).unwrap(), "app");
        assert_eq!(choose_container(&pod(None), Some("proxy")).unwrap(), "proxy");
        let error = choose_container(&pod(None), Some("db")).unwrap_err().to_string();
        assert!(error.contains("\"db\"") && error.contains("app, proxy"), "{error}");
    }

    #[test]
    fn the_socket_section_is_committed_and_told_as_soon_as_it_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let case = Case::create(dir.path().join("case"), kir_evidence::CaseInfo::new("t")).unwrap();
        let collector = Collector::new(&case, "pods/ns/p/uid/snapshot/app");
        let (done, mut told) = tokio::sync::oneshot::channel();
        let mut section = SocketSection::new("ab12", &collector, Some(done));
        let output = b"--kir-ab12 self 9\n--kir-ab12 sockets\n  sl local\n 0: 0100007F:1F90\n--kir-ab12 status\nName:\tsh\n";
        // The closing marker arrives split over two reads.
        let split = output.len() - 14;
        section.observe(&output[..split]);
        assert!(told.try_recv().is_err(), "not before the section is complete");
        section.observe(output);
        assert!(told.try_recv().is_ok(), "told once the section is complete");
        let stored =
            std::fs::read(case.path().join("evidence/pods/ns/p/uid/snapshot/app/net/sockets.raw")).unwrap();
        assert_eq!(stored, b"  sl local\n 0: 0100007F:1F90");
        section.observe(b"--kir-ab12 sockets\nforged\n--kir-ab12 status\n");
        assert_eq!(collector.into_collected().artifacts.len(), 1, "committed once");
    }

    #[test]
    fn without_a_socket_section_containment_is_told_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let case = Case::create(dir.path().join("case"), kir_evidence::CaseInfo::new("t")).unwrap();
        let collector = Collector::new(&case, "snapshot");
        let (done, mut told) = tokio::sync::oneshot::channel();
        let mut section = SocketSection::new("ab12", &collector, Some(done));
        section.observe(b"sh: cat: not found\n");
        assert!(told.try_recv().is_err());
        section.finish();
        assert!(told.try_recv().is_ok());
        assert!(collector.into_collected().artifacts.is_empty());
    }

    #[test]
    fn failures_are_described_for_the_record() {
        let outcome = ExecOutcome {
            stdout_bytes: 0,
            truncated: false,
            timed_out: true,
            exit_code: Some(126),
            message: "exec: \"tar\": executable file not found in $PATH".into(),
        };
        let text = describe_failure(&outcome);
        assert!(text.contains("time limit") && text.contains("126") && text.contains("not found"), "{text}");
    }
}
