//! Public labelled data: Falco's k8s-audit test cases, Tetragon's attack walkthrough and
//! Tracee's documented events.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use kir_audit::{Input, ScanOptions, ScanReport, scan};
use kir_detect::{AuditDetector, Finding, builtin, runtime::RuntimeDetector, runtime::read_events};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn detect_audit(path: &Path) -> (Vec<Finding>, ScanReport) {
    let detector = AuditDetector::new(builtin::audit_rules(), None);
    let mut grouping = detector.grouping();
    let report =
        scan(&[Input::File(path.to_path_buf())], &ScanOptions::default(), &detector, &|_| {}, &mut |hits| {
            hits.into_iter().for_each(|hit| grouping.add(hit));
            Ok(())
        })
        .unwrap();
    (detector.findings(grouping), report)
}

/// Falco rule → the kir rules that cover the same behaviour.
const COVERED: &[(&str, &[&str])] = &[
    ("Create Privileged Pod", &["kir-audit-privileged-pod"]),
    ("Create Sensitive Mount Pod", &["kir-audit-sensitive-hostpath-pod"]),
    ("Create HostNetwork Pod", &["kir-audit-host-namespace-pod"]),
    ("Create NodePort Service", &["kir-audit-nodeport-service"]),
    ("Create/Modify Configmap With Private Credentials", &["kir-audit-configmap-with-credentials"]),
    ("Anonymous Request Allowed", &["kir-audit-anonymous-request-allowed"]),
    ("Attach/Exec Pod", &["kir-audit-exec-into-pod", "kir-audit-exec-into-kube-system"]),
    ("Pod Created in Kube Namespace", &["kir-audit-pod-in-system-namespace"]),
    ("Service Account Created in Kube Namespace", &["kir-audit-service-account-in-system-namespace"]),
    ("System ClusterRole Modified/Deleted", &["kir-audit-system-role-modified"]),
    ("Attach to cluster-admin Role", &["kir-audit-cluster-admin-binding"]),
    ("ClusterRole With Wildcard Created", &["kir-audit-wildcard-role"]),
    ("ClusterRole With Pod Exec Created", &["kir-audit-role-grants-pod-exec"]),
];

/// Falco rules kir deliberately has no rule for, and why.
const NOT_COVERED: &[(&str, &str)] = &[
    ("Create Disallowed Pod", "site allow-list of images; kir ships no per-site list"),
    ("Disallowed K8s User", "site allow-list of users; use `kir baseline` for new identities"),
    ("Create Disallowed Namespace", "site allow-list of namespaces"),
    (
        "ClusterRole With Write Privileges Created",
        "fires on most ordinary roles; kir flags wildcard, escalation and exec grants instead",
    ),
    ("json_pointer_example", "a test of Falco's rule language, not a detection"),
];

/// Negative cases: which kir rules must stay silent, or why the case is not comparable.
const NEGATIVES: &[(&str, Result<&[&str], &str>)] = &[
    ("compat_engine_v4_create_allowed_pod", Err("image allow-list (Create Disallowed Pod)")),
    ("create_allowed_pod", Err("image allow-list (Create Disallowed Pod)")),
    (
        "compat_engine_v4_create_privileged_trusted_pod",
        Err("trusted-image list; kir reports privileged pods whatever the image"),
    ),
    (
        "create_privileged_trusted_pod",
        Err("trusted-image list; kir reports privileged pods whatever the image"),
    ),
    (
        "compat_engine_v4_create_hostnetwork_trusted_pod",
        Err("trusted-image list; kir reports host-network pods whatever the image"),
    ),
    (
        "create_hostnetwork_trusted_pod",
        Err("trusted-image list; kir reports host-network pods whatever the image"),
    ),
    (
        "create_sensitive_mount_trusted_pod",
        Err("trusted-image list; kir reports sensitive mounts whatever the image"),
    ),
    ("user_in_allowed_set", Err("user allow-list (Disallowed K8s User)")),
    ("namespace_in_allowed_set", Err("namespace allow-list (Create Disallowed Namespace)")),
    ("create_service_account_token_secret", Err("activity rule K8s Secret Created, not a detection")),
    ("create_kube_system_secret", Err("activity rule K8s Secret Created, not a detection")),
    ("compat_engine_v4_create_unprivileged_pod", Ok(&["kir-audit-privileged-pod"])),
    ("create_unprivileged_pod", Ok(&["kir-audit-privileged-pod"])),
    ("create_unprivileged_trusted_pod", Ok(&["kir-audit-privileged-pod"])),
    ("create_unsensitive_mount_pod", Ok(&["kir-audit-sensitive-hostpath-pod"])),
    ("create_unsensitive_mount_trusted_pod", Ok(&["kir-audit-sensitive-hostpath-pod"])),
    ("create_nohostnetwork_pod", Ok(&["kir-audit-host-namespace-pod"])),
    ("create_nohostnetwork_trusted_pod", Ok(&["kir-audit-host-namespace-pod"])),
    ("create_nonodeport_service", Ok(&["kir-audit-nodeport-service"])),
    ("create_configmap_no_private_creds", Ok(&["kir-audit-configmap-with-credentials"])),
    ("fal_01_003", Ok(&[])),
];

