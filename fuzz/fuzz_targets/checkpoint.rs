//! Any bytes as a KEP-2008 checkpoint archive (`kir checkpoint inspect`): an inventory or a
//! typed error, never a panic, and a memory search keeps its list of hits within its cap while
//! counting them all; read at offsets (a file), the same bytes give the same answers. The first
//! byte sets the search string's length (taken from the end).
#![no_main]

use kir_checkpoint::{Limits, grep_at, grep_with_limits, inspect_at, inspect_with_limits};
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
    let length_at = archive.len() as u64;
    let inventory = inspect_with_limits(archive, &limits);
    if let Ok(inventory) = &inventory {
        serde_json::to_string(inventory).unwrap();
    }
    match (&inventory, inspect_at(archive, length_at, &limits)) {
        (Ok(streamed), Ok(at)) => assert_eq!(streamed, &at),
        (streamed, at) => assert_eq!(streamed.is_err(), at.is_err()),
    }
    let needle_length = usize::from(length % 16).min(archive.len());
    let needle = &archive[archive.len() - needle_length..];
    let searched = grep_with_limits(archive, needle, &limits);
    if let Ok(report) = &searched {
        assert!(report.hits.len() <= 4);
        assert!(report.total >= report.hits.len() as u64);
    }
    match (&searched, grep_at(archive, length_at, needle, &limits)) {
        (Ok(streamed), Ok(at)) => assert_eq!(streamed, &at),
        (streamed, at) => assert_eq!(streamed.is_err(), at.is_err()),
    }
});
