//! The report and the preventive controls of a fixed case: timeline order, measured times,
//! escaping of hostile case text, and snapshots of the Markdown and of the YAML.

use std::path::PathBuf;

use jiff::Timestamp;
use kir_evidence::{CaseInfo, CaseMetadata, JournalEntry};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::{CaseSource, Gap, Integrity, RecordedArtifact, TimelineKind, html, markdown, prevent, report_of};

const CREATED: &str = "2026-11-27T18:42:00Z";

fn at(time: &str) -> Timestamp {
    time.parse().unwrap()
}

fn entry(seq: u64, time: &str, actor: &str, action: &str, target: &str, result: Value) -> JournalEntry {
    JournalEntry {
        seq,
        time: at(time),
        actor: actor.into(),
        action: action.into(),
        target: Some(target.into()),
        parameters: json!({}),
        result,
        undo: Value::Null,
        prev_hash: "0".repeat(64),
        hash: "1".repeat(64),
    }
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "prod", "uid": "u1", "labels": {"argocd.argoproj.io/instance": "shop"}},
        "spec": {
            "containers": [
                {"name": "web", "image": "ghcr.io/acme/web:1.2", "securityContext": {"privileged": true}},
                {"name": "sidecar", "image": "nginx:1.27"},
            ],
        },
    })
}

fn events() -> Value {
    json!({"kind": "EventList", "items": [
        {"metadata": {"uid": "e2"}, "type": "Normal", "reason": "Started", "message": "Started container web",
         "involvedObject": {"kind": "Pod", "namespace": "prod", "name": "web-1"}, "lastTimestamp": "2026-11-27T18:30:00Z", "source": {"component": "kubelet"}},
        {"metadata": {"uid": "e1"}, "type": "Normal", "reason": "Scheduled", "message": "Successfully assigned prod/web-1",
         "involvedObject": {"kind": "Pod", "namespace": "prod", "name": "web-1"}, "eventTime": "2026-11-27T18:29:00Z", "reportingComponent": "default-scheduler"},
        {"metadata": {"uid": "e1"}, "reason": "Duplicate", "eventTime": "2026-11-27T18:29:00Z"},
    ]})
}

fn permissions() -> Value {
    json!({"user": "system:serviceaccount:prod:web", "namespace": "prod", "review": {"resourceRules": [
        {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"]},
        {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]},
    ]}})
}

