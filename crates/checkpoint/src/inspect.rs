//! `inspect`: everything a checkpoint says of the container, in one pass over the archive.
//!
//! The runtimes write entries in name order, so a process's `mm-PID.img` and
//! `pagemap-PID.img` come before the `pages-N.img` holding its memory: its arguments are read
//! back from those pages as they stream past. Everything else is decoded when its entry
//! arrives and joined at the end.

use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Serialize;

use crate::Limits;
use crate::changes::{self, ChangedFiles};
use crate::error::CheckpointError;
use crate::image::{
    self, Core, DumpStats, Fdinfo, FileRecord, ImageKind, InetRecord, Mm, Pagemap, PstreeEntry, UnixRecord,
    Vma,
};
use crate::layout::Item;
use crate::meta::{self, Container};
use crate::pages::{self, Run};
use crate::stream::{Gate, image_error, malformed, truncated, walk_archive, walk_archive_at};
use crate::tarball::{Member, Payload, ReadAt};
use crate::text::lossy;

/// Arguments kept of a process's command line.
const MAX_ARGS: usize = 4096;
/// Bytes read from a pages image at a time.
const CHUNK: usize = 1 << 20;

/// What a checkpoint archive says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    pub container: Container,
    /// The CRIU image format version (`inventory.img`).
    pub criu_image_version: Option<u32>,
    pub dump_stats: Option<DumpStats>,
    /// The process tree, in `pstree.img` order (parents before their children).
    pub processes: Vec<Process>,
    pub changed_files: ChangedFiles,
    pub archive: ArchiveSummary,
    /// What was not read, and why.
    pub notes: Vec<String>,
}

/// The archive itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveSummary {
    pub entries: u64,
    pub bytes: u64,
    /// Bytes of memory pages (`pages-N.img`).
    pub pages_bytes: u64,
    /// CRIU images kir does not decode (namespaces, signals, timers…).
    pub images_not_read: u64,
}

/// One checkpointed process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    /// The pid inside the container's pid namespace.
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub sid: u32,
    /// Thread ids, the main thread's (`pid`) included.
    pub threads: Vec<u32>,
    /// The kernel's command name (`comm`, at most 15 bytes, set by the process itself).
    pub comm: Option<String>,
    /// The executable's path, as the kernel had it.
    pub exe: Option<String>,
    /// The working directory.
    pub cwd: Option<String>,
    /// The root directory (the container's, unless the process chrooted).
    pub root: Option<String>,
    /// The command line read back from the process's memory (what `ps` shows): `None` when
    /// its pages are not in the archive or came before its pagemap.
    pub argv: Option<Vec<String>>,
    pub files: Vec<OpenFile>,
    pub memory: Memory,
}

/// An open file descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenFile {
    pub fd: u32,
    pub file: FileKind,
}

/// What a descriptor refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum FileKind {
    Regular {
        path: String,
        /// `open` flags (`O_WRONLY` 1, `O_RDWR` 2, `O_APPEND` 0o2000…).
        flags: u32,
        position: u64,
    },
    Pipe {
        pipe_id: u32,
    },
    Fifo {
        pipe_id: u32,
        path: Option<String>,
    },
    Inet {
        /// `tcp`, `udp`, `tcp6`, `udp6`, `raw`…
        protocol: String,
        state: Option<String>,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    },
    Unix {
        /// `stream`, `dgram` or `seqpacket`.
        socket_type: String,
        state: Option<String>,
        /// The bound name; abstract names start with `@`.
        name: Option<String>,
        inode: u32,
        /// The peer socket's inode (0 for none).
        peer: u32,
    },
    /// Another kind (eventfd, epoll, tty, netlink socket, memfd…), named as CRIU names it.
    Other {
        kind: String,
    },
    /// The descriptor names a file description the checkpoint does not hold.
    Missing {
        id: u32,
    },
}

/// A process's memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    pub mappings: Vec<Mapping>,
    /// Pages whose content the checkpoint holds.
    pub pages_dumped: u64,
    /// The page size the pages were written with, when the pages image was read.
    pub page_size: Option<u64>,
}

