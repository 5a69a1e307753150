//! `kir audit`, `kir detect` and `kir baseline` on files: outputs, filters, exit codes and
//! the report of skipped records.

use std::{io::Write, path::PathBuf};

use crate::util::{kir, run};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn falco_traces() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join("falco-k8s-audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("test_trace_files_k8s_audit_"))
        .filter(|p| !p.ends_with("test_trace_files_k8s_audit_fal_01_003.json"))
        .collect();
    files.sort();
    files
}

/// All Falco trace events in one file, plus (when asked) a few broken lines.
fn combined_log(dir: &std::path::Path, broken: bool) -> PathBuf {
    let path = dir.join("audit.log");
    let mut file = std::fs::File::create(&path).unwrap();
    for trace in falco_traces() {
        let mut bytes = std::fs::read(trace).unwrap();
        if !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        file.write_all(&bytes).unwrap();
    }
    if broken {
        file.write_all(b"{\"auditID\":\"cut-off\",\"verb\":\"get\"\n\xff\xfe not utf-8\n").unwrap();
    }
    path
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[test]
fn search_prints_the_matching_events_themselves_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = combined_log(dir.path(), false);
    let out = run(kir().arg("audit").arg("search").arg(&log).args([
        "--user",
        "minikube-user",
        "--verb",
        "create",
        "-o",
        "json",
    ]))
    .success();
    let events = json_lines(&out.stdout);
    let expected: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["user"]["username"] == "minikube-user" && e["verb"] == "create")
        .collect();
    assert!(expected.len() > 10);
    assert_eq!(events, expected, "the events unchanged, in input order");

    let out =
        run(kir().arg("audit").arg("search").arg(&log).args(["--resource", "pods/exec", "--code", "1xx"]))
            .success();
    assert!(out.stdout.starts_with("TIME"), "{}", out.stdout);
    assert!(
        out.stdout.contains("pods/exec") && out.stdout.contains("default/nginx-deployment-7998647bdf-phvq7"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("1 matching event"), "{}", out.stderr);

    let out = run(kir().arg("audit").arg("search").arg(&log).args([
        "-n",
        "kube-system",
        "--ip",
        "192.168.99.0/24",
        "-o",
        "json",
    ]))
    .success();
    let events = json_lines(&out.stdout);
    assert!(!events.is_empty() && events.iter().all(|e| e["objectRef"]["namespace"] == "kube-system"));
}

#[test]
fn skipped_records_are_reported_with_position_and_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let log = combined_log(dir.path(), true);
    let lines = std::fs::read(&log).unwrap().iter().filter(|b| **b == b'\n').count();
    let out = run(kir().arg("audit").arg("search").arg(&log).args(["--verb", "delete", "-o", "json"]));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert_eq!(json_lines(&out.stdout).len(), 9, "everything readable was read: the 9 deletes");
    assert!(out.stderr.contains("skipped 2 records"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("audit.log:{}: truncated JSON", lines - 1)), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("audit.log:{}: invalid UTF-8", lines)), "{}", out.stderr);
}

