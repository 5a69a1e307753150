//! Reading what a suspect controls: bounded, and never through a link it could have planted.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Bytes read up to a cap, and whether there was more.
pub(crate) struct Capped {
    pub bytes: Vec<u8>,
    pub truncated: bool,
}

pub(crate) fn read_capped(path: &Path, cap: usize) -> io::Result<Capped> {
    read_capped_from(File::open(path)?, cap)
}

pub(crate) fn read_capped_from(reader: impl Read, cap: usize) -> io::Result<Capped> {
    let mut bytes = Vec::new();
    reader.take(cap as u64 + 1).read_to_end(&mut bytes)?;
    let truncated = bytes.len() > cap;
    bytes.truncate(cap);
    Ok(Capped { bytes, truncated })
}

fn c_name(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 { Err(io::Error::last_os_error()) } else { Ok(result) }
}

/// `name` in `dir` as an O_PATH descriptor: nothing is opened for reading (a FIFO cannot block,
/// a device is not touched), and a symlink is the link itself. openat2 with
/// RESOLVE_NO_SYMLINKS refuses a link anywhere, also one swapped in mid-walk; kernels before
/// 5.6 get openat with O_NOFOLLOW, which refuses a link as the last component (the only one
/// here: `name` is a single component).
pub(crate) fn open_path_at(dir: &OwnedFd, name: &[u8]) -> io::Result<OwnedFd> {
    let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_BENEATH;
    open_no_symlinks(dir.as_raw_fd(), &c_name(name)?, flags, resolve)
}

/// The regular file or anything else at `path`, read-only, with no component of the path a
/// symbolic link: for a file the kubelet names on a node that may be the attacker's (a link
/// planted in its folder must not point the collector elsewhere). Never becomes a terminal.
pub fn open_without_links(path: &Path) -> io::Result<File> {
    let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NOFOLLOW;
    let resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    let fd = open_no_symlinks(libc::AT_FDCWD, &c_name(path.as_os_str().as_bytes())?, flags, resolve)?;
    Ok(File::from(fd))
}

