//! The report: what a case shows, as plain data. Rendering is in `markdown` and `html`.
//!
//! Only what the case records is claimed. Where the case cannot tell, the report says "check"
//! or "unknown". Containment is the state the case recorded unless the caller re-checked it
//! against the live cluster ([`Report::with_live_containment`]).

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use kir_evidence::JournalEntry;
use serde::Serialize;
use serde_json::Value;

use crate::{escape::MAX_TEXT, source::CaseSource};

/// What the report says about containment, every time.
pub const CONTAINMENT_NOTE: &str = "containment state as recorded in the case (not re-checked live)";

/// The most timeline items a report lists; the journal comes first, then detections, then events.
const MAX_TIMELINE: usize = 5000;
/// The most Kubernetes events a report takes from the case.
const MAX_EVENTS: usize = 2000;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub verification: Verification,
    pub summary: Summary,
    pub containment: Containment,
    pub timeline: Vec<TimelineItem>,
    /// Items left out of the timeline by its cap.
    pub timeline_left_out: usize,
    pub evidence: Vec<Evidence>,
    pub not_collected: Vec<crate::Gap>,
    pub residual_risks: Vec<Risk>,
    pub techniques: Vec<Technique>,
    pub post_mortem: PostMortem,
    /// When the report was made.
    pub generated: Timestamp,
}

/// The changes the journal says kir made, as the cluster shows them now.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Containment {
    /// When the cluster was asked; `None`: not re-checked (`note` says why).
    pub checked: Option<Timestamp>,
    pub note: String,
    pub changes: Vec<LiveChange>,
}

/// One change kir made, read back now.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveChange {
    /// The change, as undo describes its reversal.
    pub change: String,
    pub state: LiveState,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LiveState {
    /// The live object is the one kir made.
    InPlace,
    /// Nothing of it is left (deleted, or the object it was made on is gone).
    Gone,
    /// The live object is not what kir made.
    Changed,
}

impl LiveState {
    pub fn text(self) -> &'static str {
        match self {
            LiveState::InPlace => "in place",
            LiveState::Gone => "gone",
            LiveState::Changed => "changed",
        }
    }
}

impl Report {
    /// Containment as the live cluster shows it at `checked`: the note and the residual risks
    /// say what was found instead of "as recorded".
    pub fn with_live_containment(
        mut self,
        checked: Timestamp,
        server: &str,
        changes: Vec<LiveChange>,
    ) -> Report {
        let in_place = changes.iter().filter(|c| c.state == LiveState::InPlace).count();
        self.containment = Containment {
            checked: Some(checked),
            note: format!(
                "re-checked against {server} at {checked}: {in_place} of {} recorded change(s) in place",
                changes.len()
            ),
            changes,
        };
        self.residual_risks.retain(|r| !r.text.starts_with(CONTAINMENT_NOTE));
        for change in self.containment.changes.iter().filter(|c| c.state != LiveState::InPlace) {
            let level = if change.state == LiveState::Changed { RiskLevel::Risk } else { RiskLevel::Check };
            self.residual_risks.insert(
                0,
                Risk {
                    level,
                    text: format!("{} is {} now: {}", change.change, change.state.text(), change.detail),
                },
            );
        }
        self
    }

    /// Containment stays as recorded, and why it was not re-checked.
    pub fn without_live_containment(mut self, why: &str) -> Report {
        self.containment.note = format!("{CONTAINMENT_NOTE}: {why}");
        self
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub verifies: bool,
    pub problems: Vec<String>,
    /// Evidence the report wanted to read but did not use, and why.
    pub unread: Vec<String>,
}

impl Verification {
    /// The report's first line when the case does not verify; `None` when it does.
    pub fn warning(&self) -> Option<String> {
        if self.verifies {
            return None;
        }
        let first = self.problems.first().map_or("verification failed", String::as_str);
        let more = match self.problems.len() {
            0 | 1 => String::new(),
            n => format!(" (and {} more problem(s))", n - 1),
        };
        Some(format!(
            "WARNING: this case does not verify: {first}{more}; what follows may have been altered (run `kir case verify` for every problem)"
        ))
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub case_id: String,
    pub title: String,
    pub cluster: Option<String>,
    pub context: Option<String>,
    pub responder: Option<String>,
    pub created: Option<Timestamp>,
    pub kir_version: Option<String>,
    pub location: String,
    pub journal_entries: usize,
    pub artifacts: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimelineKind {
    Action,
    Detection,
    Event,
}

/// One moment of the incident: a journal entry, a detection, or a captured Kubernetes event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineItem {
    pub time: Timestamp,
    pub kind: TimelineKind,
    /// The journal entry it comes from (for events: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub result: String,
}

/// One artifact of the evidence index.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub collected: Timestamp,
    pub by: String,
    pub source: String,
    pub truncated: bool,
    pub journal_seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    /// The case shows it.
    Risk,
    /// The case shows something a responder must check.
    Check,
    /// The case cannot tell.
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Risk {
    pub level: RiskLevel,
    pub text: String,
}

/// An ATT&CK technique and the detections in the case that point to it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Technique {
    pub id: String,
    pub detections: Vec<String>,
}

/// A point in time the post-mortem measures from or to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    pub time: Timestamp,
    pub what: String,
}

