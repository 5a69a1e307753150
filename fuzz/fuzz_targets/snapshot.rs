//! What a compromised container prints for `kir snapshot`: the process listing and the socket
//! tables through kir's parsers and the findings analysis. None of it may panic, whatever the
//! bytes; the listing's framing nonce is fixed here so the fuzzer can find and forge markers.
#![no_main]

use kir_respond::{findings::analyse, procfs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let listing = procfs::parse_process_listing("f0", data);
    let sockets = procfs::parse_socket_tables(&String::from_utf8_lossy(data));
    let _ = analyse(&listing.processes, &sockets);
});