/// One mapped range, like a line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// `r`, `w`, `x` or `-` each, then `s` (shared) or `p` (private).
    pub perms: String,
    /// `file`, `anonymous`, `shared-anonymous`, `heap`, `stack`, `vdso`, `vvar`, `vsyscall`,
    /// `sysv-shm`…
    pub kind: &'static str,
    /// The mapped file's path.
    pub path: Option<String>,
    /// Pages of the range whose content the checkpoint holds.
    pub pages_dumped: u64,
}

/// Reads a checkpoint archive within [`Limits::default`].
pub fn inspect(reader: impl Read) -> Result<Inventory, CheckpointError> {
    inspect_with_limits(reader, &Limits::default())
}

/// Reads a checkpoint archive within `limits`.
pub fn inspect_with_limits(reader: impl Read, limits: &Limits) -> Result<Inventory, CheckpointError> {
    let mut collected = Collected::new(limits);
    let bytes = walk_archive(reader, limits, |member| collected.visit(member))?;
    collected.finish(bytes)
}

/// Reads the checkpoint archive that is the `length` bytes of `source` within `limits`, as
/// [`inspect_with_limits`] does, passing over the memory pages it does not need.
pub fn inspect_at(
    source: &(impl ReadAt + ?Sized),
    length: u64,
    limits: &Limits,
) -> Result<Inventory, CheckpointError> {
    let mut collected = Collected::new(limits);
    let bytes = walk_archive_at(source, length, limits, |member| collected.visit(member))?;
    collected.finish(bytes)
}

/// The argument area being read back from a process's pages.
struct ArgArea {
    start: u64,
    bytes: Vec<u8>,
    /// Bytes of the area found in the pages.
    found: u64,
}

struct Collected<'l> {
    gate: Gate<'l>,
    container: Container,
    criu_image_version: Option<u32>,
    dump_stats: Option<DumpStats>,
    pstree: Option<Vec<PstreeEntry>>,
    cores: HashMap<u32, Core>,
    files_ids: HashMap<u32, Option<u32>>,
    /// Working and root directory file ids by pid.
    directories: HashMap<u32, (Option<u32>, Option<u32>)>,
    mms: HashMap<u32, Mm>,
    pagemaps: HashMap<u32, Pagemap>,
    /// The pid whose pagemap names each pages image.
    pages_owners: HashMap<u32, u32>,
    page_sizes: HashMap<u32, u64>,
    argv: HashMap<u32, Vec<String>>,
    files: Option<HashMap<u32, FileRecord>>,
    fdinfos: HashMap<u32, Vec<Fdinfo>>,
    changes: ChangedFiles,
    summary: ArchiveSummary,
}

impl<'l> Collected<'l> {
    fn new(limits: &'l Limits) -> Self {
        Collected {
            gate: Gate::new(limits),
            container: Container::default(),
            criu_image_version: None,
            dump_stats: None,
            pstree: None,
            cores: HashMap::new(),
            files_ids: HashMap::new(),
            directories: HashMap::new(),
            mms: HashMap::new(),
            pagemaps: HashMap::new(),
            pages_owners: HashMap::new(),
            page_sizes: HashMap::new(),
            argv: HashMap::new(),
            files: None,
            fdinfos: HashMap::new(),
            changes: ChangedFiles::default(),
            summary: ArchiveSummary::default(),
        }
    }

