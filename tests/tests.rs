//! The integration tests: one binary, one module per topic. Tests that need a cluster use the
//! real control plane of `testbed/` (see `testbed.rs`); none is skipped when it cannot start.

mod util;

mod testbed;

mod scene;

// `kir doctor` and the connection errors every command shares.
mod doctor;

// Each command's declared permissions, proven as a service account bound to exactly them.
mod permissions;

// The testbed itself: what later commands rely on (pods run, logs, exec, controllers, audit).
mod testbed_behaviour;

// The command line contract: usage errors, completions.
mod cli;

// `kir audit`, `kir detect` and `kir baseline` on files.
mod audit;

// Detection of real attack steps in the testbed's own audit log.
mod detect;

// The compromised-pod response: capture, snapshot, isolate, release, replace, respond, undo.
mod response;

// Containment that never overclaims: no weaker moment, kir's objects only.
mod contain;

// Undo and release with the case folder as hostile input: forged lines, re-created objects,
// cases sharing a pod.
mod undo;

// Case folders, journal, verification, export and signing (no cluster needed).
mod case;

// Stolen credentials: what a credential is, its reach, who can do what.
mod creds;

// The malicious image: find it everywhere, block it at admission.
mod image;

// Practice incidents, end to end, and the consent they need.
mod drill;

// Before the incident: the responder's RBAC, readiness of signals and tools.
mod prepare;

// `kir report`: the post-incident report of a real response, rendered by headless Chromium.
mod report;

// `kir prepare inventory`: the architecture document, saved and compared.
mod inventory;

// Collection from the suspect's node on the testbed's real node: processes, changed files,
// memory, the kubelet's checkpoint, and `kir checkpoint inspect`.
mod node;

// The README's walkthrough, run as written.
mod readme;
