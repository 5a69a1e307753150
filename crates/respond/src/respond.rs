//! `kir respond compromised-pod`: the playbook in one run. Evidence first — the pod object at
//! once, then logs, owners, events and a snapshot — while containment waits at most a short
//! budget for them; then isolation (with orphan-and-replace); then, on request, deletion of
//! the suspect once its evidence is complete. Every step is journaled, so a run interrupted at
//! any point resumes with the same case without repeating or losing an action.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use kir_cluster::Cluster;
use kir_evidence::{Case, JournalEntry, JournalRecord};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    Error, Result, blocking,
    capture::{CaptureOptions, capture_pod_signalling, pod_base},
    collect::Collected,
    contain::{self, IsolationReport},
    isolate::{self, Change, IsolateOptions, IsolationPlan, Surroundings},
    node::{NodeSnapshotOptions, NodeSnapshotReport, snapshot_from_node},
    observe::{ObservedPod, observe_with_surroundings},
    replace::{ReplaceReport, assess, replace_pod},
    snapshot::{SnapshotOptions, SnapshotReport, choose_container, snapshot_pod_signalling},
};

#[derive(Debug, Clone)]
pub struct RespondOptions {
    pub capture: CaptureOptions,
    pub snapshot: SnapshotOptions,
    pub isolate: IsolateOptions,
    /// Delete the suspect at the end, once its evidence is complete in the case.
    pub replace: bool,
    /// With `replace`: delete the suspect even when some of its evidence could not be
    /// collected (journaled with what is missing).
    pub accept_incomplete_evidence: bool,
    /// How long containment waits for the evidence steps before it goes ahead anyway.
    pub evidence_budget: Duration,
    pub replacement_timeout: Duration,
    pub grace_seconds: Option<u32>,
    /// Collect from the suspect's node too, when exec cannot run in the container or memory or
    /// a checkpoint is asked for.
    pub node: Option<NodeSnapshotOptions>,
}

impl Default for RespondOptions {
    fn default() -> Self {
        RespondOptions {
            capture: CaptureOptions::default(),
            snapshot: SnapshotOptions::default(),
            isolate: IsolateOptions::default(),
            replace: false,
            accept_incomplete_evidence: false,
            evidence_budget: Duration::from_secs(5),
            replacement_timeout: Duration::from_secs(60),
            grace_seconds: None,
            node: None,
        }
    }
}

/// The steps, in the order they are journaled.
pub const STEPS: [&str; 4] = ["capture", "snapshot", "isolate", "replace"];

/// One line of the plan: a step and what it will do.
#[derive(Debug, Clone, Serialize)]
pub struct PlanLine {
    pub step: &'static str,
    pub action: String,
}

/// Everything decided before acting.
pub struct Playbook {
    pub observed: ObservedPod,
    /// What the plan was made from; capture stores it as read.
    pub around: Surroundings,
    pub isolation: IsolationPlan,
    pub container: String,
    pub options: RespondOptions,
}

impl Playbook {
    /// Read the pod and what surrounds it, and decide.
    pub async fn prepare(
        cluster: &Cluster,
        namespace: &str,
        name: &str,
        options: RespondOptions,
    ) -> Result<Playbook> {
        let (observed, around) = observe_with_surroundings(cluster, namespace, name).await?;
        let container = choose_container(&observed.pod, options.snapshot.container.as_deref())?;
        let isolation = isolate::plan(&observed.state, &around, options.isolate);
        Ok(Playbook { observed, around, isolation, container, options })
    }

