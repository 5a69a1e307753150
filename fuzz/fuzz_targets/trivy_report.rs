//! Any bytes as a trivy report (`kir image scan`): a summary or an error, never a panic, and the
//! summary stays within its bounds.
#![no_main]

use kir_image::trivy::{MAX_SECRETS, MAX_TEXT, parse_report};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = parse_report(data) {
        for artifact in &report.artifacts {
            assert!(artifact.secrets.len() <= MAX_SECRETS);
            // At most `namespace/Kind/name`, each cut to MAX_TEXT.
            assert!(artifact.name.chars().count() <= 3 * MAX_TEXT + 2);
        }
        serde_json::to_string(&report).unwrap();
    }
});
