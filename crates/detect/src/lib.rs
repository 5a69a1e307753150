//! Detection for kir.
//!
//! - [`detection`]: Sigma's detection language (selections, modifiers, conditions), used for
//!   Sigma rules loaded from files and for kir's built-in rules alike;
//! - [`audit`]: audit events as records, with the field mapping SigmaHQ's Kubernetes rules need;
//! - [`builtin`]: the rules kir ships (YAML files embedded in the binary);
//! - [`audit_engine`]: every rule over every event of a scan, into [`finding`]s;
//! - [`baseline`]: what is normal per identity, and departures from it;
//! - [`lists`]: lists shared by rules and other crates (miners, pools, system namespaces);
//! - [`runtime`]: Falco, Tracee and Tetragon events, normalised, and the rules over them.

pub mod audit;
pub mod audit_engine;
pub mod audit_policy;
pub mod baseline;
pub mod builtin;
pub mod detection;
pub mod finding;
pub mod lists;
pub mod matcher;
pub mod rule;
pub mod runtime;
pub mod value;

pub use audit_engine::AuditDetector;
pub use finding::Finding;
pub use rule::{Rule, RuleError, RuleMeta, Severity};
