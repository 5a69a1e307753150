//! `kir node`: the collector inside kir's helper pod on a suspect's node. kir runs it there
//! through exec; what it writes to stdout streams through the API server into the case. It only
//! reads: the node's files through the helper's read-only view, never following a link.

use std::{
    io::{Read, Write},
    path::Path,
};

use anyhow::Context;
use kir_node::{ChangeCaps, FreezerRoots, InventoryCaps, MemoryCaps, MemoryOptions};

use crate::cli::Collectable;

/// Where the helper sees the node.
pub struct Roots<'p> {
    /// The node's root file system (read-only).
    pub host: &'p Path,
    /// The node's `/proc` (the helper shares the node's process namespace).
    pub proc: &'p Path,
}

/// Write `what` of the container `container_id` to stdout; with `zstd`, as one zstd frame with
/// its checksum.
pub fn collect(
    what: Collectable,
    container_id: &str,
    roots: &Roots<'_>,
    max_memory_bytes: u64,
    zstd: bool,
) -> anyhow::Result<u8> {
    let pids = kir_node::find_container_processes(roots.proc, container_id);
    if pids.is_empty() {
        anyhow::bail!("no process of container {container_id} on this node (is it running here?)");
    }
    let out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    write_output(out, zstd, |out| write_collected(what, &pids, roots, max_memory_bytes, out))?;
    Ok(crate::exit::SUCCESS)
}

/// Run `write` into `out`, through one zstd frame with its checksum when `zstd` says so (the
/// receiver tells a whole frame from a cut one); flushed when done.
fn write_output<W: Write, T>(
    mut out: W,
    zstd: bool,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let written = if zstd {
        let mut encoder = zstd::Encoder::new(&mut out, 1)?;
        encoder.include_checksum(true)?;
        let written = write(&mut encoder)?;
        encoder.finish()?;
        written
    } else {
        write(&mut out)?
    };
    out.flush()?;
    Ok(written)
}

fn write_collected(
    what: Collectable,
    pids: &[kir_node::Pid],
    roots: &Roots<'_>,
    max_memory_bytes: u64,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match what {
        Collectable::Processes => {
            kir_node::write_inventory(roots.proc, pids, &InventoryCaps::default(), out)?;
        }
        Collectable::Changes | Collectable::ChangesSummary => {
            let upper = kir_node::upper_directory(roots.proc, pids[0], roots.host)?;
            if what == Collectable::Changes {
                kir_node::write_changed_files(&upper, out, &ChangeCaps::default())?;
            } else {
                let summary = kir_node::write_changed_files(&upper, std::io::sink(), &ChangeCaps::default())?;
                serde_json::to_writer_pretty(out, &summary)?;
            }
        }
        Collectable::Memory => {
            let options = MemoryOptions {
                freezer: FreezerRoots::under(&roots.host.join("sys/fs/cgroup")),
                caps: MemoryCaps { max_total_bytes: max_memory_bytes, ..MemoryCaps::default() },
                ..MemoryOptions::default()
            };
            kir_node::dump_memory(roots.proc, pids, out, &options)?;
        }
    }
    Ok(())
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
    let copied = write_output(std::io::stdout().lock(), zstd, |out| Ok(std::io::copy(&mut input, out)?))?;
    if copied == max_bytes && metadata.len() > max_bytes {
        eprintln!("{}: cut at {max_bytes} bytes of {}", path.display(), metadata.len());
        return Ok(crate::exit::INCOMPLETE);
    }
    Ok(crate::exit::SUCCESS)
}
