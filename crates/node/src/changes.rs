//! A container's changed files: the upper directory of its overlay root, as a tar stream.
//!
//! The suspect writes that directory and may change it while it is read, so every name is
//! opened relative to its parent's descriptor without following a link (see
//! [`crate::read::open_path_at`]), checked for what it is before anything is read, and reopened
//! as the very inode checked. Symlinks are stored as symlinks, devices and FIFOs are never
//! opened, and overlay whiteouts (a 0/0 character device, or a file with the
//! `trusted.overlay.whiteout` attribute, `user.` for an unprivileged overlay) and opaque
//! directories are reported as deletions. Reading `trusted.` attributes takes CAP_SYS_ADMIN:
//! without it such whiteouts look like empty files.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::parse::{overlay_upper_dir, parse_mountinfo, text};
use crate::process::{Pid, mountinfo};
use crate::read::{
    directory_names, open_directory, open_path_at, read_link_fd, reopen_for_reading, stat_fd, xattr,
};

/// The PAX record a truncated file's entry carries: the file's real size in bytes.
pub const TRUNCATED_PAX_KEY: &str = "KIR.truncated.original_size";

#[derive(Debug, Clone)]
pub struct ChangeCaps {
    /// Bytes stored of one file; the rest is left out and the entry marked.
    pub max_file_bytes: u64,
    /// Bytes stored of all files together.
    pub max_total_bytes: u64,
    /// Entries of any kind, deletions included.
    pub max_entries: usize,
    pub max_depth: usize,
}

impl Default for ChangeCaps {
    fn default() -> ChangeCaps {
        ChangeCaps {
            max_file_bytes: 64 * 1024 * 1024,
            max_total_bytes: 1024 * 1024 * 1024,
            max_entries: 200_000,
            max_depth: 128,
        }
    }
}

