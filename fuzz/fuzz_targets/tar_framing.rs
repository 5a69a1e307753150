//! What a compromised container's `tar` streams for `kir snapshot`: the framing check follows
//! it block by block as it arrives. Whatever the bytes (forged headers, impossible sizes) and
//! however they are split, it must not panic, and splitting must not change its verdict. The same
//! bytes as the zstd frame a helper sends from a node (`kir node read --zstd`): the frame check
//! decodes them on the way, within its bound, with the same guarantees.
#![no_main]

use kir_respond::snapshot::framing::{FrameCheck, TarFraming};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&piece, stream)) = data.split_first() else { return };
    let mut whole = TarFraming::new();
    whole.feed(stream);
    let mut pieces = TarFraming::new();
    for chunk in stream.chunks(usize::from(piece).max(1)) {
        pieces.feed(chunk);
    }
    assert_eq!(whole.end(), pieces.end());
    let mut whole = FrameCheck::new(1 << 20);
    whole.feed(stream);
    let mut pieces = FrameCheck::new(1 << 20);
    for chunk in stream.chunks(usize::from(piece).max(1)) {
        pieces.feed(chunk);
    }
    assert_eq!(whole.end(), pieces.end());
});