    /// The plan to show before acting: every object read, created, changed or deleted.
    pub fn describe(&self, case_path: &str) -> Vec<PlanLine> {
        let state = &self.observed.state;
        let pod = format!("{}/{}", state.namespace, state.name);
        let mut lines = vec![
            PlanLine {
                step: "capture",
                action: format!(
                    "read pod {pod} (uid {}), owners, events, logs (current and previous), node, service account and its \
                     permissions, Services and NetworkPolicies selecting it, referenced Secret/ConfigMap metadata \
                     (never values), image digests; into case {case_path}",
                    state.uid
                ),
            },
            PlanLine {
                step: "snapshot",
                action: format!(
                    "run read-only commands in container {} (sh, cat, grep, find, tar): sockets, processes, /etc; \
                     nothing is written into the container",
                    self.container
                ),
            },
        ];
        if let Some(node) = &self.options.node {
            let when =
                if node.memory || node.checkpoint { "" } else { ", if exec cannot run in the container" };
            let mut what = vec!["processes", "changed files"];
            if node.memory {
                what.push("memory (its cgroup frozen while read)");
            }
            if node.checkpoint {
                what.push("a checkpoint by its kubelet");
            }
            lines.push(PlanLine {
                step: "node",
                action: format!(
                    "collect {} of container {} from node {}{when}, through a helper pod (image {}) deleted afterwards; \
                     nothing is written into the container",
                    what.join(", "),
                    self.container,
                    state.node.as_deref().unwrap_or("(not scheduled)"),
                    node.helper.image
                ),
            });
        }
        for change in self.isolation.pending() {
            lines.push(PlanLine { step: "isolate", action: change.description.clone() });
        }
        for change in self.isolation.changes.iter().filter(|c| c.already_in_place) {
            lines.push(PlanLine {
                step: "isolate",
                action: format!("(already in place) {}", change.description),
            });
        }
        if let Some(controller) = &self.isolation.replaced_by {
            lines.push(PlanLine {
                step: "isolate",
                action: format!("wait for {} to run a replacement pod", controller.describe()),
            });
        }
        if self.options.replace {
            let mut action = if self.options.accept_incomplete_evidence {
                format!("delete pod {pod}, even if some of its evidence could not be collected")
            } else {
                format!("delete pod {pod} once its evidence is complete in the case (kept otherwise)")
            };
            let controlled = self
                .observed
                .pod
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.controller == Some(true));
            if !controlled {
                action.push_str("; the pod has no controller: nothing will replace it, its workload stops");
            }
            if let Some(left) = left_behind(&self.isolation) {
                action.push_str(&format!("; {left}"));
            }
            lines.push(PlanLine { step: "replace", action });
        }
        lines
    }

    pub async fn run(
        self,
        cluster: &Cluster,
        case: &Case,
        actor: &str,
        started: Instant,
        progress: &(dyn Fn(&StepReport) + Sync),
    ) -> Result<RespondReport> {
        let images = crate::replace::images(&self.observed.pod);
        let Playbook { observed, around, isolation: plan, container, options } = self;
        let (observed, around) = (Arc::new(observed), Arc::new(around));
        let state = &observed.state;
        let target = format!("pod/{}/{}", state.namespace, state.name);
        let entries = blocking::entries(case).await?;
        let done = done_steps(&entries, &target);
        let step_done = |step: &str| done.iter().any(|d| d == step);

        // Evidence and containment run as tasks of their own, so that the hashing, compressing
        // and parsing of one never holds up the requests of the others.
        //
        // Containment waits for the evidence it could destroy: the pod object as it was (the
        // first artifact capture writes) and the sockets of the snapshot (isolation may cut
        // those connections). Processes, logs, owners, events and /etc survive isolation and
        // are collected beside it.
        let (pod_stored, pod_signal) = tokio::sync::oneshot::channel::<()>();
        let (volatile_done, volatile_signal) = tokio::sync::oneshot::channel::<()>();
        // Told by containment once its changes are made: whether the suspect is orphaned.
        let (applied_tx, applied_rx) = tokio::sync::oneshot::channel::<bool>();
        let capture = {
            let (cluster, case, actor, observed) =
                (cluster.clone(), case.clone(), actor.to_string(), observed.clone());
            let (skip, capture_options) = (step_done("capture"), options.capture);
            let around = around.clone();
            tokio::spawn(async move {
                if skip {
                    let _ = pod_stored.send(());
                    return None;
                }
                let at = Instant::now();
                let result = capture_pod_signalling(
                    &cluster,
                    &case,
                    &actor,
                    &observed,
                    Some(&around),
                    capture_options,
                    Some(pod_stored),
                    pod_base(&observed.state.namespace, &observed.state.name, &observed.state.uid),
                )
                .await;
                tracing::debug!("capture finished {} ms after start", started.elapsed().as_millis());
                Some((result, at.elapsed()))
            })
        };
        let snapshot = {
            let (cluster, case, actor, observed) =
                (cluster.clone(), case.clone(), actor.to_string(), observed.clone());
            let (skip, snapshot_options) = (step_done("snapshot"), options.snapshot.clone());
            let (skip_node, node_options) = (step_done("node"), options.node.clone());
            let exec_ran_before = exec_ran_journaled(&entries, &target, &state.uid, &container);
            tokio::spawn(async move {
                // With a helper, what the node holds (the processes' sockets among it) is evidence
                // containment could destroy too: it waits for both, within its budget.
                let (exec_signal, held) = match node_options {
                    Some(_) => (None, Some(volatile_done)),
                    None => (Some(volatile_done), None),
                };
                let snapshot = if skip {
                    if let Some(signal) = exec_signal {
                        let _ = signal.send(());
                    }
                    None
                } else {
                    let at = Instant::now();
                    let result = snapshot_pod_signalling(
                        &cluster,
                        &case,
                        &actor,
                        &observed,
                        &snapshot_options,
                        exec_signal,
                    )
                    .await;
                    tracing::debug!("snapshot finished {} ms after start", started.elapsed().as_millis());
                    Some((result, at.elapsed()))
                };
                // Decided by this run's snapshot or, resumed after it, by the earlier run's word;
                // a snapshot that failed decides nothing.
                let step = match (&snapshot, node_options) {
                    (_, Some(_)) if skip_node => None,
                    (None, Some(node)) => Some((node_step(&node, exec_ran_before), node)),
                    (Some((Ok(report), _)), Some(node)) => {
                        Some((node_step(&node, Some(report.exec_ran())), node))
                    }
                    (Some((Err(_), _)), _) | (_, None) => None,
                };
                let node = match step {
                    Some((NodeStep::Run(note), node)) => {
                        let at = Instant::now();
                        let result = snapshot_from_node(&cluster, &case, &actor, &observed, &node).await;
                        Some(NodeRun { result, took: at.elapsed(), note })
                    }
                    Some((NodeStep::NotWanted, _)) | None => None,
                };
                if let Some(held) = held {
                    let _ = held.send(());
                }
                (snapshot, node)
            })
        };
        let containment = {
            let (cluster, case, actor) = (cluster.clone(), case.clone(), actor.to_string());
            let (skip, pod, plan, budget, timeout) = (
                step_done("isolate"),
                state.clone(),
                plan.clone(),
                options.evidence_budget,
                options.replacement_timeout,
            );
            tokio::spawn(async move {
                if skip {
                    return None;
                }
                // Evidence first, but never for long: the pod keeps doing harm while we wait.
                let _ = tokio::time::timeout(budget, async {
                    let _ = tokio::join!(pod_signal, volatile_signal);
                })
                .await;
                let at = Instant::now();
                tracing::debug!("containment starts {} ms after start", started.elapsed().as_millis());
                // The controller's replacement is awaited while the evidence is completed and
                // the suspect deleted: it comes from the controller's unchanged template, and
                // needs nothing of either.
                let result = contain::apply_and_wait(
                    &cluster,
                    &case,
                    &actor,
                    &pod,
                    plan,
                    started,
                    timeout,
                    Some(applied_tx),
                )
                .await;
                tracing::debug!("containment finished {} ms after start", started.elapsed().as_millis());
                Some((result, at))
            })
        };
        let (capture, snapshot) = tokio::join!(capture, snapshot);
        let capture = capture.unwrap_or_else(|e| Some((Err(Error::task("capture", &e)), Duration::ZERO)));
        let (snapshot, node) =
            snapshot.unwrap_or_else(|e| (Some((Err(Error::task("snapshot", &e)), Duration::ZERO)), None));

        let mut report = RespondReport {
            case: case.path().display().to_string(),
            pod: format!("{}/{}", state.namespace, state.name),
            steps: Vec::new(),
            total_ms: 0,
            isolated_after_ms: None,
            contained_after_ms: None,
            containment: "NOT contained".to_string(),
            capture: None,
            snapshot: None,
            node: None,
            isolation: None,
            replace: None,
            missing_evidence: Vec::new(),
        };
        let steps = Steps { case, actor, target: &target, progress };

        // What keeps the evidence from being complete: the suspect is deleted only without it.
        for (step, outcome) in [
            ("capture", capture.as_ref().map(|(c, _)| c.as_ref().map_err(|e| e.to_string()))),
            (
                "snapshot",
                snapshot.as_ref().map(|(s, _)| s.as_ref().map(|s| &s.collected).map_err(|e| e.to_string())),
            ),
            (
                "node",
                node.as_ref().map(|n| n.result.as_ref().map(|n| &n.collected).map_err(|e| e.to_string())),
            ),
        ] {
            let missing = match outcome {
                None => continue,
                Some(Ok(collected)) => collected.describe_missing(),
                Some(Err(error)) => format!("not done: {error}"),
            };
            if !missing.is_empty() {
                report.missing_evidence.push(format!("{step}: {missing}"));
            }
        }
        let missing_evidence = report.missing_evidence.clone();

        match capture {
            None => steps.finish(&mut report, "capture", StepOutcome::Skipped).await?,
            Some((Ok(collected), took)) => {
                let outcome = collected_outcome(&collected, took, summary(&collected));
                report.capture = Some(collected);
                steps.finish(&mut report, "capture", outcome).await?;
            }
            Some((Err(error), took)) => {
                steps.finish(&mut report, "capture", StepOutcome::Failed(took, error.to_string())).await?
            }
        }
        match snapshot {
            None => steps.finish(&mut report, "snapshot", StepOutcome::Skipped).await?,
            Some((Ok(snapshot), took)) => {
                let detail = format!(
                    "{}; {} processes, {} sockets, {} findings",
                    summary(&snapshot.collected),
                    snapshot.processes,
                    snapshot.sockets,
                    snapshot.findings.len()
                );
                let outcome = collected_outcome(&snapshot.collected, took, detail);
                report.snapshot = Some(snapshot);
                steps.finish(&mut report, "snapshot", outcome).await?;
            }
            Some((Err(error), took)) => {
                steps.finish(&mut report, "snapshot", StepOutcome::Failed(took, error.to_string())).await?
            }
        }
        match node {
            None => {}
            Some(NodeRun { result: Ok(mut node), took, note }) => {
                let mut detail = format!("{} from node {}", summary(&node.collected), node.node);
                if !node.suspect_untouched {
                    detail.push_str("; the suspect was NOT found as it was afterwards");
                }
                if let Some(note) = note {
                    detail.push_str(&format!("; {note}"));
                    node.notes.push(note.to_string());
                }
                let outcome = collected_outcome(&node.collected, took, detail);
                report.node = Some(node);
                steps.finish(&mut report, "node", outcome).await?;
            }
            Some(NodeRun { result: Err(error), took, note }) => {
                let mut detail = error.to_string();
                if let Some(note) = note {
                    detail.push_str(&format!("; {note}"));
                }
                steps.finish(&mut report, "node", StepOutcome::Failed(took, detail)).await?
            }
        }

        // Once the evidence is in the case and containment has made its changes, the suspect is
        // deleted (without waiting for its replacement to run) while what is in place is read
        // back. `applied` is None when this run made no changes (done earlier, or failed).
        let after_containment = async {
            let applied = applied_rx.await.ok();
            // Whether the suspect's controller has let go of it: by this run's isolation, or by
            // an earlier run (this one resumes it, or the pod was isolated on its own before).
            let orphaned = crate::replace::orphaned(&observed.pod) || applied == Some(true);
            let replace = async {
                if !options.replace {
                    return None;
                }
                if step_done("replace") {
                    return Some((StepOutcome::Skipped, None));
                }
                let at = Instant::now();
                if !missing_evidence.is_empty() {
                    if !options.accept_incomplete_evidence {
                        return Some((
                            StepOutcome::Withheld(format!(
                                "suspect kept: its evidence is incomplete ({}); run the same command again with the same \
                                 --case to collect what is missing while the pod lives, or add \
                                 --accept-incomplete-evidence to delete it anyway",
                                missing_evidence.join("; ")
                            )),
                            None,
                        ));
                    }
                    let accepted = blocking::record(
                        case,
                        JournalRecord::new(actor, "replace.accept-incomplete-evidence")
                            .target(target.clone())
                            .parameters(json!({"uid": state.uid}))
                            .result(json!({"missing": missing_evidence})),
                    )
                    .await;
                    if let Err(error) = accepted {
                        return Some((StepOutcome::Failed(at.elapsed(), error.to_string()), None));
                    }
                }
                // The delete itself names the suspect's UID, so the pod is not read again first:
                // a pod recreated under the same name is refused by the API server.
                let assessment = if orphaned {
                    assess(&images, None, true, plan.replaced_by.is_some().then_some(images.as_slice()))
                } else {
                    assess(&images, state.controller.as_ref(), false, None)
                };
                Some(
                    match replace_pod(cluster, case, actor, state, assessment, options.grace_seconds, true)
                        .await
                    {
                        Ok(mut replaced) => {
                            if replaced.deleted
                                && let Some(left) = left_behind(&plan)
                            {
                                replaced.warnings.push(left);
                            }
                            let mut detail =
                                if replaced.deleted { "suspect deleted" } else { "already gone" }.to_string();
                            if !missing_evidence.is_empty() {
                                detail.push_str(&format!(
                                    ", with incomplete evidence (accepted): {}",
                                    missing_evidence.join("; ")
                                ));
                            }
                            (StepOutcome::Done(at.elapsed(), detail), Some(replaced))
                        }
                        Err(error) => (StepOutcome::Failed(at.elapsed(), error.to_string()), None),
                    },
                )
            };
            // The read-back does not depend on the deletion (which is graceful: the object stays
            // until the node has stopped the pod), and the deletion does not wait for it.
            let read_back = async {
                match applied {
                    Some(_) => Some(contain::read_back(cluster, state, &plan).await),
                    None => None,
                }
            };
            tokio::join!(replace, read_back)
        };
        let (isolation, (replaced, in_place)) = tokio::join!(containment, after_containment);
        let isolation = isolation.unwrap_or_else(|e| Some((Err(Error::task("isolate", &e)), Instant::now())));
        tracing::debug!("deletion and read-back finished {} ms after start", started.elapsed().as_millis());

        match isolation {
            None => steps.finish(&mut report, "isolate", StepOutcome::Skipped).await?,
            Some((Ok(mut isolation), at)) => {
                if let Some(in_place) = in_place {
                    isolation.settle_read_back(in_place);
                }
                report.contained_after_ms = isolation.contained_after_ms;
                report.isolated_after_ms = isolation.isolated_after_ms;
                report.containment = isolation.containment();
                let mut detail = match (&isolation.replacement, &isolation.replacement_missing) {
                    (Some(r), _) => format!("{}; replacement {} running", report.containment, r.name),
                    (None, Some(why)) => format!("{}; replacement {why}", report.containment),
                    (None, None) => report.containment.clone(),
                };
                for failure in isolation.failures() {
                    detail.push_str(&format!("; {failure}"));
                }
                let outcome = if isolation.failed() {
                    StepOutcome::Failed(at.elapsed(), detail)
                } else {
                    StepOutcome::Done(at.elapsed(), detail)
                };
                report.isolation = Some(isolation);
                steps.finish(&mut report, "isolate", outcome).await?;
            }
            Some((Err(error), at)) => {
                steps
                    .finish(&mut report, "isolate", StepOutcome::Failed(at.elapsed(), error.to_string()))
                    .await?
            }
        }
        if let Some((outcome, replaced)) = replaced {
            report.replace = replaced;
            steps.finish(&mut report, "replace", outcome).await?;
        }
        report.total_ms = started.elapsed().as_millis();
        Ok(report)
    }
}

