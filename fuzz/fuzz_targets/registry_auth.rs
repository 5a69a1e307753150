//! Any bytes as a docker config file and any text as a registry's WWW-Authenticate header
//! (`kir image find` resolving a tag): an error or a value, never a panic.
#![no_main]

use kir_registry::auth::{DockerConfig, parse_challenge};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = DockerConfig::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_challenge(text);
    }
});
