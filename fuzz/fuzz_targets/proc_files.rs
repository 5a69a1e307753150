//! What a suspect process controls in the /proc files node-side collection reads (its cgroup,
//! mount table, maps, status, stat, environment, the socket tables of its network namespace)
//! and the memory-dump framing read back: none of it may panic, whatever the bytes, and no
//! environment value outside the kept list may come through unredacted.
#![no_main]

use kir_node::parse::{
    InetProtocol, environment_range, names_container, overlay_upper_dir, parse_cgroup, parse_inet_table,
    parse_maps, parse_mountinfo, parse_status, parse_unix_table,
};
use kir_node::{KEPT_VARIABLES, MemoryFrames, redact_environment};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in parse_cgroup(data) {
        let _ = names_container(&line.path, "0f3c2a9e5d1b");
    }
    let _ = overlay_upper_dir(&parse_mountinfo(data));
    for mapping in parse_maps(data) {
        assert!(mapping.start <= mapping.end);
    }
    let _ = parse_status(data);
    if let Some((start, end)) = environment_range(data) {
        assert!(start <= end);
    }
    for protocol in InetProtocol::ALL {
        let _ = parse_inet_table(protocol, data);
    }
    let _ = parse_unix_table(data);
    for variable in redact_environment(data) {
        assert!(
            KEPT_VARIABLES.contains(&variable.name.as_str()) || variable.value.starts_with("<redacted by kir: "),
            "{variable:?}"
        );
    }
    let mut stream = kir_node::MAGIC.to_vec();
    stream.extend_from_slice(data);
    for frame in MemoryFrames::new(&stream[..]).take(64) {
        let Ok((header, bytes)) = frame else { break };
        assert_eq!(header.length, bytes.len() as u64);
    }
});