/// A case as a compromised-pod response leaves it: opened, captured, snapshot findings,
/// isolated, replaced.
fn fixture() -> CaseSource {
    let artifact = |seq: u64, path: &str| RecordedArtifact {
        path: path.into(),
        sha256: "a".repeat(64),
        size: 100,
        truncated: false,
        time: at("2026-11-27T18:42:01Z"),
        actor: "kir".into(),
        source: "GET /api/v1/namespaces/prod/pods/web-1".into(),
        seq,
    };
    let entries = vec![
        entry(1, CREATED, "kir", "open-case", "20261127-184200-3fa9c1", json!("miner in prod/web")),
        entry(
            2,
            "2026-11-27T18:42:01Z",
            "kir",
            "collect",
            "pods/prod/web-1/u1/pod.json",
            json!({"sha256": "a".repeat(64), "size": 100, "truncated": false}),
        ),
        entry(
            3,
            "2026-11-27T18:42:01Z",
            "kir",
            "collect",
            "pods/prod/web-1/u1/events/pod.json",
            json!({"sha256": "a".repeat(64), "size": 100, "truncated": false}),
        ),
        entry(
            4,
            "2026-11-27T18:42:05Z",
            "alice",
            "snapshot.pod",
            "pod/prod/web-1",
            json!({"findings": [
                {"id": "miner-process", "severity": "critical", "title": "cryptominer process xmrig"},
                {"id": "cloud-metadata", "severity": "high", "title": "connection to the cloud metadata service 169.254.169.254"},
            ]}),
        ),
        entry(
            5,
            "2026-11-27T18:42:07Z",
            "alice",
            "isolate.create-networkpolicy",
            "pod/prod/web-1",
            json!({"status": "started"}),
        ),
        entry(
            6,
            "2026-11-27T18:42:08Z",
            "alice",
            "isolate.create-networkpolicy",
            "pod/prod/web-1",
            json!({"status": "applied", "error": null}),
        ),
        entry(
            7,
            "2026-11-27T18:43:10Z",
            "alice",
            "isolate.replacement",
            "pod/prod/web-1",
            json!({"replacement": "web-2", "ready": true}),
        ),
    ];
    CaseSource {
        path: PathBuf::from("/cases/20261127-184200-3fa9c1"),
        metadata: Some(CaseMetadata {
            format: 1,
            id: "20261127-184200-3fa9c1".into(),
            created: at(CREATED),
            info: CaseInfo {
                title: "miner in prod/web".into(),
                cluster: Some("https://10.0.0.1:6443".into()),
                context: Some("prod".into()),
                responder: Some("alice".into()),
                kir_version: "0.1.0".into(),
            },
        }),
        entries,
        integrity: Integrity { intact: true, problems: Vec::new() },
        artifacts: vec![
            artifact(2, "pods/prod/web-1/u1/pod.json"),
            artifact(3, "pods/prod/web-1/u1/events/pod.json"),
        ],
        gaps: vec![Gap {
            path: "pods/prod/web-1/u1/audit.jsonl".into(),
            source: "audit log".into(),
            reason: "no audit log reachable".into(),
        }],
        documents: vec![
            ("pods/prod/web-1/u1/pod.json".into(), pod()),
            ("pods/prod/web-1/u1/events/pod.json".into(), events()),
            ("pods/prod/web-1/u1/serviceaccount-permissions.json".into(), permissions()),
        ],
        unread: Vec::new(),
    }
}

fn now() -> Timestamp {
    at("2026-11-28T09:00:00Z")
}

#[test]
fn the_timeline_merges_actions_detections_and_events_in_time_order() {
    let report = report_of(&fixture(), now());
    let times: Vec<Timestamp> = report.timeline.iter().map(|item| item.time).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let kinds: Vec<TimelineKind> = report.timeline.iter().map(|item| item.kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == TimelineKind::Action).count(), 7, "every journal entry");
    assert_eq!(kinds.iter().filter(|k| **k == TimelineKind::Detection).count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == TimelineKind::Event).count(), 2, "a duplicate uid counts once");
    assert_eq!(report.timeline[0].result, "Normal Scheduled: Successfully assigned prod/web-1");
    // A detection journaled at the same moment as its snapshot entry comes after it.
    let snapshot = report.timeline.iter().position(|i| i.action == "snapshot.pod").unwrap();
    assert_eq!(report.timeline[snapshot + 1].kind, TimelineKind::Detection);
}

#[test]
fn measured_times_run_from_detection_to_proven_containment_and_last_recovery() {
    assert_eq!(crate::model::human(291), "291 ms");
    assert_eq!(crate::model::human(6_234), "6.2s");
    assert_eq!(crate::model::human(3_723_000), "1h 02m 03s");
    let report = report_of(&fixture(), now());
    let pm = &report.post_mortem;
    assert_eq!(pm.detected.as_ref().unwrap().what, "case opened", "it came before the first detection");
    assert_eq!(pm.time_to_contain.milliseconds, Some(8_000), "{:?}", pm.time_to_contain);
    assert!(pm.contained.as_ref().unwrap().what.starts_with("entry 6:"), "the started intent is no proof");
    assert_eq!(pm.time_to_recover.milliseconds, Some(70_000));
    assert_eq!(pm.time_to_detect.milliseconds, Some(13 * 60 * 1000), "first captured event to the case");

    let mut bare = fixture();
    bare.entries.truncate(1);
    bare.documents.clear();
    let report = report_of(&bare, now());
    let pm = &report.post_mortem;
    assert_eq!(pm.detected.as_ref().unwrap().what, "case opened");
    for measure in [&pm.time_to_detect, &pm.time_to_contain, &pm.time_to_recover] {
        assert_eq!(measure.milliseconds, None);
        assert!(measure.text.starts_with("not measured: "), "{}", measure.text);
    }
}