#[derive(serde::Deserialize)]
struct Case {
    test: String,
    trace_file: String,
    detect: bool,
    detect_counts: Option<Vec<std::collections::BTreeMap<String, u64>>>,
}

/// Every labelled Falco case kir covers gets Falco's verdict; the report lists every case.
/// The report is docs/falco-k8s-audit-coverage.md; KIR_UPDATE_DOCS=1 rewrites it.
#[test]
fn falco_k8s_audit_cases_get_the_same_verdict() {
    let dir = fixtures().join("falco-k8s-audit");
    let labels =
        std::fs::read_to_string(dir.join("test_falco_k8s_audit_tests.labels.extracted.json")).unwrap();
    let cases: Vec<Case> = serde_json::from_str(&labels).unwrap();
    let mut covered = Vec::new();
    let mut uncovered = Vec::new();
    let mut failures = Vec::new();
    for case in &cases {
        let trace = case.trace_file.rsplit('/').next().unwrap();
        let (findings, report) = detect_audit(&dir.join(format!("test_trace_files_k8s_audit_{trace}")));
        let fired: BTreeSet<&str> = findings.iter().map(|f| f.rule.id.as_str()).collect();
        if case.detect {
            for counts in case.detect_counts.iter().flatten() {
                for falco_rule in counts.keys() {
                    match COVERED.iter().find(|(f, _)| f == falco_rule) {
                        Some((_, kir_rules)) => {
                            let hit: Vec<&str> =
                                kir_rules.iter().copied().filter(|r| fired.contains(r)).collect();
                            if hit.is_empty() {
                                failures.push(format!(
                                    "{}: Falco fires {falco_rule:?}, kir none of {kir_rules:?}",
                                    case.test
                                ));
                            }
                            covered.push(format!(
                                "| `{}` | `{trace}` | {falco_rule} | detect | {} |",
                                case.test,
                                hit.join(", ")
                            ));
                        }
                        None => {
                            let reason = NOT_COVERED
                                .iter()
                                .find(|(f, _)| f == falco_rule)
                                .map(|(_, r)| r.to_string())
                                .unwrap_or_else(|| {
                                    "Falco activity-audit rule (records every create/delete), not a detection"
                                        .into()
                                });
                            uncovered
                                .push(format!("| `{}` | `{trace}` | {falco_rule} | {reason} |", case.test));
                        }
                    }
                }
            }
        } else {
            match NEGATIVES.iter().find(|(name, _)| *name == case.test).map(|(_, v)| v) {
                Some(Ok(silent)) => {
                    let wrong: Vec<&&str> = silent.iter().filter(|r| fired.contains(**r)).collect();
                    if !wrong.is_empty() {
                        failures.push(format!("{}: Falco stays silent, kir fires {wrong:?}", case.test));
                    }
                    if silent.is_empty() && (!findings.is_empty() || report.skipped_total() == 0) {
                        failures.push(format!(
                            "{}: the malformed trace is reported as skipped, with no findings",
                            case.test
                        ));
                    }
                    let what = if silent.is_empty() {
                        "no finding; the malformed line is reported".to_string()
                    } else {
                        format!("silent: {}", silent.join(", "))
                    };
                    covered.push(format!("| `{}` | `{trace}` | (none) | no detection | {what} |", case.test));
                }
                Some(Err(reason)) => {
                    uncovered.push(format!("| `{}` | `{trace}` | (none expected) | {reason} |", case.test))
                }
                None => {
                    failures.push(format!("{}: negative case missing from the NEGATIVES table", case.test))
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let report = format!(
        "# Falco k8s-audit test cases: kir's coverage\n\n\
         Generated by `crates/detect/tests/data.rs` (run it with `KIR_UPDATE_DOCS=1` to refresh) from the\n\
         labelled cases of falcosecurity/falco (commit 2583ea9, `test/falco_k8s_audit_tests.yaml`,\n\
         Apache-2.0; copies in `tests/fixtures/falco-k8s-audit/`). For every covered case kir gives\n\
         Falco's verdict; the test fails otherwise.\n\n\
         ## Covered: {} cases, same verdict as Falco\n\n\
         | case | trace | Falco rule | verdict | kir rules |\n| --- | --- | --- | --- | --- |\n{}\n\n\
         ## Not covered: {} cases\n\n\
         | case | trace | Falco rule | why kir has no equivalent |\n| --- | --- | --- | --- |\n{}\n",
        covered.len(),
        covered.join("\n"),
        uncovered.len(),
        uncovered.join("\n")
    );
    let doc = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/falco-k8s-audit-coverage.md");
    if std::env::var_os("KIR_UPDATE_DOCS").is_some() {
        std::fs::write(&doc, &report).unwrap();
    }
    let committed = std::fs::read_to_string(&doc).unwrap_or_default();
    assert_eq!(
        committed, report,
        "docs/falco-k8s-audit-coverage.md is out of date: run with KIR_UPDATE_DOCS=1"
    );
}

fn runtime_findings(paths: &[PathBuf]) -> (Vec<Finding>, ScanReport) {
    let detector = RuntimeDetector::new(builtin::runtime_rules());
    let inputs: Vec<Input> = paths.iter().cloned().map(Input::File).collect();
    let mut grouping = detector.grouping();
    let mut hits = Vec::new();
    let report = read_events(&inputs, &ScanOptions::default(), &mut |event| {
        detector.check(&event, &mut hits);
        hits.drain(..).for_each(|hit| grouping.add(hit));
    });
    (detector.findings(grouping), report)
}

fn tetragon_files(part: &str) -> Vec<PathBuf> {
    let dir = fixtures().join("tetragon");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(part))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{part}");
    files
}

fn ids(findings: &[Finding]) -> BTreeSet<String> {
    findings.iter().map(|f| f.rule.id.clone()).collect()
}

#[test]
fn tetragon_attacks_give_findings_and_benign_events_none() {
    let (benign, report) =
        runtime_findings(&[tetragon_files("_00_"), tetragon_files("testdata_events")].concat());
    assert_eq!(report.skipped_total(), 0, "{:?}", report.examples);
    assert!(report.events >= 18, "{}", report.events);
    assert!(benign.is_empty(), "benign: {benign:#?}");

    let (escape, _) = runtime_findings(&tetragon_files("01_reaching_the_host_namespace"));
    let found = ids(&escape);
    assert!(found.contains("kir-runtime-host-namespace-entry"), "{found:?}");
    assert!(found.contains("kir-runtime-interactive-shell-in-container"), "{found:?}");
    let nsenter = escape.iter().find(|f| f.rule.id == "kir-runtime-host-namespace-entry").unwrap();
    assert_eq!(nsenter.objects, ["default/privileged-pod"]);
    assert_eq!(nsenter.suggested_response, "kir respond compromised-pod default/privileged-pod");

    let (persistence, _) = runtime_findings(&tetragon_files("02_persistance"));
    assert!(
        ids(&persistence).contains("kir-runtime-execution-from-temporary-directory"),
        "{:?}",
        ids(&persistence)
    );

    let (exfiltration, _) = runtime_findings(&tetragon_files("03_post_exploitation"));
    let found = ids(&exfiltration);
    for expected in ["kir-runtime-exfiltration-tool", "kir-runtime-archive-of-collected-data"] {
        assert!(found.contains(expected), "{expected} missing from {found:?}");
    }
    let scp = exfiltration.iter().find(|f| f.rule.id == "kir-runtime-exfiltration-tool").unwrap();
    assert!(scp.evidence.iter().any(|e| e.contains("/usr/bin/scp")), "{:?}", scp.evidence);
    assert!(scp.suggested_response.contains("kir respond compromised-pod"), "{}", scp.suggested_response);
}

#[test]
fn tracee_documented_events_parse_and_none_is_an_attack() {
    let dir = fixtures().join("tracee");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let (findings, report) = runtime_findings(&files);
    assert_eq!(report.events, 17);
    assert_eq!(report.skipped_total(), 0, "{:?}", report.examples);
    // Network, file and exec events of ordinary programs; the one signature event is a sample
    // custom signature without a severity, which the sensor-alert rule leaves out.
    assert!(findings.is_empty(), "{findings:#?}");
}

/// Falco rules that are a site's allow-list or a test of Falco's language: they say nothing
/// about whether a behaviour is an attack.
const NOT_BEHAVIOURS: &[&str] =
    &["Create Disallowed Pod", "Disallowed K8s User", "Create Disallowed Namespace", "json_pointer_example"];

/// How the findings on one labelled data set compare with its labels, counted per (input file,
/// kir rule, outcome): `confirmed` where the labels name the behaviour, `contradicted` where
/// they say the input is benign, `unconfirmed` where the input holds an attack the labels name
/// otherwise (so they neither confirm nor contradict the finding).
#[derive(Default)]
struct Tally {
    confirmed: usize,
    contradicted: Vec<String>,
    unconfirmed: Vec<String>,
}

impl Tally {
    fn row(&self, name: &str) -> String {
        let all = self.confirmed + self.contradicted.len() + self.unconfirmed.len();
        let ratio = |n: usize, d: usize| {
            if d == 0 { "n/a".to_string() } else { format!("{:.1} %", 100.0 * n as f64 / d as f64) }
        };
        format!(
            "| {name} | {all} | {} | {} | {} | {} | {} |",
            self.confirmed,
            self.contradicted.len(),
            self.unconfirmed.len(),
            ratio(self.confirmed, self.confirmed + self.contradicted.len()),
            ratio(self.confirmed, all),
        )
    }
}

/// One unit of the tally: a rule on an input, as done or as an attempt.
fn units(findings: &[Finding]) -> BTreeSet<String> {
    findings
        .iter()
        .map(|f| format!("{} ({})", f.rule.id, f.outcome.map_or("runtime", |o| o.label())))
        .collect()
}

/// Precision of the built-in rules on the labelled public data. Prints the table that
/// docs/detect.md quotes: `cargo test -p kir-detect --test data precision -- --nocapture`.
///
/// - Falco k8s-audit traces: a trace's labels are the Falco detection rules its positive cases
///   expect (site allow-lists and Falco's activity records, `K8s ... Created/Deleted`, left
///   out); a finding is confirmed when [`COVERED`] maps one of them to its rule, contradicted
///   when the trace has no such label (Falco's full rule set calls it benign).
/// - Tetragon: files of the attack walkthrough (`01_`, `02_`, `03_`) are attacks, the `00_`
///   files and `testdata/events.json` benign.
/// - Tracee: unlabelled documentation examples of ordinary programs, counted as benign.
#[test]
fn precision_on_labelled_data() {
    let dir = fixtures().join("falco-k8s-audit");
    let labels =
        std::fs::read_to_string(dir.join("test_falco_k8s_audit_tests.labels.extracted.json")).unwrap();
    let cases: Vec<Case> = serde_json::from_str(&labels).unwrap();
    let mut traces: std::collections::BTreeMap<&str, BTreeSet<&str>> = Default::default();
    for case in &cases {
        let expected = traces.entry(case.trace_file.rsplit('/').next().unwrap()).or_default();
        for counts in case.detect_counts.iter().flatten().filter(|_| case.detect) {
            expected.extend(
                counts
                    .keys()
                    .map(String::as_str)
                    .filter(|r| !NOT_BEHAVIOURS.contains(r) && !r.starts_with("K8s ")),
            );
        }
    }
    let mut falco = Tally::default();
    for (trace, expected) in &traces {
        let (findings, _) = detect_audit(&dir.join(format!("test_trace_files_k8s_audit_{trace}")));
        for unit in units(&findings) {
            let rule = unit.split(' ').next().unwrap();
            let confirmed =
                expected.iter().any(|f| COVERED.iter().any(|(falco, kir)| falco == f && kir.contains(&rule)));
            if confirmed {
                falco.confirmed += 1;
            } else if expected.is_empty() {
                falco.contradicted.push(format!("{trace}: {unit}"));
            } else {
                falco.unconfirmed.push(format!("{trace}: {unit} (labels: {expected:?})"));
            }
        }
    }

    let mut tetragon = Tally::default();
    for file in tetragon_files(".json") {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let attack = ["_01_", "_02_", "_03_"].iter().any(|part| name.contains(part));
        let (findings, _) = runtime_findings(std::slice::from_ref(&file));
        for unit in units(&findings) {
            if attack {
                tetragon.confirmed += 1;
            } else {
                tetragon.contradicted.push(format!("{name}: {unit}"));
            }
        }
    }

    let mut tracee = Tally::default();
    let tracee_dir = fixtures().join("tracee");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&tracee_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    for file in files {
        let (findings, _) = runtime_findings(std::slice::from_ref(&file));
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        tracee.contradicted.extend(units(&findings).into_iter().map(|u| format!("{name}: {u}")));
    }

    println!(
        "| data set | findings | confirmed | contradicted | unconfirmed | precision | confirmed of all |\n\
         | --- | --- | --- | --- | --- | --- | --- |"
    );
    println!("{}", falco.row("Falco k8s-audit traces (47 files, 66 cases)"));
    println!("{}", tetragon.row("Tetragon walkthrough (41 files)"));
    println!("{}", tracee.row("Tracee documentation (5 files, unlabelled: benign)"));
    let mut contradicted = Vec::new();
    for (set, tally) in [("falco", &falco), ("tetragon", &tetragon), ("tracee", &tracee)] {
        for unit in &tally.contradicted {
            println!("contradicted, {set}: {unit}");
            contradicted.push(unit.clone());
        }
        for unit in &tally.unconfirmed {
            println!("unconfirmed, {set}: {unit}");
        }
    }
    assert!(contradicted.is_empty(), "findings on inputs labelled benign: {contradicted:#?}");
}
