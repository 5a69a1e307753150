//! The envelopes audit events come in (raw, GKE Cloud Logging, AKS with the event as an object
//! and as a string; fixtures written here from the documented formats) decode to the event
//! fields, and wrapping one event in each envelope changes nothing.

use std::path::PathBuf;

use kir_audit::{Format, decode};

fn fixture(name: &str) -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/audit-envelopes").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fields every consumer of kir-audit relies on, as plain strings.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Fields {
    format: Format,
    audit_id: String,
    user: String,
    groups: Vec<String>,
    verb: String,
    uri: String,
    ips: Vec<String>,
    agent: String,
    resource: String,
    namespace: String,
    name: String,
    group: String,
    code: Option<i64>,
    time: String,
    decision: Option<String>,
}

fn fields_of(line: &str) -> Vec<Fields> {
    let mut out = Vec::new();
    decode(line, &mut |e, _, format| {
        out.push(Fields {
            format,
            audit_id: e.audit_id.to_string(),
            user: e.user.username.to_string(),
            groups: e.user.groups.iter().map(|g| g.to_string()).collect(),
            verb: e.verb.to_string(),
            uri: e.request_uri.to_string(),
            ips: e.source_ips.iter().map(|s| s.to_string()).collect(),
            agent: e.user_agent.to_string(),
            resource: e.resource().to_string(),
            namespace: e.namespace().to_string(),
            name: e.name().to_string(),
            group: e.api_group().to_string(),
            code: e.code(),
            time: e.time_text().to_string(),
            decision: e.annotation("authorization.k8s.io/decision").map(str::to_string),
        })
    })
    .unwrap_or_else(|e| panic!("{e}: {line}"));
    out
}

#[test]
fn fixtures_decode_in_every_envelope() {
    let raw = fixture("raw.log");
    let cloud = fixture("cloud.log");
    let events: Vec<Fields> = raw.lines().chain(cloud.lines()).flat_map(fields_of).collect();
    let formats: Vec<Format> = events.iter().map(|f| f.format).collect();
    assert_eq!(
        formats,
        [Format::Event, Format::Event, Format::Event, Format::Gke, Format::Aks, Format::Aks],
        "raw events, a GKE entry, an AKS object and an AKS string"
    );
    for event in &events {
        assert!(!event.user.is_empty() && !event.verb.is_empty() && !event.ips.is_empty(), "{event:?}");
        assert!(!event.time.is_empty() && event.decision.as_deref() == Some("allow"), "{event:?}");
    }
    let gke = &events[3];
    assert_eq!(
        (gke.user.as_str(), gke.verb.as_str(), gke.uri.as_str(), gke.code),
        (
            "release@example-project.iam.gserviceaccount.com",
            "get",
            "/api/v1/namespaces/shop/pods/web-1",
            Some(200)
        )
    );
    assert_eq!(
        (gke.ips[0].as_str(), gke.agent.as_str(), gke.namespace.as_str(), gke.name.as_str()),
        ("203.0.113.7", "kubectl/v1.36.3 (linux/amd64)", "shop", "web-1")
    );
    assert_eq!(gke.audit_id, "7c1f0e2d-4b3a-4968-8f7e-6d5c4b3a2918");
    let aks_object = &events[4];
    assert_eq!(
        (aks_object.user.as_str(), aks_object.verb.as_str(), aks_object.resource.as_str()),
        ("masterclient", "update", "leases")
    );
    assert_eq!(aks_object.groups, ["system:masters", "system:authenticated"]);
    let aks_string = &events[5];
    assert_eq!((aks_string.name.as_str(), aks_string.namespace.as_str()), ("csr-approver", "kube-system"));
    assert_eq!(aks_string.audit_id, "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d");
}

#[test]
fn one_event_reads_the_same_in_every_envelope() {
    let audit = fixture("raw.log");
    let raw = audit.lines().nth(2).unwrap();
    let escaped = serde_json::to_string(raw).unwrap();
    let wrapped = [
        (
            Format::EventList,
            format!(r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{raw}]}}"#),
        ),
        (
            Format::Aks,
            format!(r#"{{"category":"kube-audit","properties":{{"log":{raw},"pod":"kube-apiserver-0"}}}}"#),
        ),
        (
            Format::Aks,
            format!(r#"{{"category":"kube-audit","properties":{{"log":{escaped},"stream":"stdout"}}}}"#),
        ),
        (
            Format::CloudWatch,
            format!(r#"{{"timestamp":1,"message":{escaped},"logStreamName":"kube-apiserver-audit-x"}}"#),
        ),
        (
            Format::CloudWatch,
            format!(
                r#"{{"messageType":"DATA_MESSAGE","logGroup":"/aws/eks/c/cluster","logEvents":[{{"id":"1","timestamp":1,"message":{escaped}}}]}}"#
            ),
        ),
    ];
    let expected = fields_of(raw).remove(0);
    for (format, line) in wrapped {
        let got = fields_of(&line);
        assert_eq!(got.len(), 1, "{line}");
        assert_eq!(got[0], Fields { format, ..expected.clone() }, "{line}");
    }
}