/// Where each step's outcome goes: the journal (skipped steps aside), the progress shown, the
/// report.
struct Steps<'a> {
    case: &'a Case,
    actor: &'a str,
    target: &'a str,
    progress: &'a (dyn Fn(&StepReport) + Sync),
}

impl Steps<'_> {
    async fn finish(
        &self,
        report: &mut RespondReport,
        step: &'static str,
        outcome: StepOutcome,
    ) -> Result<()> {
        let step_report = outcome.into_report(step);
        if step_report.status != "skipped" {
            blocking::record(
                self.case,
                JournalRecord::new(self.actor, "respond.step").target(self.target).parameters(json!({"step": step})).result(
                    json!({"status": step_report.status, "millis": step_report.millis, "detail": step_report.detail}),
                ),
            )
            .await?;
        }
        (self.progress)(&step_report);
        report.steps.push(step_report);
        Ok(())
    }
}

fn summary(collected: &Collected) -> String {
    let mut text = format!("{} artifacts", collected.artifacts.len());
    if !collected.not_collected.is_empty() {
        text.push_str(&format!(", {} not collected", collected.not_collected.len()));
    }
    if !collected.already_collected.is_empty() {
        text.push_str(&format!(", {} kept from an earlier run", collected.already_collected.len()));
    }
    text
}

