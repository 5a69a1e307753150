//! Parsers for what a container's `/proc` says about its processes and sockets.
//!
//! The input comes from a possibly compromised container: it is hostile. The parsers never
//! panic, cap what they keep, and treat anything malformed as "skip this line".

use std::{collections::BTreeMap, net::IpAddr};

use kir_node::parse::{InetProtocol, parse_inet_table};
use serde::Serialize;

/// One socket from `/proc/net/{tcp,tcp6,udp,udp6}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Socket {
    pub protocol: &'static str,
    pub local_address: IpAddr,
    pub local_port: u16,
    pub remote_address: IpAddr,
    pub remote_port: u16,
    pub state: &'static str,
    pub uid: u32,
    pub inode: u64,
}

impl Socket {
    /// Listening TCP sockets and unconnected UDP sockets have no peer.
    pub fn has_peer(&self) -> bool {
        !self.remote_address.is_unspecified() || self.remote_port != 0
    }
}

/// At most this many sockets are kept from one table: a container cannot make kir hold more.
pub const MAX_SOCKETS: usize = 100_000;

/// The paths of the four tables, in the order [`parse_socket_tables`] expects them printed.
pub const SOCKET_TABLE_PATHS: [&str; 4] =
    ["/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6"];

/// Parse the four tables printed one after the other (`cat` of [`SOCKET_TABLE_PATHS`]; a
/// missing one is simply absent). Each table starts with its header line; UDP headers end in
/// `drops`, and the address width tells IPv4 from IPv6.
pub fn parse_socket_tables(text: &str) -> Vec<Socket> {
    let mut sockets = Vec::new();
    let mut udp = false;
    for line in text.lines() {
        if line.split_whitespace().next() == Some("sl") {
            udp = line.split_whitespace().last() == Some("drops");
            continue;
        }
        let v6 = line.split_whitespace().nth(1).is_some_and(|local| local.len() > 13);
        let protocol = match (udp, v6) {
            (false, false) => InetProtocol::Tcp,
            (false, true) => InetProtocol::Tcp6,
            (true, false) => InetProtocol::Udp,
            (true, true) => InetProtocol::Udp6,
        };
        if sockets.len() >= 4 * MAX_SOCKETS {
            break;
        }
        // The node-side collector reads the same kernel tables: one parser for both.
        sockets.extend(parse_inet_table(protocol, line.as_bytes()).into_iter().map(|socket| Socket {
            protocol: protocol.table(),
            local_address: socket.local.ip(),
            local_port: socket.local.port(),
            remote_address: socket.remote.ip(),
            remote_port: socket.remote.port(),
            state: socket.state,
            uid: socket.uid,
            inode: socket.inode,
        }));
    }
    sockets
}

/// One process, from `/proc/<pid>/{status,cmdline,exe,fd}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    /// The real uid, and the user name when the container's /etc/passwd names it.
    pub uid: Option<u32>,
    pub user: Option<String>,
    /// The kernel's short name (`comm`, at most 15 bytes, set by the process itself).
    pub name: String,
    pub cmdline: Vec<String>,
    pub exe: Option<String>,
    /// Inodes of the sockets the process holds open, to attribute connections to it.
    pub socket_inodes: Vec<u64>,
}

/// At most this many processes and this many arguments per process are kept.
pub const MAX_PROCESSES: usize = 20_000;
const MAX_ARGS: usize = 256;
const MAX_ARG_LEN: usize = 4096;

