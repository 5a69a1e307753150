//! Durable file operations: what survives a crash or a power cut.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write},
    path::Path,
};

/// Make a directory's entries (created, renamed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Create `path` (never replacing anything), write `bytes`, and make them durable.
pub(crate) fn write_new_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Replace `path` atomically: readers see the old or the new content, never a mix.
pub(crate) fn replace_file(path: &Path, temporary: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(temporary, path)
}

/// Random bytes as hex, for names that must not collide.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    // Without an entropy source the name is still unique enough with the process id and time.
    if getrandom::fill(&mut buffer).is_err() {
        let nanos = jiff::Timestamp::now().as_nanosecond() as u128 ^ u128::from(std::process::id());
        for (index, byte) in buffer.iter_mut().enumerate() {
            *byte = (nanos >> ((index % 16) * 8)) as u8;
        }
    }
    crate::hash::to_hex(&buffer)
}
