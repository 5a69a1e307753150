//! SHA-256 as lowercase hex, the form every kir file records.

use std::{
    fs::File,
    io::{self, Read},
    path::Path,
};

use sha2::{Digest, Sha256};

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    text
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

pub(crate) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a file holds, as far as verification cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileFacts {
    pub sha256: String,
    pub size: u64,
}

/// Hash everything `reader` yields, in constant memory.
pub(crate) fn hash_reader(mut reader: impl Read) -> io::Result<FileFacts> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok(FileFacts { sha256: to_hex(&hasher.finalize()), size })
}

/// A file compared with a recorded size before any of it is hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Measured {
    /// The file has the recorded size; these are its facts.
    Hashed(FileFacts),
    /// The file has this other size; it was not hashed.
    OtherSize(u64),
}

/// Hash the file at `path` only if it has `size` bytes: a file of another size differs from its
/// record whatever its hash, and one far larger than recorded must not cost its whole length.
pub(crate) fn hash_file_of_size(path: &Path, size: u64) -> io::Result<Measured> {
    let file = File::open(path)?;
    let found = file.metadata()?.len();
    if found != size {
        return Ok(Measured::OtherSize(found));
    }
    // One byte past the size notices a file that grew after the size was taken.
    let facts = hash_reader((&file).take(size.saturating_add(1)))?;
    if facts.size != size {
        return Ok(Measured::OtherSize(file.metadata()?.len()));
    }
    Ok(Measured::Hashed(facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest_of_abc() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(hash_reader(&b"abc"[..]).unwrap().size, 3);
        assert!(is_sha256_hex(&sha256_hex(b"")));
        assert!(!is_sha256_hex(&sha256_hex(b"").to_uppercase()));
        assert!(!is_sha256_hex("abc"));
    }

    #[test]
    fn a_file_of_another_size_is_not_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        std::fs::write(&path, b"abc").unwrap();
        let facts = hash_reader(&b"abc"[..]).unwrap();
        assert_eq!(hash_file_of_size(&path, 3).unwrap(), Measured::Hashed(facts));
        assert_eq!(hash_file_of_size(&path, 2).unwrap(), Measured::OtherSize(3));
        assert!(hash_file_of_size(&dir.path().join("absent"), 3).is_err());
    }
}
