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
        if freezer.is_frozen() {
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
    // A path from another cgroup namespace reads `/../..`: it names nothing under this root.
    let relative = Path::new(path.trim_start_matches('/'));
    if relative.as_os_str().is_empty() {
        return Err(format!("process {pid} is in the root cgroup: freezing it would freeze the host"));
    }
    if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!("process {pid}'s cgroup {path:?} is not a cgroup below the freezer root"));
    }
    Ok(freezer(root.join(relative)))
}
