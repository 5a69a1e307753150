//! `kir node`: the collector inside kir's helper pod on a suspect's node. kir runs it there
//! through exec; what it writes to stdout streams through the API server into the case. It only
//! reads: the node's files through the helper's read-only view, never following a link.

use std::{
    ffi::CString,
    io::{Read, Write},
    os::{fd::FromRawFd, unix::ffi::OsStrExt},
    path::Path,
};

use anyhow::Context;
use kir_node::{ChangeCaps, FreezerRoots, InventoryCaps, MemoryOptions};

use crate::cli::Collectable;

/// Write `what` of the container `container_id` to stdout.
pub fn collect(
    what: Collectable,
    container_id: &str,
    host_root: &Path,
    proc_root: &Path,
) -> anyhow::Result<u8> {
    let pids = kir_node::find_container_processes(proc_root, container_id);
    let Some(&first) = pids.first() else {
        anyhow::bail!("no process of container {container_id} on this node (is it running here?)");
    };
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    match what {
        Collectable::Processes => {
            kir_node::write_inventory(proc_root, &pids, &InventoryCaps::default(), &mut out)?;
        }
        Collectable::Changes | Collectable::ChangesSummary => {
            let upper = kir_node::upper_directory(proc_root, first, host_root)?;
            if what == Collectable::Changes {
                kir_node::write_changed_files(&upper, &mut out, &ChangeCaps::default())?;
            } else {
                let summary = kir_node::write_changed_files(&upper, std::io::sink(), &ChangeCaps::default())?;
                serde_json::to_writer_pretty(&mut out, &summary)?;
            }
        }
        Collectable::Memory => {
            let options = MemoryOptions {
                freezer: FreezerRoots::under(&host_root.join("sys/fs/cgroup")),
                ..MemoryOptions::default()
            };
            kir_node::dump_memory(proc_root, &pids, &mut out, &options)?;
        }
    }
    out.flush()?;
    Ok(crate::exit::SUCCESS)
}

/// Keep the helper pod running until it is deleted (SIGTERM) or interrupted.
pub fn wait() -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(crate::exit::SUCCESS)
}

/// Write the regular file at `path` to stdout, at most `max_bytes` of it. No component of the
/// path may be a symbolic link: the node may be the attacker's, and a link planted in the
/// kubelet's folder must not point the collector elsewhere.
pub fn read(path: &Path, max_bytes: u64) -> anyhow::Result<u8> {
    let mut file = open_no_links(path).with_context(|| format!("cannot open {}", path.display()))?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        anyhow::bail!("{} is not a regular file", path.display());
    }
    let mut out = std::io::stdout().lock();
    let copied = std::io::copy(&mut (&mut file).take(max_bytes), &mut out)?;
    out.flush()?;
    if copied == max_bytes && metadata.len() > max_bytes {
        eprintln!("{}: cut at {max_bytes} bytes of {}", path.display(), metadata.len());
        return Ok(crate::exit::INCOMPLETE);
    }
    Ok(crate::exit::SUCCESS)
}

/// `openat2` with every symbolic link refused, read-only, and without becoming a terminal.
fn open_no_links(path: &Path) -> std::io::Result<std::fs::File> {
    let name = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path holds a NUL byte"))?;
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NOFOLLOW) as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `name` is a valid C string and `how` a valid open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor, owned by nothing else.
    Ok(unsafe { std::fs::File::from_raw_fd(fd as i32) })
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
        open_no_links(&real.join("archive.tar")).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "checkpoint");
        for linked in [dir.path().join("linked-dir/archive.tar"), real.join("linked-file")] {
            let error = open_no_links(&linked).unwrap_err();
            assert_eq!(error.raw_os_error(), Some(libc::ELOOP), "{}: {error}", linked.display());
        }
    }
}