/// The shell script kir runs in the container to read its `/proc` without writing anything:
/// the socket tables first (they are what isolation changes), then the processes. Sections are
/// framed by a marker containing `nonce`, so a process cannot forge records by putting
/// separators in its command line (it would have to guess the nonce). It forks as little as it
/// can: one `cat` for the four socket tables (each keeps its header), one `cat` for every
/// status file (the kernel escapes newlines in the `Name:` line, so records cannot be forged
/// there), one `grep -z` for every command line (each NUL-terminated argument prefixed with its
/// file name; an argument cannot hold a NUL), and one `find` for every executable and
/// file-descriptor link, NUL-terminated (a file name cannot hold a NUL). Where `grep -z` or
/// `find -printf` are missing (busybox), `cat` per command line and `readlink` per link.
pub fn process_script(nonce: &str) -> String {
    format!(
        "m='--kir-{nonce}'; printf '%s self %s\\n' \"$m\" \"$$\"; \
         printf '%s sockets\\n' \"$m\"; cat {tables} 2>/dev/null; \
         printf '\\n%s status\\n' \"$m\"; cat /proc/[0-9]*/status 2>/dev/null; \
         if echo | grep -z '' >/dev/null 2>&1; then \
         printf '\\n%s cmdlines\\n' \"$m\"; grep -a -H -z '' /proc/[0-9]*/cmdline 2>/dev/null; \
         else for d in /proc/[0-9]*; do printf '\\n%s cmdline %s\\n' \"$m\" \"${{d#/proc/}}\"; cat \"$d/cmdline\" 2>/dev/null; done; fi; \
         printf '\\n%s links\\n' \"$m\"; \
         if find /proc -maxdepth 0 -printf '' 2>/dev/null; then \
         find /proc/[0-9]*/exe /proc/[0-9]*/fd -maxdepth 1 -type l -printf '%p\\t%l\\0' 2>/dev/null; \
         else for l in /proc/[0-9]*/exe /proc/[0-9]*/fd/*; do printf '%s\\t' \"$l\"; readlink \"$l\" 2>/dev/null; printf '\\0'; done; fi; \
         printf '\\n%s passwd\\n' \"$m\"; cat /etc/passwd 2>/dev/null; printf '\\n%s end\\n' \"$m\"",
        tables = SOCKET_TABLE_PATHS.join(" ")
    )
}

/// The marker nonce a listing was framed with: its first line is `--kir-NONCE self PID`.
pub fn listing_nonce(bytes: &[u8]) -> Option<String> {
    let first = bytes.split(|b| *b == b'\n').next()?;
    let first = std::str::from_utf8(first).ok()?;
    let (marker, rest) = first.split_once(' ')?;
    let nonce = marker.strip_prefix("--kir-")?;
    (rest.starts_with("self ") && !nonce.is_empty() && nonce.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| nonce.to_string())
}

/// What the script of [`process_script`] printed, parsed. `self_pid` is the collecting shell,
/// excluded together with its children (the `cat` and `find` it ran).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessListing {
    /// `None` when the output had no socket section.
    pub sockets: Option<Vec<Socket>>,
    pub processes: Vec<Process>,
    pub self_pid: Option<u32>,
    /// True when the end marker was seen: the listing was not cut short.
    pub complete: bool,
}

pub fn parse_process_listing(nonce: &str, bytes: &[u8]) -> ProcessListing {
    let marker = format!("--kir-{nonce} ").into_bytes();
    let mut listing = ProcessListing::default();
    let mut processes: BTreeMap<u32, Process> = BTreeMap::new();
    let mut users: BTreeMap<u32, String> = BTreeMap::new();
    for (header, body) in sections(bytes, &marker) {
        let header = String::from_utf8_lossy(header);
        let (kind, value) = header.split_once(' ').unwrap_or((&header, ""));
        match kind {
            "self" => listing.self_pid = value.trim().parse().ok(),
            "sockets" => listing.sockets = Some(parse_socket_tables(&String::from_utf8_lossy(body))),
            "status" => {
                for record in status_records(&String::from_utf8_lossy(body)) {
                    if processes.len() < MAX_PROCESSES {
                        processes.insert(record.pid, record);
                    }
                }
            }
            "cmdline" => {
                if let Some(process) = value.trim().parse().ok().and_then(|pid: u32| processes.get_mut(&pid))
                {
                    process.cmdline = split_cmdline(body);
                }
            }
            "cmdlines" => apply_cmdlines(&mut processes, body),
            "links" => apply_links(&mut processes, body),
            "passwd" => users = parse_passwd(&String::from_utf8_lossy(body)),
            "end" => listing.complete = true,
            _ => {}
        }
    }
    let self_pid = listing.self_pid;
    listing.processes = processes
        .into_values()
        .filter(|p| Some(p.pid) != self_pid && (self_pid.is_none() || Some(p.ppid) != self_pid))
        .map(|mut p| {
            p.user = p.uid.and_then(|uid| users.get(&uid).cloned());
            p
        })
        .collect();
    listing
}

