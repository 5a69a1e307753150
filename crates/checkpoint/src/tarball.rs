//! Walking a tar stream entry by entry without trusting it: the tar crate reads headers and
//! data, in raw mode, because otherwise it would read GNU long names and PAX records into
//! memory without a bound. Long names and PAX records are read here, capped. Nothing is
//! extracted, and no name or link is ever resolved: names are only compared.
//!
//! An archive that can be read at any offset (a file) is walked by its headers alone: what a
//! reader does not need of an entry (the memory pages, mostly) is passed over, not read.

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom};

use crate::text::lossy;

/// Bytes of a PAX record block kir reads; containerd and CRI-O write a few dozen.
const MAX_PAX_BYTES: u64 = 64 * 1024;
/// Bytes of an entry name kir reads: Linux's PATH_MAX.
pub(crate) const MAX_NAME: usize = 4096;

/// What one entry is, as far as kir cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Directory,
    Symlink,
    Hardlink,
    Other,
}

/// One entry as it passes: its name (normalised: no leading `./` or `/`), kind, size, and its
/// data to read (unread data is skipped by the walker).
pub(crate) struct Member<'e> {
    pub(crate) name: &'e str,
    pub(crate) kind: Kind,
    pub(crate) size: u64,
    pub(crate) data: &'e mut dyn Payload,
}

/// An entry's data.
pub(crate) trait Payload: Read {
    /// Passes over the next `bytes` of the data: read through from a stream, not read at all
    /// from an archive read at offsets. Fails where the data ends first.
    fn skip(&mut self, bytes: u64) -> io::Result<()>;
}

impl<R: Read> Payload for tar::Entry<'_, R> {
    fn skip(&mut self, bytes: u64) -> io::Result<()> {
        let passed = io::copy(&mut self.take(bytes), &mut io::sink())?;
        if passed < bytes {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

#[cfg(test)]
impl Payload for &[u8] {
    fn skip(&mut self, bytes: u64) -> io::Result<()> {
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        if bytes > self.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        *self = &self[bytes..];
        Ok(())
    }
}

/// An archive read at any offset: a file.
pub trait ReadAt {
    /// Reads into `buf` from `offset`; fewer bytes (0 at the end) where the input ends.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl ReadAt for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }
}

impl ReadAt for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.len());
        let count = buf.len().min(self.len() - start);
        buf[..count].copy_from_slice(&self[start..start + count]);
        Ok(count)
    }
}

/// The headers' reader over an archive read at offsets: what the tar crate skips, it seeks
/// over, never past the end (a truncated archive is not taken for a shorter one).
struct AtCursor<'s, S: ?Sized> {
    source: &'s S,
    length: u64,
    position: &'s Cell<u64>,
}

impl<S: ReadAt + ?Sized> Read for AtCursor<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let count = self.source.read_at(buf, self.position.get())?;
        self.position.set(self.position.get() + count as u64);
        Ok(count)
    }
}

impl<S: ReadAt + ?Sized> Seek for AtCursor<'_, S> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::Current(delta) => self.position.get().checked_add_signed(delta),
            SeekFrom::End(delta) => self.length.checked_add_signed(delta),
        };
        match target {
            Some(target) if target <= self.length => {
                self.position.set(target);
                Ok(target)
            }
            _ => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the archive ends inside an entry")),
        }
    }
}

/// One entry's data in an archive read at offsets.
struct Window<'s, S: ?Sized> {
    source: &'s S,
    start: u64,
    size: u64,
    at: u64,
}

impl<S: ReadAt + ?Sized> Read for Window<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = usize::try_from(self.size - self.at).unwrap_or(usize::MAX);
        let wanted = buf.len().min(room);
        let count = self.source.read_at(&mut buf[..wanted], self.start + self.at)?;
        self.at += count as u64;
        Ok(count)
    }
}

impl<S: ReadAt + ?Sized> Payload for Window<'_, S> {
    fn skip(&mut self, bytes: u64) -> io::Result<()> {
        if bytes > self.size - self.at {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.at += bytes;
        Ok(())
    }
}

/// Why a walk stopped.
#[derive(Debug)]
pub(crate) enum WalkError<E> {
    /// The stream is unreadable (truncated, bad checksum) at this offset.
    Read {
        offset: u64,
        source: io::Error,
    },
    /// The stream went on past the byte allowance.
    TooLarge,
    TooManyEntries,
    /// A long name or PAX record that is malformed or over its cap.
    Header {
        name: String,
        reason: String,
    },
    /// The visitor's own error.
    Visit(E),
}

