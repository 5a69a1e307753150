//! Post-incident reports from a kir case, and the preventive controls the case calls for.
//!
//! Pure: nothing here talks to Kubernetes or the network. A case folder is read through
//! kir-evidence (verified, never written), evidence files the journal records are read with caps
//! and hash checks ([`CaseSource`]), and a [`Report`] is built from them: summary, one timeline
//! of journal actions, detections and captured Kubernetes events, the evidence index, residual
//! risks, ATT&CK techniques and a post-mortem skeleton with measured times. It renders as
//! Markdown ([`markdown`]), JSON (serde) and one self-contained HTML file ([`html`]).
//! [`prevent`] derives reviewable YAML (default-deny NetworkPolicies, Pod Security Admission
//! labels, an image allowlist, RBAC and audit-policy suggestions).
//!
//! Everything read from the case is hostile: every text is capped, and escaped for the format it
//! lands in ([`escape`]).

pub mod escape;
pub mod html;
pub mod markdown;
mod model;
pub mod prevent;
mod source;

use std::path::PathBuf;

pub use model::{
    Containment, Evidence, LiveChange, LiveState, Measure, Point, PostMortem, Report, Risk, RiskLevel,
    Summary, Technique, TimelineItem, TimelineKind, Verification, report_of,
};
pub use source::{CaseSource, Gap, Integrity, RecordedArtifact};

/// Why no report can be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{} does not exist: give the folder of a kir case (one made by `kir case open TITLE`, or by a command run with --case)", path.display())]
    NotFound { path: PathBuf },

    #[error("{} is not a kir case folder: {detail}; give the folder of a kir case (it holds case.json, journal.jsonl and evidence/)", path.display())]
    NotACase { path: PathBuf, detail: String },

    #[error(transparent)]
    Evidence(kir_evidence::Error),
}

#[cfg(test)]
mod tests;
