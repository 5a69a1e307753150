//! A container's processes, found by cgroup, and the inventory of each: identity, executable
//! hash, command line, redacted environment, open files, sockets, maps, cgroups, namespaces.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::env::{EnvironmentVariable, redact_environment};
use crate::error::{Error, Result};
use crate::parse::{
    CgroupLine, InetProtocol, InetSocket, Mapping, UnixSocket, names_container, parse_cgroup,
    parse_inet_table, parse_maps, parse_status, parse_unix_table, text,
};
use crate::read::{Capped, read_capped, read_capped_from};

/// A process ID as the host's /proc (the helper shares the host's PID namespace) names it.
pub type Pid = u32;

/// Bounds on what one process can make the collector read and record.
#[derive(Debug, Clone)]
pub struct InventoryCaps {
    pub max_processes: usize,
    pub max_cmdline_bytes: usize,
    pub max_environ_bytes: usize,
    /// Bytes of the executable hashed; a larger one is hashed up to here and marked truncated.
    pub max_executable_bytes: u64,
    pub max_open_files: usize,
    pub max_maps: usize,
    /// Any other /proc file (status, maps, cgroup, a socket table).
    pub max_proc_file_bytes: usize,
}

impl Default for InventoryCaps {
    fn default() -> InventoryCaps {
        InventoryCaps {
            max_processes: 4096,
            max_cmdline_bytes: 64 * 1024,
            max_environ_bytes: 256 * 1024,
            max_executable_bytes: 512 * 1024 * 1024,
            max_open_files: 4096,
            max_maps: 16_384,
            max_proc_file_bytes: 8 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcessRecord {
    pub pid: Pid,
    pub ppid: Option<Pid>,
    pub name: Option<String>,
    pub state: Option<String>,
    /// Real, effective, saved and filesystem user IDs.
    pub uids: Vec<u32>,
    pub gids: Vec<u32>,
    pub executable: Option<Executable>,
    pub cmdline: Vec<String>,
    pub cmdline_truncated: bool,
    pub environment: Vec<EnvironmentVariable>,
    pub environment_truncated: bool,
    pub open_files: Vec<OpenFile>,
    pub open_files_truncated: bool,
    /// The sockets among the open files, resolved in the process's own network namespace.
    pub sockets: Vec<Socket>,
    pub maps: Vec<Mapping>,
    pub maps_truncated: bool,
    pub cgroups: Vec<CgroupLine>,
    pub namespaces: Vec<Namespace>,
    /// What could not be read, and why (a process may exit or deny access mid-way).
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Executable {
    /// Where the kernel says the executable is (` (deleted)` when unlinked), for the record
    /// only: the hash is read through /proc/PID/exe, the very file the process runs.
    pub path: Option<String>,
    pub sha256: String,
    pub bytes_hashed: u64,
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenFile {
    pub fd: u32,
    pub kind: OpenFileKind,
    pub target: String,
    /// For a socket or pipe, its inode.
    pub inode: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpenFileKind {
    Path,
    Socket,
    Pipe,
    /// `anon_inode:[eventfd]` and the like.
    Anonymous,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "family", rename_all = "lowercase")]
pub enum Socket {
    Inet(InetSocket),
    Unix(UnixSocket),
    /// A socket in no table read (netlink, packet, vsock, or one closed since).
    Unresolved {
        inode: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Namespace {
    pub kind: String,
    /// `net:[4026531840]`: processes in the same namespace have the same link.
    pub link: String,
}

/// What [`write_inventory`] wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InventorySummary {
    pub processes_written: usize,
    /// Processes that exited before they could be read.
    pub processes_gone: Vec<Pid>,
    /// Processes left out by `max_processes`.
    pub processes_left_out: usize,
}

/// The processes whose cgroup names the container (`containerd://ID` or a bare ID), in
/// ascending order. Processes that vanish while being looked at are left out.
pub fn find_container_processes(proc_root: &Path, container_id: &str) -> Vec<Pid> {
    let id = container_id.split_once("://").map_or(container_id, |(_, id)| id);
    let Ok(entries) = std::fs::read_dir(proc_root) else { return Vec::new() };
    let mut pids: Vec<Pid> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid: &Pid| {
            read_capped(&proc_root.join(pid.to_string()).join("cgroup"), 64 * 1024).is_ok_and(|cgroup| {
                parse_cgroup(&cgroup.bytes).iter().any(|line| names_container(&line.path, id))
            })
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// The inventory of one process. Fails only when the process is gone; anything else that
/// cannot be read is named in the record's `problems`.
pub fn inspect_process(proc_root: &Path, pid: Pid, caps: &InventoryCaps) -> Result<ProcessRecord> {
    inspect(proc_root, pid, caps, &mut SocketTables::default())
}

/// The inventory of `pids` as JSON Lines, one [`ProcessRecord`] a line, written as each is read.
pub fn write_inventory(
    proc_root: &Path,
    pids: &[Pid],
    caps: &InventoryCaps,
    mut out: impl Write,
) -> Result<InventorySummary> {
    let mut summary = InventorySummary {
        processes_left_out: pids.len().saturating_sub(caps.max_processes),
        ..InventorySummary::default()
    };
    let mut tables = SocketTables::default();
    for &pid in pids.iter().take(caps.max_processes) {
        match inspect(proc_root, pid, caps, &mut tables) {
            Ok(record) => {
                let mut line = serde_json::to_vec(&record).map_err(|e| Error::io("inventory", e.into()))?;
                line.push(b'\n');
                out.write_all(&line).map_err(|e| Error::io("writing the inventory", e))?;
                summary.processes_written += 1;
            }
            Err(Error::ProcessGone { pid }) => summary.processes_gone.push(pid),
            Err(other) => return Err(other),
        }
    }
    out.flush().map_err(|e| Error::io("writing the inventory", e))?;
    Ok(summary)
}

fn inspect(
    proc_root: &Path,
    pid: Pid,
    caps: &InventoryCaps,
    tables: &mut SocketTables,
) -> Result<ProcessRecord> {
    let dir = proc_root.join(pid.to_string());
    let mut problems = Vec::new();
    let status =
        read_capped(&dir.join("status"), caps.max_proc_file_bytes).map_err(|_| Error::ProcessGone { pid })?;
    let status = parse_status(&status.bytes);

    let mut read = |file: &str, cap: usize| match read_capped(&dir.join(file), cap) {
        Ok(capped) => capped,
        Err(error) => {
            problems.push(format!("{file}: {error}"));
            Capped { bytes: Vec::new(), truncated: false }
        }
    };
    let cmdline = read("cmdline", caps.max_cmdline_bytes);
    let environ = read("environ", caps.max_environ_bytes);
    let maps = read("maps", caps.max_proc_file_bytes);
    let cgroup = read("cgroup", caps.max_proc_file_bytes);

    let executable = match hash_executable(&dir, caps.max_executable_bytes) {
        Ok(executable) => Some(executable),
        Err(error) => {
            problems.push(format!("exe: {error}"));
            None
        }
    };
    let (open_files, open_files_truncated) = match open_files(&dir, caps.max_open_files) {
        Ok(listed) => listed,
        Err(error) => {
            problems.push(format!("fd: {error}"));
            (Vec::new(), false)
        }
    };
    let socket_inodes: Vec<u64> =
        open_files.iter().filter(|f| f.kind == OpenFileKind::Socket).filter_map(|f| f.inode).collect();
    let sockets = if socket_inodes.is_empty() {
        Vec::new()
    } else {
        tables.resolve(&dir, &socket_inodes, caps.max_proc_file_bytes, &mut problems)
    };
    let mut all_maps = parse_maps(&maps.bytes);
    let maps_truncated = maps.truncated || all_maps.len() > caps.max_maps;
    all_maps.truncate(caps.max_maps);

    Ok(ProcessRecord {
        pid,
        ppid: status.ppid,
        name: status.name,
        state: status.state,
        uids: status.uids,
        gids: status.gids,
        executable,
        cmdline: split_cmdline(&cmdline.bytes),
        cmdline_truncated: cmdline.truncated,
        environment: redact_environment(&environ.bytes),
        environment_truncated: environ.truncated,
        open_files,
        open_files_truncated,
        sockets,
        maps: all_maps,
        maps_truncated,
        cgroups: parse_cgroup(&cgroup.bytes),
        namespaces: namespaces(&dir, &mut problems),
        problems,
    })
}

/// argv: NUL-terminated strings. A process that rewrote its arguments may leave no final NUL.
fn split_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes.split(|b| *b == 0).map(text).collect()
}

/// SHA-256 of the executable, read through /proc/PID/exe (the kernel's own reference, so a
/// replaced or deleted file on disk does not matter). Only ever read, never a device.
fn hash_executable(dir: &Path, cap: u64) -> io::Result<Executable> {
    let path = std::fs::read_link(dir.join("exe")).ok().map(|p| text(p.as_os_str().as_bytes()));
    let file =
        File::options().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(dir.join("exe"))?;
    let metadata = file.metadata()?;
    if !metadata.file_type().is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let mut hasher = Sha256::new();
    let mut reader = file.take(cap);
    let mut buffer = vec![0u8; 256 * 1024];
    let mut bytes_hashed = 0u64;
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        bytes_hashed += read as u64;
    }
    let truncated = metadata.len() > bytes_hashed;
    let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Executable { path, sha256, bytes_hashed, truncated })
}

fn open_files(dir: &Path, cap: usize) -> io::Result<(Vec<OpenFile>, bool)> {
    let mut fds: Vec<u32> = std::fs::read_dir(dir.join("fd"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    let truncated = fds.len() > cap;
    fds.truncate(cap);
    let files = fds
        .into_iter()
        .filter_map(|fd| {
            // A descriptor closed since it was listed is simply not there any more.
            let target = std::fs::read_link(dir.join("fd").join(fd.to_string())).ok()?;
            Some(classify_open_file(fd, target.as_os_str().as_bytes()))
        })
        .collect();
    Ok((files, truncated))
}

fn classify_open_file(fd: u32, target: &[u8]) -> OpenFile {
    let inode = |prefix: &[u8]| {
        let digits = target.strip_prefix(prefix)?.strip_suffix(b"]")?;
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let (kind, inode) = if let Some(inode) = inode(b"socket:[") {
        (OpenFileKind::Socket, Some(inode))
    } else if let Some(inode) = inode(b"pipe:[") {
        (OpenFileKind::Pipe, Some(inode))
    } else if target.starts_with(b"anon_inode:") {
        (OpenFileKind::Anonymous, None)
    } else if target.starts_with(b"/") {
        (OpenFileKind::Path, None)
    } else {
        (OpenFileKind::Other, None)
    };
    OpenFile { fd, kind, target: text(target), inode }
}

fn namespaces(dir: &Path, problems: &mut Vec<String>) -> Vec<Namespace> {
    let entries = match std::fs::read_dir(dir.join("ns")) {
        Ok(entries) => entries,
        Err(error) => {
            problems.push(format!("ns: {error}"));
            return Vec::new();
        }
    };
    let mut namespaces: Vec<Namespace> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let link = std::fs::read_link(entry.path()).ok()?;
            Some(Namespace {
                kind: text(entry.file_name().as_bytes()),
                link: text(link.as_os_str().as_bytes()),
            })
        })
        .collect();
    namespaces.sort_by(|a, b| a.kind.cmp(&b.kind));
    namespaces
}

/// The socket tables of each network namespace met, read once, through the first process seen
/// in it (the tables under /proc/PID/net are those of PID's namespace).
#[derive(Default)]
struct SocketTables {
    by_namespace: HashMap<String, HashMap<u64, Socket>>,
}

impl SocketTables {
    fn resolve(&mut self, dir: &Path, inodes: &[u64], cap: usize, problems: &mut Vec<String>) -> Vec<Socket> {
        // Without a readable namespace link, the tables are read for this process alone.
        let key = std::fs::read_link(dir.join("ns/net"))
            .map(|link| text(link.as_os_str().as_bytes()))
            .unwrap_or_else(|_| dir.display().to_string());
        let table =
            self.by_namespace.entry(key).or_insert_with(|| read_tables(&dir.join("net"), cap, problems));
        inodes
            .iter()
            .map(|inode| table.get(inode).cloned().unwrap_or(Socket::Unresolved { inode: *inode }))
            .collect()
    }
}

fn read_tables(net: &Path, cap: usize, problems: &mut Vec<String>) -> HashMap<u64, Socket> {
    let mut sockets = HashMap::new();
    let mut read = |name: &str| -> Vec<u8> {
        match read_capped(&net.join(name), cap) {
            Ok(capped) => {
                if capped.truncated {
                    problems.push(format!("net/{name}: longer than {cap} bytes, the rest not read"));
                }
                capped.bytes
            }
            // A kernel without IPv6 has no tcp6: not worth a word.
            Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => {
                problems.push(format!("net/{name}: {error}"));
                Vec::new()
            }
        }
    };
    for protocol in InetProtocol::ALL {
        for socket in parse_inet_table(protocol, &read(protocol.table())) {
            sockets.insert(socket.inode, Socket::Inet(socket));
        }
    }
    for socket in parse_unix_table(&read("unix")) {
        sockets.insert(socket.inode, Socket::Unix(socket));
    }
    sockets
}

/// The process's mount table, to find its root file system.
pub(crate) fn mountinfo(proc_root: &Path, pid: Pid) -> Result<Vec<u8>> {
    let path = proc_root.join(pid.to_string()).join("mountinfo");
    let file = File::open(&path).map_err(|_| Error::ProcessGone { pid })?;
    read_capped_from(file, 16 * 1024 * 1024)
        .map(|capped| capped.bytes)
        .map_err(|e| Error::io(path.display().to_string(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_processes_are_found_by_cgroup_under_v1_and_v2() {
        let id = "4a0c1b2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b";
        let proc_root = tempfile::tempdir().unwrap();
        let processes = [
            ("10", format!("0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-{id}.scope\n")),
            (
                "11",
                format!(
                    "12:freezer:/kubepods/besteffort/pod1/{id}\n1:name=systemd:/kubepods/besteffort/pod1/{id}\n"
                ),
            ),
            ("12", "0::/kubepods.slice/cri-containerd-0000.scope\n".to_string()),
            ("13", format!("0::/system.slice/crio-conmon-{id}.scope\n")),
            ("9", format!("0::/kubepods/pod1/{id}/nested\n")),
            ("self", format!("0::/kubepods/pod1/{id}\n")),
        ];
        for (pid, cgroup) in &processes {
            std::fs::create_dir(proc_root.path().join(pid)).unwrap();
            std::fs::write(proc_root.path().join(pid).join("cgroup"), cgroup).unwrap();
        }
        std::fs::create_dir(proc_root.path().join("14")).unwrap();

        assert_eq!(find_container_processes(proc_root.path(), id), [9, 10, 11]);
        assert_eq!(find_container_processes(proc_root.path(), &format!("containerd://{id}")), [9, 10, 11]);
        assert!(find_container_processes(proc_root.path(), "").is_empty());
        assert!(find_container_processes(&proc_root.path().join("missing"), id).is_empty());
    }

    #[test]
    fn command_lines_split_on_nul_with_or_without_the_last_one() {
        assert_eq!(split_cmdline(b"sleep\x00100\x00"), ["sleep", "100"]);
        assert_eq!(split_cmdline(b"nginx: master process"), ["nginx: master process"]);
        assert_eq!(split_cmdline(b"a\x00\x00b\x00"), ["a", "", "b"]);
        assert!(split_cmdline(b"").is_empty());
        assert_eq!(split_cmdline(b"\xff\x00"), ["\u{fffd}"]);
    }

    #[test]
    fn open_files_are_told_apart() {
        let socket = classify_open_file(3, b"socket:[31337]");
        assert_eq!((socket.kind, socket.inode), (OpenFileKind::Socket, Some(31337)));
        let pipe = classify_open_file(4, b"pipe:[12]");
        assert_eq!((pipe.kind, pipe.inode), (OpenFileKind::Pipe, Some(12)));
        assert_eq!(classify_open_file(5, b"anon_inode:[eventfd]").kind, OpenFileKind::Anonymous);
        assert_eq!(classify_open_file(6, b"/tmp/x (deleted)").kind, OpenFileKind::Path);
        assert_eq!(classify_open_file(7, b"socket:[nope]").kind, OpenFileKind::Other);
        assert_eq!(classify_open_file(8, b"net:[4026531840]").kind, OpenFileKind::Other);
    }
}
