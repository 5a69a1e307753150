//! Arbitrary JSON through the runtime-event adapters and every built-in runtime rule.
#![no_main]

use kir_detect::{builtin, runtime::{RuntimeDetector, normalise}};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Some(event) = normalise(&value) {
        let detector = RuntimeDetector::new(builtin::runtime_rules());
        let mut hits = Vec::new();
        detector.check(&event, &mut hits);
        let _ = detector.findings(&hits);
    }
});
