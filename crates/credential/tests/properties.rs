//! Hostile input: whatever the bytes, an answer or an error, never a panic; and what comes out
//! never holds the token's signature.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use kir_credential::{TokenInfo, inspect_certificate, inspect_token};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Everything a caller may ask of a token's description.
fn exercise(info: &TokenInfo) -> String {
    assert_eq!(info.fingerprint.len(), 64);
    let _ = (info.username(), info.groups(), info.credential_id());
    format!("{}\n{}", serde_json::to_string(info).unwrap(), info.notes().join("\n"))
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|number| json!(number)),
        "[a-z0-9:/.-]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(claim_name(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// The names the reader looks at, and some it does not.
fn claim_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "iss",
            "sub",
            "aud",
            "exp",
            "nbf",
            "iat",
            "jti",
            "kubernetes.io",
            "namespace",
            "serviceaccount",
            "pod",
            "secret",
            "node",
            "name",
            "uid",
            "warnafter",
            "kubernetes.io/serviceaccount/namespace",
            "kubernetes.io/serviceaccount/secret.name",
            "kubernetes.io/serviceaccount/service-account.name",
        ])
        .prop_map(str::to_string),
        "[a-z]{1,6}",
    ]
}

fn pod_bound_token() -> String {
    let header = json!({"alg": "RS256", "kid": "k"});
    let payload = json!({
        "aud": ["https://kubernetes.default.svc"], "exp": 1_800_000_000, "iat": 1_768_464_000,
        "jti": "j", "sub": "system:serviceaccount:ns:sa",
        "kubernetes.io": {
            "namespace": "ns", "serviceaccount": {"name": "sa", "uid": "u"},
            "pod": {"name": "p", "uid": "pu"}, "node": {"name": "n"}, "warnafter": 1_768_467_607
        }
    });
    format!("{}.{}.c2lnbmF0dXJl", encode(&header), encode(&payload))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_as_a_token_never_panics(text in any::<String>()) {
        if let Ok(info) = inspect_token(&text) {
            exercise(&info);
        }
    }

    #[test]
    fn any_bytes_as_a_token_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(info) = inspect_token(&String::from_utf8_lossy(&bytes)) {
            exercise(&info);
        }
    }

    #[test]
    fn jwt_shaped_text_never_panics(rest in "[A-Za-z0-9_=.!-]{0,200}") {
        if let Ok(info) = inspect_token(&format!("eyJ{rest}")) {
            exercise(&info);
        }
    }

    /// A real-looking token with bytes changed or cut.
    #[test]
    fn damaged_tokens_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<char>()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut characters: Vec<char> = pod_bound_token().chars().collect();
        for (index, replacement) in edits {
            let position = index.index(characters.len());
            characters[position] = replacement;
        }
        characters.truncate(cut.index(characters.len() + 1));
        let token: String = characters.into_iter().collect();
        if let Ok(info) = inspect_token(&token) {
            exercise(&info);
        }
    }

    /// Claims of any shape and type: a description or a claim error, and never the signature.
    #[test]
    fn arbitrary_claims_never_panic_nor_show_the_signature(
        payload in prop::collection::btree_map(claim_name(), json_value(), 0..8),
        signature in "SIG[A-Z0-9]{16,40}",
    ) {
        let payload = Value::Object(payload.into_iter().collect());
        let token = format!("{}.{}.{signature}", encode(&json!({"alg": "RS256"})), encode(&payload));
        match inspect_token(&token) {
            Ok(info) => prop_assert!(!exercise(&info).contains(&signature)),
            Err(error) => prop_assert!(!error.to_string().contains(&signature)),
        }
    }

    #[test]
    fn any_bytes_as_a_certificate_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = inspect_certificate(&bytes);
    }

    /// PEM framing of any label and body, DER-looking bodies included.
    #[test]
    fn pem_shaped_bytes_never_panic(
        label in prop_oneof![Just("CERTIFICATE".to_string()), "[A-Z ]{0,20}", any::<String>()],
        body in prop::collection::vec(any::<u8>(), 0..512),
        as_base64 in any::<bool>(),
        end in prop_oneof![Just(true), Just(false)],
    ) {
        let body = if as_base64 { base64::engine::general_purpose::STANDARD.encode(&body).into_bytes() } else { body };
        let mut pem = format!("junk\n-----BEGIN {label}-----\n").into_bytes();
        pem.extend(body);
        if end {
            pem.extend(format!("\n-----END {label}-----\n").into_bytes());
        }
        let _ = inspect_certificate(&pem);
    }
}
