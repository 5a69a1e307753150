//! The architecture document of a cluster (playbook part P1), without I/O: the inventory kir
//! reads (namespaces, workloads, exposure, network policies, nodes, RBAC), the security facts
//! derived from it, its renderings (Markdown, JSON, Graphviz DOT, SVG) and the drift between two
//! inventories.
//!
//! Every string in an inventory came from the cluster and is hostile: the renderers escape it
//! for the format they write, so an object name cannot add a Markdown link, leave a DOT string
//! or an XML text node.

mod derive;
mod diff;
mod escape;
mod model;
mod render;

pub use derive::{Observed, assemble};
pub use diff::{Change, ChangeKind, Drift, Topic, diff};
pub use escape::{dot_string, markdown_text, xml_text};
pub use model::*;
pub use render::{dot, drift_markdown, markdown, svg};

/// An inventory that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("not a kir inventory (its \"schema\" is {found:?}, not {SCHEMA:?})")]
    NotInventory { found: Option<String> },
    #[error("a kir inventory, but not one this kir reads: {0}")]
    Malformed(serde_json::Error),
}

/// An inventory saved as JSON (`inventory.json`), checked to be one.
pub fn parse(bytes: &[u8]) -> Result<Inventory, Error> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(Error::NotJson)?;
    let schema = value.get("schema").and_then(|s| s.as_str());
    if schema != Some(SCHEMA) {
        return Err(Error::NotInventory { found: schema.map(str::to_string) });
    }
    serde_json::from_value(value).map_err(Error::Malformed)
}

#[cfg(test)]
mod tests;
