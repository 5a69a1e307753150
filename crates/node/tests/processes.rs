//! Against real processes: a child of this test (the test binary itself, run as a helper) that
//! listens on a TCP port and holds a marker in heap memory only. As root with a cgroup v1
//! freezer, the child is put in a freezer cgroup named like a containerd container's.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kir_node::parse::parse_mountinfo;
use kir_node::{
    Error, FreezerRoots, Freezing, InventoryCaps, MemoryFrames, MemoryOptions, OpenFileKind, Socket,
    dump_memory, find_container_processes, inspect_process, write_inventory,
};
use sha2::{Digest, Sha256};

const HELPER: &str = "KIR_NODE_TEST_HELPER";
const REVERSED_MARKER: &str = "KIR_NODE_TEST_REVERSED_MARKER";
const SECRET: &str = "KIR_NODE_TEST_SECRET";
const UNIX_SOCKET: &str = "KIR_NODE_TEST_UNIX_SOCKET";

/// Not a test on its own: the body of the child process the other tests start.
#[test]
fn helper_process() {
    let Ok(reversed) = std::env::var(REVERSED_MARKER) else { return };
    if std::env::var(HELPER).is_err() {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let _unix = std::os::unix::net::UnixListener::bind(std::env::var(UNIX_SOCKET).unwrap()).unwrap();
    // Built at run time in the heap: the marker is in no file, argument or environment.
    let marker: String = reversed.chars().rev().collect();
    println!("port={}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    for _ in 0..1200 {
        std::hint::black_box(&marker);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The running helper, killed and reaped when dropped.
struct Helper {
    child: Child,
    port: u16,
    marker: String,
    /// The value of the environment variable SECRET: made at run time, so that it is in no
    /// file the helper maps (this test's executable holds its string constants).
    secret: String,
    /// Where the helper listens on a Unix socket (in a folder removed with the helper).
    unix_socket: PathBuf,
    _folder: tempfile::TempDir,
}

impl Helper {
    fn start() -> Helper {
        let marker = format!(
            "kir-node-marker-{}-{}",
            std::process::id(),
            std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos()
        );
        let secret = marker.replace("marker", "secret");
        let folder = tempfile::tempdir().unwrap();
        let unix_socket = folder.path().join("helper socket");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "helper_process", "--nocapture", "--test-threads=1"])
            .env(HELPER, "1")
            .env(REVERSED_MARKER, marker.chars().rev().collect::<String>())
            .env(SECRET, &secret)
            .env(UNIX_SOCKET, &unix_socket)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let port = stdout
            .lines()
            .map_while(Result::ok)
            // libtest prints the test's name on the same line first.
            .find_map(|line| line.split_once("port=").map(|(_, p)| p.trim().parse().unwrap()))
            .expect("the helper says its port");
        Helper { child, port, marker, secret, unix_socket, _folder: folder }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which freezer a test cgroup is made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hierarchy {
    /// The cgroup v1 freezer hierarchy: `freezer.state`.
    V1Freezer,
    /// A cgroup v2 hierarchy (also the `unified` one of a hybrid host): `cgroup.freeze`.
    V2,
}

/// A cgroup named like a containerd container's scope, holding the helper; removed when
/// dropped.
struct ContainerCgroup {
    hierarchy: Hierarchy,
    parent: PathBuf,
    scope: PathBuf,
    root: PathBuf,
    id: String,
}

impl ContainerCgroup {
    /// None (and why, printed) when this machine cannot have one.
    fn create(pid: u32, hierarchy: Hierarchy) -> Option<ContainerCgroup> {
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } != 0 {
            eprintln!("SKIPPED {hierarchy:?}: not root");
            return None;
        }
        let mountinfo = std::fs::read("/proc/self/mountinfo").unwrap();
        let Some(root) = parse_mountinfo(&mountinfo)
            .into_iter()
            .find(|m| match hierarchy {
                Hierarchy::V1Freezer => {
                    m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == b"freezer")
                }
                Hierarchy::V2 => m.fs_type == "cgroup2",
            })
            .map(|m| PathBuf::from(m.mount_point))
        else {
            eprintln!("SKIPPED {hierarchy:?}: no such cgroup hierarchy mounted");
            return None;
        };
        let id = format!("{:064x}", u128::from(std::process::id()) << 64 | u128::from(pid));
        let parent = root.join(format!("kir-node-test-{}-{pid}", std::process::id()));
        let scope = parent.join(format!("cri-containerd-{id}.scope"));
        if let Err(error) = std::fs::create_dir_all(&scope) {
            eprintln!("SKIPPED {hierarchy:?}: cannot create {}: {error}", scope.display());
            return None;
        }
        std::fs::write(scope.join("cgroup.procs"), pid.to_string()).unwrap();
        Some(ContainerCgroup { hierarchy, parent, scope, root, id })
    }

    fn roots(&self) -> FreezerRoots {
        match self.hierarchy {
            Hierarchy::V1Freezer => FreezerRoots { v1_freezer: Some(self.root.clone()), v2: None },
            Hierarchy::V2 => FreezerRoots { v1_freezer: None, v2: Some(self.root.clone()) },
        }
    }

    /// FROZEN, FREEZING or THAWED, in v1's words.
    fn state(&self) -> String {
        match self.hierarchy {
            Hierarchy::V1Freezer => {
                std::fs::read_to_string(self.scope.join("freezer.state")).unwrap().trim().to_string()
            }
            Hierarchy::V2 => {
                let events = std::fs::read_to_string(self.scope.join("cgroup.events")).unwrap();
                let asked = std::fs::read_to_string(self.scope.join("cgroup.freeze")).unwrap();
                match (events.lines().any(|l| l == "frozen 1"), asked.trim()) {
                    (true, _) => "FROZEN",
                    (false, "1") => "FREEZING",
                    (false, _) => "THAWED",
                }
                .to_string()
            }
        }
    }

    fn request(&self, frozen: bool) {
        let (file, value) = match (self.hierarchy, frozen) {
            (Hierarchy::V1Freezer, true) => ("freezer.state", "FROZEN"),
            (Hierarchy::V1Freezer, false) => ("freezer.state", "THAWED"),
            (Hierarchy::V2, true) => ("cgroup.freeze", "1"),
            (Hierarchy::V2, false) => ("cgroup.freeze", "0"),
        };
        let _ = std::fs::write(self.scope.join(file), value);
    }
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        self.request(false);
        // The helper may still run (it is dropped after): back to the root cgroup with it.
        if let Ok(procs) = std::fs::read_to_string(self.scope.join("cgroup.procs")) {
            for pid in procs.lines() {
                let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
            }
        }
        let _ = std::fs::remove_dir(&self.scope);
        let _ = std::fs::remove_dir(&self.parent);
    }
}

