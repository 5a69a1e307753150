//! /proc/PID/cgroup: `hierarchy-ID:controller-list:path`, one line per hierarchy on cgroup v1,
//! the single line `0::/path` on v2 (both on a hybrid host).

use serde::Serialize;

use super::{lines, number, text};

/// One line of /proc/PID/cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupLine {
    pub hierarchy: u32,
    /// Empty on cgroup v2; `name=systemd` for a named v1 hierarchy.
    pub controllers: Vec<String>,
    pub path: String,
}

impl CgroupLine {
    pub fn is_v2(&self) -> bool {
        self.hierarchy == 0 && self.controllers.is_empty()
    }

    pub fn has_controller(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

pub fn parse_cgroup(bytes: &[u8]) -> Vec<CgroupLine> {
    lines(bytes)
        .filter_map(|line| {
            // The path is last and may itself hold colons.
            let mut parts = line.splitn(3, |b| *b == b':');
            let hierarchy = number(parts.next()?)?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            let controllers = controllers.split(|b| *b == b',').filter(|c| !c.is_empty()).map(text).collect();
            Some(CgroupLine { hierarchy, controllers, path: text(path) })
        })
        .collect()
}

/// Whether a cgroup path is the container `id`'s (or below it): the CRI runtimes name it
/// `cri-containerd-ID.scope`, `crio-ID.scope` or `docker-ID.scope` with the systemd driver, and
/// plainly `ID` with the cgroupfs driver. `conmon`'s own scope (`crio-conmon-ID.scope`) is not
/// the container.
pub fn names_container(path: &str, id: &str) -> bool {
    if id.is_empty() {
        return false;
    }
    path.split('/').any(|component| {
        component == id
            || component
                .strip_suffix(".scope")
                .and_then(|scope| scope.strip_suffix(id))
                .is_some_and(|runtime| matches!(runtime, "cri-containerd-" | "crio-" | "docker-"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0f3c2a9e5d1b4c7a8e6f0d2b3a4c5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";

    #[test]
    fn v1_lines_carry_controllers_and_v2_lines_none() {
        let parsed = parse_cgroup(
            b"12:freezer:/kubepods/besteffort/pod1/abc\n1:name=systemd:/x\n4:cpu,cpuacct:/y\n0::/z\n",
        );
        assert_eq!(parsed.len(), 4);
        assert_eq!(parsed[0].controllers, ["freezer"]);
        assert!(parsed[0].has_controller("freezer"));
        assert_eq!(parsed[1].controllers, ["name=systemd"]);
        assert_eq!(parsed[2].controllers, ["cpu", "cpuacct"]);
        assert!(parsed[3].is_v2());
        assert_eq!(parsed[3].path, "/z");
    }

    #[test]
    fn a_path_keeps_its_colons() {
        assert_eq!(parse_cgroup(b"0::/a:b:c")[0].path, "/a:b:c");
    }

    #[test]
    fn hostile_lines_are_skipped_not_fatal() {
        let long = format!("0::/{}\n", "a".repeat(100_000));
        let mut input = b"x:cpu:/a\n:cpu:/b\n3\n3:cpu\n\xff\xfe:/c\n".to_vec();
        input.extend_from_slice(long.as_bytes());
        input.extend_from_slice(b"5:memory:/\xffbad\n");
        let parsed = parse_cgroup(&input);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].path.len(), 100_001);
        assert_eq!(parsed[1].path, "/\u{fffd}bad");
    }

    #[test]
    fn containers_are_recognised_under_both_drivers() {
        let systemd = format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-pod1.slice/cri-containerd-{ID}.scope"
        );
        assert!(names_container(&systemd, ID));
        assert!(names_container(&format!("/kubepods/besteffort/pod1/{ID}"), ID));
        assert!(names_container(&format!("/system.slice/crio-{ID}.scope/init"), ID), "a child cgroup");
        assert!(names_container(&format!("/docker-{ID}.scope"), ID));
    }

    #[test]
    fn other_containers_and_conmon_are_not_the_container() {
        assert!(!names_container(&format!("/system.slice/crio-conmon-{ID}.scope"), ID));
        assert!(!names_container(&format!("/kubepods/pod1/{ID}x"), ID));
        assert!(!names_container(&format!("/kubepods/pod1/x{ID}"), ID));
        assert!(!names_container("/kubepods/pod1/", ""), "an empty id names nothing");
        assert!(!names_container(&format!("/cri-containerd-{ID}"), ID), "a scope needs its suffix");
    }
}
