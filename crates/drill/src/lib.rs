//! Practice incidents (`kir drill`): each scenario stages a real attack in a namespace of its
//! own on a cluster that consented, runs kir's own detection and response commands on it as a
//! responder would, checks the outcome by reading the cluster back, cleans up and scores.
//!
//! The attack objects and the scorecard are plain data (unit-tested); the run talks to the API
//! only through kir-cluster and runs kir itself for every detection and response step, so a
//! drill exercises exactly what a responder types.

mod run;
pub mod scenario;
pub mod scorecard;

pub use run::{CONSENT_LABEL, CONSENT_NAMESPACE, Drill, DrillError, Kir, consent};
pub use scenario::Scenario;
pub use scorecard::{Check, ScenarioScore, Scorecard};

/// A fresh drill id: six lowercase hex digits, valid in namespace and object names.
pub fn new_id() -> String {
    let mut bytes = [0u8; 3];
    // Without randomness, the clock's nanoseconds still keep two drills of one cluster apart.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        bytes.copy_from_slice(&nanos.subsec_nanos().to_be_bytes()[1..]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