#[test]
fn techniques_come_from_the_detection_rules() {
    let report = report_of(&fixture(), now());
    let ids: Vec<&str> = report.techniques.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["T1496", "T1552.005"]);
}

#[test]
fn residual_risks_claim_only_what_the_case_shows() {
    let mut source = fixture();
    source.documents.push((
        "credentials/abc/credential.json".into(),
        json!({"kind": "bound service-account token", "user": "system:serviceaccount:prod:web",
               "token": {"claims": {"expiresAt": "2026-11-28T10:00:00Z"}}}),
    ));
    source.entries.push(entry(
        8,
        "2026-11-27T18:44:00Z",
        "alice",
        "respond.stolen-credentials.step",
        "token",
        json!({"status": "done"}),
    ));
    let risks: Vec<String> =
        report_of(&source, now()).residual_risks.iter().map(|r| r.text.clone()).collect();
    let all = risks.join("\n");
    assert!(
        all.contains("journaled as revoked, but its expiry 2026-11-28T10:00:00Z is later than now"),
        "{all}"
    );
    assert!(all.contains("managed by Argo CD"), "{all}");
    assert!(all.contains("not re-checked live"), "{all}");
    let later = report_of(&source, at("2026-11-29T00:00:00Z"));
    assert!(
        !later.residual_risks.iter().any(|r| r.text.contains("later than now")),
        "expired tokens are no risk"
    );
}

#[test]
fn live_containment_replaces_the_recorded_note_and_what_no_longer_holds_is_a_risk() {
    use crate::{LiveChange, LiveState};
    let recorded = report_of(&fixture(), now());
    assert!(recorded.residual_risks.iter().any(|r| r.text.contains("not re-checked live")));
    let changes = vec![
        LiveChange {
            change: "delete NetworkPolicy shop/kir-quarantine-1".into(),
            state: LiveState::InPlace,
            detail: "as kir made it".into(),
        },
        LiveChange {
            change: "delete NetworkPolicy shop/kir-quarantine-2".into(),
            state: LiveState::Changed,
            detail: "its spec <is> not kir's".into(),
        },
    ];
    let live = recorded.with_live_containment(now(), "https://10.0.0.1:6443", changes);
    assert!(live.containment.note.starts_with("re-checked against https://10.0.0.1:6443"));
    assert!(live.containment.note.ends_with("1 of 2 recorded change(s) in place"));
    assert!(!live.residual_risks.iter().any(|r| r.text.contains("not re-checked live")));
    let risk = &live.residual_risks[0];
    assert_eq!(risk.level, crate::RiskLevel::Risk);
    assert!(risk.text.contains("kir-quarantine-2 is changed now"), "{}", risk.text);
    let md = markdown::render(&live);
    assert!(
        md.contains("| delete NetworkPolicy shop/kir-quarantine-2 | changed | its spec \\<is\\> not kir's |")
            || md.contains("| changed |"),
        "{md}"
    );
    let page = html::render(&live);
    assert!(page.contains("<table id=\"containment\">") && page.contains("&lt;is&gt;"), "escaped: {page}");
}

#[test]
fn a_case_that_does_not_verify_says_so_on_the_first_line() {
    let mut source = fixture();
    source.integrity = Integrity {
        intact: false,
        problems: vec!["journal.jsonl line 3 (entry 3): its bytes do not match its hash".into()],
    };
    let report = report_of(&source, now());
    let md = markdown::render(&report);
    assert!(
        md.lines().next().unwrap().starts_with("**WARNING: this case does not verify: journal.jsonl line 3"),
        "{md}"
    );
    let page = html::render(&report);
    assert!(
        page.contains("<p class=\"warning\" id=\"integrity-warning\">WARNING: this case does not verify")
    );
    assert!(prevent::render(&source).starts_with("# WARNING: this case does not verify"));
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!("report_markdown", markdown::render(&report_of(&fixture(), now())));
}

