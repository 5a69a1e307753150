//! /proc/PID/mountinfo: `id parent major:minor root mount-point options [optional...] - fstype
//! source super-options`, with blanks, newlines and backslashes in paths written as octal
//! escapes (`\040`), and commas and equals signs escaped too in overlayfs's option values.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use serde::Serialize;

use super::{fields, lines, number, text};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub id: u32,
    pub parent: u32,
    pub root: String,
    pub mount_point: String,
    pub fs_type: String,
    pub source: String,
    /// The file system's own options, each unescaped, as bytes (an overlay directory need not
    /// be UTF-8).
    #[serde(skip)]
    pub super_options: Vec<Vec<u8>>,
}

pub fn parse_mountinfo(bytes: &[u8]) -> Vec<Mount> {
    lines(bytes).filter_map(parse_line).collect()
}

fn parse_line(line: &[u8]) -> Option<Mount> {
    let mut parts = fields(line);
    let id = number(parts.next()?)?;
    let parent = number(parts.next()?)?;
    let _device = parts.next()?;
    let root = text(&unescape(parts.next()?));
    let mount_point = text(&unescape(parts.next()?));
    let _options = parts.next()?;
    // Optional fields (shared:N, master:N) end at a lone dash.
    parts.by_ref().find(|f| *f == b"-")?;
    let fs_type = text(&unescape(parts.next()?));
    let source = text(&unescape(parts.next()?));
    let super_options = parts.next().unwrap_or_default().split(|b| *b == b',').map(unescape).collect();
    Some(Mount { id, parent, root, mount_point, fs_type, source, super_options })
}

/// `\NNN` octal escapes decoded; anything else, including a broken escape, kept as it is.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let escape = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match escape.map(|d| d.iter().fold(0u16, |n, c| n * 8 + u16::from(c - b'0'))) {
            Some(value) if value <= 0xff => {
                out.push(value as u8);
                i += 4;
            }
            _ => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

/// The upper directory of the overlay mounted at `/` (the container's root file system), as the
/// host names it. Of stacked root mounts the last, the visible one, counts.
pub fn overlay_upper_dir(mounts: &[Mount]) -> Option<PathBuf> {
    let root = mounts.iter().rfind(|m| m.mount_point == "/")?;
    if root.fs_type != "overlay" {
        return None;
    }
    let upper = root.super_options.iter().find_map(|o| o.strip_prefix(b"upperdir="))?;
    (upper.first() == Some(&b'/')).then(|| PathBuf::from(OsString::from_vec(upper.to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTAINER_ROOT: &[u8] = b"1203 1100 0:77 / / rw,relatime master:412 - overlay overlay rw,lowerdir=/var/lib/containerd/snapshots/11/fs:/var/lib/containerd/snapshots/10/fs,upperdir=/var/lib/containerd/snapshots/12/fs,workdir=/var/lib/containerd/snapshots/12/work\n\
1204 1203 0:80 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n";

    #[test]
    fn the_container_roots_upper_directory_is_found() {
        let mounts = parse_mountinfo(CONTAINER_ROOT);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].fs_type, "overlay");
        assert_eq!(mounts[1].mount_point, "/proc");
        assert_eq!(overlay_upper_dir(&mounts), Some(PathBuf::from("/var/lib/containerd/snapshots/12/fs")));
    }

    #[test]
    fn escaped_options_and_paths_are_decoded() {
        let mounts = parse_mountinfo(
            b"1 0 0:1 / /my\\040root rw - overlay overlay rw,upperdir=/up\\054per\\075x\\040y,workdir=/w\n\
              2 0 0:1 / / rw shared:1 master:2 - overlay overlay rw,upperdir=/a\\134b\\777c\\12\n",
        );
        assert_eq!(mounts[0].mount_point, "/my root");
        assert_eq!(mounts[0].super_options[1], b"upperdir=/up,per=x y");
        assert_eq!(overlay_upper_dir(&mounts), Some(PathBuf::from("/a\\b\\777c\\12")), "broken escapes kept");
    }

    #[test]
    fn no_upper_directory_without_an_overlay_root() {
        let ext4 = parse_mountinfo(b"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n");
        assert_eq!(overlay_upper_dir(&ext4), None);
        let no_upper = parse_mountinfo(b"1 0 0:1 / / rw - overlay overlay rw,lowerdir=/l\n");
        assert_eq!(overlay_upper_dir(&no_upper), None);
        let relative = parse_mountinfo(b"1 0 0:1 / / rw - overlay overlay rw,upperdir=up\n");
        assert_eq!(overlay_upper_dir(&relative), None);
        let covered = parse_mountinfo(
            b"1 0 0:1 / / rw - overlay overlay rw,upperdir=/u\n2 1 8:1 / / rw - ext4 /dev/sda1 rw\n",
        );
        assert_eq!(overlay_upper_dir(&covered), None, "another file system mounted over it");
    }

    #[test]
    fn hostile_lines_are_skipped() {
        let long = format!("1 0 0:1 / /{} rw - tmpfs t rw\n", "d".repeat(100_000));
        let mut input =
            b"1 0 0:1 / / rw overlay overlay rw,upperdir=/nodash\nx 0 0:1 / / rw - overlay o rw\n1 0\n\\\n"
                .to_vec();
        input.extend_from_slice(long.as_bytes());
        input.extend_from_slice(b"9 1 0:1 / /\xff rw - tmpfs t\n");
        let mounts = parse_mountinfo(&input);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[1].mount_point, "/\u{fffd}");
        assert!(mounts[1].super_options.iter().all(|o| o.is_empty()), "missing options are empty");
        assert_eq!(overlay_upper_dir(&mounts), None);
    }
}