#[test]
fn bad_flags_and_inputs_are_named() {
    let cases: &[(&[&str], i32, &str)] = &[
        (&["audit", "search", "x.log", "--ip", "10.0.0.0/99"], 2, "--ip"),
        (&["audit", "search", "x.log", "--since", "yesterday"], 2, "--since"),
        (&["audit", "search", "x.log", "--code", "abc"], 2, "--code"),
        (&["audit", "search", "x.log", "--since", "1h", "--until", "2h"], 2, "after --until"),
        (&["audit", "timeline", "x.log"], 2, "--user"),
        (&["audit", "search", "/no/such/audit.log"], 1, "/no/such/audit.log"),
        (&["audit", "search"], 2, "FILE"),
        (&["detect", "audit", "x.log", "--rules", "/no/such/rules"], 1, "/no/such/rules"),
        (&["detect", "audit", "x.log", "--no-builtin"], 2, "--rules"),
    ];
    for (args, code, needle) in cases {
        let out = run(kir().args(*args));
        assert_eq!(out.code, *code, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn stats_and_timeline_summarise_a_credential() {
    let dir = tempfile::tempdir().unwrap();
    let log = combined_log(dir.path(), false);
    let out = run(kir().arg("audit").arg("stats").arg(&log).args(["-o", "json"])).success();
    let stats = out.json();
    let users = stats["users"].as_array().unwrap();
    let minikube = users.iter().find(|u| u["name"] == "minikube-user").unwrap();
    assert!(minikube["events"].as_u64().unwrap() > 20);
    assert_eq!(minikube["sourceIps"]["192.168.99.1"], 34);
    assert_eq!(minikube["sourceIps"]["192.168.64.1"], 2);
    assert_eq!(minikube["hours"].as_array().unwrap().len(), 24);
    assert!(stats["sourceIps"].as_array().unwrap().iter().any(|i| i["name"] == "192.168.99.1"));

    let out =
        run(kir().arg("audit").arg("timeline").arg(&log).args(["--user", "minikube-user", "-o", "json"]))
            .success();
    let entries = json_lines(&out.stdout);
    let categories: Vec<&str> = entries.iter().map(|e| e["category"].as_str().unwrap()).collect();
    assert_eq!(categories[0], "binding-written", "bindings first: {categories:?}");
    let first_read = categories.iter().position(|c| *c == "read").unwrap_or(categories.len());
    assert!(categories[..first_read].contains(&"pod-access"));
    assert!(categories[first_read..].iter().all(|c| *c == "read"), "reads last");
    let out = run(kir().arg("audit").arg("timeline").arg(&log).args(["--user", "minikube-user"])).success();
    assert!(out.stdout.contains("== role bindings written"), "{}", out.stdout);
}

#[test]
fn detect_audit_reports_findings_with_exit_3_and_sigma_rules_load() {
    let dir = tempfile::tempdir().unwrap();
    let log = combined_log(dir.path(), false);
    let out = run(kir().args(["detect", "audit"]).arg(&log).args(["-o", "json"]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    let findings = json_lines(&out.stdout);
    let binding = findings.iter().find(|f| f["rule"]["id"] == "kir-audit-cluster-admin-binding").unwrap();
    for field in [
        "severity",
        "attack",
        "user",
        "sourceIPs",
        "objects",
        "auditIDs",
        "first",
        "last",
        "suggestedResponse",
    ] {
        assert!(binding.get(field).is_some(), "{field} missing: {binding}");
    }
    assert_eq!(binding["user"], "minikube-user");
    assert_eq!(binding["auditIDs"].as_array().unwrap().len(), 1);
    assert!(binding["rule"]["title"].as_str().unwrap().contains("cluster-admin"));

    let sigma = fixtures().join("sigma");
    let out = run(kir()
        .args(["detect", "audit", "--no-builtin", "--rules"])
        .arg(&sigma)
        .arg(&log)
        .args(["-o", "json"]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("unsupported-modifier.yml") && out.stderr.contains("base64offset"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("other-log-source"), "other products are left out quietly: {}", out.stderr);
    let ids: Vec<String> =
        json_lines(&out.stdout).iter().map(|f| f["rule"]["id"].as_str().unwrap().to_string()).collect();
    for id in [
        "5b0f7a3e-8c1d-4b7e-9f3a-0d6e2c1a9b01", // pod exec
        "6c1a8b4f-9d2e-4c8f-a04b-1e7f3d2b0c12", // hostPath pseudo-field
    ] {
        assert!(ids.contains(&id.to_string()), "{id} missing from {ids:?}");
    }

    let benign = dir.path().join("benign.log");
    std::fs::write(
        &benign,
        std::fs::read(fixtures().join("falco-k8s-audit/test_trace_files_k8s_audit_create_configmap.json"))
            .unwrap(),
    )
    .unwrap();
    let out = run(kir().args(["detect", "audit"]).arg(&benign));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("no findings"));
}

#[test]
fn baselines_are_learned_and_flag_departures() {
    let dir = tempfile::tempdir().unwrap();
    let event = |i: usize, ip: &str, agent: &str, hour: u32| {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"b-{i}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/pods","verb":"list","user":{{"username":"deployer"}},"sourceIPs":["{ip}"],"userAgent":"{agent}","objectRef":{{"resource":"pods","namespace":"prod"}},"responseStatus":{{"code":200}},"stageTimestamp":"2026-11-2{}T{hour:02}:{:02}:00Z"}}"#,
            i % 7,
            i % 60
        )
    };
    let past: String =
        (0..100).map(|i| event(i, "10.0.0.5", "kubectl/v1.33.0", 9 + (i % 8) as u32) + "\n").collect();
    let history = dir.path().join("history.log");
    std::fs::write(&history, past).unwrap();
    let baseline = dir.path().join("baseline.json");
    let out = run(kir().args(["baseline", "learn"]).arg(&history).arg("--to").arg(&baseline)).success();
    assert!(out.stderr.contains("baseline of 1 identities from 100 events"), "{}", out.stderr);
    let today = dir.path().join("today.log");
    std::fs::write(
        &today,
        [event(1, "10.0.0.5", "kubectl/v1.34.1", 10), event(2, "198.51.100.23", "python-requests/2.32", 3)]
            .join("\n"),
    )
    .unwrap();
    let out = run(kir()
        .args(["detect", "audit", "--no-builtin", "--baseline"])
        .arg(&baseline)
        .arg(&today)
        .args(["-o", "json"]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    let ids: Vec<String> =
        json_lines(&out.stdout).iter().map(|f| f["rule"]["id"].as_str().unwrap().to_string()).collect();
    for id in ["kir-baseline-new-source-network", "kir-baseline-new-user-agent", "kir-baseline-unusual-hour"]
    {
        assert!(ids.contains(&id.to_string()), "{id} missing from {ids:?}");
    }
    assert!(
        json_lines(&out.stdout).iter().all(|f| f["auditIDs"] == serde_json::json!(["b-2"])),
        "only the odd call"
    );

    std::fs::write(&baseline, "{\"not\": \"a baseline\"}").unwrap();
    let out = run(kir().args(["detect", "audit", "--baseline"]).arg(&baseline).arg(&today));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not a kir baseline"), "{}", out.stderr);
}

#[test]
fn detect_runtime_reads_sensor_events() {
    let tetragon = fixtures().join("tetragon");
    let attack: Vec<PathBuf> = std::fs::read_dir(&tetragon)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("01_reaching_the_host_namespace"))
        .collect();
    let out = run(kir().args(["detect", "runtime", "-o", "json"]).args(&attack));
    assert_eq!(out.code, 3, "{}", out.stderr);
    let findings = json_lines(&out.stdout);
    assert!(
        findings
            .iter()
            .all(|f| f["suggestedResponse"] == "kir respond compromised-pod default/privileged-pod"),
        "{findings:?}"
    );
    let out = run(kir().args(["detect", "runtime"]).arg(fixtures().join("tracee")));
    // The folder also holds the NOTICE file, which is not JSON: reported, exit 4.
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("NOTICE:1"), "{}", out.stderr);
    let out = run(kir().args(["detect", "rules", "-o", "json"])).success();
    assert!(out.json().as_array().unwrap().len() >= 40);
}

/// The client writes `X-Forwarded-For`, which the API server lists first in `sourceIPs`: a
/// client varying it still makes one burst from its peer, and tables show the peer.
#[test]
fn forwarded_for_claims_neither_hide_a_burst_nor_pass_as_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let denial = |i: usize| {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"x-{i}","stage":"ResponseComplete","requestURI":"/api/v1/secrets","verb":"list","user":{{"username":"mallory"}},"sourceIPs":["198.51.100.{i}","10.0.0.9"],"objectRef":{{"resource":"secrets"}},"responseStatus":{{"code":403}},"stageTimestamp":"2026-11-27T10:00:{i:02}Z"}}"#
        )
    };
    let log = dir.path().join("enumeration.log");
    std::fs::write(&log, (0..30).map(|i| denial(i) + "\n").collect::<String>()).unwrap();

    let out = run(kir().args(["detect", "audit"]).arg(&log).args(["-o", "json"]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    let findings = json_lines(&out.stdout);
    let burst = findings.iter().find(|f| f["rule"]["id"] == "kir-audit-authorization-failure-burst").unwrap();
    assert_eq!(burst["count"], 30);
    assert_eq!(burst["sourceIPs"], serde_json::json!(["10.0.0.9"]));
    assert_eq!(burst["forwardedFor"].as_array().unwrap().len(), 30);

    let out = run(kir().args(["audit", "search"]).arg(&log).args(["--code", "403"])).success();
    assert!(out.stdout.contains("10.0.0.9 (xff 198.51.100.0)"), "{}", out.stdout);
    let out =
        run(kir().args(["audit", "search"]).arg(&log).args(["--ip", "198.51.100.7", "-o", "json"])).success();
    assert_eq!(json_lines(&out.stdout).len(), 1, "--ip matches a claimed address too");
    let out = run(kir().args(["audit", "stats"]).arg(&log).args(["-o", "json"])).success();
    let ips = out.json()["sourceIps"].clone();
    assert_eq!(
        ips,
        serde_json::json!([{"name": "10.0.0.9", "events": 30, "forwarded": 30, "users": {"mallory": 30}, "first": "2026-11-27T10:00:00Z", "last": "2026-11-27T10:00:29Z"}])
    );
}
