//! Any text as `--since`/`--until`: a time or a refusal naming the accepted forms, and a time
//! always resolves (to an instant or an error) in any zone, never a panic.
#![no_main]

use jiff::{Timestamp, tz::TimeZone};
use kir_audit::TimeSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match text.parse::<TimeSpec>() {
        Ok(spec) => {
            for zone in [TimeZone::UTC, TimeZone::fixed(jiff::tz::offset(-12))] {
                let _ = spec.resolve(Timestamp::MIN, &zone);
                let _ = spec.resolve(Timestamp::MAX, &zone);
            }
        }
        Err(e) => assert!(e.to_string().contains("RFC 3339")),
    }
});
