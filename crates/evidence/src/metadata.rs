//! `case.json`: what a case is, written once when it is created.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The format of `case.json` kir writes.
pub(crate) const FORMAT: u32 = 1;

/// What the caller knows about a new case. Everything but the title is optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseInfo {
    pub title: String,
    /// The API server URL.
    pub cluster: Option<String>,
    /// The kubeconfig context.
    pub context: Option<String>,
    /// Who responds: a person, or the identity the API server reports.
    pub responder: Option<String>,
    pub kir_version: String,
}

impl CaseInfo {
    /// A case with only a title; `kir_version` is this crate's version until the caller sets it.
    pub fn new(title: impl Into<String>) -> CaseInfo {
        CaseInfo {
            title: title.into(),
            cluster: None,
            context: None,
            responder: None,
            kir_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// The contents of `case.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseMetadata {
    pub format: u32,
    pub id: String,
    pub created: Timestamp,
    #[serde(flatten)]
    pub info: CaseInfo,
}

impl CaseMetadata {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("case metadata serialises");
        bytes.push(b'\n');
        bytes
    }
}