/// What [`write_changed_files`] stored and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChangedFiles {
    pub files: usize,
    pub directories: usize,
    pub symlinks: usize,
    pub bytes_stored: u64,
    pub deletions: Vec<Deletion>,
    pub truncated: Vec<TruncatedFile>,
    pub skipped: Vec<Skipped>,
    /// Files that shrank while read: their entries are padded with zeros to the size first seen.
    pub changed_while_read: Vec<String>,
    /// Entries were left out: `max_entries` was reached.
    pub entries_left_out: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deletion {
    /// Relative to the container's root.
    pub path: String,
    pub kind: DeletionKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DeletionKind {
    /// The file or directory of this name in the image was deleted.
    Whiteout,
    /// The directory was replaced: nothing of the image's directory below it is visible.
    OpaqueDirectory,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TruncatedFile {
    pub path: String,
    pub size: u64,
    pub stored: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// The overlay upper directory of `pid`'s root file system as the collector sees the host:
/// the directory named in the process's mount table, under `host_root` (`/host` when the
/// host's `/` is mounted there, `/` when the collector runs on the host itself).
pub fn upper_directory(proc_root: &Path, pid: Pid, host_root: &Path) -> Result<PathBuf> {
    let mounts = parse_mountinfo(&mountinfo(proc_root, pid)?);
    let upper = overlay_upper_dir(&mounts).ok_or(Error::NoUpperDirectory { pid })?;
    Ok(host_root.join(upper.strip_prefix("/").unwrap_or(&upper)))
}

/// The upper directory `upper` as a tar stream written to `out`: regular files (capped, an
/// over-cap one with the PAX record [`TRUNCATED_PAX_KEY`]), directories and symlinks, with
/// their modes, owners and times. Deletions and what was not stored are in the result.
pub fn write_changed_files(upper: &Path, out: impl Write, caps: &ChangeCaps) -> Result<ChangedFiles> {
    let root = open_directory(upper)
        .map_err(|source| Error::UpperDirectory { path: upper.to_path_buf(), source })?;
    let mut walk =
        Walk { archive: tar::Builder::new(out), caps, summary: ChangedFiles::default(), entries: 0 };
    walk.directory(&root, Path::new(""), 0).map_err(|e| Error::io("writing the changed files", e))?;
    walk.archive.into_inner().map_err(|e| Error::io("writing the changed files", e))?;
    Ok(walk.summary)
}

struct Walk<'a, W: Write> {
    archive: tar::Builder<W>,
    caps: &'a ChangeCaps,
    summary: ChangedFiles,
    entries: usize,
}

impl<W: Write> Walk<'_, W> {
    /// Store what `dir` holds. Errors are the archive's (writing); a name that cannot be read
    /// is skipped and said.
    fn directory(&mut self, dir: &OwnedFd, at: &Path, depth: usize) -> io::Result<()> {
        let room = self.caps.max_entries.saturating_sub(self.entries);
        let (names, left_out) = match directory_names(dir, room) {
            Ok(listed) => listed,
            Err(error) => {
                self.skip(at, format!("cannot list: {error}"));
                return Ok(());
            }
        };
        self.summary.entries_left_out |= left_out;
        for name in names {
            if self.entries >= self.caps.max_entries {
                self.summary.entries_left_out = true;
                return Ok(());
            }
            self.entries += 1;
            let path = at.join(OsStr::from_bytes(&name));
            if let Err(error) = self.entry(dir, &name, &path, depth) {
                // Only a failing writer ends the walk; the suspect's files cannot.
                if error.kind() == io::ErrorKind::Other
                    && error.get_ref().is_some_and(|e| e.is::<WriteFailed>())
                {
                    return Err(error);
                }
                self.skip(&path, error.to_string());
            }
        }
        Ok(())
    }

    fn entry(&mut self, dir: &OwnedFd, name: &[u8], path: &Path, depth: usize) -> io::Result<()> {
        let node = open_path_at(dir, name)?;
        let stat = stat_fd(&node)?;
        match stat.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                let opened = reopen_for_reading(&node, true)?;
                if [c"trusted.overlay.opaque", c"user.overlay.opaque"]
                    .iter()
                    .any(|name| xattr(&opened, name).as_deref() == Some(b"y"))
                {
                    self.delete(path, DeletionKind::OpaqueDirectory);
                }
                let mut header = header(&stat, tar::EntryType::Directory);
                writing(self.archive.append_data(&mut header, path, io::empty()))?;
                self.summary.directories += 1;
                if depth + 1 >= self.caps.max_depth {
                    self.skip(
                        path,
                        format!("deeper than {} levels: its contents not read", self.caps.max_depth),
                    );
                    return Ok(());
                }
                self.directory(&opened, path, depth + 1)
            }
            libc::S_IFREG => {
                let opened = reopen_for_reading(&node, false)?;
                if [c"trusted.overlay.whiteout", c"user.overlay.whiteout"]
                    .iter()
                    .any(|name| xattr(&opened, name).is_some())
                {
                    self.delete(path, DeletionKind::Whiteout);
                    return Ok(());
                }
                self.file(File::from(opened), &stat, path)
            }
            libc::S_IFLNK => {
                let target = read_link_fd(&node, libc::PATH_MAX as usize)?;
                writing(self.symlink(&stat, path, &target))?;
                self.summary.symlinks += 1;
                Ok(())
            }
            libc::S_IFCHR if stat.st_rdev == 0 => {
                self.delete(path, DeletionKind::Whiteout);
                Ok(())
            }
            kind => {
                let what = match kind {
                    libc::S_IFCHR => "character device",
                    libc::S_IFBLK => "block device",
                    libc::S_IFIFO => "FIFO",
                    libc::S_IFSOCK => "socket",
                    _ => "unknown file type",
                };
                let (major, minor) = (libc::major(stat.st_rdev), libc::minor(stat.st_rdev));
                self.skip(path, format!("{what} {major}:{minor}: never opened, not stored"));
                Ok(())
            }
        }
    }

    fn file(&mut self, file: File, stat: &libc::stat, path: &Path) -> io::Result<()> {
        let size = stat.st_size.max(0) as u64;
        let room = self.caps.max_total_bytes.saturating_sub(self.summary.bytes_stored);
        let stored = size.min(self.caps.max_file_bytes).min(room);
        if stored < size {
            let original = size.to_string();
            writing(self.archive.append_pax_extensions([(TRUNCATED_PAX_KEY, original.as_bytes())]))?;
            self.summary.truncated.push(TruncatedFile { path: display(path), size, stored });
        }
        let mut header = header(stat, tar::EntryType::Regular);
        header.set_size(stored);
        let mut content = ExactLength { inner: file.take(stored), remaining: stored, short: false };
        writing(self.archive.append_data(&mut header, path, &mut content))?;
        if content.short {
            self.summary.changed_while_read.push(display(path));
        }
        self.summary.files += 1;
        self.summary.bytes_stored += stored;
        Ok(())
    }

    /// A symlink entry holding the target byte for byte: the tar crate's own `append_link`
    /// normalises it as a path (`/` becomes `//`, `a/./b` becomes `a/b`). A target longer than
    /// the header's field goes first in a GNU long-link entry, as the tar crate would write it.
    fn symlink(&mut self, stat: &libc::stat, path: &Path, target: &[u8]) -> io::Result<()> {
        let mut header = header(stat, tar::EntryType::Symlink);
        let field = &mut header.as_old_mut().linkname;
        let long_target = target.len() > field.len();
        let shown = target.len().min(field.len());
        field[..shown].copy_from_slice(&target[..shown]);
        if long_target {
            let mut long = tar::Header::new_gnu();
            long.set_entry_type(tar::EntryType::GNULongLink);
            long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
            long.set_size(target.len() as u64 + 1);
            long.set_cksum();
            self.archive.append(&long, [target, b"\0"].concat().as_slice())?;
        }
        self.archive.append_data(&mut header, path, io::empty())
    }

    fn delete(&mut self, path: &Path, kind: DeletionKind) {
        self.summary.deletions.push(Deletion { path: display(path), kind });
    }

    fn skip(&mut self, path: &Path, reason: String) {
        self.summary.skipped.push(Skipped { path: display(path), reason });
    }
}