/// Split the output at marker lines: `(header after the marker, body up to the next marker)`.
/// The newline kir prints before each marker is not part of the body.
fn sections<'a>(bytes: &'a [u8], marker: &[u8]) -> Vec<(&'a [u8], &'a [u8])> {
    let mut starts: Vec<usize> = Vec::new();
    let mut position = 0;
    while let Some(found) = memchr::memmem::find(&bytes[position..], marker) {
        let at = position + found;
        if at == 0 || bytes[at - 1] == b'\n' {
            starts.push(at);
        }
        position = at + marker.len();
    }
    let mut sections = Vec::new();
    for (i, &start) in starts.iter().enumerate() {
        let header_start = start + marker.len();
        let header_end =
            bytes[header_start..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |n| header_start + n);
        let body_start = (header_end + 1).min(bytes.len());
        let mut body_end = starts.get(i + 1).copied().unwrap_or(bytes.len());
        if starts.get(i + 1).is_some() && body_end > body_start && bytes[body_end - 1] == b'\n' {
            body_end -= 1;
        }
        sections.push((&bytes[header_start..header_end], &bytes[body_start..body_end.max(body_start)]));
    }
    sections
}

/// Concatenated `/proc/*/status` files: each starts with its `Name:` line.
fn status_records(text: &str) -> Vec<Process> {
    let mut records = Vec::new();
    let mut current: Option<Process> = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if key == "Name" {
            if let Some(done) = current.take().filter(|p| p.pid != 0) {
                records.push(done);
            }
            current = Some(Process { name: value.chars().take(64).collect(), ..Default::default() });
            continue;
        }
        let Some(process) = current.as_mut() else { continue };
        match key {
            "Pid" => process.pid = value.parse().unwrap_or(0),
            "PPid" => process.ppid = value.parse().unwrap_or(0),
            "Uid" => process.uid = value.split_whitespace().next().and_then(|u| u.parse().ok()),
            _ => {}
        }
    }
    if let Some(done) = current.filter(|p| p.pid != 0) {
        records.push(done);
    }
    records
}

/// NUL-terminated `/proc/PID/cmdline:ARGUMENT` records, as `grep -a -H -z ''` prints them.
fn apply_cmdlines(processes: &mut BTreeMap<u32, Process>, body: &[u8]) {
    for record in body.split(|b| *b == 0).take(10_000_000) {
        let Some(rest) = record.strip_prefix(b"/proc/") else { continue };
        let Some(slash) = rest.iter().position(|b| *b == b'/') else { continue };
        let Some(pid) = std::str::from_utf8(&rest[..slash]).ok().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Some(argument) = rest[slash..].strip_prefix(b"/cmdline:") else { continue };
        let Some(process) = processes.get_mut(&pid) else { continue };
        if !argument.is_empty() && process.cmdline.len() < MAX_ARGS {
            process.cmdline.push(String::from_utf8_lossy(argument).chars().take(MAX_ARG_LEN).collect());
        }
    }
}

/// NUL-terminated `PATH<TAB>TARGET` records of `/proc/PID/exe` and `/proc/PID/fd/N` links.
fn apply_links(processes: &mut BTreeMap<u32, Process>, body: &[u8]) {
    for record in body.split(|b| *b == 0).take(1_000_000) {
        let record = String::from_utf8_lossy(record);
        let Some((path, target)) = record.trim_start_matches('\n').split_once('\t') else { continue };
        let target = target.strip_suffix('\n').unwrap_or(target);
        let mut parts = path.strip_prefix("/proc/").unwrap_or_default().splitn(2, '/');
        let (Some(pid), Some(rest)) = (parts.next().and_then(|p| p.parse::<u32>().ok()), parts.next()) else {
            continue;
        };
        let Some(process) = processes.get_mut(&pid) else { continue };
        if rest == "exe" {
            process.exe = Some(target.chars().take(4096).collect()).filter(|t: &String| !t.is_empty());
        } else if rest.starts_with("fd/")
            && let Some(inode) =
                target.strip_prefix("socket:[").and_then(|t| t.strip_suffix(']')).and_then(|t| t.parse().ok())
            && process.socket_inodes.len() < 4096
            && !process.socket_inodes.contains(&inode)
        {
            process.socket_inodes.push(inode);
        }
    }
}

/// `/proc/<pid>/cmdline` is NUL-separated; the framing newline kir adds after it is not part
/// of the command line.
fn split_cmdline(body: &[u8]) -> Vec<String> {
    body.split(|b| *b == 0)
        .filter(|arg| !arg.is_empty())
        .take(MAX_ARGS)
        .map(|arg| String::from_utf8_lossy(arg).chars().take(MAX_ARG_LEN).collect())
        .collect()
}

