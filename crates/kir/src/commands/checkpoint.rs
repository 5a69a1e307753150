//! `kir checkpoint inspect`: a container checkpoint read as the hostile input it is, through
//! `kir-checkpoint` (one stream, nothing extracted, nothing followed, every read capped). From a
//! case, each checkpoint artifact is hashed as it is read and compared with the manifest.

use std::{
    fs::File,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
};

use anyhow::Context;
use comfy_table::Cell;
use kir_checkpoint::{FileKind, GrepReport, Inventory};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    cli::{CheckpointInspectArgs, OutputFormat},
    output::{print_json, print_table, print_yaml, sanitize, table},
    settings::{Settings, UsageError},
};

/// One archive read: where it is, what it holds, and what the search found.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Inspected {
    archive: String,
    inventory: Inventory,
    #[serde(skip_serializing_if = "Option::is_none")]
    grep: Option<GrepReport>,
}

pub fn inspect(args: &CheckpointInspectArgs, settings: &Settings) -> anyhow::Result<u8> {
    let archives = archives(&args.target)?;
    let mut inspected = Vec::new();
    for (path, expected) in archives {
        let (inventory, grep) = match plain_file(&path, expected.as_deref())? {
            Some((file, length)) => read_at(&path, &file, length, args.grep.as_deref()),
            None => read_streams(&path, expected.as_deref(), args.grep.as_deref()),
        };
        inspected.push(Inspected {
            archive: path.display().to_string(),
            inventory: inventory?,
            grep: grep.transpose()?,
        });
    }
    match settings.output {
        OutputFormat::Json => print_json(&inspected)?,
        OutputFormat::Yaml => print_yaml(&inspected)?,
        OutputFormat::Table => {
            for (index, one) in inspected.iter().enumerate() {
                if index > 0 {
                    println!();
                }
                print_inspected(one, args.grep.as_deref())?;
            }
        }
    }
    Ok(crate::exit::SUCCESS)
}

/// The archives `target` names: itself, or each checkpoint artifact of the case it is (with
/// the SHA-256 its manifest records).
fn archives(target: &Path) -> anyhow::Result<Vec<(PathBuf, Option<String>)>> {
    let metadata = std::fs::metadata(target)
        .with_context(|| format!("{}: cannot read it (an archive or a case folder)", target.display()))?;
    if metadata.is_file() {
        return Ok(vec![(target.to_path_buf(), None)]);
    }
    let manifest_path = target.join("manifest.json");
    let manifest: kir_evidence::Manifest =
        serde_json::from_slice(&std::fs::read(&manifest_path).map_err(|_| {
            UsageError(format!("{}: neither an archive nor a case folder", target.display()))
        })?)
        .with_context(|| format!("{}: not a kir manifest", manifest_path.display()))?;
    let found: Vec<(PathBuf, Option<String>)> = manifest
        .artifacts
        .into_iter()
        .filter(|a| is_checkpoint_artifact(&a.path))
        .map(|a| (target.join("evidence").join(&a.path), Some(a.sha256)))
        .collect();
    if found.is_empty() {
        return Err(UsageError(format!(
            "case {} holds no checkpoint (collect one with kir snapshot pod POD --checkpoint --helper-image IMAGE)",
            target.display()
        ))
        .into());
    }
    Ok(found)
}

