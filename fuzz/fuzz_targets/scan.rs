//! Arbitrary bytes as an audit-log file (plain, or with gzip/zstd magic) through the scanner,
//! with small blocks and a small line limit so that boundaries are exercised.
#![no_main]

use std::io::Write;

use kir_audit::{Event, Format, Input, Processor, ScanOptions, scan};
use libfuzzer_sys::fuzz_target;

struct Count;

impl Processor for Count {
    type Output = usize;
    fn output(&self) -> usize {
        0
    }
    fn literal(&self) -> Option<&[u8]> {
        Some(b"user")
    }
    fn event(&self, _event: &Event<'_>, _raw: Option<&str>, _format: Format, out: &mut usize) {
        *out += 1;
    }
}

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().expect("temporary file");
    file.write_all(data).expect("written");
    let options = ScanOptions { block_bytes: 64, max_record_bytes: 1024, examples: 3 };
    let report = scan(&[Input::File(file.path().to_path_buf())], &options, &Count, &|_| {}, &mut |_| Ok(()))
        .expect("no output error");
    assert!(report.examples.len() <= 3);
});