/// A measured duration, or why it is not measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measure {
    pub milliseconds: Option<i64>,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostMortem {
    pub first_seen: Option<Point>,
    pub detected: Option<Point>,
    pub contained: Option<Point>,
    pub recovered: Option<Point>,
    pub time_to_detect: Measure,
    pub time_to_contain: Measure,
    pub time_to_recover: Measure,
    /// How many times each action was journaled.
    pub actions: BTreeMap<String, usize>,
    pub impact: Vec<String>,
    pub lessons: Vec<String>,
}

/// The report of a case read with [`CaseSource::read`], as of `now` (residual risks compare
/// expiries with it).
pub fn report_of(source: &CaseSource, now: Timestamp) -> Report {
    let detections = detections(&source.entries);
    let events = events(source);
    let mut timeline: Vec<TimelineItem> = source.entries.iter().map(action_item).collect();
    timeline.extend(detections.iter().map(|d| d.item.clone()));
    timeline.extend(events);
    let timeline_left_out = timeline.len().saturating_sub(MAX_TIMELINE);
    timeline.truncate(MAX_TIMELINE);
    timeline.sort_by_key(|item| (item.time, item.kind, item.seq));

    let evidence = source
        .artifacts
        .iter()
        .map(|artifact| Evidence {
            path: artifact.path.clone(),
            sha256: artifact.sha256.clone(),
            size: artifact.size,
            collected: artifact.time,
            by: artifact.actor.clone(),
            source: artifact.source.clone(),
            truncated: artifact.truncated,
            journal_seq: artifact.seq,
        })
        .collect();
    let metadata = source.metadata.as_ref();
    let open_id = source.entries.first().and_then(|e| e.parameters.get("caseId")).and_then(Value::as_str);
    let summary = Summary {
        case_id: metadata.map(|m| m.id.clone()).or(open_id.map(str::to_string)).unwrap_or_default(),
        title: metadata.map(|m| m.info.title.clone()).unwrap_or_else(|| "(case.json unreadable)".into()),
        cluster: metadata.and_then(|m| m.info.cluster.clone()),
        context: metadata.and_then(|m| m.info.context.clone()),
        responder: metadata.and_then(|m| m.info.responder.clone()),
        created: metadata.map(|m| m.created),
        kir_version: metadata.map(|m| m.info.kir_version.clone()),
        location: source.path.display().to_string(),
        journal_entries: source.entries.len(),
        artifacts: source.artifacts.len(),
    };
    let post_mortem = post_mortem(source, &summary, &detections, &timeline);
    Report {
        verification: Verification {
            verifies: source.integrity.intact,
            problems: source.integrity.problems.clone(),
            unread: source.unread.clone(),
        },
        residual_risks: residual_risks(source, &detections, &post_mortem, now),
        techniques: techniques(&detections),
        summary,
        containment: Containment { checked: None, note: CONTAINMENT_NOTE.to_string(), changes: Vec::new() },
        timeline,
        timeline_left_out,
        evidence,
        not_collected: source.gaps.clone(),
        post_mortem,
        generated: now,
    }
}

/// A JSON value in a line, capped: strings as they are, anything else as compact JSON.
fn one_line(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    text.chars().take(MAX_TEXT).collect()
}

