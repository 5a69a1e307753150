//! Hostile and generated references: parsing never panics, the canonical text reads back as the
//! same reference, and the admission regex selects exactly what `Pattern::matches` selects.

use kir_image::admission::image_regex;
use kir_image::{Digest, ImageRef, Pattern, parse_image_id};
use proptest::prelude::*;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const OTHER: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/// Characters references are made of, and a few they are not.
const REFERENCE_CHARS: &str = "[a-zA-Z0-9./:@_*-]{0,40}";

/// Registries as a pod spec may spell them, some invalid or lookalikes.
const REGISTRIES: [&str; 16] = [
    "",
    "docker.io/",
    "index.docker.io/",
    "Registry-1.Docker.IO/",
    "doc\u{212A}er.io/",
    "ghcr.io/",
    "GHCR.io/",
    "GHCR.\u{131}o/",
    "registry.evil.io/",
    "registry.evil.io.example/",
    "localhost/",
    "LocalHost/",
    "localhost:5000/",
    "my.org/",
    "Host/",
    "bad_host.io/",
];
const LIBRARY: [&str; 2] = ["", "library/"];
const PATHS: [&str; 15] = [
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
];
const TAGS: [&str; 7] = ["", ":latest", ":1.25", ":1.24", ":v1_x", ":", ":-x"];

fn digests() -> [String; 4] {
    [String::new(), format!("@sha256:{HEX}"), format!("@sha256:{OTHER}"), "@md5:00".to_owned()]
}

/// A reference spelled the many ways a pod spec may, some of them invalid.
fn spelled_reference() -> impl Strategy<Value = String> {
    (
        prop::sample::select(REGISTRIES.to_vec()),
        prop::sample::select(LIBRARY.to_vec()),
        prop::sample::select(PATHS.to_vec()),
        prop::sample::select(TAGS.to_vec()),
        prop::sample::select(digests().to_vec()),
    )
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

/// Patterns of every kind, near the spellings above.
fn pattern_texts() -> Vec<String> {
    let mut texts: Vec<String> = [
        "nginx",
        "nginx:1.25",
        "nginx:latest",
        "library/nginx:1.24",
        "team/app",
        "team/app:1.25",
        "a.b",
        "ghcr.io/team/",
        "ghcr.io/",
        "ghcr.io/team/*",
        "docker.io/",
        "docker.io/library/",
        "team/",
        "localhost:5000/",
        "localhost/",
        "docker.io/my.org/app",
        "docker.io/localhost/app",
        "my.org/",
        "registry.evil.io/*",
    ]
    .map(str::to_owned)
    .to_vec();
    texts.extend([
        format!("nginx@sha256:{HEX}"),
        format!("nginx:1.25@sha256:{HEX}"),
        format!("sha256:{HEX}"),
    ]);
    texts
}

/// Each pattern as typed, and tag patterns also with the digest their tag resolved to.
fn patterns() -> Vec<Pattern> {
    let resolved = Digest::parse(&format!("sha256:{OTHER}")).unwrap();
    let mut patterns = Vec::new();
    for text in pattern_texts() {
        let pattern = Pattern::parse(&text).unwrap();
        if let Ok(with_digest) = pattern.clone().with_resolved_digest(resolved.clone()) {
            patterns.push(with_digest);
        }
        patterns.push(pattern);
    }
    patterns
}

fn pattern() -> impl Strategy<Value = Pattern> {
    prop::sample::select(patterns())
}

/// Every spelling above against every pattern: the regex and `matches` agree, and both select
/// thousands of them (the comparison is not vacuous).
#[test]
fn the_regex_selects_what_matches_selects_for_every_spelling() {
    let mut selected = 0;
    let mut compared = 0;
    for pattern in patterns() {
        let regex = regex::Regex::new(&image_regex(&pattern)).unwrap();
        for registry in REGISTRIES {
            for library in LIBRARY {
                for path in PATHS {
                    for tag in TAGS {
                        for digest in digests() {
                            let spec = format!("{registry}{library}{path}{tag}{digest}");
                            let matched = pattern.matches(&spec, None).is_match();
                            assert_eq!(regex.is_match(&spec), matched, "{pattern} on {spec:?}: {regex}");
                            selected += usize::from(matched);
                            compared += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(selected > 1_000, "{selected} of {compared} selected");
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