/// `…/node/CONTAINER/checkpoint.tar.zst` or `checkpoint-N.tar.zst`, as node-side collection
/// names them; never a path that leaves the case (`..`).
fn is_checkpoint_artifact(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let numbered = name
        .strip_prefix("checkpoint-")
        .and_then(|rest| rest.strip_suffix(".tar.zst"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    path.contains("/node/")
        && !path.split('/').any(|part| part == ".." || part.is_empty())
        && (name == "checkpoint.tar.zst" || numbered)
}

/// The archive at `path` opened to be read at offsets, when it is neither compressed nor
/// checked against a hash (which needs every byte read in order).
fn plain_file(path: &Path, expected: Option<&str>) -> anyhow::Result<Option<(File, u64)>> {
    if expected.is_some() {
        return Ok(None);
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut magic = [0u8; 4];
    let read = std::os::unix::fs::FileExt::read_at(&file, &mut magic, 0)?;
    if read == magic.len() && magic == ZSTD_MAGIC {
        return Ok(None);
    }
    let length = file.metadata()?.len();
    Ok(Some((file, length)))
}

type Read2 = (anyhow::Result<Inventory>, Option<anyhow::Result<GrepReport>>);

/// The inventory and the search over one file, one core each: the inventory reads the headers
/// and what it needs of the pages, the search the pages.
fn read_at(path: &Path, file: &File, length: u64, needle: Option<&str>) -> Read2 {
    let limits = kir_checkpoint::Limits::default();
    let unreadable = || format!("{}: not a readable checkpoint", path.display());
    std::thread::scope(|scope| {
        let grep = needle.map(|needle| {
            let limits = &limits;
            scope.spawn(move || kir_checkpoint::grep_at(file, length, needle.as_bytes(), limits))
        });
        let inventory = kir_checkpoint::inspect_at(file, length, &limits).with_context(unreadable);
        let grep = grep.map(|search| match search.join() {
            Ok(found) => found.with_context(unreadable),
            Err(_) => Err(anyhow::anyhow!("the search failed")),
        });
        (inventory, grep)
    })
}

/// The inventory and the search over two reads of the same stream, one per core; each
/// checked against `expected` when it is given.
fn read_streams(path: &Path, expected: Option<&str>, needle: Option<&str>) -> Read2 {
    std::thread::scope(|scope| {
        let grep = needle.map(|needle| {
            scope.spawn(move || {
                read_checked(path, expected, |reader| kir_checkpoint::grep(reader, needle.as_bytes()))
            })
        });
        let inventory = read_checked(path, expected, |reader| kir_checkpoint::inspect(reader));
        let grep =
            grep.map(|search| search.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the search failed"))));
        (inventory, grep)
    })
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Run `read` over the archive at `path`, decompressed when it is zstd; when `expected` is
/// given, the file's bytes are hashed on the way and must match it (the rest is hashed after
/// `read` stops).
fn read_checked<T, E>(
    path: &Path,
    expected: Option<&str>,
    read: impl FnOnce(&mut dyn Read) -> Result<T, E>,
) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hashed =
        Hashing { inner: BufReader::with_capacity(1 << 20, file), hasher: expected.map(|_| Sha256::new()) };
    let zstd = hashed.inner.fill_buf()?.starts_with(&ZSTD_MAGIC);
    let result = if zstd {
        let mut decoder = zstd::stream::read::Decoder::with_buffer(&mut hashed)?;
        read(&mut decoder)
    } else {
        read(&mut hashed)
    };
    let result = result.with_context(|| format!("{}: not a readable checkpoint", path.display()))?;
    if let Some(expected) = expected {
        std::io::copy(&mut hashed, &mut std::io::sink())?;
        let actual = hex(&hashed.hasher.take().map(Sha256::finalize).unwrap_or_default());
        if actual != expected {
            anyhow::bail!(
                "{}: its SHA-256 is {actual}, not the {expected} the case's manifest records: the artifact was changed",
                path.display()
            );
        }
    }
    Ok(result)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes what passes through, when there is a hash to compare with.
struct Hashing<R> {
    inner: R,
    hasher: Option<Sha256>,
}

impl<R: BufRead> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Hashing<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if let (Some(hasher), Ok(buffered)) = (&mut self.hasher, self.inner.fill_buf()) {
            hasher.update(&buffered[..amount.min(buffered.len())]);
        }
        self.inner.consume(amount);
    }
}

fn print_inspected(one: &Inspected, needle: Option<&str>) -> anyhow::Result<()> {
    let inventory = &one.inventory;
    let container = &inventory.container;
    let or_unknown = |value: &Option<String>| value.clone().unwrap_or_else(|| "?".to_string());
    println!("archive: {}", sanitize(&one.archive));
    println!(
        "container {} of pod {}/{}, image {}, checkpointed at {}",
        sanitize(&or_unknown(&container.name)),
        sanitize(&or_unknown(&container.namespace)),
        sanitize(&or_unknown(&container.pod)),
        sanitize(&or_unknown(&container.image)),
        sanitize(&or_unknown(&container.checkpointed_at)),
    );
    println!();
    let mut processes =
        table(&["pid", "ppid", "command", "executable", "arguments", "files", "memory pages"]);
    for process in &inventory.processes {
        processes.add_row(vec![
            Cell::new(process.pid),
            Cell::new(process.ppid),
            Cell::new(process.comm.clone().unwrap_or_default()),
            Cell::new(process.exe.clone().unwrap_or_default()),
            Cell::new(
                process.argv.as_ref().map(|a| a.join(" ")).unwrap_or_else(|| "(not in the archive)".into()),
            ),
            Cell::new(process.files.len()),
            Cell::new(process.memory.pages_dumped),
        ]);
    }
    print_table(&processes)?;
    let mut files = table(&["pid", "fd", "open file"]);
    for process in &inventory.processes {
        for file in &process.files {
            files.add_row(vec![Cell::new(process.pid), Cell::new(file.fd), Cell::new(describe(&file.file))]);
        }
    }
    if !files.is_empty() {
        println!();
        print_table(&files)?;
    }
    let changes = &inventory.changed_files;
    println!();
    println!(
        "changed files: {} in the writable layer{}, {} deleted",
        changes.rootfs_diff_total,
        if changes.rootfs_diff_present { "" } else { " (no rootfs-diff.tar in the archive)" },
        changes.deleted_total
    );
    for change in &changes.rootfs_diff {
        println!("  {:?} {}", change.kind, sanitize(&change.path));
    }
    for deleted in &changes.deleted {
        println!("  deleted {}", sanitize(deleted));
    }
    for note in inventory.notes.iter().chain(&changes.problems) {
        println!("note: {}", sanitize(note));
    }
    if let (Some(grep), Some(needle)) = (&one.grep, needle) {
        println!();
        println!(
            "{} occurrence{} of {:?} in {} bytes of memory pages",
            grep.total,
            if grep.total == 1 { "" } else { "s" },
            sanitize(needle),
            grep.bytes_searched
        );
        let mut hits = table(&["pid", "address"]);
        for hit in &grep.hits {
            hits.add_row(vec![Cell::new(hit.pid), Cell::new(format!("{:#x}", hit.address))]);
        }
        if !hits.is_empty() {
            print_table(&hits)?;
        }
        for note in &grep.notes {
            println!("note: {}", sanitize(note));
        }
    }
    Ok(())
}

fn describe(file: &FileKind) -> String {
    match file {
        FileKind::Regular { path, .. } => path.clone(),
        FileKind::Pipe { pipe_id } => format!("pipe:[{pipe_id}]"),
        FileKind::Fifo { pipe_id, path } => format!("fifo {} [{pipe_id}]", path.clone().unwrap_or_default()),
        FileKind::Inet { protocol, state, local, remote } => format!(
            "{protocol} {} -> {} {}",
            local.map(|a| a.to_string()).unwrap_or_else(|| "?".into()),
            remote.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
            state.clone().unwrap_or_default()
        ),
        FileKind::Unix { socket_type, name, .. } => {
            format!("unix {socket_type} {}", name.clone().unwrap_or_default())
        }
        FileKind::Other { kind } => kind.clone(),
        FileKind::Missing { id } => format!("(file {id} not in the archive)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_node_checkpoints_inside_the_case_are_read() {
        for path in ["pods/ns/p/u/node/app/checkpoint.tar.zst", "pods/ns/p/u/node/app/checkpoint-2.tar.zst"] {
            assert!(is_checkpoint_artifact(path), "{path}");
        }
        for path in [
            "pods/ns/p/u/snapshot/app/checkpoint.tar.zst",
            "pods/ns/p/u/node/app/checkpoint-x.tar.zst",
            "pods/ns/p/u/node/../../../../etc/checkpoint.tar.zst",
            "pods/ns/p/u/node/app/memory.kirmem",
        ] {
            assert!(!is_checkpoint_artifact(path), "{path}");
        }
    }
}