    fn visit(&mut self, mut member: Member<'_>) -> Result<(), CheckpointError> {
        let Some(item) = self.gate.admit(&member)? else { return Ok(()) };
        let limits = self.gate.limits;
        let name = member.name;
        let decode = |kind: ImageKind| move |error| image_error(name, kind.label(), error);
        match item {
            Item::Pages(id) => return self.pages(id, member),
            Item::RootfsDiff => {
                changes::read_rootfs_diff(&mut self.changes, member.data, limits);
                return Ok(());
            }
            Item::OtherImage => {
                self.summary.images_not_read += 1;
                return Ok(());
            }
            Item::ShmemPagemap => {
                self.summary.images_not_read += 1;
                self.gate.notes.push(format!("{name}: shared memory pages are not read"));
                return Ok(());
            }
            _ => {}
        }
        let bytes = self.gate.read_small(&mut member)?;
        match item {
            Item::ConfigDump => {
                if let Err(error) = meta::read_config(&mut self.container, &bytes, limits.max_text) {
                    self.gate.notes.push(format!("config.dump is not JSON: {error}"));
                }
            }
            Item::SpecDump => {
                if let Err(error) = meta::read_spec(&mut self.container, &bytes, limits.max_text) {
                    self.gate.notes.push(format!("spec.dump is not JSON: {error}"));
                }
            }
            Item::DeletedFiles => changes::read_deleted(&mut self.changes, &bytes, limits),
            Item::Stats => self.dump_stats = Some(image::stats(&bytes).map_err(decode(ImageKind::Stats))?),
            Item::Inventory => {
                self.criu_image_version = image::inventory(&bytes).map_err(decode(ImageKind::Inventory))?;
            }
            Item::Pstree => {
                let pstree =
                    image::pstree(&bytes, limits.max_processes, &mut self.gate.budget).map_err(|error| {
                        match error {
                            image::ImageError::TooMany("processes") => {
                                CheckpointError::TooManyProcesses { limit: limits.max_processes }
                            }
                            other => image_error(name, ImageKind::Pstree.label(), other),
                        }
                    })?;
                self.pstree = Some(pstree);
            }
            Item::Files => {
                let files = image::files(&bytes, limits.max_text, &mut self.gate.budget)
                    .map_err(decode(ImageKind::Files))?;
                self.files = Some(files.into_iter().collect());
            }
            Item::Core(pid) => {
                self.cores
                    .insert(pid, image::core(&bytes, limits.max_text).map_err(decode(ImageKind::Core))?);
            }
            Item::Ids(pid) => {
                self.files_ids.insert(pid, image::ids(&bytes).map_err(decode(ImageKind::Ids))?);
            }
            Item::Mm(pid) => {
                self.mms
                    .insert(pid, image::mm(&bytes, &mut self.gate.budget).map_err(decode(ImageKind::Mm))?);
            }
            Item::Pagemap(pid) => {
                let pagemap =
                    image::pagemap(&bytes, &mut self.gate.budget).map_err(decode(ImageKind::Pagemap))?;
                if let Some(other) = self.pages_owners.insert(pagemap.pages_id, pid) {
                    return Err(malformed(
                        name,
                        format!("names pages-{}.img, which pagemap-{other}.img names too", pagemap.pages_id),
                    ));
                }
                self.pagemaps.insert(pid, pagemap);
            }
            Item::Fs(pid) => {
                self.directories.insert(pid, image::fs(&bytes).map_err(decode(ImageKind::Fs))?);
            }
            Item::Fdinfo(id) => {
                self.fdinfos.insert(
                    id,
                    image::fdinfo(&bytes, &mut self.gate.budget).map_err(decode(ImageKind::Fdinfo))?,
                );
            }
            // Streamed or counted above, never read into memory.
            Item::Pages(_) | Item::RootfsDiff | Item::OtherImage | Item::ShmemPagemap => {}
        }
        Ok(())
    }

