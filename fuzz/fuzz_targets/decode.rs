//! One record of any shape through the envelope decoder and every built-in audit rule.
#![no_main]

use kir_detect::{audit::AuditRecord, builtin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let rules = builtin::audit_rules();
    let _ = kir_audit::decode(text, &mut |event, raw, _format| {
        let record = AuditRecord::new(event, raw);
        for rule in &rules {
            let _ = rule.detection.matches(&record);
        }
    });
});