#[test]
fn prevent_snapshot() {
    insta::assert_snapshot!("prevent_yaml", prevent::render(&fixture()));
}

#[test]
fn prevent_yaml_parses_as_documents_and_keeps_hostile_names_out_of_objects() {
    let mut source = fixture();
    let mut hostile = pod();
    hostile["metadata"]["namespace"] = json!("prod\nkind: ClusterRoleBinding");
    hostile["spec"]["containers"][0]["image"] = json!("evil.example/x:1\n---\nkind: Secret");
    source.documents.push(("pods/x/y/u2/pod.json".into(), hostile));
    source.entries.push(entry(
        9,
        "2026-11-27T18:45:00Z",
        "mallory",
        "isolate.label-pod",
        "pod/bad\n---/x",
        json!({}),
    ));
    let yaml = prevent::render(&source);
    assert!(!yaml.contains("ClusterRoleBinding") && !yaml.contains("kind: Secret"), "{yaml}");
    let documents: Vec<&str> = yaml.split("\n---\n").skip(1).collect();
    for document in documents {
        let value: Value = serde_saphyr::from_str(document).unwrap_or_else(|e| panic!("{e}: {document}"));
        assert!(value.get("kind").is_some(), "{document}");
    }
}

#[test]
fn hostile_journal_text_is_escaped_everywhere() {
    let mut source = fixture();
    let hostile =
        "</td></tr><script>alert(1)</script><img src=http://x/y> | `x` [a](javascript:b)\n# head\u{1b}[31m";
    source.entries.push(JournalEntry {
        actor: hostile.into(),
        target: Some(hostile.into()),
        ..entry(9, "2026-11-27T18:45:00Z", "x", hostile, "x", json!(hostile))
    });
    let report = report_of(&source, now());
    let page = html::render(&report);
    assert!(!page.contains("<script") && !page.contains("<img"), "{page}");
    assert!(page.contains("&lt;img src=http://x/y&gt;"), "the URL is text, not an attribute");
    assert!(!page.contains('\u{1b}'));
    let md = markdown::render(&report);
    let row = md.lines().find(|l| l.contains("alert(1)")).unwrap();
    let cells = row.match_indices('|').filter(|(i, _)| !row[..*i].ends_with('\\')).count();
    assert_eq!(cells, 8, "seven cells, none broken: {row}");
    assert!(!md.contains("\n# head") && !md.contains('\u{1b}'), "{md}");
    let raw_tags = md.match_indices('<').filter(|(i, _)| !md[..*i].ends_with('\\')).count();
    assert_eq!(raw_tags, 0, "every < is escaped: no raw HTML in the Markdown");
}

proptest! {
    /// Whatever a journal field holds, it stays inside its own table cell and its own tooltip.
    #[test]
    fn journal_text_never_leaves_its_html_element(text in ".{0,200}", markup in "[<>&\"'/a-z= ]{0,40}") {
        let hostile = format!("{markup}{text}");
        let mut source = fixture();
        source.entries = vec![JournalEntry {
            actor: hostile.clone(),
            target: Some(hostile.clone()),
            ..entry(1, CREATED, "x", &hostile, "x", json!(hostile))
        }];
        let page = html::render(&report_of(&source, now()));
        let row_start = page.find("<tr class=\"action\" data-seq=\"1\">").unwrap();
        let row = &page[row_start..page[row_start..].find("</tr>").unwrap() + row_start];
        // The row holds exactly its seven cells: no tag from the text opened or closed one.
        prop_assert_eq!(row.matches("<td").count(), 7);
        prop_assert_eq!(row.matches("</td>").count(), 7);
        let tags = row.matches('<').count();
        prop_assert_eq!(tags, 1 + 7 * 2, "{}", row);
        let circle_start = page.find("<circle").unwrap();
        let circle = &page[circle_start..page[circle_start..].find("</circle>").unwrap() + circle_start];
        prop_assert_eq!(circle.matches('<').count(), 3, "{}", circle);
    }
}