    /// A pages image streams past: its size is checked against its pagemap, and the owner's
    /// argument area is copied out of it.
    fn pages(&mut self, id: u32, member: Member<'_>) -> Result<(), CheckpointError> {
        self.summary.pages_bytes += member.size;
        let Some(&pid) = self.pages_owners.get(&id) else {
            self.gate.notes.push(format!(
                "{}: no pagemap before it names it; its process's arguments are not read",
                member.name
            ));
            return Ok(());
        };
        let layout = match pages::layout(&self.pagemaps[&pid], member.size) {
            Ok(layout) => layout,
            Err(error) => {
                self.gate
                    .notes
                    .push(format!("{}: {error}; its process's arguments are not read", member.name));
                return Ok(());
            }
        };
        self.page_sizes.insert(pid, layout.page_size);
        let Some(mm) = self.mms.get(&pid).filter(|mm| mm.arg_end > mm.arg_start) else { return Ok(()) };
        let length = (mm.arg_end - mm.arg_start).min(self.gate.limits.max_argv_bytes);
        // Arguments kept count against the metadata allowance, so many processes with long
        // argument areas stay within it too.
        if !self.gate.keep(length) {
            self.gate
                .notes
                .push(format!("process {pid}: arguments not read, the metadata allowance is spent"));
            return Ok(());
        }
        let mut area = ArgArea { start: mm.arg_start, bytes: vec![0; length as usize], found: 0 };
        copy_area(member.data, &layout.runs, &mut area).map_err(|()| truncated(member.name))?;
        if area.found == length {
            self.argv.insert(pid, split_args(&area.bytes, self.gate.limits.max_text));
        }
        Ok(())
    }

    fn finish(mut self, bytes: u64) -> Result<Inventory, CheckpointError> {
        let no_metadata = self.container == Container::default();
        if !self.gate.checkpoint_seen || (no_metadata && self.pstree.is_none() && self.cores.is_empty()) {
            return Err(CheckpointError::NotACheckpoint);
        }
        if self.pstree.is_none() && !self.cores.is_empty() {
            self.gate.notes.push("no checkpoint/pstree.img: the process tree is not read".to_string());
        }
        if self.files.is_none() && !self.fdinfos.is_empty() {
            self.gate
                .notes
                .push("no checkpoint/files.img: open files are listed by descriptor only".to_string());
        }
        let files = self.files.take().unwrap_or_default();
        let processes = self
            .pstree
            .take()
            .unwrap_or_default()
            .into_iter()
            .map(|entry| self.process(entry, &files))
            .collect();
        self.summary.entries = self.gate.entries;
        self.summary.bytes = bytes;
        Ok(Inventory {
            container: self.container,
            criu_image_version: self.criu_image_version,
            dump_stats: self.dump_stats,
            processes,
            changed_files: self.changes,
            archive: self.summary,
            notes: self.gate.notes.finish(),
        })
    }

    fn process(&mut self, entry: PstreeEntry, files: &HashMap<u32, FileRecord>) -> Process {
        let pid = entry.pid;
        let core = self.cores.remove(&pid).unwrap_or_default();
        let files_id = self.files_ids.get(&pid).copied().flatten().or(core.files_id);
        let open_files = files_id
            .and_then(|id| self.fdinfos.get(&id))
            .map(|fds| fds.iter().map(|fd| open_file(fd, files)).collect())
            .unwrap_or_default();
        let mm = self.mms.remove(&pid).unwrap_or_default();
        let exe = mm.exe_file_id.and_then(|id| regular_path(files, id));
        let (cwd, root) = self.directories.get(&pid).copied().unwrap_or_default();
        let page_size = self.page_sizes.get(&pid).copied();
        let no_pages = Pagemap { pages_id: 0, entries: Vec::new() };
        let pagemap = self.pagemaps.get(&pid).unwrap_or(&no_pages);
        let memory = memory(&mm.vmas, pagemap, page_size, files, &mut self.gate.notes, pid);
        Process {
            pid,
            ppid: entry.ppid,
            pgid: entry.pgid,
            sid: entry.sid,
            threads: entry.threads,
            comm: core.comm,
            exe,
            cwd: cwd.and_then(|id| regular_path(files, id)),
            root: root.and_then(|id| regular_path(files, id)),
            argv: self.argv.remove(&pid),
            files: open_files,
            memory,
        }
    }
}

