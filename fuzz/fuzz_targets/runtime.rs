//! Arbitrary JSON through the runtime-event adapters and every built-in runtime rule.
#![no_main]

use std::sync::OnceLock;

use kir_detect::{
    builtin,
    runtime::{RuntimeDetector, normalise},
};
use libfuzzer_sys::fuzz_target;

/// Compiled once: parsing the rule files per input would be all the fuzzer measures.
static DETECTOR: OnceLock<RuntimeDetector> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Some(event) = normalise(&value) {
        let detector = DETECTOR.get_or_init(|| RuntimeDetector::new(builtin::runtime_rules()));
        let mut hits = Vec::new();
        detector.check(&event, &mut hits);
        let mut grouping = detector.grouping();
        hits.into_iter().for_each(|hit| grouping.add(hit));
        let _ = detector.findings(grouping);
    }
});
