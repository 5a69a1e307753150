//! Durable file operations: what survives a crash or a power cut.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read, Write},
    path::Path,
};

use crate::{Error, Result, error::io_error};

/// Create the folders of `relative` under `base` (and `base` itself), refusing to pass through
/// a symbolic link or a file: a planted link must not redirect evidence out of the case.
pub(crate) fn create_real_dirs(base: &Path, relative: &Path) -> Result<()> {
    let mut current = base.to_path_buf();
    let mut components = relative.components();
    loop {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(Error::NotAFolder { path: current }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&current) {
                Ok(()) => {}
                // Another writer created it in the meantime.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_error("create folder", &current)(e)),
            },
            Err(e) => return Err(io_error("inspect", &current)(e)),
        }
        match components.next() {
            Some(component) => current.push(component),
            None => return Ok(()),
        }
    }
}

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

/// A file read whole only when it is small enough.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Capped {
    Read(Vec<u8>),
    /// The file holds more than the limit (this many bytes, or more); none of it was kept.
    TooLarge(u64),
}

/// Read `file` whole if it holds at most `limit` bytes; a larger one is measured, not read.
pub(crate) fn read_capped(file: &File, limit: u64) -> io::Result<Capped> {
    let size = file.metadata()?.len();
    if size > limit {
        return Ok(Capped::TooLarge(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // One byte past the limit notices a file that grew after it was measured.
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(Capped::TooLarge(bytes.len() as u64));
    }
    Ok(Capped::Read(bytes))
}

/// [`read_capped`] of the file at `path`.
pub(crate) fn read_path_capped(path: &Path, limit: u64) -> io::Result<Capped> {
    read_capped(&File::open(path)?, limit)
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
