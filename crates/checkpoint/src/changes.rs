//! The files the container changed: the names in `rootfs-diff.tar` (the container's writable
//! layer; containerd stores it gzip-compressed under that name) and the list in
//! `deleted.files` (CRI-O). Names only: no content is read, nothing is extracted.

use std::convert::Infallible;
use std::io::{BufReader, ErrorKind, Read};

use serde::Serialize;

use crate::Limits;
use crate::tarball::{self, Bounds, Kind, WalkError};
use crate::text::lossy;

/// The prefix of an overlay whiteout: the file it names was deleted.
const WHITEOUT_PREFIX: &str = ".wh.";
/// The overlay marker of a directory whose former contents are all hidden.
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// What the writable layer holds for a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    File,
    Directory,
    Symlink,
    Hardlink,
    /// A whiteout: the path (without `.wh.`) was deleted.
    Deleted,
    /// An opaque directory: what the image had in it is hidden; the layer's entries replace it.
    Replaced,
    Other,
}

/// One path of the writable layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangedFile {
    pub path: String,
    pub kind: ChangeKind,
    /// Bytes of content (files only).
    pub size: u64,
}

/// What the checkpoint says the container changed on its filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangedFiles {
    /// Whether the archive has a `rootfs-diff.tar`.
    pub rootfs_diff_present: bool,
    /// The first [`Limits::max_listed_changes`] paths of the writable layer, in archive order.
    pub rootfs_diff: Vec<ChangedFile>,
    /// Every path of the writable layer, listed or not.
    pub rootfs_diff_total: u64,
    /// Paths `deleted.files` lists, as the first [`Limits::max_listed_changes`] of them.
    pub deleted: Vec<String>,
    pub deleted_total: u64,
    /// Why the layer or the deleted list could not be read to its end, if so.
    pub problems: Vec<String>,
}

/// Lists the writable layer from its archive entry, gzip-compressed or not.
pub(crate) fn read_rootfs_diff(changes: &mut ChangedFiles, data: &mut dyn Read, limits: &Limits) {
    changes.rootfs_diff_present = true;
    // The first two bytes tell gzip from tar; however the stream is split, read both.
    let mut magic = [0u8; 2];
    let mut magic_len = 0;
    while magic_len < magic.len() {
        match data.read(&mut magic[magic_len..]) {
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Ok(0) | Err(_) => break,
            Ok(count) => magic_len += count,
        }
    }
    let gzip = magic == [0x1f, 0x8b];
    let buffered = BufReader::new((&magic[..magic_len]).chain(data));
    let bounds = Bounds { max_bytes: limits.max_archive_bytes, max_entries: limits.max_entries };
    let mut list = |member: tarball::Member<'_>| -> Result<(), Infallible> {
        changes.rootfs_diff_total += 1;
        if changes.rootfs_diff.len() < limits.max_listed_changes {
            let (dir, base) = match member.name.rsplit_once('/') {
                Some((dir, base)) => (format!("{dir}/"), base),
                None => (String::new(), member.name),
            };
            let (path, kind) = if base == OPAQUE_MARKER {
                (dir, ChangeKind::Replaced)
            } else if let Some(deleted) = base.strip_prefix(WHITEOUT_PREFIX) {
                (format!("{dir}{deleted}"), ChangeKind::Deleted)
            } else {
                (member.name.to_string(), change_kind(member.kind))
            };
            let size = if kind == ChangeKind::File { member.size } else { 0 };
            changes.rootfs_diff.push(ChangedFile {
                path: lossy(path.as_bytes(), limits.max_text),
                kind,
                size,
            });
        }
        Ok(())
    };
    let walked = if gzip {
        tarball::walk(flate2::bufread::MultiGzDecoder::new(buffered), &bounds, &mut list)
    } else {
        tarball::walk(buffered, &bounds, &mut list)
    };
    if let Err(error) = walked {
        let reason = match error {
            WalkError::Read { offset, source } => format!("unreadable after {offset} bytes: {source}"),
            WalkError::TooLarge => format!("goes on past {} bytes", limits.max_archive_bytes),
            WalkError::TooManyEntries => format!("holds more than {} entries", limits.max_entries),
            WalkError::Header { name, reason } => format!("{name}: {reason}"),
            WalkError::Visit(never) => match never {},
        };
        changes.problems.push(format!("rootfs-diff.tar: {reason}; the paths before that are listed"));
    }
}

fn change_kind(kind: Kind) -> ChangeKind {
    match kind {
        Kind::File => ChangeKind::File,
        Kind::Directory => ChangeKind::Directory,
        Kind::Symlink => ChangeKind::Symlink,
        Kind::Hardlink => ChangeKind::Hardlink,
        Kind::Other => ChangeKind::Other,
    }
}

/// Reads `deleted.files`: a JSON array of paths.
pub(crate) fn read_deleted(changes: &mut ChangedFiles, json: &[u8], limits: &Limits) {
    match serde_json::from_slice::<Vec<serde_json::Value>>(json) {
        Ok(paths) => {
            changes.deleted_total = paths.len() as u64;
            changes.deleted = paths
                .iter()
                .take(limits.max_listed_changes)
                .map(|path| {
                    path.as_str().map(|path| lossy(path.as_bytes(), limits.max_text)).unwrap_or_default()
                })
                .collect();
        }
        Err(error) => changes.problems.push(format!("deleted.files is not a JSON list of paths: {error}")),
    }
}
