//! `kir respond malicious-image`: the playbook in one case. Where the image runs and would run
//! again (the search, kept), the evidence (the affected pods captured, the templates that start
//! them kept as read), then the block (proved), then the purge (confirmed by searching again).
//! Each step is idempotent, so running the playbook again with the same case resumes it.

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use kir_cluster::Cluster;
use kir_evidence::{Case, JournalRecord};
use kir_image::Pattern;
use serde::Serialize;
use serde_json::json;

use crate::{
    Error, Result,
    block::{self, BlockReport},
    blocking::{record, store_once},
    capture::{CaptureOptions, capture_pod},
    image::FindReport,
    observe::observe_pod,
    purge::{self, PurgeReport, Remedy},
};

/// Pods captured at once: each capture makes a handful of requests of its own.
const CAPTURES_AT_ONCE: usize = 4;

#[derive(Debug, Clone)]
pub struct PlaybookOptions {
    pub remedy: Remedy,
    pub engine: block::Engine,
    /// Affected pods captured at most (the others are named in the case, not captured).
    pub capture_limit: usize,
    /// Where the block is proved.
    pub proof_namespace: String,
    /// How long the purge waits until no running pod uses the image.
    pub wait: Duration,
}

/// How the evidence step went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceReport {
    /// `ns/name` of the pods captured (complete or not: the case says what is missing).
    pub captured: Vec<String>,
    /// Affected pods beyond the capture limit, or whose capture failed: `ns/name: why`.
    pub not_captured: Vec<String>,
    /// Controller templates kept as read: `Kind ns/name`.
    pub templates: Vec<String>,
}

/// Milliseconds each step took.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    pub evidence_ms: u128,
    pub block_ms: u128,
    pub purge_ms: u128,
    pub total_ms: u128,
}

/// What the playbook did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaybookReport {
    pub pattern: String,
    pub evidence: EvidenceReport,
    pub block: BlockReport,
    /// `None`: the purge was not made (pods only, and the block is not proved: deleting them
    /// would only have their controllers start them again).
    pub purge: Option<PurgeReport>,
    /// Blocked, and no running pod uses the image.
    pub contained: bool,
    pub timings: Timings,
}

/// Evidence, block, purge, in that order, into `case`.
pub async fn run(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    pattern: &Pattern,
    namespace: Option<&str>,
    found: &FindReport,
    options: &PlaybookOptions,
) -> Result<PlaybookReport> {
    let started = Instant::now();
    let evidence = evidence(cluster, case, actor, found, options.capture_limit).await?;
    let evidence_ms = started.elapsed().as_millis();

    let blocking_started = Instant::now();
    let block_plan = block::plan(pattern, options.engine, case.id(), &options.proof_namespace);
    let block = block::apply(cluster, case, actor, &block_plan).await?;
    let block_ms = blocking_started.elapsed().as_millis();

    let purge_started = Instant::now();
    let purge = if options.remedy == Remedy::DeletePods && !block.blocked {
        None
    } else {
        // Searched again: the evidence step took time, and the block changed what may start.
        let found = crate::image::find(cluster, pattern, namespace).await?;
        let plan = purge::plan(&found, pattern, &options.remedy, block.blocked);
        Some(purge::apply(cluster, case, actor, pattern, namespace, &plan, options.wait).await?)
    };
    let purge_ms = purge_started.elapsed().as_millis();
    let contained = block.blocked && purge.as_ref().is_some_and(|p| p.purged);
    let timings = Timings { evidence_ms, block_ms, purge_ms, total_ms: started.elapsed().as_millis() };
    record(
        case,
        JournalRecord::new(actor, "respond.malicious-image")
            .target(format!("image/{}", found.pattern))
            .result(json!({"contained": contained, "blocked": block.blocked, "timings": timings})),
    )
    .await?;
    Ok(PlaybookReport { pattern: found.pattern.clone(), evidence, block, purge, contained, timings })
}

/// The search kept as it was, the affected running pods captured (up to `limit`), the
/// templates that start the image kept as read.
async fn evidence(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    found: &FindReport,
    limit: usize,
) -> Result<EvidenceReport> {
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
    let search = serde_json::to_vec_pretty(found).map_err(|e| Error::Invalid(format!("the search: {e}")))?;
    store_once(
        case,
        &format!("image/find-{stamp}.json"),
        "kir image find (pods and controller templates)",
        search,
    )
    .await?;

    let mut templates = Vec::new();
    for template in &found.templates {
        let kind = template.kind;
        let path = format!(
            "image/templates/{}/{}/{}-{}.json",
            template.namespace,
            kind.plural(),
            template.name,
            template.uid
        );
        let source = format!("GET {} {}/{}", kind.name(), template.namespace, template.name);
        match cluster
            .get_object(kind.api_version(), kind.name(), Some(&template.namespace), &template.name)
            .await
        {
            Ok(fetched) => {
                let object = kir_cluster::pods::redact_metadata(fetched.value);
                let bytes = serde_json::to_vec_pretty(&object).unwrap_or_default();
                store_once(case, &path, &source, bytes).await?;
                templates.push(format!("{} {}/{}", kind.name(), template.namespace, template.name));
            }
            // Gone since the search: nothing left to keep.
            Err(kir_cluster::Error::NotFound { .. }) => {}
            Err(error) => return Err(Error::Cluster(error)),
        }
    }

    let running: Vec<_> = found.running_pods().filter(|p| !p.mirror).collect();
    let mut not_captured: Vec<String> = running
        .iter()
        .skip(limit)
        .map(|p| format!("{}/{}: beyond --capture-limit {limit}", p.namespace, p.name))
        .collect();
    let outcomes: Vec<(String, Option<String>)> = stream::iter(running.iter().take(limit))
        .map(|pod| async move {
            let name = format!("{}/{}", pod.namespace, pod.name);
            let captured = async {
                let observed = observe_pod(cluster, &pod.namespace, &pod.name).await?;
                if observed.state.uid != pod.uid {
                    return Err(Error::Invalid("recreated since the search (another UID)".into()));
                }
                capture_pod(cluster, case, actor, &observed, CaptureOptions::default()).await
            }
            .await;
            (name, captured.err().map(|e| e.to_string()))
        })
        .buffer_unordered(CAPTURES_AT_ONCE)
        .collect()
        .await;
    let mut captured = Vec::new();
    for (name, failure) in outcomes {
        match failure {
            None => captured.push(name),
            Some(why) => not_captured.push(format!("{name}: {why}")),
        }
    }
    captured.sort();
    record(
        case,
        JournalRecord::new(actor, "respond.malicious-image.evidence")
            .target(format!("image/{}", found.pattern))
            .result(json!({"captured": captured, "notCaptured": not_captured, "templates": templates})),
    )
    .await?;
    Ok(EvidenceReport { captured, not_captured, templates })
}
