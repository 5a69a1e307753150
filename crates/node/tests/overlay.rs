//! Against a real overlay mount: a process chrooted into an overlay (a lower directory of this
//! test's over the host's `/`) in its own mount namespace, like a container over its image.
//! Skipped, saying why, where overlayfs cannot be mounted.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kir_node::{ChangeCaps, DeletionKind, TRUNCATED_PAX_KEY, upper_directory, write_changed_files};

/// Exit status of the setup script when overlayfs cannot be mounted.
const NO_OVERLAY: i32 = 97;

struct Container {
    child: Child,
    upper: PathBuf,
    _dir: tempfile::TempDir,
}

impl Container {
    fn start() -> Option<Container> {
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } != 0 {
            eprintln!("SKIPPED overlay: not root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for folder in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir_all(root.join(folder)).unwrap();
        }
        // The image layer is a tmpfs of its own: overlayfs refuses a lower directory inside
        // another lower layer (here the host's `/`, which provides /bin/sleep).
        let script = format!(
            "cd {root} && mount -t tmpfs image lower || exit {NO_OVERLAY}
             mkdir lower/app lower/data && echo config > lower/app/config && echo kept > lower/app/keep && echo old > lower/data/old
             mount -t overlay overlay -o lowerdir={root}/lower:/,upperdir={root}/upper,workdir={root}/work merged || exit {NO_OVERLAY}
             echo dropped > merged/tmp/kir-dropped
             ln -s /etc/shadow merged/tmp/link-to-shadow
             ln -s / merged/link-to-root
             rm merged/app/config
             rm -r merged/data && mkdir merged/data && echo new > merged/data/new
             head -c 3000000 /dev/zero | tr '\\0' x > merged/big
             mkfifo merged/fifo
             exec chroot merged /bin/sleep 60",
            root = root.display()
        );
        let mut child =
            Command::new("unshare").args(["-m", "sh", "-c", &script]).stdin(Stdio::null()).spawn().ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                eprintln!(
                    "SKIPPED overlay: the setup ended ({status}): overlayfs or unshare is not permitted here"
                );
                return None;
            }
            let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap_or_default();
            if exe.ends_with("sleep") {
                return Some(Container { child, upper: root.join("upper"), _dir: dir });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the overlay container did not start");
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn changed_files_of_a_real_overlay_with_symlinks_as_links_and_whiteouts_as_deletions() {
    let Some(container) = Container::start() else { return };
    let pid = container.child.id();

    assert_eq!(upper_directory(Path::new("/proc"), pid, Path::new("/")).unwrap(), container.upper);
    let seen_from_helper = upper_directory(Path::new("/proc"), pid, Path::new("/host")).unwrap();
    assert_eq!(seen_from_helper, Path::new("/host").join(container.upper.strip_prefix("/").unwrap()));
    let own = upper_directory(Path::new("/proc"), std::process::id(), Path::new("/"));
    assert!(matches!(own, Err(kir_node::Error::NoUpperDirectory { .. })), "{own:?}");

    let caps = ChangeCaps { max_file_bytes: 1024 * 1024, ..ChangeCaps::default() };
    let mut archive = Vec::new();
    let changes = write_changed_files(&container.upper, &mut archive, &caps).unwrap();

    let mut entries = std::collections::BTreeMap::new();
    let mut reader = tar::Archive::new(&archive[..]);
    for entry in reader.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let kind = entry.header().entry_type();
        let link = entry.link_name().unwrap().map(|l| l.display().to_string());
        let truncated_from = entry.pax_extensions().unwrap().into_iter().flatten().find_map(|e| {
            (e.as_ref().ok()?.key().ok()? == TRUNCATED_PAX_KEY)
                .then(|| e.unwrap().value().unwrap().to_string())
        });
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        entries.insert(path, Stored { kind, link, content, truncated_from });
    }
    let names: Vec<&String> = entries.keys().collect();

    let dropped = &entries["tmp/kir-dropped"];
    assert_eq!((dropped.kind, dropped.content.as_slice()), (tar::EntryType::Regular, &b"dropped\n"[..]));
    let link = &entries["tmp/link-to-shadow"];
    assert_eq!(
        (link.kind, link.link.as_deref()),
        (tar::EntryType::Symlink, Some("/etc/shadow")),
        "stored as a link"
    );
    let root_link = &entries["link-to-root"];
    assert_eq!(
        (root_link.kind, root_link.link.as_deref()),
        (tar::EntryType::Symlink, Some("/")),
        "the target as it is"
    );
    assert!(!names.iter().any(|n| n.starts_with("link-to-root/")), "never followed: {names:?}");
    assert_eq!(entries["data/new"].content, b"new\n");
    assert_eq!(entries["app"].kind, tar::EntryType::Directory);

    let big = &entries["big"];
    assert_eq!(big.content.len(), 1024 * 1024);
    assert_eq!(big.truncated_from.as_deref(), Some("3000000"), "the truncation marker");
    assert_eq!(changes.truncated.len(), 1);
    assert_eq!((changes.truncated[0].size, changes.truncated[0].stored), (3_000_000, 1024 * 1024));

    assert!(!entries.contains_key("app/config"), "a whiteout is not a file: {names:?}");
    assert!(!entries.contains_key("fifo"), "a FIFO is never opened or stored");
    assert!(
        changes.skipped.iter().any(|s| s.path == "fifo" && s.reason.starts_with("FIFO")),
        "{:?}",
        changes.skipped
    );
    let deletions: Vec<(&str, DeletionKind)> =
        changes.deletions.iter().map(|d| (d.path.as_str(), d.kind)).collect();
    assert!(deletions.contains(&("app/config", DeletionKind::Whiteout)), "{deletions:?}");
    assert!(deletions.contains(&("data", DeletionKind::OpaqueDirectory)), "{deletions:?}");
    assert_eq!(changes.symlinks, 2);
    let payload: usize =
        entries.values().filter(|e| e.kind == tar::EntryType::Regular).map(|e| e.content.len()).sum();
    assert_eq!(changes.bytes_stored, payload as u64);
}

/// One entry of the archive, as a reader sees it.
struct Stored {
    kind: tar::EntryType,
    link: Option<String>,
    content: Vec<u8>,
    /// The value of the truncation marker, if any.
    truncated_from: Option<String>,
}

/// The whiteouts of newer kernels and of overlays built by tools: a file marked with the
/// `trusted.overlay.whiteout` attribute, and a directory marked opaque; no mount needed.
#[test]
fn attribute_whiteouts_and_opaque_directories_are_deletions() {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("SKIPPED attribute whiteouts: trusted.* attributes need root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("removed"), "").unwrap();
    std::fs::create_dir(dir.path().join("replaced")).unwrap();
    std::fs::write(dir.path().join("replaced/fresh"), "fresh").unwrap();
    let set = |path: &Path, name: &std::ffi::CStr, value: &[u8]| {
        let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: NUL-terminated path and name, a value of the length given.
        unsafe { libc::setxattr(path.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) }
    };
    if set(&dir.path().join("removed"), c"trusted.overlay.whiteout", b"y") != 0 {
        eprintln!("SKIPPED attribute whiteouts: this file system keeps no trusted.* attributes");
        return;
    }
    assert_eq!(set(&dir.path().join("replaced"), c"trusted.overlay.opaque", b"y"), 0);

    let mut archive = Vec::new();
    let changes = write_changed_files(dir.path(), &mut archive, &ChangeCaps::default()).unwrap();
    let deletions: Vec<(&str, DeletionKind)> =
        changes.deletions.iter().map(|d| (d.path.as_str(), d.kind)).collect();
    assert_eq!(deletions, [("removed", DeletionKind::Whiteout), ("replaced", DeletionKind::OpaqueDirectory)]);
    assert_eq!(changes.files, 1, "only replaced/fresh is a file");
}

#[test]
fn caps_on_entries_depth_and_total_bytes_hold() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("a/b/c/d/e");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("too-deep"), "x").unwrap();
    for index in 0..10 {
        std::fs::write(dir.path().join(format!("file-{index}")), vec![b'y'; 1000]).unwrap();
    }
    let caps = ChangeCaps { max_file_bytes: 600, max_total_bytes: 2500, max_entries: 1000, max_depth: 3 };
    let mut archive = Vec::new();
    let changes = write_changed_files(dir.path(), &mut archive, &caps).unwrap();
    assert_eq!(changes.bytes_stored, 2500);
    assert_eq!(changes.truncated.len(), 10, "every file is over one cap or the other");
    assert!(
        changes.skipped.iter().any(|s| s.path == "a/b/c" && s.reason.contains("deeper")),
        "{:?}",
        changes.skipped
    );
    assert!(!changes.entries_left_out);