/// The walk's bounds.
pub(crate) struct Bounds {
    pub(crate) max_bytes: u64,
    pub(crate) max_entries: u64,
}

/// Counts what the tar crate reads, and refuses to go past the allowance.
struct Metered<'m, R> {
    inner: R,
    read: &'m Cell<u64>,
    allowed: u64,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = self.allowed.saturating_sub(self.read.get());
        // One byte past the allowance tells a stream that goes on from one that ends there.
        let wanted = buf.len().min(usize::try_from(room.saturating_add(1)).unwrap_or(usize::MAX));
        let count = self.inner.read(&mut buf[..wanted])?;
        self.read.set(self.read.get().saturating_add(count as u64));
        if self.read.get() > self.allowed {
            return Err(io::Error::other("over the byte allowance"));
        }
        Ok(count)
    }
}

/// Streams `reader` as a tar archive, calling `visit` for every entry other than the records
/// that extend the next one (long names, PAX). Returns the bytes read.
pub(crate) fn walk<R: Read, E>(
    reader: R,
    bounds: &Bounds,
    visit: impl FnMut(Member<'_>) -> Result<(), E>,
) -> Result<u64, WalkError<E>> {
    let read = Cell::new(0u64);
    let mut archive = tar::Archive::new(Metered { inner: reader, read: &read, allowed: bounds.max_bytes });
    let entries = archive.entries().map_err(|error| failed(&read, bounds, error))?;
    walk_entries(entries, None::<&[u8]>, &read, bounds, visit)
}

/// Walks the `length` bytes of `source` as [`walk`] does, reading headers and what `visit`
/// reads, passing over the rest. Returns the bytes the archive takes.
pub(crate) fn walk_at<S: ReadAt + ?Sized, E>(
    source: &S,
    length: u64,
    bounds: &Bounds,
    visit: impl FnMut(Member<'_>) -> Result<(), E>,
) -> Result<u64, WalkError<E>> {
    if length > bounds.max_bytes {
        return Err(WalkError::TooLarge);
    }
    let position = Cell::new(0u64);
    let mut archive = tar::Archive::new(AtCursor { source, length, position: &position });
    let entries = archive.entries_with_seek().map_err(|error| failed(&position, bounds, error))?;
    walk_entries(entries, Some(source), &position, bounds, visit)
}

fn failed<E>(read: &Cell<u64>, bounds: &Bounds, source: io::Error) -> WalkError<E> {
    if read.get() > bounds.max_bytes {
        WalkError::TooLarge
    } else {
        WalkError::Read { offset: read.get(), source }
    }
}

/// The walk itself; entries' data comes from `at` when the archive is read at offsets.
fn walk_entries<R: Read, S: ReadAt + ?Sized, E>(
    entries: tar::Entries<'_, R>,
    at: Option<&S>,
    read: &Cell<u64>,
    bounds: &Bounds,
    mut visit: impl FnMut(Member<'_>) -> Result<(), E>,
) -> Result<u64, WalkError<E>> {
    let fail = |source: io::Error| failed(read, bounds, source);
    let entries = entries.raw(true);
    let mut pending_name: Option<Vec<u8>> = None;
    let mut pending_size: Option<u64> = None;
    let mut count = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(fail)?;
        count += 1;
        if count > bounds.max_entries {
            return Err(WalkError::TooManyEntries);
        }
        let header_type = entry.header().entry_type();
        let size = entry.size();
        let header_name = lossy(&entry.path_bytes(), MAX_NAME);
        if header_type.is_gnu_longname() || header_type.is_pax_local_extensions() {
            let cap = if header_type.is_gnu_longname() { MAX_NAME as u64 } else { MAX_PAX_BYTES };
            if size > cap {
                return Err(WalkError::Header {
                    name: header_name,
                    reason: format!(
                        "an extended header record of {size} bytes, more than the {cap} kir reads"
                    ),
                });
            }
            let mut record = Vec::new();
            entry.read_to_end(&mut record).map_err(fail)?;
            if header_type.is_gnu_longname() {
                while record.last() == Some(&0) {
                    record.pop();
                }
                pending_name = Some(record);
            } else {
                let pax =
                    parse_pax(&record).map_err(|reason| WalkError::Header { name: header_name, reason })?;
                if let Some(path) = pax.path {
                    pending_name = Some(path);
                }
                pending_size = pax.size.or(pending_size);
            }
            continue;
        }
        if header_type.is_gnu_longlink() || header_type.is_pax_global_extensions() {
            // Link targets are never followed, and global records set nothing kir reads.
            continue;
        }
        if let Some(pax_size) = pending_size.take()
            && pax_size != size
        {
            // In raw mode the tar crate sizes the data by the header; a PAX size that differs
            // would put the next header elsewhere than where the writer put it.
            return Err(WalkError::Header {
                name: header_name,
                reason: format!(
                    "a PAX size of {pax_size} bytes where the header says {size}: entries of 8 GiB \
                     and more are not read"
                ),
            });
        }
        let raw_name = pending_name.take().unwrap_or_else(|| entry.path_bytes().into_owned());
        let name = lossy(&raw_name, MAX_NAME);
        let kind = if header_type.is_file() || header_type == tar::EntryType::Continuous {
            Kind::File
        } else if header_type.is_dir() {
            Kind::Directory
        } else if header_type.is_symlink() {
            Kind::Symlink
        } else if header_type.is_hard_link() {
            Kind::Hardlink
        } else {
            Kind::Other
        };
        let mut window;
        let data: &mut dyn Payload = match at {
            Some(source) => {
                window = Window { source, start: entry.raw_file_position(), size, at: 0 };
                &mut window
            }
            None => &mut entry,
        };
        visit(Member { name: normalise(&name), kind, size, data }).map_err(|error| {
            // The visitor saw a read fail: if the allowance ran out, that is why.
            if read.get() > bounds.max_bytes { WalkError::TooLarge } else { WalkError::Visit(error) }
        })?;
    }
    if pending_name.is_some() || pending_size.is_some() {
        return Err(WalkError::Header {
            name: String::new(),
            reason: "the archive ends with an extended header that describes no entry".to_string(),
        });
    }
    Ok(read.get())
}

/// A name without the `./` and `/` prefixes writers add; nothing else is changed, so a name
/// with `..` simply matches nothing kir reads.
fn normalise(name: &str) -> &str {
    let mut name = name;
    loop {
        if let Some(rest) = name.strip_prefix("./") {
            name = rest;
        } else if let Some(rest) = name.strip_prefix('/') {
            name = rest;
        } else {
            return name;
        }
    }
}

struct Pax {
    path: Option<Vec<u8>>,
    size: Option<u64>,
}

/// PAX records: `LENGTH key=value\n`, LENGTH counting the whole record.
fn parse_pax(mut records: &[u8]) -> Result<Pax, String> {
    let mut pax = Pax { path: None, size: None };
    while !records.is_empty() {
        let space = records.iter().position(|&byte| byte == b' ').ok_or("a PAX record without a length")?;
        let length: usize = std::str::from_utf8(&records[..space])
            .ok()
            .and_then(|digits| digits.parse().ok())
            .ok_or("a PAX record whose length is not a number")?;
        if length <= space + 1 || length > records.len() || records[length - 1] != b'\n' {
            return Err("a PAX record whose length does not match its text".to_string());
        }
        let record = &records[space + 1..length - 1];
        let equals = record.iter().position(|&byte| byte == b'=').ok_or("a PAX record without '='")?;
        let (key, value) = (&record[..equals], &record[equals + 1..]);
        match key {
            b"path" => pax.path = Some(value.to_vec()),
            b"size" => {
                let size = std::str::from_utf8(value)
                    .ok()
                    .and_then(|digits| digits.parse().ok())
                    .ok_or("a PAX size that is not a number")?;
                pax.size = Some(size);
            }
            _ => {}
        }
        records = &records[length..];
    }
    Ok(pax)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_give_path_and_size_and_bad_ones_are_refused() {
        let pax = parse_pax(b"21 path=checkpoint/x\n11 size=42\n16 mtime=1.5e10\n").unwrap();
        assert_eq!(pax.path.as_deref(), Some(&b"checkpoint/x"[..]));
        assert_eq!(pax.size, Some(42));
        assert!(parse_pax(b"99 path=x\n").is_err());
        assert!(parse_pax(b"5 a=b\n").is_err());
        assert!(parse_pax(b"x path=y\n").is_err());
        assert!(parse_pax(b"10 size=z\n").is_err());
    }

    #[test]
    fn names_lose_only_their_prefixes() {
        assert_eq!(normalise("./checkpoint/core-1.img"), "checkpoint/core-1.img");
        assert_eq!(normalise("/./config.dump"), "config.dump");
        assert_eq!(normalise("checkpoint/../x"), "checkpoint/../x");
    }
}