fn action_item(entry: &JournalEntry) -> TimelineItem {
    let result = match entry.action.as_str() {
        kir_evidence::journal::ACTION_COLLECT => {
            let size = entry.result.get("size").and_then(Value::as_u64).unwrap_or(0);
            let sha = entry.result.get("sha256").and_then(Value::as_str).unwrap_or_default();
            format!("{size} bytes, sha256 {}", sha.chars().take(12).collect::<String>())
        }
        _ => one_line(&entry.result),
    };
    TimelineItem {
        time: entry.time,
        kind: TimelineKind::Action,
        seq: Some(entry.seq),
        actor: entry.actor.clone(),
        action: entry.action.clone(),
        target: entry.target.clone().unwrap_or_default(),
        result,
    }
}

/// A detection the case records, with the ATT&CK techniques it points to.
#[derive(Debug, Clone)]
pub(crate) struct Detection {
    pub id: String,
    pub item: TimelineItem,
    pub techniques: Vec<String>,
}

/// Detections a snapshot of a container found, and findings any journal entry records with
/// an `attack` list of its own (as detection rules carry).
fn detections(entries: &[JournalEntry]) -> Vec<Detection> {
    let mut found = Vec::new();
    for entry in entries {
        let Some(findings) = entry.result.get("findings").and_then(Value::as_array) else { continue };
        for finding in findings.iter().take(100) {
            let text = |key: &str| finding.get(key).map(one_line).unwrap_or_default();
            let id = if finding.get("rule").is_some() {
                finding.pointer("/rule/id").map(one_line).unwrap_or_default()
            } else {
                text("id")
            };
            if id.is_empty() {
                continue;
            }
            let title = match finding.pointer("/rule/title") {
                Some(title) => one_line(title),
                None => text("title"),
            };
            let mut techniques: Vec<String> = finding
                .get("attack")
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(Value::as_str)
                        .filter(|t| technique_id(t))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if techniques.is_empty() {
                techniques = snapshot_techniques(&id);
            }
            found.push(Detection {
                item: TimelineItem {
                    time: entry.time,
                    kind: TimelineKind::Detection,
                    seq: Some(entry.seq),
                    actor: entry.actor.clone(),
                    action: format!("detected {id}"),
                    target: entry.target.clone().unwrap_or_default(),
                    result: format!("{}: {title}", text("severity")),
                },
                id,
                techniques,
            });
        }
    }
    found
}

/// `T1234` or `T1234.001`.
fn technique_id(text: &str) -> bool {
    let Some(digits) = text.strip_prefix('T') else { return false };
    let (main, sub) = digits.split_once('.').unwrap_or((digits, "000"));
    main.len() == 4 && sub.len() == 3 && main.bytes().chain(sub.bytes()).all(|b| b.is_ascii_digit())
}

/// The techniques of the built-in runtime rule that detects what a snapshot finding (of
/// `kir snapshot pod`) shows: the technique ids live with the rules, in kir-detect.
fn snapshot_techniques(finding: &str) -> Vec<String> {
    let rule = match finding {
        "miner-process" | "miner-arguments" => "kir-runtime-miner-process",
        "mining-pool-port" => "kir-runtime-mining-pool-connection",
        "cloud-metadata" => "kir-runtime-cloud-metadata-access",
        "shell" => "kir-runtime-interactive-shell-in-container",
        "network-tool" => "kir-runtime-tunnel-or-reverse-shell",
        _ => return Vec::new(),
    };
    kir_detect::builtin::RUNTIME_RULE_FILES
        .iter()
        .map(|(name, text)| kir_detect::builtin::parse(name, text))
        .find(|file| file.id == rule)
        .map(|file| file.attack)
        .unwrap_or_default()
}

fn techniques(detections: &[Detection]) -> Vec<Technique> {
    let mut by_id: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for detection in detections {
        for technique in &detection.techniques {
            by_id.entry(technique.clone()).or_default().insert(detection.id.clone());
        }
    }
    by_id.into_iter().map(|(id, found)| Technique { id, detections: found.into_iter().collect() }).collect()
}

