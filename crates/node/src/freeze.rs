//! Freezing a container's cgroups while its memory is read, and always thawing them again.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::parse::parse_cgroup;
use crate::process::Pid;
use crate::read::read_capped;

/// Where the collector finds the host's cgroup hierarchies.
#[derive(Debug, Clone, Default)]
pub struct FreezerRoots {
    /// The cgroup v1 freezer hierarchy (`/sys/fs/cgroup/freezer`).
    pub v1_freezer: Option<PathBuf>,
    /// The cgroup v2 hierarchy (`/sys/fs/cgroup` on a v2 host, `/sys/fs/cgroup/unified` on a
    /// hybrid one), used when a process has no v1 freezer cgroup.
    pub v2: Option<PathBuf>,
}

impl FreezerRoots {
    /// The usual places under `cgroup_root` (the host's `/sys/fs/cgroup`, wherever mounted).
    pub fn under(cgroup_root: &Path) -> FreezerRoots {
        let v1_freezer = cgroup_root.join("freezer");
        let v2 = if cgroup_root.join("cgroup.controllers").exists() {
            Some(cgroup_root.to_path_buf())
        } else {
            Some(cgroup_root.join("unified")).filter(|p| p.join("cgroup.controllers").exists())
        };
        FreezerRoots { v1_freezer: Some(v1_freezer).filter(|p| p.join("freezer.state").exists()), v2 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum Freezing {
    /// These cgroups were frozen by the collector while it read.
    Frozen { cgroups: Vec<String> },
    /// Not frozen; the reason, and whether memory was read anyway.
    NotFrozen { reason: String, read_anyway: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Freezer {
    V1(PathBuf),
    V2(PathBuf),
}

impl Freezer {
    fn describe(&self) -> String {
        match self {
            Freezer::V1(dir) | Freezer::V2(dir) => dir.display().to_string(),
        }
    }

    fn is_frozen(&self) -> bool {
        match self {
            Freezer::V1(dir) => read_text(&dir.join("freezer.state")).is_some_and(|s| s == "FROZEN"),
            Freezer::V2(dir) => read_text(&dir.join("cgroup.events"))
                .is_some_and(|events| events.lines().any(|line| line == "frozen 1")),
        }
    }

    /// Whether freezing was asked for already (it may still be under way).
    fn is_freezing(&self) -> bool {
        match self {
            Freezer::V1(dir) => read_text(&dir.join("freezer.state")).is_some_and(|s| s != "THAWED"),
            Freezer::V2(dir) => read_text(&dir.join("cgroup.freeze")).is_some_and(|s| s == "1"),
        }
    }

    fn request(&self, frozen: bool) -> std::io::Result<()> {
        let (file, value) = match self {
            Freezer::V1(dir) => (dir.join("freezer.state"), if frozen { "FROZEN" } else { "THAWED" }),
            Freezer::V2(dir) => (dir.join("cgroup.freeze"), if frozen { "1" } else { "0" }),
        };
        OpenOptions::new().write(true).open(file)?.write_all(value.as_bytes())
    }
}

fn read_text(path: &Path) -> Option<String> {
    let capped = read_capped(path, 4096).ok()?;
    Some(String::from_utf8_lossy(&capped.bytes).trim().to_string())
}

/// Cgroups frozen by the collector. Dropping it thaws them, also on an error or a panic;
/// [`FrozenCgroups::thaw`] does so and says what went wrong.
pub(crate) struct FrozenCgroups {
    frozen: Vec<Freezer>,
}

impl FrozenCgroups {
    pub(crate) fn names(&self) -> Vec<String> {
        self.frozen.iter().map(Freezer::describe).collect()
    }

    /// Thaw every cgroup, each tried even when another fails; the failures, if any.
    pub(crate) fn thaw(mut self) -> Vec<String> {
        thaw_all(std::mem::take(&mut self.frozen))
    }
}

impl Drop for FrozenCgroups {
    fn drop(&mut self) {
        thaw_all(std::mem::take(&mut self.frozen));
    }
}

fn thaw_all(frozen: Vec<Freezer>) -> Vec<String> {
    frozen
        .iter()
        .filter_map(|freezer| {
            // A failed write is retried once: leaving the suspect frozen is the worst outcome.
            let result = freezer.request(false).or_else(|_| freezer.request(false));
            result.err().map(|e| format!("could not thaw {}: {e}", freezer.describe()))
        })
        .collect()
}

/// Freeze the cgroups of `pids`. On failure nothing stays frozen and the reason is returned.
pub(crate) fn freeze(
    proc_root: &Path,
    pids: &[Pid],
    roots: &FreezerRoots,
    timeout: Duration,
) -> Result<FrozenCgroups, String> {
    let mut freezers = Vec::new();
    for &pid in pids {
        let freezer = freezer_of(proc_root, pid, roots)?;
        if !freezers.contains(&freezer) {
            freezers.push(freezer);
        }
    }
    let mut frozen = FrozenCgroups { frozen: Vec::new() };
    for freezer in freezers {
        if freezer.is_freezing() {
            // Someone else froze it: theirs to thaw, and the collector must not thaw it.
            continue;
        }
        freezer.request(true).map_err(|e| format!("cannot freeze {}: {e}", freezer.describe()))?;
        frozen.frozen.push(freezer.clone());
        let deadline = Instant::now() + timeout;
        while !freezer.is_frozen() {
            if Instant::now() > deadline {
                return Err(format!("{} did not freeze within {timeout:?}", freezer.describe()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(frozen)
}

fn freezer_of(proc_root: &Path, pid: Pid, roots: &FreezerRoots) -> Result<Freezer, String> {
    let cgroup = read_capped(&proc_root.join(pid.to_string()).join("cgroup"), 64 * 1024)
        .map_err(|e| format!("process {pid}'s cgroup: {e}"))?;
    let lines = parse_cgroup(&cgroup.bytes);
    let v1 = roots
        .v1_freezer
        .as_ref()
        .and_then(|root| Some((root, lines.iter().find(|l| l.has_controller("freezer"))?)));
    let v2 = roots.v2.as_ref().and_then(|root| Some((root, lines.iter().find(|l| l.is_v2())?)));
    let (freezer, root, path): (fn(PathBuf) -> Freezer, _, _) = match (v1, v2) {
        (Some((root, line)), _) => (Freezer::V1, root, &line.path),
        (None, Some((root, line))) => (Freezer::V2, root, &line.path),
        (None, None) => return Err(format!("process {pid} is in no freezer cgroup the collector can reach")),
    };
    let relative = Path::new(path.trim_start_matches('/'));
    if relative.as_os_str().is_empty() {
        return Err(format!("process {pid} is in the root cgroup: freezing it would freeze the host"));
    }
    // Seen from another cgroup namespace (a helper pod's, on cgroup v2) the path is relative to
    // that namespace's root and starts with `..`: the cgroup is then looked for below the root
    // by the rest of its path. Either way, only a cgroup that lists the process counts.
    let climbs = relative.components().take_while(|c| c == &Component::ParentDir).count();
    let below: Vec<Component> = relative.components().skip(climbs).collect();
    if below.is_empty() || !below.iter().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!("process {pid}'s cgroup {path:?} is not a cgroup the collector can find"));
    }
    let below: PathBuf = below.iter().collect();
    let found = if climbs == 0 {
        Some(root.join(&below)).filter(|dir| lists(dir, pid))
    } else {
        find_below(root, &below, pid, MAX_SEARCH_DEPTH)
    };
    found
        .map(freezer)
        .ok_or_else(|| format!("no cgroup {path:?} below {} holds process {pid}", root.display()))
}

/// How deep below the hierarchy's root a cgroup seen from another namespace is looked for.
const MAX_SEARCH_DEPTH: usize = 12;

/// A directory below `dir` whose path ends with `tail` and which lists `pid`.
fn find_below(dir: &Path, tail: &Path, pid: Pid, depth: usize) -> Option<PathBuf> {
    let candidate = dir.join(tail);
    if lists(&candidate, pid) {
        return Some(candidate);
    }
    if depth == 0 {
        return None;
    }
    let children = std::fs::read_dir(dir).ok()?;
    children
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .find_map(|entry| find_below(&entry.path(), tail, pid, depth - 1))
}

/// Whether the cgroup `dir` lists `pid` among its processes.
fn lists(dir: &Path, pid: Pid) -> bool {
    let pid = pid.to_string();
    read_capped(&dir.join("cgroup.procs"), 4 * 1024 * 1024)
        .is_ok_and(|procs| String::from_utf8_lossy(&procs.bytes).lines().any(|line| line.trim() == pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A /proc with one process whose cgroup file says `cgroup`, and a v2 hierarchy.
    fn fake(cgroup: &str) -> (tempfile::TempDir, PathBuf, FreezerRoots) {
        let dir = tempfile::tempdir().unwrap();
        let proc_root = dir.path().join("proc");
        std::fs::create_dir_all(proc_root.join("42")).unwrap();
        std::fs::write(proc_root.join("42/cgroup"), cgroup).unwrap();
        let v2 = dir.path().join("cgroup");
        let roots = FreezerRoots { v1_freezer: None, v2: Some(v2) };
        (dir, proc_root, roots)
    }

    #[test]
    fn a_v2_cgroup_is_frozen_through_cgroup_freeze_and_thawed_on_drop() {
        let (_dir, proc_root, roots) = fake("0::/kubepods.slice/cri-containerd-abc.scope\n");
        let scope = roots.v2.as_ref().unwrap().join("kubepods.slice/cri-containerd-abc.scope");
        std::fs::create_dir_all(&scope).unwrap();
        std::fs::write(scope.join("cgroup.procs"), "41\n42\n").unwrap();
        std::fs::write(scope.join("cgroup.freeze"), "0").unwrap();
        // A real cgroup.events changes by itself; this one already says what freezing leads to.
        std::fs::write(scope.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();

        let frozen = freeze(&proc_root, &[42], &roots, Duration::from_secs(1)).unwrap();
        assert_eq!(frozen.names(), [scope.display().to_string()]);
        assert_eq!(std::fs::read_to_string(scope.join("cgroup.freeze")).unwrap(), "1");
        drop(frozen);
        assert_eq!(std::fs::read_to_string(scope.join("cgroup.freeze")).unwrap(), "0");
    }

    #[test]
    fn a_cgroup_that_never_reports_frozen_is_thawed_and_said() {
        let (_dir, proc_root, roots) = fake("0::/slow\n");
        let scope = roots.v2.as_ref().unwrap().join("slow");
        std::fs::create_dir_all(&scope).unwrap();
        std::fs::write(scope.join("cgroup.procs"), "42\n").unwrap();
        std::fs::write(scope.join("cgroup.freeze"), "0").unwrap();
        std::fs::write(scope.join("cgroup.events"), "frozen 0\n").unwrap();
        let failed = freeze(&proc_root, &[42], &roots, Duration::from_millis(30)).err().unwrap();
        assert!(failed.contains("did not freeze"), "{failed}");
        assert_eq!(std::fs::read_to_string(scope.join("cgroup.freeze")).unwrap(), "0", "thawed again");
    }

    #[test]
    fn the_root_cgroup_and_paths_outside_the_namespace_are_never_frozen() {
        for (cgroup, expected) in [
            ("0::/\n", "root cgroup"),
            ("0::/../..\n", "not a cgroup the collector can find"),
            ("0::/a/../b\n", "not a cgroup the collector can find"),
            ("0::/../../kubepods/x\n", "no cgroup"),
            ("0::/x\n", "no cgroup"),
            ("", "no freezer cgroup"),
        ] {
            let (_dir, proc_root, roots) = fake(cgroup);
            let refused = freeze(&proc_root, &[42], &roots, Duration::from_millis(10)).err().unwrap();
            assert!(refused.contains(expected), "{cgroup:?}: {refused}");
        }
        let (_dir, proc_root, roots) = fake("0::/x\n");
        let gone = freeze(&proc_root, &[43], &roots, Duration::from_millis(10)).err().unwrap();
        assert!(gone.contains("process 43"), "{gone}");
    }

    #[test]
    fn a_cgroup_seen_from_another_namespace_is_found_by_the_rest_of_its_path() {
        let (_dir, proc_root, roots) = fake("0::/../../pod-b/cri-containerd-s.scope\n");
        let v2 = roots.v2.clone().unwrap();
        // The same name elsewhere, without the process, does not count.
        let decoy = v2.join("kubepods.slice/besteffort/pod-a/pod-b/cri-containerd-s.scope");
        std::fs::create_dir_all(&decoy).unwrap();
        std::fs::write(decoy.join("cgroup.procs"), "7\n").unwrap();
        let scope = v2.join("kubepods.slice/besteffort/pod-b/cri-containerd-s.scope");
        std::fs::create_dir_all(&scope).unwrap();
        std::fs::write(scope.join("cgroup.procs"), "42\n").unwrap();
        assert_eq!(freezer_of(&proc_root, 42, &roots).unwrap(), Freezer::V2(scope));
    }

    #[test]
    fn a_v1_freezer_line_wins_over_the_v2_one() {
        let (dir, proc_root, mut roots) = fake("7:freezer:/kubepods/pod1/abc\n0::/other\n");
        roots.v1_freezer = Some(dir.path().join("freezer"));
        std::fs::create_dir_all(dir.path().join("freezer/kubepods/pod1/abc")).unwrap();
        std::fs::write(dir.path().join("freezer/kubepods/pod1/abc/cgroup.procs"), "42\n").unwrap();
        let freezer = freezer_of(&proc_root, 42, &roots).unwrap();
        assert_eq!(freezer, Freezer::V1(dir.path().join("freezer/kubepods/pod1/abc")));
    }
}