fn sha256_of(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn the_inventory_of_a_real_process_has_its_executable_arguments_socket_and_redacted_environment() {
    let helper = Helper::start();
    let record = inspect_process(Path::new("/proc"), helper.pid(), &InventoryCaps::default()).unwrap();

    assert_eq!(record.pid, helper.pid());
    assert_eq!(record.ppid, Some(std::process::id()));
    let executable = record.executable.as_ref().expect("the executable is hashed");
    assert_eq!(executable.sha256, sha256_of(&std::env::current_exe().unwrap()));
    assert!(!executable.truncated);
    assert_eq!(&record.cmdline[1..], ["--exact", "helper_process", "--nocapture", "--test-threads=1"]);

    let listening = record.sockets.iter().find_map(|s| match s {
        Socket::Inet(inet) if inet.local.port() == helper.port => Some(inet),
        _ => None,
    });
    let listening = listening.unwrap_or_else(|| panic!("port {} among {:?}", helper.port, record.sockets));
    assert_eq!(listening.state, "LISTEN");
    assert_eq!(listening.local.ip().to_string(), "127.0.0.1");
    assert!(
        record.open_files.iter().any(|f| f.kind == OpenFileKind::Socket && f.inode == Some(listening.inode))
    );
    assert!(record.open_files.iter().any(|f| f.kind == OpenFileKind::Pipe), "stdout is a pipe");
    let unix = record.sockets.iter().find_map(|s| match s {
        Socket::Unix(unix) if unix.path.as_deref() == helper.unix_socket.to_str() => Some(unix),
        _ => None,
    });
    let unix = unix.unwrap_or_else(|| panic!("{} among {:?}", helper.unix_socket.display(), record.sockets));
    assert!(unix.listening);
    assert_eq!(unix.kind, "stream");

    let secret = record.environment.iter().find(|v| v.name == SECRET).unwrap();
    assert_eq!(secret.value, format!("<redacted by kir: {} bytes>", helper.secret.len()));
    let json = serde_json::to_string(&record).unwrap();
    assert!(!json.contains(&helper.secret), "the secret is nowhere in the record");
    assert!(!json.contains(&helper.marker), "the marker is in memory only");

    assert!(record.maps.iter().any(|m| m.path.as_deref() == Some("[stack]")));
    assert!(!record.cgroups.is_empty());
    assert!(record.namespaces.iter().any(|n| n.kind == "net" && n.link.starts_with("net:[")));
    assert!(record.problems.is_empty(), "{:?}", record.problems);
}

#[test]
fn the_inventory_streams_one_line_per_process_and_names_the_gone() {
    let helper = Helper::start();
    let gone = u32::MAX - 1;
    let mut out = Vec::new();
    let summary =
        write_inventory(Path::new("/proc"), &[helper.pid(), gone], &InventoryCaps::default(), &mut out)
            .unwrap();
    assert_eq!(summary.processes_written, 1);
    assert_eq!(summary.processes_gone, [gone]);
    let lines: Vec<serde_json::Value> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["pid"], helper.pid());
}

