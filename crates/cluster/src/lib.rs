//! The only part of kir that talks to the Kubernetes API.
//!
//! Everything above this crate works with plain data (reports, evidence, findings); everything
//! that needs a round trip to an API server goes through [`Cluster`]. Keeping the boundary here
//! means the rest of kir can be tested without a cluster, and every request can be attributed
//! (for the evidence journal) and classified (for clear error messages) in one place.

mod connect;
pub mod credentials;
mod drill;
mod error;
pub mod exec;
pub mod images;
pub mod inventory;
pub mod nodes;
pub mod objects;
pub mod permissions;
pub mod pods;
pub mod probe;
pub mod readiness;
mod transport;

pub use connect::{Cluster, ConnectOptions, KubeconfigCredential, Target, kubeconfig_credential};
pub use error::{ConnectFailure, Error, Result, Retry, retrying};