/// Copies the part of `area` each run holds out of the pages streaming from `data`; stops
/// reading once past it (the walker skips the rest). `Err` when the data ends early.
fn copy_area(data: &mut dyn Payload, runs: &[Run], area: &mut ArgArea) -> Result<(), ()> {
    let area_end = area.start.saturating_add(area.bytes.len() as u64);
    let mut chunk = vec![0u8; CHUNK];
    for run in runs {
        if area.found == area.bytes.len() as u64 {
            return Ok(());
        }
        // Pages before the area are passed over (from a file, not even read).
        let lead = area.start.saturating_sub(run.vaddr).min(run.bytes);
        data.skip(lead).map_err(|_| ())?;
        let mut vaddr = run.vaddr + lead;
        let run_end = run.vaddr + run.bytes;
        while vaddr < run_end {
            if area.found == area.bytes.len() as u64 {
                return Ok(());
            }
            let take = (run_end - vaddr).min(CHUNK as u64) as usize;
            data.read_exact(&mut chunk[..take]).map_err(|_| ())?;
            let (from, to) = (vaddr.max(area.start), (vaddr + take as u64).min(area_end));
            if from < to {
                let source = (from - vaddr) as usize..(to - vaddr) as usize;
                let target = (from - area.start) as usize..(to - area.start) as usize;
                area.bytes[target].copy_from_slice(&chunk[source]);
                area.found += to - from;
            }
            vaddr += take as u64;
        }
    }
    Ok(())
}

/// The NUL-separated arguments of an argument area.
fn split_args(area: &[u8], max_text: usize) -> Vec<String> {
    let area = area.strip_suffix(&[0]).unwrap_or(area);
    area.split(|&byte| byte == 0).take(MAX_ARGS).map(|arg| lossy(arg, max_text)).collect()
}

fn regular_path(files: &HashMap<u32, FileRecord>, id: u32) -> Option<String> {
    match files.get(&id) {
        Some(FileRecord::Regular { path, .. }) => Some(path.clone()),
        _ => None,
    }
}

fn open_file(fd: &Fdinfo, files: &HashMap<u32, FileRecord>) -> OpenFile {
    let file = match files.get(&fd.id) {
        None if fd.fd_type != 0 && files.is_empty() => {
            FileKind::Other { kind: image::fd_type_name(fd.fd_type).to_string() }
        }
        None => FileKind::Missing { id: fd.id },
        Some(FileRecord::Regular { path, flags, pos, .. }) => {
            FileKind::Regular { path: path.clone(), flags: *flags, position: *pos }
        }
        Some(FileRecord::Pipe { pipe_id }) => FileKind::Pipe { pipe_id: *pipe_id },
        Some(FileRecord::Fifo { pipe_id, path_id }) => {
            FileKind::Fifo { pipe_id: *pipe_id, path: path_id.and_then(|id| regular_path(files, id)) }
        }
        Some(FileRecord::Inet(socket)) => inet(socket),
        Some(FileRecord::Unix(socket)) => unix(socket),
        Some(FileRecord::Other { kind }) => FileKind::Other { kind: (*kind).to_string() },
    };
    OpenFile { fd: fd.fd, file }
}

/// Linux's socket states (`include/net/tcp_states.h`), which unix sockets share.
fn socket_state(state: u32) -> Option<String> {
    let name = match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        _ => return None,
    };
    Some(name.to_string())
}