    let few = ChangeCaps { max_entries: 4, ..caps };
    let changes = write_changed_files(dir.path(), std::io::sink(), &few).unwrap();
    assert!(changes.entries_left_out);
    assert!(changes.files + changes.directories <= 4);
}

#[test]
fn an_upper_directory_that_is_a_link_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/etc", dir.path().join("upper")).unwrap();
    let refused = write_changed_files(&dir.path().join("upper"), std::io::sink(), &ChangeCaps::default());
    assert!(matches!(refused, Err(kir_node::Error::UpperDirectory { .. })), "{refused:?}");
}

#[test]
fn symlink_targets_and_odd_names_are_stored_byte_for_byte() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let long = format!("/{}/./target", "x".repeat(300));
    let targets = [("root", "/".to_string()), ("dotted", "a/./b//c/".to_string()), ("long", long)];
    for (name, target) in &targets {
        std::os::unix::fs::symlink(target, dir.path().join(name)).unwrap();
    }
    let odd_name = std::ffi::OsStr::from_bytes(b"bad-\xff-name\nwith newline");
    std::fs::write(dir.path().join(odd_name), "odd").unwrap();

    let mut archive = Vec::new();
    let changes = write_changed_files(dir.path(), &mut archive, &ChangeCaps::default()).unwrap();
    assert_eq!((changes.symlinks, changes.files), (3, 1));
    let mut reader = tar::Archive::new(&archive[..]);
    let mut links = std::collections::BTreeMap::new();
    let mut odd_found = false;
    for entry in reader.entries().unwrap() {
        let entry = entry.unwrap();
        let path = entry.path_bytes().into_owned();
        if let Some(link) = entry.link_name_bytes() {
            links.insert(String::from_utf8(path).unwrap(), String::from_utf8(link.into_owned()).unwrap());
        } else {
            odd_found |= path == odd_name.as_bytes();
        }
    }
    for (name, target) in &targets {
        assert_eq!(links.get(*name), Some(target), "{name}");
    }
    assert!(odd_found, "a name that is not UTF-8 is kept as it is in the archive");
}