/// A real case folder, written by kir-evidence: a pod, its events and an isolation.
fn real_case(dir: &std::path::Path) -> PathBuf {
    let key = kir_evidence::JournalKey::load_or_create(dir.join("journal.key")).unwrap();
    let case = kir_evidence::Case::create_with_key(dir.join("case"), CaseInfo::new("real"), key).unwrap();
    let pod = serde_json::to_vec(&pod()).unwrap();
    case.store_bytes("pods/prod/web-1/u1/pod.json", "GET pod", &pod).unwrap();
    case.store_bytes(
        "pods/prod/web-1/u1/events/pod.json",
        "list events",
        &serde_json::to_vec(&events()).unwrap(),
    )
    .unwrap();
    case.record(
        kir_evidence::JournalRecord::new("alice", "isolate.label-pod")
            .target("pod/prod/web-1")
            .result(json!({"status": "applied"})),
    )
    .unwrap();
    let root = case.path().to_path_buf();
    drop(case);
    root
}

#[test]
fn a_real_case_is_read_with_its_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let case = real_case(dir.path());
    let source = CaseSource::read(&case).unwrap();
    assert!(source.integrity.intact, "{:?}", source.integrity);
    assert_eq!(source.documents.len(), 2, "{:?}", source.unread);
    let report = report_of(&source, now());
    assert_eq!(report.timeline.iter().filter(|i| i.kind == TimelineKind::Event).count(), 2);
    assert!(report.post_mortem.contained.is_some());
}

#[test]
fn links_and_altered_evidence_are_never_used() {
    let dir = tempfile::tempdir().unwrap();
    let case = real_case(dir.path());
    let pod = case.join("evidence/pods/prod/web-1/u1/pod.json");
    std::fs::remove_file(&pod).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &pod).unwrap();
    let events = case.join("evidence/pods/prod/web-1/u1/events/pod.json");
    let mut altered = std::fs::read(&events).unwrap();
    altered[0] = b' ';
    std::fs::write(&events, altered).unwrap();

    let source = CaseSource::read(&case).unwrap();
    assert!(!source.integrity.intact);
    assert!(source.documents.is_empty(), "{:?}", source.documents);
    let unread = source.unread.join("\n");
    assert!(unread.contains("is a link or special file: not followed"), "{unread}");
    assert!(unread.contains("not the ones journal entry 3 recorded"), "{unread}");
    let md = markdown::render(&report_of(&source, now()));
    assert!(md.starts_with("**WARNING: this case does not verify: "), "{md}");
}

#[test]
fn a_folder_that_is_not_a_case_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let error = CaseSource::read(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains(&dir.path().display().to_string()) && error.contains("journal.jsonl is missing"),
        "{error}"
    );
    std::fs::write(dir.path().join("journal.jsonl"), "").unwrap();
    let error = CaseSource::read(dir.path()).unwrap_err().to_string();
    assert!(error.contains("does not start with the open-case entry"), "{error}");
    let file = dir.path().join("journal.jsonl");
    assert!(CaseSource::read(&file).unwrap_err().to_string().contains("it is a file, not a folder"));
    assert!(matches!(CaseSource::read(&dir.path().join("nope")), Err(crate::Error::NotFound { .. })));
}

#[test]
fn the_html_page_loads_nothing_and_runs_nothing() {
    let page = html::render(&report_of(&fixture(), now()));
    for forbidden in ["<script", "src=", "href=", "url(", "@import", "<link", "<iframe", "<object"] {
        assert!(!page.contains(forbidden), "{forbidden} in the page");
    }
    assert!(page.contains("default-src 'none'"), "a CSP forbids every fetch");
    assert_eq!(page.matches("class=\"mark action\"").count(), 7, "one mark per journal action");
}