/// A collecting step is done only when its evidence is complete; otherwise it is incomplete,
/// says what is missing and why, and running again with the same case collects the rest.
fn collected_outcome(collected: &Collected, took: Duration, detail: String) -> StepOutcome {
    match collected.describe_missing() {
        missing if missing.is_empty() => StepOutcome::Done(took, detail),
        missing => StepOutcome::Incomplete(
            took,
            format!("{detail}; not collected: {missing}; run again with the same --case to collect it"),
        ),
    }
}

/// Steps a previous run of this playbook finished for `target`.
fn done_steps(entries: &[JournalEntry], target: &str) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.action == "respond.step" && e.target.as_deref() == Some(target))
        .filter(|e| e.result.get("status").and_then(Value::as_str) == Some("done"))
        .filter_map(|e| e.parameters.get("step").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// Whether exec could run in `container` of the pod (`uid`), as the newest snapshot of it
/// journaled for `target` says; `None` when none is journaled or its line does not say (an
/// older kir wrote it).
fn exec_ran_journaled(entries: &[JournalEntry], target: &str, uid: &str, container: &str) -> Option<bool> {
    let names = |e: &JournalEntry, key: &str, value: &str| {
        e.parameters.get(key).and_then(Value::as_str) == Some(value)
    };
    entries
        .iter()
        .rev()
        .filter(|e| e.action == "snapshot.pod" && e.target.as_deref() == Some(target))
        .find(|e| names(e, "uid", uid) && names(e, "container", container))
        .and_then(|e| e.result.get("execRan").and_then(Value::as_bool))
}

/// Whether the node step runs, and with what note.
#[derive(Debug, PartialEq, Eq)]
enum NodeStep {
    NotWanted,
    Run(Option<&'static str>),
}

/// Said when the node step runs for want of knowing whether exec could run.
const EXEC_UNKNOWN: &str = "the earlier run that did the snapshot did not journal whether exec could run in the \
     container: collected from the node in case it could not";

/// The node step runs when exec could not run in the container, or memory or a checkpoint is
/// asked for. `exec_ran` is `None` when that is not known (a resumed run whose snapshot an
/// earlier kir did): it then runs, saying so, since a helper started for nothing costs less
/// than evidence left uncollected.
fn node_step(node: &NodeSnapshotOptions, exec_ran: Option<bool>) -> NodeStep {
    match exec_ran {
        _ if node.memory || node.checkpoint => NodeStep::Run(None),
        Some(true) => NodeStep::NotWanted,
        Some(false) => NodeStep::Run(None),
        None => NodeStep::Run(Some(EXEC_UNKNOWN)),
    }
}

/// What the node step did: its result, how long it took, and why it ran when that is not
/// evident.
struct NodeRun {
    result: Result<NodeSnapshotReport>,
    took: Duration,
    note: Option<&'static str>,
}

enum StepOutcome {
    Done(Duration, String),
    /// Finished, but some of its evidence could not be collected.
    Incomplete(Duration, String),
    Failed(Duration, String),
    /// The deletion was not made: the evidence is incomplete.
    Withheld(String),
    Skipped,
}

impl StepOutcome {
    fn into_report(self, step: &'static str) -> StepReport {
        match self {
            StepOutcome::Done(took, detail) => {
                StepReport { step, status: "done", millis: took.as_millis(), detail }
            }
            StepOutcome::Incomplete(took, detail) => {
                StepReport { step, status: "incomplete", millis: took.as_millis(), detail }
            }
            StepOutcome::Failed(took, detail) => {
                StepReport { step, status: "failed", millis: took.as_millis(), detail }
            }
            StepOutcome::Withheld(detail) => StepReport { step, status: "withheld", millis: 0, detail },
            StepOutcome::Skipped => StepReport {
                step,
                status: "skipped",
                millis: 0,
                detail: "done by an earlier run with this case".into(),
            },
        }
    }
}

/// What deleting the suspect leaves of its isolation: the quarantine policies, which then
/// select no pod and stay until `kir undo` removes them.
fn left_behind(plan: &IsolationPlan) -> Option<String> {
    let policies: Vec<&str> = plan
        .changes
        .iter()
        .filter_map(|c| match &c.change {
            Change::CreateNetworkPolicy { object }
            | Change::CreateCiliumPolicy { object }
            | Change::CreateAdminNetworkPolicy { object } => object["metadata"]["name"].as_str(),
            _ => None,
        })
        .collect();
    (!policies.is_empty()).then(|| {
        format!(
            "the quarantine policies ({}) stay, selecting no pod once it is gone (`kir undo CASE` removes them)",
            policies.join(", ")
        )
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: &'static str,
    pub status: &'static str,
    pub millis: u128,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RespondReport {
    pub case: String,
    pub pod: String,
    pub steps: Vec<StepReport>,
    pub total_ms: u128,
    /// See [`contain::isolated_after_ms`].
    pub isolated_after_ms: Option<u128>,
    pub contained_after_ms: Option<u128>,
    /// What the isolation may claim (see [`IsolationReport::containment`]).
    pub containment: String,
    pub capture: Option<Collected>,
    pub snapshot: Option<SnapshotReport>,
    /// What was collected from the suspect's node, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeSnapshotReport>,
    pub isolation: Option<IsolationReport>,
    pub replace: Option<ReplaceReport>,
    /// Per evidence step, what keeps its evidence from being complete.
    pub missing_evidence: Vec<String>,
}

impl RespondReport {
    pub fn failed(&self) -> bool {
        self.steps.iter().any(|s| s.status == "failed")
    }

    /// The clean replacement was awaited and did not run (why is in the isolation report).
    pub fn replacement_missing(&self) -> Option<&str> {
        self.isolation.as_ref().and_then(|i| i.replacement_missing.as_deref())
    }

    /// Some evidence is missing (and, with `--replace`, the suspect was kept for it).
    pub fn incomplete(&self) -> bool {
        self.steps.iter().any(|s| s.status == "incomplete" || s.status == "withheld")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::HelperOptions;

    fn node_options(memory: bool, checkpoint: bool) -> NodeSnapshotOptions {
        NodeSnapshotOptions {
            helper: HelperOptions { image: "kir:dev".into(), start_timeout: Duration::from_secs(60) },
            snapshot: SnapshotOptions::default(),
            memory,
            checkpoint,
            dumps: SnapshotOptions::default(),
        }
    }

    fn snapshot_entry(seq: u64, uid: &str, container: &str, result: Value) -> JournalEntry {
        JournalEntry {
            seq,
            time: jiff::Timestamp::UNIX_EPOCH,
            actor: "me".into(),
            action: "snapshot.pod".into(),
            target: Some("pod/shop/web-1".into()),
            parameters: json!({"uid": uid, "container": container}),
            result,
            undo: Value::Null,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn the_node_step_runs_when_exec_could_not_or_only_the_node_gives_what_is_asked() {
        let plain = node_options(false, false);
        assert_eq!(node_step(&plain, Some(true)), NodeStep::NotWanted);
        assert_eq!(node_step(&plain, Some(false)), NodeStep::Run(None));
        for asked in [node_options(true, false), node_options(false, true)] {
            assert_eq!(node_step(&asked, Some(true)), NodeStep::Run(None));
            assert_eq!(node_step(&asked, None), NodeStep::Run(None), "wanted whatever exec did");
        }
        assert_eq!(node_step(&plain, None), NodeStep::Run(Some(EXEC_UNKNOWN)), "not known: run, and say so");
    }

    #[test]
    fn a_resumed_run_knows_whether_exec_ran_from_the_newest_snapshot_of_the_same_container() {
        let entries = vec![
            snapshot_entry(2, "uid-1", "app", json!({"execRan": true})),
            snapshot_entry(3, "uid-1", "app", json!({"execRan": false})),
            snapshot_entry(4, "uid-1", "sidecar", json!({"execRan": true})),
            snapshot_entry(5, "uid-0", "app", json!({"execRan": true})),
        ];
        assert_eq!(exec_ran_journaled(&entries, "pod/shop/web-1", "uid-1", "app"), Some(false));
        assert_eq!(exec_ran_journaled(&entries, "pod/shop/web-1", "uid-1", "sidecar"), Some(true));
        assert_eq!(exec_ran_journaled(&entries, "pod/shop/web-1", "uid-2", "app"), None);
        assert_eq!(exec_ran_journaled(&entries, "pod/shop/web-2", "uid-1", "app"), None);

        let mut older = entries.clone();
        older.push(snapshot_entry(6, "uid-1", "app", json!({"processes": 3})));
        assert_eq!(
            exec_ran_journaled(&older, "pod/shop/web-1", "uid-1", "app"),
            None,
            "the newest snapshot does not say: an older one is not taken for it"
        );
    }
}
