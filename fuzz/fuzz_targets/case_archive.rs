//! An exported case is handed around and may be tampered with: `kir case verify` reads the
//! archive as hostile input (no extraction, bounded memory). Arbitrary bytes as an archive must
//! give a report or an error, never a panic.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::Builder::new().suffix(".tar.zst").tempfile() else { return };
    if file.write_all(data).is_err() {
        return;
    }
    let _ = kir_evidence::verify(file.path(), None);
});
