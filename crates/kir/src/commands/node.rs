//! `kir node`: the collector inside kir's helper pod on a suspect's node. kir runs it there
//! through exec; what it writes to stdout streams through the API server into the case. It only
//! reads: the node's files through the helper's read-only view, never following a link.

use std::{
    io::{Read, Write},
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
/// kubelet's folder must not point the collector elsewhere. With `zstd`, one zstd frame with
/// its checksum, so that the receiver can tell a whole stream from a cut one.
pub fn read(path: &Path, max_bytes: u64, zstd: bool) -> anyhow::Result<u8> {
    let mut file =
        kir_node::open_without_links(path).with_context(|| format!("cannot open {}", path.display()))?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        anyhow::bail!("{} is not a regular file", path.display());
    }
    let mut input = (&mut file).take(max_bytes);
    let mut out = std::io::stdout().lock();
    let copied = if zstd {
        let mut encoder = zstd::Encoder::new(&mut out, 1)?;
        encoder.include_checksum(true)?;
        let copied = std::io::copy(&mut input, &mut encoder)?;
        encoder.finish()?;
        copied
    } else {
        std::io::copy(&mut input, &mut out)?
    };
    out.flush()?;
    if copied == max_bytes && metadata.len() > max_bytes {
        eprintln!("{}: cut at {max_bytes} bytes of {}", path.display(), metadata.len());
        return Ok(crate::exit::INCOMPLETE);
    }
    Ok(crate::exit::SUCCESS)
}
