//! What a compromised container's `tar` streams for `kir snapshot`: the framing check follows
//! it block by block as it arrives. Whatever the bytes (forged headers, impossible sizes) and
//! however they are split, it must not panic, and splitting must not change its verdict.
#![no_main]

use kir_respond::snapshot::framing::TarFraming;
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
});