/// The Kubernetes events captured into the case (`events/*.json`: Event lists), once each.
fn events(source: &CaseSource) -> Vec<TimelineItem> {
    let mut seen = BTreeSet::new();
    let mut items = Vec::new();
    for (_, list) in source.documents_where(|path| path.contains("/events/")) {
        for event in list.get("items").and_then(Value::as_array).into_iter().flatten() {
            if items.len() == MAX_EVENTS {
                return items;
            }
            let uid = event.pointer("/metadata/uid").map(one_line).unwrap_or_default();
            if !uid.is_empty() && !seen.insert(uid) {
                continue;
            }
            let Some(time) =
                ["/eventTime", "/lastTimestamp", "/firstTimestamp", "/metadata/creationTimestamp"]
                    .iter()
                    .find_map(|pointer| {
                        event.pointer(pointer).and_then(Value::as_str)?.parse::<Timestamp>().ok()
                    })
            else {
                continue;
            };
            let text = |pointer: &str| event.pointer(pointer).map(one_line).unwrap_or_default();
            let component = [text("/reportingComponent"), text("/source/component")]
                .into_iter()
                .find(|c| !c.is_empty())
                .unwrap_or_else(|| "kubernetes".into());
            let count = event.get("count").and_then(Value::as_u64).filter(|n| *n > 1);
            let mut result = format!("{} {}: {}", text("/type"), text("/reason"), text("/message"));
            if let Some(count) = count {
                result.push_str(&format!(" (x{count})"));
            }
            items.push(TimelineItem {
                time,
                kind: TimelineKind::Event,
                seq: None,
                actor: component,
                action: "event".into(),
                target: format!(
                    "{} {}/{}",
                    text("/involvedObject/kind"),
                    text("/involvedObject/namespace"),
                    text("/involvedObject/name")
                ),
                result,
            });
        }
    }
    items
}

/// Whether a journal entry records a failure or an intent rather than a done change.
fn failed(entry: &JournalEntry) -> bool {
    let status = entry.result.get("status").and_then(Value::as_str).unwrap_or_default();
    matches!(status, "failed" | "stopped" | "started" | "planned" | "skipped")
        || entry.result.get("error").is_some_and(|e| !e.is_null())
}

/// Journal actions that contain: isolation in place, an image blocked, a credential killed.
fn contains(entry: &JournalEntry) -> bool {
    let action = entry.action.as_str();
    let containing = matches!(
        action,
        "isolate.create-networkpolicy"
            | "isolate.create-ciliumnetworkpolicy"
            | "isolate.create-adminnetworkpolicy"
            | "isolate.label-pod"
            | "isolate.orphan"
            | "stolen.delete-secret"
            | "respond.stolen-credentials.step"
    ) || action.starts_with("revoke.")
        || (action == "image.block.prove"
            && entry.result.get("blocked").and_then(Value::as_bool) == Some(true));
    containing && !failed(entry)
}

/// Journal actions that recover: a clean replacement, a suspect pod removed, secrets rotated,
/// workloads restarted or purged of a bad image.
fn recovers(entry: &JournalEntry) -> bool {
    let action = entry.action.as_str();
    let recovering = matches!(action, "isolate.replacement" | "replace.delete-pod")
        || action.starts_with("rotate.")
        || action.starts_with("image.purge.")
        || action == "stolen.recreate-serviceaccount";
    recovering && !failed(entry)
}

fn measure(from: Option<&Point>, to: Option<&Point>, missing: &str) -> Measure {
    match (from, to) {
        (Some(from), Some(to)) if to.time >= from.time => {
            let duration: SignedDuration = to.time.duration_since(from.time);
            let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
            Measure {
                milliseconds: Some(millis),
                text: format!("{} ({} → {})", human(millis), from.what, to.what),
            }
        }
        (Some(from), Some(to)) => Measure {
            milliseconds: None,
            text: format!("not measured: {} comes before {}", to.what, from.what),
        },
        _ => Measure { milliseconds: None, text: format!("not measured: {missing}") },
    }
}

/// `1h 02m 03s`, `4m 05s`, `6.2s`, `291 ms`.
pub(crate) fn human(millis: i64) -> String {
    let seconds = millis / 1000;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) if millis < 1000 => format!("{millis} ms"),
        (0, 0) => format!("{}.{}s", s, millis % 1000 / 100),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m {s:02}s"),
    }
}