/// openat2 with `resolve`; kernels before 5.6 get openat with `flags` (whose O_NOFOLLOW refuses
/// a link as the last component).
fn open_no_symlinks(
    dir: libc::c_int,
    name: &std::ffi::CStr,
    flags: libc::c_int,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = resolve;
    // SAFETY: a valid directory descriptor (or AT_FDCWD), a NUL-terminated name and an open_how
    // of the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    let fd = if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        // SAFETY: as above.
        i64::from(unsafe { libc::openat(dir, name.as_ptr(), flags) })
    } else {
        fd
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor the kernel just returned, owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// The metadata of what an O_PATH descriptor holds (a link's own, not its target's).
pub(crate) fn stat_fd(fd: &OwnedFd) -> io::Result<libc::stat> {
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    let empty = c"";
    // SAFETY: a valid descriptor, an empty NUL-terminated path and a stat buffer.
    check(unsafe {
        libc::fstatat(
            fd.as_raw_fd(),
            empty.as_ptr(),
            &mut stat,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(stat)
}

/// Reopen an O_PATH descriptor for reading. Through /proc/self/fd the kernel reopens the very
/// inode checked, so a name swapped since cannot redirect the read; O_NONBLOCK and O_NOCTTY
/// keep a FIFO or terminal from blocking or adopting the collector should one be passed.
pub(crate) fn reopen_for_reading(fd: &OwnedFd, directory: bool) -> io::Result<OwnedFd> {
    let path = c_name(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_bytes())?;
    let mut flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;
    if directory {
        flags |= libc::O_DIRECTORY;
    }
    // SAFETY: a NUL-terminated path.
    let reopened = check(unsafe { libc::open(path.as_ptr(), flags) })?;
    // SAFETY: a descriptor the kernel just returned.
    Ok(unsafe { OwnedFd::from_raw_fd(reopened) })
}

/// A directory named by a path the host controls (not the suspect), opened without following a
/// final link.
pub(crate) fn open_directory(path: &Path) -> io::Result<OwnedFd> {
    let name = c_name(path.as_os_str().as_bytes())?;
    // SAFETY: a NUL-terminated path.
    let fd = check(unsafe {
        libc::open(name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
    })?;
    // SAFETY: a descriptor the kernel just returned.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The target of a symlink held by an O_PATH descriptor, never followed.
pub(crate) fn read_link_fd(fd: &OwnedFd, cap: usize) -> io::Result<Vec<u8>> {
    let mut buffer = vec![0u8; cap.max(1)];
    let empty = c"";
    // SAFETY: a valid descriptor, an empty path (the descriptor itself) and a buffer of its length.
    let length =
        unsafe { libc::readlinkat(fd.as_raw_fd(), empty.as_ptr(), buffer.as_mut_ptr().cast(), buffer.len()) };
    if length < 0 {
        return Err(io::Error::last_os_error());
    }
    buffer.truncate(length as usize);
    Ok(buffer)
}

/// An extended attribute of an open file, or none when it has not got it (or cannot say). A
/// value longer than 256 bytes reads as empty: the attributes asked for here are flags.
pub(crate) fn xattr(fd: &OwnedFd, name: &std::ffi::CStr) -> Option<Vec<u8>> {
    let mut value = [0u8; 256];
    // SAFETY: a valid descriptor, a NUL-terminated name and a buffer of its length.
    let length =
        unsafe { libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
    if length < 0 {
        return (io::Error::last_os_error().raw_os_error() == Some(libc::ERANGE)).then(Vec::new);
    }
    Some(value[..length as usize].to_vec())
}

/// The names in a directory (not `.` or `..`), read from a descriptor of it.
pub(crate) fn directory_names(dir: &OwnedFd, cap: usize) -> io::Result<(Vec<Vec<u8>>, bool)> {
    // fdopendir takes the descriptor over; give it a duplicate.
    // SAFETY: a valid descriptor.
    let duplicate = check(unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: a descriptor we own, handed to fdopendir, closed by closedir below.
    let stream = unsafe { libc::fdopendir(duplicate) };
    if stream.is_null() {
        let error = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so the duplicate is still ours to close.
        unsafe { libc::close(duplicate) };
        return Err(error);
    }
    // The duplicate shares the original's position: start from the beginning whatever it is.
    // SAFETY: a stream from fdopendir.
    unsafe { libc::rewinddir(stream) };
    let mut names = Vec::new();
    let mut truncated = false;
    loop {
        // SAFETY: a stream from fdopendir; each entry is read before the next call.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            break;
        }
        // SAFETY: readdir returned an entry whose d_name is NUL-terminated.
        let name = unsafe { std::ffi::CStr::from_ptr((*entry).d_name.as_ptr()) }.to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        if names.len() == cap {
            truncated = true;
            break;
        }
        names.push(name.to_vec());
    }
    // SAFETY: the stream from fdopendir, closed once.
    unsafe { libc::closedir(stream) };
    names.sort();
    Ok((names, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_anywhere_in_the_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("archive.tar"), b"checkpoint").unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("linked-dir")).unwrap();
        std::os::unix::fs::symlink(real.join("archive.tar"), real.join("linked-file")).unwrap();

        let mut text = String::new();
        open_without_links(&real.join("archive.tar")).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "checkpoint");
        for linked in [dir.path().join("linked-dir/archive.tar"), real.join("linked-file")] {
            let error = open_without_links(&linked).unwrap_err();
            assert_eq!(error.raw_os_error(), Some(libc::ELOOP), "{}: {error}", linked.display());
        }
    }

    #[test]
    fn a_symlink_is_opened_as_itself_and_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("target"), "secret").unwrap();
        std::os::unix::fs::symlink("target", dir.path().join("link")).unwrap();
        let root = open_directory(dir.path()).unwrap();

        let link = open_path_at(&root, b"link").unwrap();
        assert_eq!(stat_fd(&link).unwrap().st_mode & libc::S_IFMT, libc::S_IFLNK);
        assert_eq!(read_link_fd(&link, 4096).unwrap(), b"target");
        assert!(open_path_at(&root, b"../etc").is_err(), "never outside the directory");
        assert!(open_directory(&dir.path().join("link")).is_err(), "a link is no directory");
    }

    #[test]
    fn a_fifo_reopened_for_reading_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = std::ffi::CString::new(dir.path().join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let root = open_directory(dir.path()).unwrap();
        let node = open_path_at(&root, b"fifo").unwrap();
        assert_eq!(stat_fd(&node).unwrap().st_mode & libc::S_IFMT, libc::S_IFIFO);
        assert!(reopen_for_reading(&node, false).is_ok(), "returns at once, no writer needed");
    }

    #[test]
    fn names_are_listed_sorted_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b", "a", "c"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let root = open_directory(dir.path()).unwrap();
        assert_eq!(
            directory_names(&root, 10).unwrap(),
            (vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()], false)
        );
        let (names, truncated) = directory_names(&root, 2).unwrap();
        assert_eq!((names.len(), truncated), (2, true));
    }

    #[test]
    fn capped_reads_say_whether_there_was_more() {
        let whole = read_capped_from(&b"abc"[..], 3).unwrap();
        assert_eq!((whole.bytes.as_slice(), whole.truncated), (&b"abc"[..], false));
        let cut = read_capped_from(&b"abcd"[..], 3).unwrap();
        assert_eq!((cut.bytes.as_slice(), cut.truncated), (&b"abc"[..], true));
    }
}