#[test]
fn memory_is_dumped_while_frozen_by_the_v1_freezer_and_thawed_after() {
    dumped_while_frozen(Hierarchy::V1Freezer);
}

#[test]
fn memory_is_dumped_while_frozen_by_cgroup_v2_and_thawed_after() {
    dumped_while_frozen(Hierarchy::V2);
}

fn dumped_while_frozen(hierarchy: Hierarchy) {
    let helper = Helper::start();
    let Some(cgroup) = ContainerCgroup::create(helper.pid(), hierarchy) else { return };

    assert_eq!(find_container_processes(Path::new("/proc"), &cgroup.id), [helper.pid()]);
    assert_eq!(
        find_container_processes(Path::new("/proc"), &format!("containerd://{}", cgroup.id)),
        [helper.pid()]
    );

    let options = MemoryOptions { freezer: cgroup.roots(), ..MemoryOptions::default() };
    // The writer looks at the freezer while the dump is under way.
    let mut seen_while_writing = None;
    let mut dump = Vec::new();
    let result = {
        let writer = Spy { inner: &mut dump, on_first_write: || seen_while_writing = Some(cgroup.state()) };
        dump_memory(Path::new("/proc"), &[helper.pid()], writer, &options).unwrap()
    };
    assert_eq!(seen_while_writing.as_deref(), Some("FROZEN"));
    assert_eq!(result.freezing, Freezing::Frozen { cgroups: vec![cgroup.scope.display().to_string()] });
    assert!(result.thaw_failures.is_empty());
    assert_eq!(cgroup.state(), "THAWED");
    assert!(contains(&dump, &helper.marker), "the heap marker is in the dump");
    assert!(
        !contains(&dump, &helper.secret),
        "the environment block is blanked like the inventory redacts it"
    );
    assert_eq!(result.environment_blanked.len(), 1);
    assert_eq!(result.environment_blanked[0].pid, helper.pid());

    let frames: Vec<_> = MemoryFrames::new(&dump[..]).collect::<std::io::Result<_>>().unwrap();
    let framed: u64 = frames
        .iter()
        .map(|(header, bytes)| {
            assert_eq!(header.pid, helper.pid());
            assert_eq!(header.length, bytes.len() as u64);
            assert!(header.start <= header.address && header.address + header.length <= header.end);
            header.length
        })
        .sum();
    assert_eq!(framed, result.bytes_written);
    assert!(
        frames
            .iter()
            .any(|(h, bytes)| h.path.as_deref() == Some("[heap]") && contains(bytes, &helper.marker))
            || frames.iter().any(|(_, bytes)| contains(bytes, &helper.marker))
    );
    assert!(result.skipped.iter().any(|s| s.reason == "not readable" || s.reason == "kernel page"));
}

