//! The fuzz targets' properties on stable: whatever the record, decoding, rules and runtime
//! adapters never panic. (The same harnesses run under libFuzzer from `fuzz/`.)

use kir_detect::{
    audit::AuditRecord,
    builtin,
    runtime::{RuntimeDetector, normalise},
};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys real audit events, envelopes and sensor events use, so generated objects reach deep
/// into the decoders instead of being rejected at the first field.
const KEYS: &[&str] = &[
    "auditID",
    "verb",
    "requestURI",
    "user",
    "username",
    "groups",
    "extra",
    "impersonatedUser",
    "sourceIPs",
    "userAgent",
    "objectRef",
    "resource",
    "subresource",
    "namespace",
    "name",
    "apiGroup",
    "responseStatus",
    "code",
    "requestObject",
    "responseObject",
    "spec",
    "containers",
    "securityContext",
    "privileged",
    "volumes",
    "hostPath",
    "path",
    "annotations",
    "authorization.k8s.io/decision",
    "stageTimestamp",
    "kind",
    "items",
    "protoPayload",
    "methodName",
    "authenticationInfo",
    "principalEmail",
    "properties",
    "log",
    "message",
    "logEvents",
    "rule",
    "priority",
    "output_fields",
    "proc.name",
    "process_exec",
    "process",
    "binary",
    "arguments",
    "pod",
    "eventName",
    "args",
    "value",
    "workload",
    "data",
    "threat",
    "timestamp",
];

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z:/*. -]{0,12}".prop_map(Value::String),
        proptest::sample::select(KEYS).prop_map(|k| Value::String(k.to_string())),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..6).prop_map(|pairs| {
                Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_record_decodes_or_is_refused_without_panic(value in json(), nest_as_string in any::<bool>()) {
        let rules = builtin::audit_rules();
        let text = if nest_as_string { serde_json::to_string(&value.to_string()).unwrap() } else { value.to_string() };
        let _ = kir_audit::decode(&text, &mut |event, raw, _| {
            let record = AuditRecord::new(event, raw);
            for rule in &rules {
                let _ = rule.detection.matches(&record);
            }
        });
    }

    #[test]
    fn any_bytes_decode_without_panic(text in "\\PC{0,300}") {
        let _ = kir_audit::decode(&text, &mut |_, _, _| {});
    }

    #[test]
    fn any_json_through_the_runtime_adapters_without_panic(value in json()) {
        if let Some(event) = normalise(&value) {
            let detector = RuntimeDetector::new(builtin::runtime_rules());
            let mut hits = Vec::new();
            detector.check(&event, &mut hits);
            let mut grouping = detector.grouping();
            hits.into_iter().for_each(|hit| grouping.add(hit));
            let _ = detector.findings(grouping);
        }
    }
}
