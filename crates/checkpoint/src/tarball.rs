//! Walking a tar stream entry by entry without trusting it: the tar crate reads headers and
//! data, in raw mode, because otherwise it would read GNU long names and PAX records into
//! memory without a bound. Long names and PAX records are read here, capped. Nothing is
//! extracted, and no name or link is ever resolved: names are only compared.

use std::cell::Cell;
use std::io::{self, Read};

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
    pub(crate) data: &'e mut dyn Read,
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
    mut visit: impl FnMut(Member<'_>) -> Result<(), E>,
) -> Result<u64, WalkError<E>> {
    let read = Cell::new(0u64);
    let mut archive = tar::Archive::new(Metered { inner: reader, read: &read, allowed: bounds.max_bytes });
    let fail = |source: io::Error| {
        if read.get() > bounds.max_bytes {
            WalkError::TooLarge
        } else {
            WalkError::Read { offset: read.get(), source }
        }
    };
    let entries = archive.entries().map_err(fail)?.raw(true);
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
        visit(Member { name: normalise(&name), kind, size, data: &mut entry }).map_err(|error| {
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
