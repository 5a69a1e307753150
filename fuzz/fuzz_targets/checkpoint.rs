//! Any bytes as a KEP-2008 checkpoint archive (`kir checkpoint inspect`): an inventory or a
//! typed error, never a panic, and a memory search keeps its list of hits within its cap while
//! counting them all. The first byte sets the search string's length (taken from the end).
#![no_main]

use kir_checkpoint::{Limits, grep_with_limits, inspect_with_limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&length, archive)) = data.split_first() else { return };
    // Small caps, so that sizes the bytes claim are refused early rather than read.
    let limits = Limits {
        max_archive_bytes: 1 << 20,
        max_image_bytes: 64 << 10,
        max_metadata_bytes: 256 << 10,
        max_hits: 4,
        ..Limits::default()
    };
    if let Ok(inventory) = inspect_with_limits(archive, &limits) {
        serde_json::to_string(&inventory).unwrap();
    }
    let needle_length = usize::from(length % 16).min(archive.len());
    let needle = &archive[archive.len() - needle_length..];
    if let Ok(report) = grep_with_limits(archive, needle, &limits) {
        assert!(report.hits.len() <= 4);
        assert!(report.total >= report.hits.len() as u64);
    }
});
