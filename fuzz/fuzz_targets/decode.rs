//! One record of any shape through the envelope decoder and every built-in audit rule.
#![no_main]

use std::sync::OnceLock;

use kir_detect::{Rule, audit::AuditField, audit::AuditRecord, builtin};
use libfuzzer_sys::fuzz_target;

/// Compiled once: parsing the rule files per input would be all the fuzzer measures.
static RULES: OnceLock<Vec<Rule<AuditField>>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let rules = RULES.get_or_init(builtin::audit_rules);
    let _ = kir_audit::decode(text, &mut |event, raw, _format| {
        let record = AuditRecord::new(event, raw);
        for rule in rules {
            let _ = rule.detection.matches(&record);
        }
    });
});
