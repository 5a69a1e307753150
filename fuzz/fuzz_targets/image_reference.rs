//! Any text as an image reference, a pattern and a pod's image id (`kir image find` and `kir
//! image block`): never a panic, the canonical text reads back as the same reference, and every
//! pattern's regex compiles and selects what `Pattern::matches` selects from the spec.
#![no_main]

use kir_image::admission::{image_regex, policy_name};
use kir_image::{ImageRef, Pattern, parse_image_id};
use libfuzzer_sys::fuzz_target;

/// Names this short stay under Docker's 255-character limit even with `docker.io/library/`
/// added, which the regex does not count.
const SHORT: usize = 200;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (pattern_text, spec) = text.split_once('\n').unwrap_or((text, text));
    let _ = parse_image_id(spec);
    if let Ok(reference) = ImageRef::parse(spec) {
        assert_eq!(ImageRef::parse(&reference.to_string()), Ok(reference));
    }
    if let Ok(pattern) = Pattern::parse(pattern_text) {
        let found = pattern.matches(spec, Some(spec));
        let _ = (found.describe(), pattern.describe(), policy_name(&pattern));
        let regex = regex::Regex::new(&image_regex(&pattern)).expect("the pattern's regex compiles");
        if spec.len() <= SHORT {
            assert_eq!(regex.is_match(spec), pattern.matches(spec, None).is_match(), "{pattern} on {spec:?}");
        }
    }
});