#[test]
fn a_failing_or_panicking_writer_never_leaves_the_process_frozen_v1() {
    never_left_frozen(Hierarchy::V1Freezer);
}

#[test]
fn a_failing_or_panicking_writer_never_leaves_the_process_frozen_v2() {
    never_left_frozen(Hierarchy::V2);
}

fn never_left_frozen(hierarchy: Hierarchy) {
    let helper = Helper::start();
    let Some(cgroup) = ContainerCgroup::create(helper.pid(), hierarchy) else { return };
    let options = MemoryOptions { freezer: cgroup.roots(), ..MemoryOptions::default() };

    let failed = dump_memory(Path::new("/proc"), &[helper.pid()], Failing, &options);
    assert!(matches!(failed, Err(Error::Io { .. })), "{failed:?}");
    assert_eq!(cgroup.state(), "THAWED");

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = dump_memory(Path::new("/proc"), &[helper.pid()], Panicking, &options);
    }));
    assert!(panicked.is_err());
    assert_eq!(cgroup.state(), "THAWED");

    // Frozen by someone else before: left as found.
    cgroup.request(true);
    while cgroup.state() != "FROZEN" {
        std::thread::sleep(Duration::from_millis(5));
    }
    let dump = dump_memory(Path::new("/proc"), &[helper.pid()], std::io::sink(), &options).unwrap();
    assert_eq!(dump.freezing, Freezing::Frozen { cgroups: vec![] });
    assert_eq!(cgroup.state(), "FROZEN");
}

#[test]
fn without_a_freezer_memory_is_read_only_when_allowed() {
    let helper = Helper::start();
    let options = MemoryOptions { freezer: FreezerRoots::default(), ..MemoryOptions::default() };
    let refused = dump_memory(Path::new("/proc"), &[helper.pid()], Vec::new(), &options);
    assert!(matches!(refused, Err(Error::FreezeImpossible { .. })), "{refused:?}");

    let allowed = MemoryOptions { read_unfrozen: true, ..options };
    let mut dump = Vec::new();
    let result = dump_memory(Path::new("/proc"), &[helper.pid()], &mut dump, &allowed).unwrap();
    assert!(
        matches!(result.freezing, Freezing::NotFrozen { read_anyway: true, .. }),
        "{:?}",
        result.freezing
    );
    assert!(contains(&dump, &helper.marker));
    assert!(!contains(&dump, &helper.secret));

    // Only the blanking keeps the environment out: the kernel keeps it on the stack.
    let unblanked = MemoryOptions { blank_environment: false, ..allowed };
    let mut dump = Vec::new();
    let result = dump_memory(Path::new("/proc"), &[helper.pid()], &mut dump, &unblanked).unwrap();
    assert!(result.environment_blanked.is_empty());
    assert!(contains(&dump, &format!("{SECRET}={}", helper.secret)));
}

#[test]
fn caps_bound_the_dump() {
    let helper = Helper::start();
    let options = MemoryOptions {
        read_unfrozen: true,
        caps: kir_node::MemoryCaps { max_mapping_bytes: 4096, max_total_bytes: 64 * 1024, max_mappings: 8 },
        ..MemoryOptions::default()
    };
    let mut dump = Vec::new();
    let result = dump_memory(Path::new("/proc"), &[helper.pid()], &mut dump, &options).unwrap();
    assert!(result.bytes_written <= 64 * 1024);
    assert!(result.mappings.len() <= 8);
    assert!(result.mappings.iter().all(|m| m.bytes_read <= 4096));
    assert!(result.capped);
}

/// Calls `on_first_write` before the first byte goes through.
struct Spy<'a, F: FnMut()> {
    inner: &'a mut Vec<u8>,
    on_first_write: F,
}

impl<F: FnMut()> Write for Spy<'_, F> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.inner.is_empty() {
            (self.on_first_write)();
        }
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Failing;

impl Write for Failing {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Panicking;

impl Write for Panicking {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        panic!("a writer that panics")
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