/// CRIU keeps an address as the kernel's bytes, read four at a time in host (little-endian)
/// order.
fn ip_address(words: &[u32]) -> Option<IpAddr> {
    match words {
        [word] => Some(IpAddr::V4(Ipv4Addr::from(word.to_le_bytes()))),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (slot, word) in bytes.chunks_exact_mut(4).zip([a, b, c, d]) {
                slot.copy_from_slice(&word.to_le_bytes());
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

fn inet(socket: &InetRecord) -> FileKind {
    let six = if socket.family == 10 { "6" } else { "" };
    let protocol = match (socket.socket_type, socket.protocol) {
        (_, 6) => format!("tcp{six}"),
        (_, 17) => format!("udp{six}"),
        (_, 136) => format!("udplite{six}"),
        (3, _) => format!("raw{six}"),
        (_, other) => format!("ip{six}-proto-{other}"),
    };
    let address = |words: &[u32], port: u32| {
        let ip = ip_address(words)?;
        let port = u16::try_from(port).ok()?;
        (!(ip.is_unspecified() && port == 0)).then_some(SocketAddr::new(ip, port))
    };
    FileKind::Inet {
        protocol,
        state: socket_state(socket.state),
        local: address(&socket.src_addr, socket.src_port),
        remote: address(&socket.dst_addr, socket.dst_port),
    }
}

fn unix(socket: &UnixRecord) -> FileKind {
    let socket_type = match socket.socket_type {
        1 => "stream".to_string(),
        2 => "dgram".to_string(),
        5 => "seqpacket".to_string(),
        other => format!("type-{other}"),
    };
    let name = match socket.name.split_first() {
        None => None,
        // An abstract name: not a path, and may hold any byte.
        Some((0, abstract_name)) => Some(format!("@{}", lossy(abstract_name, usize::MAX))),
        // A path: the kernel ends it at the first NUL.
        Some(_) => {
            let path = socket.name.split(|&byte| byte == 0).next().unwrap_or_default();
            Some(lossy(path, usize::MAX))
        }
    };
    FileKind::Unix {
        socket_type,
        state: socket_state(socket.state),
        name,
        inode: socket.ino,
        peer: socket.peer,
    }
}

/// CRIU's mapping status bits (`criu/include/image.h`).
const VMA_STACK: u32 = 1 << 1;
const VMA_VSYSCALL: u32 = 1 << 2;
const VMA_VDSO: u32 = 1 << 3;
const VMA_HEAP: u32 = 1 << 5;
const VMA_FILE_PRIVATE: u32 = 1 << 6;
const VMA_FILE_SHARED: u32 = 1 << 7;
const VMA_ANON_SHARED: u32 = 1 << 8;
const VMA_SYSVIPC: u32 = 1 << 10;
const VMA_SOCKET: u32 = 1 << 11;
const VMA_VVAR: u32 = 1 << 12;
const VMA_AIORING: u32 = 1 << 13;
const VMA_MEMFD: u32 = 1 << 14;

/// `mmap`'s flag for a mapping that grows down: the main thread's stack (CRIU does not always
/// mark it as one).
const MAP_GROWSDOWN: u32 = 0x100;

fn mapping_kind(vma: &Vma) -> &'static str {
    let is = |bit: u32| vma.status & bit != 0;
    if is(VMA_VSYSCALL) {
        "vsyscall"
    } else if is(VMA_VDSO) {
        "vdso"
    } else if is(VMA_VVAR) {
        "vvar"
    } else if is(VMA_STACK) || vma.flags & MAP_GROWSDOWN != 0 {
        "stack"
    } else if is(VMA_HEAP) {
        "heap"
    } else if is(VMA_SYSVIPC) {
        "sysv-shm"
    } else if is(VMA_SOCKET) {
        "socket"
    } else if is(VMA_AIORING) {
        "aio-ring"
    } else if is(VMA_MEMFD) {
        "memfd"
    } else if is(VMA_FILE_PRIVATE) || is(VMA_FILE_SHARED) {
        "file"
    } else if is(VMA_ANON_SHARED) {
        "shared-anonymous"
    } else {
        "anonymous"
    }
}

fn perms(vma: &Vma) -> String {
    let bit = |mask: u32, letter: char| if vma.prot & mask != 0 { letter } else { '-' };
    // MAP_SHARED is 1 in `flags`.
    let shared = if vma.flags & 1 != 0 { 's' } else { 'p' };
    [bit(1, 'r'), bit(2, 'w'), bit(4, 'x'), shared].iter().collect()
}

/// Whether any of the sorted `spans` starts before the ones before it end.
fn overlapping(spans: &[(u64, u64)]) -> bool {
    let mut end = 0;
    spans.iter().any(|&(start, next_end)| {
        let overlaps = start < end;
        end = end.max(next_end);
        overlaps
    })
}

/// The mappings with the pages dumped of each: a sweep over both, sorted, when neither
/// overlaps itself (a real checkpoint's never do; a forged one's get no per-mapping counts).
fn memory(
    vmas: &[Vma],
    pagemap: &Pagemap,
    page_size: Option<u64>,
    files: &HashMap<u32, FileRecord>,
    notes: &mut crate::stream::Notes,
    pid: u32,
) -> Memory {
    let size = page_size.unwrap_or(4096);
    let mut mappings: Vec<Mapping> = vmas
        .iter()
        .map(|vma| {
            let kind = mapping_kind(vma);
            // For a file mapping, CRIU's `shmid` is the mapped file's id.
            let path = (kind == "file" || kind == "memfd")
                .then(|| u32::try_from(vma.shmid).ok().and_then(|id| regular_path(files, id)))
                .flatten();
            Mapping { start: vma.start, end: vma.end, perms: perms(vma), kind, path, pages_dumped: 0 }
        })
        .collect();
    mappings.sort_by_key(|mapping| mapping.start);
    let mut ranges: Vec<(u64, u64)> = pagemap
        .entries
        .iter()
        .filter(|entry| entry.present)
        .map(|entry| (entry.vaddr, entry.vaddr.saturating_add(entry.pages.saturating_mul(size))))
        .collect();
    ranges.sort_unstable();
    let pages_dumped = pagemap
        .entries
        .iter()
        .filter(|entry| entry.present)
        .fold(0u64, |sum, entry| sum.saturating_add(entry.pages));
    let spans: Vec<(u64, u64)> = mappings.iter().map(|mapping| (mapping.start, mapping.end)).collect();
    if overlapping(&spans) || overlapping(&ranges) {
        notes.push(format!(
            "process {pid}: its mappings or page ranges overlap; pages are not counted per mapping"
        ));
    } else {
        let mut next_range = 0;
        for mapping in &mut mappings {
            while next_range < ranges.len() && ranges[next_range].1 <= mapping.start {
                next_range += 1;
            }
            let mut index = next_range;
            while index < ranges.len() && ranges[index].0 < mapping.end {
                let (start, end) = (ranges[index].0.max(mapping.start), ranges[index].1.min(mapping.end));
                mapping.pages_dumped += (end - start) / size;
                index += 1;
            }
        }
    }
    Memory { mappings, pages_dumped, page_size }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_on_nul_and_keep_empty_ones() {
        assert_eq!(split_args(b"sh\0-c\0\0echo hi\0", 64), vec!["sh", "-c", "", "echo hi"]);
        assert_eq!(split_args(b"no-terminator", 4), vec!["no-t…"]);
    }

    #[test]
    fn mappings_are_named_as_proc_maps_names_them() {
        let vma =
            |status: u32, flags: u32, prot: u32| Vma { start: 0, end: 4096, prot, flags, status, shmid: 0 };
        // CRIU 4.1 marks the main stack as plain anonymous memory that grows down.
        assert_eq!(mapping_kind(&vma(0x201, 0x122, 3)), "stack");
        assert_eq!(mapping_kind(&vma(0x204, 0x22, 4)), "vsyscall");
        assert_eq!(mapping_kind(&vma(0x1201, 0x22, 1)), "vvar");
        assert_eq!(mapping_kind(&vma(0x41, 0x2, 5)), "file");
        assert_eq!(perms(&vma(0x41, 0x1, 3)), "rw-s");
    }

    #[test]
    fn an_argument_area_at_the_top_of_the_address_space_is_read_without_overflow() {
        // The highest run a pagemap can describe ends at the last address.
        let top = u64::MAX - 4096;
        let mut area = ArgArea { start: u64::MAX - 5, bytes: vec![0; 100], found: 0 };
        let page = [7u8; 4096];
        copy_area(&mut &page[..], &[Run { vaddr: top, bytes: 4096 }], &mut area).unwrap();
        assert_eq!(area.found, 5);
        assert_eq!(&area.bytes[..6], &[7, 7, 7, 7, 7, 0]);
    }

    #[test]
    fn addresses_read_the_kernel_bytes() {
        assert_eq!(ip_address(&[u32::from_le_bytes([127, 0, 0, 1])]), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(
            ip_address(&[0, 0, 0, u32::from_le_bytes([0, 0, 0, 1])]),
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(ip_address(&[1, 2]), None);
    }
}
