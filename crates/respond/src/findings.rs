//! What a snapshot of a container shows: miners, mining pools, metadata-service access,
//! shells and network tools. Each finding says what it rests on.

use std::net::IpAddr;

use kir_detect::lists::{MINER_ARGUMENTS, MINER_PROCESS_NAMES, MINING_POOL_PORTS};
use serde::Serialize;

use crate::procfs::{Process, Socket};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// A stable identifier of the kind of finding, e.g. `miner-process`.
    pub id: &'static str,
    pub severity: Severity,
    pub title: String,
    /// What the finding rests on: the process or the socket, as collected.
    pub evidence: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

const METADATA_ADDRESSES: &[&str] = &["169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200"];

const SHELLS: &[&str] = &["sh", "bash", "dash", "ash", "zsh", "ksh", "csh", "tcsh", "fish"];

const NETWORK_TOOLS: &[&str] = &[
    "nc",
    "ncat",
    "netcat",
    "socat",
    "nmap",
    "masscan",
    "zmap",
    "curl",
    "wget",
    "tcpdump",
    "tshark",
    "telnet",
    "ssh",
    "scp",
    "sftp",
    "ftp",
    "tftp",
    "ngrok",
    "chisel",
    "frpc",
    "rclone",
    "proxychains",
];

/// The names a process goes by: its `comm`, and the base names of argv[0] and its executable.
fn names(process: &Process) -> Vec<String> {
    let base = |path: &str| path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let mut names = vec![process.name.to_ascii_lowercase()];
    if let Some(argv0) = process.cmdline.first() {
        names.push(base(argv0.split_whitespace().next().unwrap_or(argv0)));
    }
    if let Some(exe) = &process.exe {
        names.push(base(exe.trim_end_matches(" (deleted)")));
    }
    names.dedup();
    names
}

fn describe(process: &Process) -> String {
    let command =
        if process.cmdline.is_empty() { format!("[{}]", process.name) } else { process.cmdline.join(" ") };
    let command: String = command.chars().take(300).collect();
    match &process.exe {
        Some(exe) => format!("pid {} ({}) {command}; exe {exe}", process.pid, process.name),
        None => format!("pid {} ({}) {command}", process.pid, process.name),
    }
}

/// At most this many findings of one kind are listed; the rest are counted in one more finding
/// (a hostile container could otherwise open thousands of pool connections to flood the case).
pub const MAX_PER_KIND: usize = 20;

