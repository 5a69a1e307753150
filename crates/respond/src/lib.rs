//! kir's response actions and playbooks, built on `kir-cluster` (the API) and `kir-evidence`
//! (the case). The decisions — what to select, what to create, what a result means — are pure
//! functions in their own modules, tested without a cluster.

pub mod block;
pub mod blocking;
pub mod capture;
pub mod collect;
pub mod contain;
pub mod creds;
pub mod enforcement;
mod error;
pub mod findings;
pub mod image;
pub mod imagescan;
pub mod isolate;
pub mod malicious;
pub mod netpol;
pub mod node;
pub mod observe;
mod preflight;
pub mod procfs;
pub mod purge;
pub mod replace;
pub mod respond;
pub mod revoke;
pub mod rotate;
pub mod selector;
pub mod snapshot;
pub mod stolen;
pub mod undo;

pub use error::{Error, Result};