fn post_mortem(
    source: &CaseSource,
    summary: &Summary,
    detections: &[Detection],
    timeline: &[TimelineItem],
) -> PostMortem {
    let point = |entry: &JournalEntry| Point {
        time: entry.time,
        what: format!("entry {}: {} {}", entry.seq, entry.action, entry.target.clone().unwrap_or_default()),
    };
    // The response starts at the first detection the case records or at the opening of the
    // case, whichever is first: kir's own snapshot findings may come after containment began.
    let first_detection =
        detections.first().map(|d| Point { time: d.item.time, what: format!("first detection ({})", d.id) });
    let opened = summary.created.map(|time| Point { time, what: "case opened".into() });
    let detected = match (first_detection, opened) {
        (Some(detection), Some(opened)) => {
            Some(if detection.time < opened.time { detection } else { opened })
        }
        (detection, opened) => detection.or(opened),
    };
    let first_seen = timeline
        .iter()
        .find(|item| item.kind == TimelineKind::Event)
        .map(|item| Point { time: item.time, what: format!("first captured event ({})", item.target) });
    let contained = source.entries.iter().find(|e| contains(e)).map(point);
    let recovered = source.entries.iter().rev().find(|e| recovers(e)).map(point);
    let mut actions: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &source.entries {
        *actions.entry(entry.action.chars().take(100).collect()).or_insert(0) += 1;
    }
    PostMortem {
        time_to_detect: measure(
            first_seen.as_ref(),
            detected.as_ref(),
            "the case holds no captured Kubernetes event from before the detection",
        ),
        time_to_contain: measure(
            detected.as_ref(),
            contained.as_ref(),
            "the journal records no containment action that succeeded",
        ),
        time_to_recover: measure(
            detected.as_ref(),
            recovered.as_ref(),
            "the journal records no recovery action (replacement, rotation, purge)",
        ),
        impact: impact(source),
        lessons: lessons(source, detections, contained.is_some()),
        first_seen,
        detected,
        contained,
        recovered,
        actions,
    }
}

/// The pods, namespaces and credentials the case holds evidence of.
fn impact(source: &CaseSource) -> Vec<String> {
    let mut pods = BTreeSet::new();
    for (path, _) in source.documents_where(|path| path.ends_with("/pod.json")) {
        let parts: Vec<&str> = path.split('/').collect();
        if let [_, namespace, name, ..] = parts.as_slice() {
            pods.insert(format!("{namespace}/{name}"));
        }
    }
    let mut impact: Vec<String> = pods.iter().map(|pod| format!("pod {pod} (evidence captured)")).collect();
    for (_, credential) in source.documents_where(|path| path.ends_with("/credential.json")) {
        let kind = credential.get("kind").map(one_line).unwrap_or_default();
        let user = credential.get("user").map(one_line).unwrap_or_else(|| "an unknown identity".into());
        impact.push(format!("credential: {kind} authenticating as {user}"));
    }
    if impact.is_empty() {
        impact.push("unknown: the case holds no captured pod or credential".into());
    }
    impact
}

fn lessons(source: &CaseSource, detections: &[Detection], contained: bool) -> Vec<String> {
    let mut lessons = vec![
        "How did the attacker get in, and which control would have stopped that first step?".to_string(),
        "Which signal showed the incident first, and could it have fired earlier?".to_string(),
    ];
    if detections.is_empty() {
        lessons.push(
            "The case records no detection: which detection rule or sensor should have caught it?".into(),
        );
    }
    if !contained {
        lessons.push("The case records no successful containment: what stood in the way?".into());
    }
    if !source.gaps.is_empty() {
        lessons.push(format!(
            "{} artifact(s) could not be collected (see the evidence index): what would have made them collectable?",
            source.gaps.len()
        ));
    }
    lessons.extend([
        "Which preventive controls (kir report --prevent) will be applied, by whom, by when?".to_string(),
        "Which playbook or runbook step was missing, wrong or slow, and who updates it?".to_string(),
    ]);
    lessons
}

