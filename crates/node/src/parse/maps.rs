//! /proc/PID/maps: `start-end perms offset major:minor inode [path]`.

use serde::Serialize;

use super::{fields, hex, lines, number, text};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// `rwxp` or `rwxs`, a dash for each permission missing.
    pub perms: String,
    pub offset: u64,
    /// `major:minor` of the file's device, `00:00` for anonymous memory.
    pub device: String,
    pub inode: u64,
    /// The file, a pseudo-path such as `[heap]`, or none for anonymous memory. A deleted file
    /// keeps the kernel's ` (deleted)` suffix.
    pub path: Option<String>,
}

impl Mapping {
    pub fn readable(&self) -> bool {
        self.perms.as_bytes().first() == Some(&b'r')
    }

    pub fn private(&self) -> bool {
        self.perms.as_bytes().get(3) == Some(&b'p')
    }

    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

pub fn parse_maps(bytes: &[u8]) -> Vec<Mapping> {
    lines(bytes).filter_map(parse_line).collect()
}

fn parse_line(line: &[u8]) -> Option<Mapping> {
    let mut parts = fields(line);
    let range = parts.next()?;
    let dash = memchr::memchr(b'-', range)?;
    let (start, end) = (hex(&range[..dash])?, hex(&range[dash + 1..])?);
    if end < start {
        return None;
    }
    let perms = parts.next()?;
    if perms.len() != 4 {
        return None;
    }
    let offset = hex(parts.next()?)?;
    let device = parts.next()?;
    let inode = number(parts.next()?)?;
    let path = path_after_inode(line);
    Some(Mapping { start, end, perms: text(perms), offset, device: text(device), inode, path })
}

/// The path field: the rest of the line after the fifth field and the blanks that pad it,
/// spaces and all.
fn path_after_inode(line: &[u8]) -> Option<String> {
    let mut rest = line;
    for _ in 0..5 {
        rest = rest.trim_ascii_start();
        let end = rest.iter().position(|b| *b == b' ' || *b == b'\t').unwrap_or(rest.len());
        rest = &rest[end..];
    }
    let path = rest.trim_ascii_start();
    (!path.is_empty()).then(|| text(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_anonymous_and_pseudo_mappings_are_read() {
        let maps = parse_maps(
            b"55d4c8a00000-55d4c8a02000 r--p 00000000 08:01 1311 /usr/bin/sleep\n\
              7ffd1b9e0000-7ffd1ba01000 rw-p 00000000 00:00 0                          [stack]\n\
              7f0000000000-7f0000001000 rw-s 00000000 00:01 42                         /my file (deleted)\n\
              7f0000002000-7f0000003000 ---p 00000000 00:00 0 \n",
        );
        assert_eq!(maps.len(), 4);
        assert_eq!(maps[0].start, 0x55d4c8a00000);
        assert_eq!(maps[0].len(), 0x2000);
        assert_eq!(maps[0].path.as_deref(), Some("/usr/bin/sleep"));
        assert_eq!(maps[0].inode, 1311);
        assert!(maps[0].readable() && maps[0].private());
        assert_eq!(maps[1].path.as_deref(), Some("[stack]"));
        assert_eq!(maps[2].path.as_deref(), Some("/my file (deleted)"), "spaces kept");
        assert!(!maps[2].private());
        assert_eq!(maps[3].path, None);
        assert!(!maps[3].readable());
    }

    #[test]
    fn hostile_lines_are_skipped() {
        let long = format!("1000-2000 rw-p 00000000 00:00 0 /{}\n", "a".repeat(200_000));
        let mut input = b"2000-1000 rw-p 0 00:00 0\nzz-10 rw-p 0 00:00 0\n1000-2000 rwxpq 0 00:00 0\n\
            1000-2000 rw-p 0 00:00\n-1000 rw-p 0 00:00 0\n1000-2000 rw-p 0 00:00 x\n"
            .to_vec();
        input.extend_from_slice(long.as_bytes());
        input.extend_from_slice(b"1000-2000 r--p 0 08:01 9 /bin/\xff\n");
        let maps = parse_maps(&input);
        assert_eq!(maps.len(), 2);
        assert_eq!(maps[0].path.as_ref().map(String::len), Some(200_001));
        assert_eq!(maps[1].path.as_deref(), Some("/bin/\u{fffd}"));
    }
}