fn parse_passwd(body: &str) -> BTreeMap<u32, String> {
    body.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            Some((uid, name.chars().take(64).collect()))
        })
        .take(10_000)
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41742 1 0000000000000000 100 0 0 10 0
   1: 0B00000A:C350 2D4C2B8E:0D05 01 00000000:00000000 00:00000000 00000000  1000        0 51234 1 0000000000000000 20 4 30 10 -1
   2: garbage line
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000B00000A:A000 00000000000000000000000000000000:0000 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn tcp_tables_decode_addresses_ports_and_states() {
        let sockets = parse_socket_tables(TCP);
        assert_eq!(sockets.len(), 2);
        assert_eq!(sockets[0].local_address, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(sockets[0].local_port, 8080);
        assert_eq!(sockets[0].state, "LISTEN");
        assert!(!sockets[0].has_peer());
        assert_eq!(sockets[1].local_address, "10.0.0.11".parse::<IpAddr>().unwrap());
        assert_eq!(sockets[1].remote_address, "142.43.76.45".parse::<IpAddr>().unwrap());
        assert_eq!(sockets[1].remote_port, 3333);
        assert_eq!(sockets[1].state, "ESTABLISHED");
        assert_eq!(sockets[1].uid, 1000);
        assert_eq!(sockets[1].inode, 51234);

        let sockets6 = parse_socket_tables(TCP6);
        assert_eq!(sockets6[0].local_address, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(sockets6[0].local_port, 80);
        assert_eq!(sockets6[1].local_address, "::ffff:10.0.0.11".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn concatenated_tables_are_told_apart_by_header_and_width() {
        let udp = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n 0: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 77 2 0 0\n";
        let all = format!("{TCP}{TCP6}{udp}");
        let sockets = parse_socket_tables(&all);
        let protocols: Vec<&str> = sockets.iter().map(|s| s.protocol).collect();
        assert_eq!(protocols, ["tcp", "tcp", "tcp6", "tcp6", "udp"]);
        assert_eq!(sockets[4].state, "UNCONNECTED");
        assert_eq!(sockets[1].remote_port, 3333);
    }

    #[test]
    fn udp_states_have_their_own_names() {
        let udp = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n 0: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 77 2 0 0\n";
        let sockets = parse_socket_tables(udp);
        assert_eq!(sockets[0].state, "UNCONNECTED");
        assert_eq!(sockets[0].protocol, "udp");
    }

    fn listing(nonce: &str) -> Vec<u8> {
        let m = format!("--kir-{nonce}");
        let mut out = Vec::new();
        out.extend(format!("{m} self 40\n{m} sockets\n").as_bytes());
        out.extend(TCP.as_bytes());
        out.extend(format!("\n{m} status\n").as_bytes());
        out.extend(
            b"Name:\tnginx\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t1\nPPid:\t0\nUid:\t0\t0\t0\t0\n",
        );
        // The kernel escapes a newline in a process name, so it cannot start a record.
        out.extend(b"Name:\txmrig\\nName:\tfake\nPid:\t7\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\n");
        out.extend(b"Name:\tsh\nPid:\t40\nPPid:\t0\nUid:\t0\n");
        out.extend(b"Name:\tcat\nPid:\t41\nPPid:\t40\nUid:\t0\n");
        out.extend(format!("\n{m} cmdline 1\n").as_bytes());
        out.extend(b"nginx: master\0-g\0daemon off;\0");
        // A hostile command line that tries to forge a record with a guessed marker.
        out.extend(format!("\n{m} cmdline 7\n").as_bytes());
        out.extend(b"./xmrig\0\n--kir-guess cmdline 1\n\0-o\0pool:3333\0");
        out.extend(format!("\n{m} cmdline 40\n").as_bytes());
        out.extend(b"sh\0-c\0...\0");
        out.extend(format!("\n{m} links\n").as_bytes());
        out.extend(b"/proc/1/exe\t/usr/sbin/nginx\0/proc/1/fd/0\t/dev/null\0/proc/1/fd/6\tsocket:[51234]\0");
        out.extend(b"/proc/7/exe\t/tmp/.x/xmrig (deleted)\n\0/proc/99/fd/1\tsocket:[7]\0garbage\0");
        out.extend(
            format!("\n{m} passwd\nroot:x:0:0:root:/root:/bin/sh\nminer:x:1000:1000::/home:/bin/sh\n")
                .as_bytes(),
        );
        out.extend(format!("\n{m} end\n").as_bytes());
        out
    }

    #[test]
    fn process_listing_is_parsed_and_excludes_the_collector() {
        let parsed = parse_process_listing("n0nce", &listing("n0nce"));
        assert!(parsed.complete);
        let sockets = parsed.sockets.as_deref().expect("the socket section is parsed");
        assert_eq!(sockets, parse_socket_tables(TCP).as_slice());
        assert_eq!(sockets.len(), 2);
        assert_eq!(parsed.self_pid, Some(40));
        let pids: Vec<u32> = parsed.processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, [1, 7], "the collecting shell (40) and its child (41) are excluded");
        let nginx = &parsed.processes[0];
        assert_eq!(nginx.name, "nginx");
        assert_eq!(nginx.cmdline, ["nginx: master", "-g", "daemon off;"]);
        assert_eq!(nginx.exe.as_deref(), Some("/usr/sbin/nginx"));
        assert_eq!(nginx.socket_inodes, [51234]);
        assert_eq!(nginx.user.as_deref(), Some("root"));
        let miner = &parsed.processes[1];
        assert_eq!(miner.name, "xmrig\\nName:\tfake");
        assert_eq!(miner.ppid, 1);
        assert_eq!(miner.user.as_deref(), Some("miner"));
        assert_eq!(miner.cmdline, ["./xmrig", "\n--kir-guess cmdline 1\n", "-o", "pool:3333"]);
        assert_eq!(
            miner.exe.as_deref(),
            Some("/tmp/.x/xmrig (deleted)"),
            "readlink's newline is not part of it"
        );
    }

    #[test]
    fn command_lines_from_grep_are_framed_by_nul() {
        let m = "--kir-g";
        let mut out = Vec::new();
        out.extend(
            format!("{m} status\nName:\tapp\nPid:\t3\nPPid:\t1\nName:\tminer\nPid:\t9\nPPid:\t3\n")
                .as_bytes(),
        );
        out.extend(format!("\n{m} cmdlines\n").as_bytes());
        out.extend(b"/proc/3/cmdline:/app\0/proc/3/cmdline:--port\0/proc/3/cmdline:80\0");
        out.extend(b"/proc/9/cmdline:./x\n/proc/3/cmdline:forged\0/proc/9/cmdline:\0/proc/77/cmdline:gone\0");
        out.extend(format!("\n{m} end\n").as_bytes());
        let parsed = parse_process_listing("g", &out);
        assert_eq!(parsed.sockets, None, "no socket section, no sockets");
        assert_eq!(parsed.processes[0].cmdline, ["/app", "--port", "80"]);
        assert_eq!(
            parsed.processes[1].cmdline,
            ["./x\n/proc/3/cmdline:forged"],
            "a newline cannot start a record"
        );
    }

    #[test]
    fn the_nonce_is_read_back_from_a_stored_listing() {
        assert_eq!(listing_nonce(b"--kir-0a1b self 40\n--kir-0a1b status\n").as_deref(), Some("0a1b"));
        assert_eq!(listing_nonce(b"garbage\n"), None);
        assert_eq!(listing_nonce(b"--kir-zz self 1\n"), None, "kir's nonces are hex");
        assert_eq!(listing_nonce(b""), None);
    }

    #[test]
    fn a_listing_cut_short_is_not_complete() {
        let full = listing("abc");
        let parsed = parse_process_listing("abc", &full[..full.len() / 2]);
        assert!(!parsed.complete);
        assert!(!parsed.processes.is_empty());
    }

    #[test]
    fn the_script_frames_with_the_nonce() {
        let script = process_script("f00d");
        assert!(script.contains("--kir-f00d"));
        assert!(script.contains("/proc/[0-9]*"));
        let targets: Vec<&str> = script.match_indices('>').map(|(i, _)| &script[i + 1..i + 10]).collect();
        assert!(
            targets.iter().all(|t| t.starts_with("/dev/null") || t.starts_with("&1")),
            "writes nothing but stdout: {targets:?}"
        );
    }

    proptest! {
        #[test]
        fn hostile_socket_tables_never_panic(text in ".{0,2000}") {
            let _ = parse_socket_tables(&text);
        }

        #[test]
        fn hostile_process_listings_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4000), cut in 0usize..4000) {
            let _ = parse_process_listing("x", &bytes);
            let good = listing("x");
            let cut = cut.min(good.len());
            let mut mixed = good[..cut].to_vec();
            mixed.extend(&bytes);
            let _ = parse_process_listing("x", &mixed);
        }
    }
}