/// Residual risks the case data supports; the rest is phrased as a check or an unknown.
fn residual_risks(
    source: &CaseSource,
    detections: &[Detection],
    post_mortem: &PostMortem,
    now: Timestamp,
) -> Vec<Risk> {
    let risk = |level, text: String| Risk { level, text };
    let mut risks = vec![risk(RiskLevel::Check, format!("{CONTAINMENT_NOTE}: check that it still holds"))];
    let killed = source.entries.iter().any(|e| {
        !failed(e)
            && (e.action == "respond.stolen-credentials.step"
                || e.action.starts_with("revoke.")
                || e.action == "stolen.delete-secret")
    });
    for (path, credential) in source.documents_where(|path| path.ends_with("/credential.json")) {
        let who = credential.get("user").map(one_line).unwrap_or_else(|| "an unknown identity".into());
        let expiry = credential
            .pointer("/token/claims/expiresAt")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<Timestamp>().ok());
        if credential.get("token").is_some() {
            let text = match (expiry, killed) {
                (Some(expiry), true) if expiry > now => format!(
                    "the token of {who} ({path}) is journaled as revoked, but its expiry {expiry} is later than now: check that the API server refuses it (`kir creds show --token-file FILE`)"
                ),
                (Some(expiry), false) if expiry > now => format!(
                    "the token of {who} ({path}) stays valid until {expiry}: the case records no revocation"
                ),
                (None, true) => format!(
                    "the token of {who} ({path}) never expires by itself and is journaled as revoked: check that the API server refuses it"
                ),
                (None, false) => format!(
                    "the token of {who} ({path}) never expires by itself and the case records no revocation"
                ),
                _ => continue,
            };
            risks.push(risk(if killed { RiskLevel::Check } else { RiskLevel::Risk }, text));
        }
        if let Some(not_after) = credential
            .pointer("/certificate/notAfter")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<Timestamp>().ok())
            .filter(|t| *t > now)
        {
            risks.push(risk(
                RiskLevel::Risk,
                format!(
                    "the client certificate of {who} ({path}) authenticates until {not_after}: certificates cannot be revoked, only their bindings removed or the client CA rotated"
                ),
            ));
            let masters = credential
                .pointer("/certificate/groups")
                .and_then(Value::as_array)
                .is_some_and(|groups| groups.iter().any(|g| g.as_str() == Some("system:masters")));
            if masters {
                risks.push(risk(
                    RiskLevel::Risk,
                    format!("that certificate ({path}) is in system:masters, which RBAC cannot restrict: the cluster stays open to it until the client CA is rotated"),
                ));
            }
        }
        for identity in credential
            .pointer("/serviceAccount/cloudIdentities")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            risks.push(risk(
                RiskLevel::Check,
                format!(
                    "the service account is mapped to the cloud identity {}: check the cloud's audit trail for credentials exchanged with its tokens",
                    one_line(identity)
                ),
            ));
        }
    }
    for (path, object) in
        source.documents_where(|path| path.contains("/owners/") || path.ends_with("/pod.json"))
    {
        if let Some(owner) = gitops_owner(object) {
            risks.push(risk(
                RiskLevel::Check,
                format!("{path} is managed by {owner}: a sync may undo containment or bring back what was removed; check the GitOps source"),
            ));
        }
    }
    if detections.iter().any(|d| d.id == "cloud-metadata") {
        risks.push(risk(
            RiskLevel::Check,
            "a container connected to the cloud metadata service: the node's cloud credentials may have been taken; check the cloud's audit trail".into(),
        ));
    }
    if !source.gaps.is_empty() {
        risks.push(risk(
            RiskLevel::Unknown,
            format!(
                "{} artifact(s) could not be collected: what they would show is unknown",
                source.gaps.len()
            ),
        ));
    }
    if post_mortem.contained.is_none() {
        risks.push(risk(RiskLevel::Risk, "the journal records no successful containment action".into()));
    }
    risks.push(risk(
        RiskLevel::Unknown,
        "whether the attacker persisted elsewhere (other workloads, nodes, cloud accounts) is unknown from this case".into(),
    ));
    risks
}

/// The GitOps tool an object's labels or annotations say manages it.
fn gitops_owner(object: &Value) -> Option<&'static str> {
    let keys = ["/metadata/labels", "/metadata/annotations"]
        .iter()
        .filter_map(|pointer| object.pointer(pointer).and_then(Value::as_object))
        .flat_map(|map| map.keys());
    for key in keys {
        if key.starts_with("argocd.argoproj.io/") {
            return Some("Argo CD");
        }
        if key.starts_with("kustomize.toolkit.fluxcd.io/") || key.starts_with("helm.toolkit.fluxcd.io/") {
            return Some("Flux");
        }
    }
    None
}
