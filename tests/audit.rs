//! `kir audit`, `kir detect` and `kir baseline` on files: outputs, filters, exit codes and
//! the report of skipped records; `kir audit timeline --credential-id` on the testbed API
//! server's own audit log.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

use base64::Engine;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::{
    Api, Client, Config,
    api::{ObjectMeta, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    scene::eventually,
    testbed::{Testbed, testbed},
    util::{kir, run},
};

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
    // A search for one user decodes only the lines naming it, and still counts every line read.
    let lines = std::fs::read_to_string(&log).unwrap().lines().filter(|l| !l.trim().is_empty()).count();
    let out = run(kir().arg("audit").arg("search").arg(&log).args(["--user", "minikube-user"])).success();
    assert!(out.stderr.contains(&format!("; {lines} events read from 1 input")), "{}", out.stderr);

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
        (&["audit", "timeline", "x.log"], 2, "--user or --credential-id"),
        (&["audit", "timeline", "x.log", "--credential-id", "JTI="], 2, "--credential-id"),
        (&["audit", "search", "x.log", "--credential-id", "X509SHA256=abc"], 2, "X509SHA256=<64 hex digits>"),
        (
            &["audit", "stats", "x.log", "--credential-id", "system:serviceaccount:ci:x"],
            2,
            "bare JTI (a UUID)",
        ),
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

/// An audit event received at `time`, for the time-filter tests.
fn timed_event(i: usize, time: jiff::Timestamp) -> String {
    let received = time.strftime("%Y-%m-%dT%H:%M:%S.%6fZ");
    let stage = (time + jiff::SignedDuration::from_millis(3)).strftime("%Y-%m-%dT%H:%M:%S.%6fZ");
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"t-{i}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/pods","verb":"list","user":{{"username":"ops"}},"sourceIPs":["10.0.0.5"],"objectRef":{{"resource":"pods","namespace":"prod"}},"responseStatus":{{"code":200}},"requestReceivedTimestamp":"{received}","stageTimestamp":"{stage}"}}"#
    )
}