fn display(path: &Path) -> String {
    text(path.as_os_str().as_bytes())
}

fn header(stat: &libc::stat, kind: tar::EntryType) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(stat.st_mode & 0o7777);
    header.set_uid(u64::from(stat.st_uid));
    header.set_gid(u64::from(stat.st_gid));
    header.set_mtime(stat.st_mtime.max(0) as u64);
    header.set_size(0);
    header
}

/// An error of the archive's writer, told apart from the suspect's files' errors.
#[derive(Debug)]
struct WriteFailed(io::Error);

impl std::fmt::Display for WriteFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for WriteFailed {}

fn writing(result: io::Result<()>) -> io::Result<()> {
    result.map_err(|e| io::Error::other(WriteFailed(e)))
}

/// Exactly `remaining` bytes: a file that shrinks while read is padded with zeros, since a
/// tar entry must hold as many bytes as its header says.
struct ExactLength<R> {
    inner: R,
    remaining: u64,
    short: bool,
}

impl<R: Read> Read for ExactLength<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buffer.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let read = if self.short { 0 } else { self.inner.read(&mut buffer[..want])? };
        let read = if read == 0 {
            self.short = true;
            buffer[..want].fill(0);
            want
        } else {
            read
        };
        self.remaining -= read as u64;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_shrinks_is_padded_to_its_header_size() {
        let mut padded = ExactLength { inner: &b"abc"[..], remaining: 6, short: false };
        let mut out = Vec::new();
        padded.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc\0\0\0");
        assert!(padded.short);
        let mut exact = ExactLength { inner: &b"abcdef"[..], remaining: 3, short: false };
        let mut out = Vec::new();
        exact.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
        assert!(!exact.short);
    }
}
