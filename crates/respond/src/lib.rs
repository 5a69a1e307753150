//! kir's response actions and playbooks, built on `kir-cluster` (the API) and `kir-evidence`
//! (the case). The decisions — what to select, what to create, what a result means — are pure
//! functions in their own modules, tested without a cluster.

pub mod findings;
pub mod isolate;
pub mod netpol;
pub mod procfs;
pub mod selector;