/// Analyse the processes and sockets of one container.
pub fn analyse(processes: &[Process], sockets: &[Socket]) -> Vec<Finding> {
    let owners: std::collections::HashMap<u64, &Process> =
        processes.iter().flat_map(|p| p.socket_inodes.iter().map(move |inode| (*inode, p))).collect();
    let mut findings = Vec::new();
    for process in processes {
        let names = names(process);
        let cmdline = process.cmdline.join(" ").to_ascii_lowercase();
        if let Some(name) = names.iter().find(|n| MINER_PROCESS_NAMES.contains(&n.as_str())) {
            findings.push(Finding {
                id: "miner-process",
                severity: Severity::Critical,
                title: format!("cryptominer process {name}"),
                evidence: describe(process),
                pid: Some(process.pid),
            });
        } else if let Some(fragment) = MINER_ARGUMENTS.iter().find(|f| cmdline.contains(*f)) {
            findings.push(Finding {
                id: "miner-arguments",
                severity: Severity::Critical,
                title: format!("process with mining arguments ({fragment})"),
                evidence: describe(process),
                pid: Some(process.pid),
            });
        }
        if let Some(exe) = process.exe.as_deref().filter(|e| e.ends_with(" (deleted)")) {
            findings.push(Finding {
                id: "deleted-executable",
                severity: Severity::High,
                title: format!("process runs a deleted executable {}", exe.trim_end_matches(" (deleted)")),
                evidence: describe(process),
                pid: Some(process.pid),
            });
        }
        if let Some(tool) = names.iter().find(|n| NETWORK_TOOLS.contains(&n.as_str())) {
            findings.push(Finding {
                id: "network-tool",
                severity: Severity::High,
                title: format!("network tool {tool} running"),
                evidence: describe(process),
                pid: Some(process.pid),
            });
        }
        if let Some(shell) = names.iter().find(|n| SHELLS.contains(&n.as_str())) {
            findings.push(Finding {
                id: "shell",
                severity: Severity::Medium,
                title: format!("shell {shell} running"),
                evidence: describe(process),
                pid: Some(process.pid),
            });
        }
    }
    for socket in sockets.iter().filter(|s| s.has_peer()) {
        let owner = owners.get(&socket.inode).copied();
        let who = owner.map(|p| format!(" by pid {} ({})", p.pid, p.name)).unwrap_or_default();
        let connection = format!(
            "{} {}:{} -> {}:{} {}{who}",
            socket.protocol,
            socket.local_address,
            socket.local_port,
            socket.remote_address,
            socket.remote_port,
            socket.state
        );
        if MINING_POOL_PORTS.contains(&socket.remote_port) {
            findings.push(Finding {
                id: "mining-pool-port",
                severity: Severity::High,
                title: format!("connection to port {} (mining pools use it)", socket.remote_port),
                evidence: connection.clone(),
                pid: owner.map(|p| p.pid),
            });
        }
        if is_metadata(socket.remote_address) {
            findings.push(Finding {
                id: "cloud-metadata",
                severity: Severity::High,
                title: format!("connection to the cloud metadata service {}", socket.remote_address),
                evidence: connection,
                pid: owner.map(|p| p.pid),
            });
        }
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    cap_per_kind(findings)
}

fn cap_per_kind(findings: Vec<Finding>) -> Vec<Finding> {
    let mut kept: Vec<Finding> = Vec::new();
    let mut left_out: Vec<(&'static str, Severity, usize)> = Vec::new();
    for finding in findings {
        if kept.iter().filter(|k| k.id == finding.id).count() < MAX_PER_KIND {
            kept.push(finding);
        } else if let Some(entry) = left_out.iter_mut().find(|(id, _, _)| *id == finding.id) {
            entry.2 += 1;
        } else {
            left_out.push((finding.id, finding.severity, 1));
        }
    }
    for (id, severity, count) in left_out {
        kept.push(Finding {
            id,
            severity,
            title: format!(
                "{count} more {id} findings, not listed (see processes.json and connections.json)"
            ),
            evidence: String::new(),
            pid: None,
        });
    }
    kept
}

fn is_metadata(address: IpAddr) -> bool {
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
        v4 => v4,
    };
    METADATA_ADDRESSES.iter().any(|m| m.parse::<IpAddr>().is_ok_and(|m| m == address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, name: &str, cmdline: &[&str], exe: Option<&str>) -> Process {
        Process {
            pid,
            ppid: 1,
            name: name.into(),
            cmdline: cmdline.iter().map(|s| s.to_string()).collect(),
            exe: exe.map(str::to_string),
            ..Default::default()
        }
    }

    fn socket(remote: &str, port: u16, inode: u64) -> Socket {
        Socket {
            protocol: "tcp",
            local_address: "10.0.0.5".parse().unwrap(),
            local_port: 40000,
            remote_address: remote.parse().unwrap(),
            remote_port: port,
            state: "ESTABLISHED",
            uid: 0,
            inode,
        }
    }

    #[test]
    fn a_mining_container_is_recognised() {
        let mut miner =
            process(7, "kworker", &["/tmp/.x/kworker", "-o", "stratum+tcp://pool.example:3333"], None);
        miner.socket_inodes = vec![99];
        let processes = vec![
            process(1, "nginx", &["nginx: master process"], Some("/usr/sbin/nginx")),
            process(5, "xmrig", &["./xmrig"], Some("/tmp/xmrig (deleted)")),
            miner,
            process(9, "sh", &["/bin/sh"], Some("/bin/busybox")),
            process(10, "curl", &["curl", "http://169.254.169.254/latest/meta-data/"], None),
        ];
        let sockets = vec![
            socket("142.43.76.45", 3333, 99),
            socket("::ffff:169.254.169.254", 80, 5),
            socket("10.96.0.1", 443, 6),
        ];
        let findings = analyse(&processes, &sockets);
        let ids: Vec<(&str, Option<u32>)> = findings.iter().map(|f| (f.id, f.pid)).collect();
        assert!(ids.contains(&("miner-process", Some(5))), "{ids:?}");
        assert!(
            ids.contains(&("miner-arguments", Some(7))),
            "disguised miner found by its arguments: {ids:?}"
        );
        assert!(ids.contains(&("deleted-executable", Some(5))), "{ids:?}");
        assert!(
            ids.contains(&("mining-pool-port", Some(7))),
            "connection attributed by socket inode: {ids:?}"
        );
        assert!(ids.contains(&("cloud-metadata", None)), "{ids:?}");
        assert!(ids.contains(&("shell", Some(9))), "{ids:?}");
        assert!(ids.contains(&("network-tool", Some(10))), "{ids:?}");
        assert_eq!(findings[0].severity, Severity::Critical, "most severe first");
        assert!(!ids.iter().any(|(_, pid)| *pid == Some(1)), "nginx is not a finding: {ids:?}");
    }

    #[test]
    fn a_flood_of_connections_is_counted_not_listed() {
        let mut miner = process(7, "worker", &["./worker"], None);
        miner.socket_inodes = (0..50_000).collect();
        let sockets: Vec<Socket> = (0..50_000).map(|i| socket("142.43.76.45", 3333, i)).collect();
        let findings = analyse(&[miner], &sockets);
        let pool: Vec<&Finding> = findings.iter().filter(|f| f.id == "mining-pool-port").collect();
        assert_eq!(pool.len(), MAX_PER_KIND + 1);
        assert!(pool.iter().take(MAX_PER_KIND).all(|f| f.pid == Some(7)), "attributed through the inode map");
        assert!(pool[MAX_PER_KIND].title.starts_with("49980 more"), "{}", pool[MAX_PER_KIND].title);
    }

    #[test]
    fn ordinary_traffic_and_processes_give_no_findings() {
        let processes = vec![process(1, "java", &["java", "-jar", "app.jar"], Some("/usr/bin/java"))];
        let sockets =
            vec![socket("10.96.0.10", 53, 1), socket("52.1.2.3", 443, 2), socket("10.0.0.9", 8888, 3)];
        assert!(analyse(&processes, &sockets).is_empty());
    }
}