/// `date` (GNU coreutils) as a second opinion on time zones: `date -d @SECONDS` in `zone`.
fn gnu_date(zone: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("date").env("TZ", zone).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// How many events of `log` jq selects between two epoch-second expressions (jq's `now` for
/// times ago), by `requestReceivedTimestamp`.
fn jq_count(log: &std::path::Path, lo: &str, hi: &str) -> usize {
    let filter = format!(
        r#"[inputs | select((.requestReceivedTimestamp | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) as $t | $t >= ({lo}) and $t <= ({hi}))] | length"#
    );
    let out = std::process::Command::new("jq").arg("-n").arg(&filter).arg(log).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().parse().unwrap()
}

/// Every form `--since`/`--until` read selects exactly what jq selects with the instant written
/// out (and computed apart, by GNU date for the zones): RFC 3339 with Z or an offset, a date
/// and time without zone in the local zone or in UTC with --utc, a date from its 00:00, and a
/// time ago. A date and time without zone used to match its whole day.
#[test]
fn every_time_form_selects_what_jq_selects() {
    let dir = tempfile::tempdir().unwrap();
    let now = jiff::Timestamp::now();
    // One event every 10 minutes over five days, kept 5 minutes away from the marks the times
    // ago give and more than 2 seconds from any whole minute (dates start at one).
    let mut phase = 300;
    while (now.as_second() - phase).rem_euclid(60) < 3 || (now.as_second() - phase).rem_euclid(60) > 57 {
        phase += 10;
    }
    let times: Vec<jiff::Timestamp> =
        (0..720).map(|k| now - jiff::SignedDuration::from_secs(k * 600 + phase)).collect();
    let log = dir.path().join("audit.log");
    let text: String = times.iter().enumerate().map(|(i, t)| timed_event(i, *t) + "\n").collect();
    std::fs::write(&log, text).unwrap();

    // Absolute bounds 150 s after an event, as whole seconds.
    let mark = |k: usize| times[k].as_second() + 150;
    let (lo, hi) = (mark(400), mark(100));
    let lo_s = lo.to_string();
    let hi_s = hi.to_string();
    let iso = |zone: &str, at: i64| gnu_date(zone, &["-d", &format!("@{at}"), "+%Y-%m-%dT%H:%M:%S%:z"]);
    let civil = |zone: &str, at: i64| gnu_date(zone, &["-d", &format!("@{at}"), "+%Y-%m-%dT%H:%M:%S"]);
    let day = gnu_date("America/New_York", &["-d", &format!("@{lo}"), "+%Y-%m-%d"]);
    let midnight = gnu_date("America/New_York", &["-d", &format!("{day} 00:00"), "+%s"]);
    let utc_iso = gnu_date("UTC", &["-d", &format!("@{lo}"), "+%Y-%m-%dT%H:%M:%SZ"]);

    // (zone of the process, kir's flags, jq's lower and upper bounds, what stderr says)
    let cases: Vec<(&str, Vec<String>, String, String, &str)> = vec![
        ("UTC", vec!["--since".into(), utc_iso], lo_s.clone(), "1e12".into(), ""),
        (
            "UTC",
            vec!["--since".into(), iso("Asia/Kolkata", lo), "--until".into(), iso("America/Sao_Paulo", hi)],
            lo_s.clone(),
            hi_s.clone(),
            "",
        ),
        (
            "Europe/Paris",
            vec!["--since".into(), civil("Europe/Paris", lo), "--until".into(), civil("Europe/Paris", hi)],
            lo_s.clone(),
            hi_s.clone(),
            "read as local time (Europe/Paris)",
        ),
        (
            "Europe/Paris",
            vec!["--since".into(), civil("UTC", lo), "--utc".into()],
            lo_s.clone(),
            "1e12".into(),
            "read as UTC (--utc)",
        ),
        (
            "America/New_York",
            vec!["--since".into(), day.clone()],
            midnight.clone(),
            "1e12".into(),
            "local time",
        ),
        ("UTC", vec!["--since".into(), "90m".into()], "now - 5400".into(), "1e12".into(), ""),
        (
            "UTC",
            vec!["--since".into(), "3d".into(), "--until".into(), "2h".into()],
            "now - 259200".into(),
            "now - 7200".into(),
            "",
        ),
    ];
    for (zone, flags, lo, hi, note) in cases {
        let out =
            run(kir().env("TZ", zone).args(["audit", "search"]).arg(&log).args(&flags).args(["-o", "json"]))
                .success();
        let kir_count = json_lines(&out.stdout).len();
        let jq = jq_count(&log, &lo, &hi);
        assert!(jq > 0 && jq < 720, "{flags:?}: a window that tells something ({jq})");
        assert_eq!(kir_count, jq, "{flags:?} in {zone}: kir against jq {lo}..{hi}\n{}", out.stderr);
        if note.is_empty() {
            assert!(!out.stderr.contains("without a zone"), "{flags:?}: {}", out.stderr);
        } else {
            assert!(out.stderr.contains(note), "{flags:?}: {}", out.stderr);
        }
    }

    let out = run(kir().args(["audit", "search"]).arg(&log).args(["--since", "last tuesday"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    for needle in ["--since", "last tuesday", "RFC 3339", "2026-11-27T10:00", "90m"] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
}

/// `detect audit` keeps to the window too: the same burst inside it is found, outside not.
#[test]
fn detect_audit_reads_only_the_window_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let denial = |i: usize| {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"w-{i}","stage":"ResponseComplete","requestURI":"/api/v1/secrets","verb":"list","user":{{"username":"mallory"}},"sourceIPs":["10.0.0.9"],"objectRef":{{"resource":"secrets"}},"responseStatus":{{"code":403}},"requestReceivedTimestamp":"2026-11-27T10:00:{i:02}.000000Z","stageTimestamp":"2026-11-27T10:00:{i:02}.001000Z"}}"#
        )
    };
    let log = dir.path().join("burst.log");
    let untimed = r#"{"auditID":"w-x","verb":"list","requestURI":"/api/v1/secrets","user":{"username":"mallory"},"stageTimestamp":"soon"}"#;
    std::fs::write(&log, (0..30).map(|i| denial(i) + "\n").collect::<String>() + untimed + "\n").unwrap();
    let out = run(kir().args(["detect", "audit"]).arg(&log).args(["--since", "2026-11-27T09:00:00Z"]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("left out by --since/--until: 1 event without a readable"),
        "left out, and said: {}",
        out.stderr
    );
    let out = run(kir().args(["detect", "audit"]).arg(&log).args(["--until", "2026-11-27", "--utc"]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("no findings") && out.stderr.contains("read as UTC"), "{}", out.stderr);
    let out = run(kir().args(["detect", "audit"]).arg(&log).args(["--until", "soon"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--until") && out.stderr.contains("soon"), "{}", out.stderr);
}

/// A line over the record limit (64 MiB) without a newline, alone in its input: reported with
/// its line and exit 4 from a plain file, standard input and gzip alike (standard input and
/// gzip dropped it silently, exit 0).
#[test]
fn a_huge_last_line_is_reported_from_every_input_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = br#"{"auditID":"huge","pad":""#.to_vec();
    bytes.resize(bytes.len() + (65 << 20), b'x');
    let plain = dir.path().join("huge.log");
    std::fs::write(&plain, &bytes).unwrap();
    let gzip = dir.path().join("huge.log.gz");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -1 -c '{}' > '{}'", plain.display(), gzip.display()))
        .status()
        .unwrap();
    assert!(status.success());
    let check = |out: crate::util::Run, what: &str| {
        assert_eq!(out.code, 4, "{what}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{what}: {}", out.stdout);
        assert!(out.stderr.contains(":1: line too long"), "{what}: {}", out.stderr);
    };
    check(run(kir().args(["audit", "search", "-o", "json"]).arg(&plain)), "plain");
    check(run(kir().args(["audit", "search", "-o", "json"]).arg(&gzip)), "gzip");
    let mut child = kir()
        .args(["audit", "search", "-o", "json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    check(
        crate::util::Run {
            code: output.status.code().unwrap(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        },
        "stdin",
    );
}

/// A named pipe, a dangling link and a link loop inside an input folder are named with exit 4;
/// the pipe is never opened, so the scan does not wait for a writer.
#[test]
fn odd_entries_of_an_input_folder_are_named_and_never_block() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(logs.join("a.log"), timed_event(1, "2026-11-27T10:00:00Z".parse().unwrap()) + "\n")
        .unwrap();
    let fifo = std::ffi::CString::new(logs.join("pipe").into_os_string().into_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink(logs.join("gone.log"), logs.join("dangling.log")).unwrap();
    std::os::unix::fs::symlink(logs.join("loop"), logs.join("loop")).unwrap();
    let out = run(kir().args(["audit", "search", "-o", "json"]).arg(&logs));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert_eq!(json_lines(&out.stdout).len(), 1);
    for needle in [
        "skipped 3 records of 4 inputs",
        "pipe: unreadable input: named pipe",
        "dangling.log: unreadable input: dangling symbolic link",
        "loop: unreadable input: symbolic link that cannot be followed",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
}

/// A privileged container beside a sibling nested 130 levels deep (past serde_json's limit)
/// used to pass every rule: the body failed to parse as a whole.
#[test]
fn a_deeply_nested_body_hides_no_privileged_pod() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!("{}1{}", "[".repeat(130), "]".repeat(130));
    let event = format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"deep-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/pods","verb":"create","user":{{"username":"mallory"}},"sourceIPs":["10.0.0.9"],"objectRef":{{"resource":"pods","namespace":"prod","name":"x","apiVersion":"v1"}},"responseStatus":{{"code":201}},"requestObject":{{"metadata":{{"name":"x","annotations":{{"pad":"1"}},"deep":{deep}}},"spec":{{"containers":[{{"name":"c","image":"busybox","securityContext":{{"privileged":true}}}}]}}}},"requestReceivedTimestamp":"2026-11-27T10:00:00.000000Z","stageTimestamp":"2026-11-27T10:00:00.002000Z"}}"#
    );
    let log = dir.path().join("deep.log");
    std::fs::write(&log, event + "\n").unwrap();
    let out = run(kir().args(["detect", "audit", "-o", "json"]).arg(&log));
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    let ids: Vec<String> =
        json_lines(&out.stdout).iter().map(|f| f["rule"]["id"].as_str().unwrap().to_string()).collect();
    assert!(ids.contains(&"kir-audit-privileged-pod".to_string()), "{ids:?}");
}

/// C1 and bidirectional controls that a client put in its user agent or an object name reach
/// no terminal raw, in any output format; -o json stays the same JSON.
#[test]
fn audit_output_carries_no_raw_terminal_controls() {
    let dir = tempfile::tempdir().unwrap();
    let event = serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "c1-1", "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/prod/pods/x", "verb": "get",
        "user": {"username": "mallory\u{9b}2J\u{202e}gpj.exe",
                 "extra": {"authentication.kubernetes.io/credential-id": ["JTI=c1\u{9b}2J\u{202e}"]}},
        "annotations": {"authentication.k8s.io/legacy-token-manual-secret": "tok\u{1b}]0;x\u{7}\u{2066}"},
        "sourceIPs": ["10.0.0.9"], "userAgent": "curl\u{9d}0;title\u{9c}\u{7f}",
        "objectRef": {"resource": "pods", "namespace": "prod", "name": "x\u{2066}y"},
        "responseStatus": {"code": 200}, "stageTimestamp": "2026-11-27T10:00:00Z"
    });
    let log = dir.path().join("controls.log");
    std::fs::write(&log, serde_json::to_string(&event).unwrap() + "\n").unwrap();
    let raw = |text: &str| {
        text.chars().any(|c| {
            (c.is_control() && c != '\n') || ('\u{2066}'..='\u{2069}').contains(&c) || c == '\u{202e}'
        })
    };
    for (command, format) in [
        ("search", "json"),
        ("search", "yaml"),
        ("search", "table"),
        ("stats", "json"),
        ("stats", "yaml"),
        ("stats", "table"),
        ("timeline", "json"),
        ("timeline", "yaml"),
        ("timeline", "table"),
    ] {
        let mut kir = kir();
        kir.args(["audit", command]).arg(&log).args(["-o", format]);
        if command == "timeline" {
            kir.args(["--user", "mallory*"]);
        }
        let out = run(&mut kir).success();
        assert!(
            !raw(&out.stdout) && !raw(&out.stderr),
            "{command} -o {format}:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    let out = run(kir().args(["audit", "search", "-o", "json"]).arg(&log)).success();
    assert_eq!(json_lines(&out.stdout), [event], "the same values, escaped");
    let out = run(kir().args(["audit", "timeline", "--user", "mallory*"]).arg(&log)).success();
    for shown in ["JTI=c1\\u{9b}2J\\u{202e}", "secret: tok\\u{1b}]0;x\\u{7}\\u{2066}"] {
        assert!(out.stdout.contains(shown), "{shown}: {}", out.stdout);
    }
}

/// A kube client that authenticates with `token` alone, through a kubeconfig of its own (the
/// testbed's server and CA) as a leaked token would be used.
async fn client_with_token(tb: &Testbed, token: &str, dir: &Path, name: &str) -> Client {
    let path = crate::scene::token_kubeconfig(&tb.kubeconfig, token, &dir.join(format!("{name}.kubeconfig")));
    let kubeconfig = Kubeconfig::read_from(&path).unwrap();
    Client::try_from(Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap())
        .unwrap()
}

/// The `jti` claim of a JWT, read from its payload.
fn jti_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
            .unwrap();
    claims["jti"].as_str().expect("the API server gives its tokens a jti").to_string()
}

/// A GET of a ConfigMap by `client`: refused (the account may read nothing), and logged.
async fn probe(client: &Client, ns: &str, name: &str) {
    let refused = Api::<ConfigMap>::namespaced(client.clone(), ns).get(name).await;
    assert!(matches!(refused, Err(kube::Error::Api(ref e)) if e.code == 403), "{refused:?}");
}

/// The audit ids of the testbed's events by `user` on the object `name`, once there are any.
async fn logged(tb: &Testbed, user: &str, name: &str) -> Vec<String> {
    let find = || -> Vec<String> {
        tb.audit_events()
            .into_iter()
            .filter(|e| e["user"]["username"] == user && e["objectRef"]["name"] == name)
            .map(|e| e["auditID"].as_str().unwrap().to_string())
            .collect()
    };
    eventually(
        &format!("{user}'s request for {name} reaches the audit log"),
        Duration::from_secs(20),
        || {
            let found = !find().is_empty();
            async move { found }
        },
    )
    .await;
    find()
}

fn timeline(tb: &Testbed, args: &[&str]) -> Vec<Value> {
    let out = run(kir().args(["audit", "timeline", "-o", "json"]).arg(&tb.audit_log).args(args)).success();
    json_lines(&out.stdout)
}

/// Two TokenRequest tokens of one service account, each used for one request: the timeline of
/// one token's credential id (as `kir creds show` prints it, or bare) is that request alone,
/// although the user is the same. The admin's client certificate is found by its fingerprint.
#[tokio::test]
async fn a_token_is_followed_by_its_credential_id_not_by_its_user() {
    let tb = testbed();
    let admin = tb.client().await;
    let ns = tb.namespace("audit-jti").await;
    let dir = tempfile::tempdir().unwrap();
    let account = ServiceAccount {
        metadata: ObjectMeta { name: Some("deployer".into()), ..Default::default() },
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let user = format!("system:serviceaccount:{ns}:deployer");
    let leaked = crate::scene::request_token(&admin, &ns, "deployer", None).await;
    let other = crate::scene::request_token(&admin, &ns, "deployer", None).await;
    probe(&client_with_token(tb, &leaked, dir.path(), "leaked").await, &ns, "probe-leaked").await;
    probe(&client_with_token(tb, &other, dir.path(), "other").await, &ns, "probe-other").await;
    let leaked_request = logged(tb, &user, "probe-leaked").await;
    let other_request = logged(tb, &user, "probe-other").await;

    let jti = jti_of(&leaked);
    let credential_id = format!("JTI={jti}");
    for given in [credential_id.as_str(), jti.as_str()] {
        let entries = timeline(tb, &["--credential-id", given]);
        let ids: Vec<&str> = entries.iter().map(|e| e["auditID"].as_str().unwrap()).collect();
        assert_eq!(ids, leaked_request, "{given}: exactly the leaked token's request");
        assert_eq!(entries[0]["credentialId"], credential_id.as_str());
        assert_eq!(entries[0]["user"], user.as_str());
        assert_eq!(entries[0]["category"], "denied");
    }
    let entries = timeline(tb, &["--credential-id", &format!("JTI={}", jti_of(&other))]);
    let ids: Vec<&str> = entries.iter().map(|e| e["auditID"].as_str().unwrap()).collect();
    assert_eq!(ids, other_request, "the other token's request alone");
    // By user, both, each with its own credential id.
    let by_user = timeline(tb, &["--user", &user, "--resource", "configmaps"]);
    let mut credentials: Vec<&str> = by_user.iter().map(|e| e["credentialId"].as_str().unwrap()).collect();
    credentials.sort();
    let mut expected = vec![credential_id.clone(), format!("JTI={}", jti_of(&other))];
    expected.sort();
    assert_eq!(credentials, expected);
    let table = run(kir().args(["audit", "timeline", "--user", &user]).arg(&tb.audit_log)).success();
    assert!(table.stdout.contains("CREDENTIAL") && table.stdout.contains(&credential_id), "{}", table.stdout);

    // The admin's client certificate, by the fingerprint of its DER, as `kir creds show` names it.
    let admin_kubeconfig = std::fs::read_to_string(&tb.kubeconfig).unwrap();
    let pem =
        admin_kubeconfig.lines().find_map(|l| l.trim().strip_prefix("client-certificate-data: ")).unwrap();
    let pem = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(pem).unwrap()).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
    let fingerprint: String = Sha256::digest(&der).iter().map(|b| format!("{b:02x}")).collect();
    let entries = timeline(tb, &["-n", &ns, "--credential-id", &fingerprint.to_uppercase()]);
    assert!(entries.iter().any(|e| e["resource"] == "serviceaccounts/token"), "the admin issued the tokens");
    for entry in &entries {
        assert_eq!(entry["credentialId"], format!("X509SHA256={fingerprint}"), "{entry}");
        assert_eq!(entry["user"], "testbed-admin", "{entry}");
    }
}

/// A legacy token Secret used for a request: the API server annotates the event
/// (`authentication.k8s.io/legacy-token` with the subject, `-manual-secret` with the Secret),
/// and the timeline and the statistics show it.
#[tokio::test]
async fn a_legacy_token_is_marked_in_the_timeline_and_counted_in_stats() {
    let tb = testbed();
    let admin = tb.client().await;
    let ns = tb.namespace("audit-legacy").await;
    let dir = tempfile::tempdir().unwrap();
    let account = ServiceAccount {
        metadata: ObjectMeta { name: Some("old".into()), ..Default::default() },
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("old-token".into()),
            annotations: Some([("kubernetes.io/service-account.name".to_string(), "old".to_string())].into()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/service-account-token".into()),
        ..Default::default()
    };
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    let mut token = None;
    for _ in 0..150 {
        let data = secrets.get("old-token").await.unwrap().data.unwrap_or_default();
        token = data.get("token").map(|t| String::from_utf8(t.0.clone()).unwrap());
        if token.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let token = token.expect("the token controller fills the legacy token Secret in");
    let user = format!("system:serviceaccount:{ns}:old");
    probe(&client_with_token(tb, &token, dir.path(), "legacy").await, &ns, "probe-legacy").await;
    let request = logged(tb, &user, "probe-legacy").await;

    let entries = timeline(tb, &["--user", &user]);
    let entry = entries.iter().find(|e| e["auditID"] == request[0].as_str()).unwrap();
    assert_eq!(
        entry["tokenMarkers"],
        serde_json::json!([
            {"marker": "legacy-token", "annotation": "authentication.k8s.io/legacy-token", "value": user},
            {"marker": "legacy-token", "annotation": "authentication.k8s.io/legacy-token-manual-secret", "value": "old-token"},
        ]),
        "{entry}"
    );
    assert!(entry.get("credentialId").is_none(), "legacy tokens have no jti: {entry}");
    let table = run(kir().args(["audit", "timeline", "--user", &user]).arg(&tb.audit_log)).success();
    assert!(table.stdout.contains(&format!("legacy token: {user}; secret: old-token")), "{}", table.stdout);
    let stats =
        run(kir().args(["audit", "stats", "-o", "json", "--user", &user]).arg(&tb.audit_log)).success();
    let users = stats.json()["users"].clone();
    assert_eq!(
        (users[0]["legacyTokens"].as_u64(), users[0]["staleTokens"].as_u64()),
        (Some(1), Some(0)),
        "{users}"
    );
}
