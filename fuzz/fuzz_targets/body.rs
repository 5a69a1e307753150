//! Any text as a request or response body: read to any depth, never a panic, and what
//! serde_json reads is read the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let bounded = kir_audit::json::value(text);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        assert_eq!(bounded.expect("serde_json read it"), value);
    }
});
