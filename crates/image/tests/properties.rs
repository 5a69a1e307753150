//! Hostile and generated references: parsing never panics, the canonical text reads back as the
//! same reference, and the admission regex selects exactly what `Pattern::matches` selects.

use kir_image::admission::image_regex;
use kir_image::{Digest, ImageRef, Pattern, parse_image_id};
use proptest::prelude::*;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const OTHER: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/// Characters references are made of, and a few they are not.
const REFERENCE_CHARS: &str = "[a-zA-Z0-9./:@_*-]{0,40}";

/// A reference spelled the many ways a pod spec may, some of them invalid.
fn spelled_reference() -> impl Strategy<Value = String> {
    let registry = prop::sample::select(vec![
        "",
        "docker.io/",
        "index.docker.io/",
        "Registry-1.Docker.IO/",
        "doc\u{212A}er.io/",
        "GHCR.\u{131}o/",
        "ghcr.io/",
        "GHCR.io/",
        "registry.evil.io/",
        "registry.evil.io.example/",
        "localhost/",
        "LocalHost/",
        "localhost:5000/",
        "my.org/",
        "Host/",
        "bad_host.io/",
    ]);
    let library = prop::sample::select(vec!["", "library/"]);
    let path = prop::sample::select(vec![
        "nginx",
        "nginx-x",
        "team/app",
        "teamx/app",
        "team/app/sub",
        "team",
        "localhost/app",
        "localhostx/app",
        "localhos/app",
        "my.org/app",
        "a.b",
        "x__y/z",
        "Nginx",
        "a..b",
        "",
    ]);
    let tag = prop::sample::select(vec!["", ":latest", ":1.25", ":1.24", ":v1_x", ":", ":-x"]);
    let digest = prop::sample::select(vec![
        "".to_owned(),
        format!("@sha256:{HEX}"),
        format!("@sha256:{OTHER}"),
        "@md5:00".to_owned(),
    ]);
    (registry, library, path, tag, digest)
        .prop_map(|(registry, library, path, tag, digest)| format!("{registry}{library}{path}{tag}{digest}"))
}

fn any_spec() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => spelled_reference(),
        1 => (REFERENCE_CHARS, prop::bool::ANY).prop_map(|(text, pinned)| {
            if pinned { format!("{text}@sha256:{HEX}") } else { text }
        }),
    ]
}

fn pattern() -> impl Strategy<Value = Pattern> {
    let texts = vec![
        "nginx".to_owned(),
        "nginx:1.25".to_owned(),
        "nginx:latest".to_owned(),
        "library/nginx:1.24".to_owned(),
        "team/app".to_owned(),
        "team/app:1.25".to_owned(),
        "a.b".to_owned(),
        format!("nginx@sha256:{HEX}"),
        format!("nginx:1.25@sha256:{HEX}"),
        format!("sha256:{HEX}"),
        "ghcr.io/team/".to_owned(),
        "ghcr.io/".to_owned(),
        "ghcr.io/team/*".to_owned(),
        "docker.io/".to_owned(),
        "docker.io/library/".to_owned(),
        "team/".to_owned(),
        "localhost:5000/".to_owned(),
        "localhost/".to_owned(),
        "docker.io/my.org/app".to_owned(),
        "docker.io/localhost/app".to_owned(),
        "my.org/".to_owned(),
        "registry.evil.io/*".to_owned(),
    ];
    (prop::sample::select(texts), prop::bool::ANY).prop_map(|(text, resolve)| {
        let pattern = Pattern::parse(&text).unwrap();
        let resolved = Digest::parse(&format!("sha256:{OTHER}")).unwrap();
        match pattern.clone().with_resolved_digest(resolved) {
            Ok(with_digest) if resolve => with_digest,
            _ => pattern,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn parsing_any_text_never_panics(text in any::<String>(), id in any::<String>()) {
        let _ = ImageRef::parse(&text);
        let _ = parse_image_id(&text);
        if let Ok(pattern) = Pattern::parse(&text) {
            let _ = (pattern.matches(&id, Some(&text)).describe(), pattern.describe());
            prop_assert!(regex::Regex::new(&image_regex(&pattern)).is_ok());
        }
    }

    #[test]
    fn reference_like_text_never_panics(text in REFERENCE_CHARS) {
        let _ = ImageRef::parse(&text);
        let _ = parse_image_id(&text);
        if let Ok(pattern) = Pattern::parse(&text) {
            prop_assert!(regex::Regex::new(&image_regex(&pattern)).is_ok());
        }
    }

    #[test]
    fn the_canonical_text_reads_back_as_the_same_reference(text in any_spec()) {
        if let Ok(reference) = ImageRef::parse(&text) {
            let canonical = reference.to_string();
            prop_assert_eq!(ImageRef::parse(&canonical), Ok(reference), "{} -> {}", text, canonical);
        }
    }

    #[test]
    fn the_regex_selects_what_matches_selects_from_the_spec(pattern in pattern(), spec in any_spec()) {
        let regex = regex::Regex::new(&image_regex(&pattern)).unwrap();
        prop_assert_eq!(
            regex.is_match(&spec),
            pattern.matches(&spec, None).is_match(),
            "pattern {} on {:?}: regex {}", pattern, spec, image_regex(&pattern)
        );
    }
}
