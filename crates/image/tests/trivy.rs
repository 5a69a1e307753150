//! trivy's report shapes read into one summary per artifact; hostile reports give a summary or
//! an error, never a panic, and no secret's text comes out.

use kir_image::trivy::{MAX_SECRETS, MAX_TEXT, SeverityCounts, TrivyError, parse_report};
use proptest::prelude::*;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const OTHER: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn an_image_report() {
    let report = parse_report(&fixture("trivy-image.json")).unwrap();
    assert_eq!(report.cluster, None);
    let [image] = report.artifacts.as_slice() else { panic!("one artifact: {report:?}") };
    assert_eq!(image.name, "registry.evil.io/miner:1.0");
    assert_eq!(image.image_id.as_ref().map(|id| id.hex()), Some(OTHER));
    assert_eq!(image.repo_digests.len(), 1, "duplicates merged");
    assert_eq!(image.repo_digests[0].name.as_deref(), Some("registry.evil.io/miner"));
    assert_eq!(image.repo_digests[0].digest.hex(), HEX);
    assert_eq!(image.vulnerabilities, SeverityCounts { critical: 1, high: 2, medium: 0, low: 1, unknown: 2 });
    assert_eq!(image.vulnerabilities.total(), 6);
    assert_eq!(image.misconfigurations, 2);
    let [secret] = image.secrets.as_slice() else { panic!("one secret") };
    assert_eq!(secret.rule_id.as_deref(), Some("aws-access-key-id"));
    assert_eq!(secret.title.as_deref(), Some("AWS Access Key ID"));
    assert_eq!(secret.severity.as_deref(), Some("CRITICAL"));
    assert_eq!(secret.target.as_deref(), Some("/app/config.env"));
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("AKIAIOSFODNN7LEAKED1"), "a secret's text came out: {json}");
}

#[test]
fn a_cluster_report_is_merged_per_workload() {
    let report = parse_report(&fixture("trivy-k8s-all.json")).unwrap();
    assert_eq!(report.cluster.as_deref(), Some("prod-eu"));
    let names: Vec<&str> = report.artifacts.iter().map(|artifact| artifact.name.as_str()).collect();
    assert_eq!(names, ["shop/Deployment/web", "kube-system/Pod/etcd-node1", "ClusterRole/wide-open"]);
    let web = &report.artifacts[0];
    assert_eq!(web.resource.as_ref().map(|workload| workload.kind.as_str()), Some("Deployment"));
    assert_eq!(web.vulnerabilities, SeverityCounts { critical: 1, medium: 1, ..SeverityCounts::default() });
    assert_eq!(web.misconfigurations, 2);
    assert_eq!(web.repo_digests[0].name.as_deref(), Some("docker.io/library/nginx"));
    assert_eq!(web.image_id.as_ref().map(|id| id.hex()), Some(OTHER));
    assert_eq!(web.secrets[0].rule_id.as_deref(), Some("github-pat"));
    assert_eq!(report.artifacts[1].error.as_deref(), Some("unable to pull image: unauthorized"));
    assert_eq!(report.artifacts[2].resource.as_ref().and_then(|workload| workload.namespace.clone()), None);
    assert!(!serde_json::to_string(&report).unwrap().contains("ghp_leaked"));
}

#[test]
fn a_cluster_summary_report() {
    let report = parse_report(&fixture("trivy-k8s-summary.json")).unwrap();
    assert_eq!(report.artifacts.len(), 2);
    let web = &report.artifacts[0];
    assert_eq!((web.vulnerabilities.high, web.vulnerabilities.unknown, web.misconfigurations), (1, 1, 1));
    assert_eq!(report.artifacts[1].name, "shop/StatefulSet/db");
}

#[test]
fn an_older_cluster_report_with_lists_per_scanner() {
    let old = r#"{"ClusterName": "c", "Vulnerabilities": [{"Namespace": "a", "Kind": "Pod", "Name": "p",
        "Results": [{"Vulnerabilities": [{"Severity": "LOW"}]}]}],
        "Misconfigurations": [{"Namespace": "a", "Kind": "Pod", "Name": "p",
        "Results": [{"Misconfigurations": [{"Status": "FAIL"}, {"Status": "PASS"}]}]}]}"#;
    let report = parse_report(old.as_bytes()).unwrap();
    let [pod] = report.artifacts.as_slice() else { panic!("merged: {report:?}") };
    assert_eq!((pod.vulnerabilities.low, pod.misconfigurations), (1, 1));
}

#[test]
fn a_schema_1_report() {
    let report = parse_report(&fixture("trivy-schema1.json")).unwrap();
    let [image] = report.artifacts.as_slice() else { panic!("one artifact") };
    assert_eq!(image.name, "alpine:3.10 (alpine 3.10.2)");
    assert_eq!((image.vulnerabilities.medium, image.vulnerabilities.low), (1, 1));
}

#[test]
fn other_input_is_refused_with_a_reason() {
    assert!(matches!(parse_report(b"Total: 6 (CRITICAL: 1)"), Err(TrivyError::NotJson { .. })));
    assert_eq!(parse_report(br#"{"kind": "Pod"}"#), Err(TrivyError::UnknownShape));
    assert_eq!(parse_report(b"42"), Err(TrivyError::UnknownShape));
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(parse_report(deep.as_bytes()), Err(TrivyError::NotJson { .. })));
}

#[test]
fn texts_and_secret_lists_are_bounded() {
    let long = "x".repeat(10 * MAX_TEXT);
    let secret = format!(r#"{{"RuleID": "{long}", "Title": "t", "Match": "m"}}"#);
    let secrets = vec![secret; MAX_SECRETS + 5].join(",");
    let report =
        format!(r#"{{"ArtifactName": "{long}", "Results": [{{"Target": "f", "Secrets": [{secrets}]}}]}}"#);
    let report = parse_report(report.as_bytes()).unwrap();
    let image = &report.artifacts[0];
    assert_eq!(image.name.chars().count(), MAX_TEXT);
    assert_eq!((image.secrets.len(), image.secrets_omitted), (MAX_SECRETS, 5));
    assert_eq!(image.secrets[0].rule_id.as_ref().map(|id| id.len()), Some(MAX_TEXT));
}

/// Any JSON value, nested a few levels, with the keys the reader looks at.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[A-Za-z0-9:@/. -]{0,12}".prop_map(serde_json::Value::from),
    ];
    let key = prop::sample::select(vec![
        "ClusterName",
        "Resources",
        "Findings",
        "ArtifactName",
        "Results",
        "Metadata",
        "ImageID",
        "RepoDigests",
        "Vulnerabilities",
        "Secrets",
        "Misconfigurations",
        "Severity",
        "Status",
        "Target",
        "Namespace",
        "Kind",
        "Name",
        "Error",
        "RuleID",
        "Title",
        "other",
    ]);
    leaf.prop_recursive(4, 48, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..5).prop_map(|map| serde_json::Value::Object(
                map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #[test]
    fn any_bytes_give_a_report_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_report(&bytes);
    }

    #[test]
    fn reports_of_any_shape_never_panic(value in json_value()) {
        if let Ok(report) = parse_report(value.to_string().as_bytes()) {
            serde_json::to_string(&report).unwrap();
        }
    }
}
