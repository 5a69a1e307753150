//! trivy's JSON reports, read into one summary per scanned artifact (an image, or a workload
//! in `trivy k8s`): vulnerability counts by severity, the secrets found (never their text), and
//! failed misconfiguration checks.
//!
//! Shapes read: `trivy image -f json` (schema 2: `ArtifactName`, `Metadata`, `Results`), `trivy
//! k8s --report all` (`ClusterName`, `Resources`), `trivy k8s --report summary` (`ClusterName`,
//! `Findings`: the same resources, merged per workload), older `trivy k8s` releases
//! (`Vulnerabilities` and `Misconfigurations` lists of resources) and schema 1 (a bare array of
//! results). Unknown fields are ignored and fields of an unexpected type are read as absent.
//!
//! The report is hostile (a scan of a compromised image can put anything in a package name or
//! a secret's title): the caller caps its size, serde_json caps its nesting at 128, every text
//! kept is cut to [`MAX_TEXT`] characters and the secrets kept per artifact to
//! [`MAX_SECRETS`].

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::reference::{Digest, RunningImage, parse_image_id};

/// The characters kept of any text from a report.
pub const MAX_TEXT: usize = 256;
/// The secret findings kept per artifact; the others are counted in `secrets_omitted`.
pub const MAX_SECRETS: usize = 1_000;

/// Why bytes are not a trivy report.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TrivyError {
    #[error("not JSON ({detail}): give trivy's output made with --format json")]
    NotJson { detail: String },
    #[error(
        "JSON, but not a trivy report: expected an object with Results (trivy image), Resources or \
         Findings (trivy k8s), or an array of results (schema 1)"
    )]
    UnknownShape,
}

/// What one report says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanReport {
    /// The cluster `trivy k8s` scanned.
    pub cluster: Option<String>,
    pub artifacts: Vec<ArtifactSummary>,
}

/// One scanned image, or one workload of a cluster scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactSummary {
    /// The image as trivy was given it, or `namespace/Kind/name` for a cluster scan.
    pub name: String,
    pub resource: Option<Workload>,
    /// The image's config digest (`Metadata.ImageID`).
    pub image_id: Option<Digest>,
    /// The registry digests the image is known by (`Metadata.RepoDigests`).
    pub repo_digests: Vec<RunningImage>,
    pub vulnerabilities: SeverityCounts,
    pub secrets: Vec<SecretFinding>,
    pub secrets_omitted: usize,
    /// Misconfiguration checks that failed.
    pub misconfigurations: usize,
    /// Why trivy could not scan this artifact, when it says.
    pub error: Option<String>,
}

/// The workload a `trivy k8s` finding belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Workload {
    pub namespace: Option<String>,
    pub kind: String,
    pub name: String,
}

/// Vulnerabilities by trivy's severity; anything else counts as unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeverityCounts {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub unknown: u64,
}

impl SeverityCounts {
    pub fn total(&self) -> u64 {
        self.critical + self.high + self.medium + self.low + self.unknown
    }

    fn add(&mut self, severity: Option<&str>) {
        let count = match severity {
            Some("CRITICAL") => &mut self.critical,
            Some("HIGH") => &mut self.high,
            Some("MEDIUM") => &mut self.medium,
            Some("LOW") => &mut self.low,
            _ => &mut self.unknown,
        };
        *count += 1;
    }
}

/// A secret trivy found, without the secret: its `Match` and `Code` fields are never read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretFinding {
    pub rule_id: Option<String>,
    pub title: Option<String>,
    pub severity: Option<String>,
    /// The file the secret is in.
    pub target: Option<String>,
}

/// Reads any of trivy's JSON report shapes.
pub fn parse_report(bytes: &[u8]) -> Result<ScanReport, TrivyError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|error| TrivyError::NotJson { detail: error.to_string() })?;
    match &value {
        Value::Array(results) => {
            let name = results.iter().find_map(|result| text(result, "Target")).unwrap_or_default();
            let mut artifact = ArtifactSummary { name, ..ArtifactSummary::default() };
            add_results(&mut artifact, results);
            Ok(ScanReport { cluster: None, artifacts: vec![artifact] })
        }
        Value::Object(object) if object.contains_key("ClusterName") => Ok(cluster_report(&value)),
        Value::Object(object) if object.contains_key("ArtifactName") || object.contains_key("Results") => {
            let mut artifact = ArtifactSummary {
                name: text(&value, "ArtifactName").unwrap_or_default(),
                ..ArtifactSummary::default()
            };
            add_metadata(&mut artifact, value.get("Metadata"));
            add_results(&mut artifact, items(&value, "Results"));
            Ok(ScanReport { cluster: None, artifacts: vec![artifact] })
        }
        _ => Err(TrivyError::UnknownShape),
    }
}

/// `trivy k8s`: every list of resources any release writes, merged per workload.
fn cluster_report(report: &Value) -> ScanReport {
    let mut artifacts: Vec<ArtifactSummary> = Vec::new();
    let mut index: BTreeMap<Workload, usize> = BTreeMap::new();
    let lists = ["Resources", "Findings", "Vulnerabilities", "Misconfigurations"];
    for resource in lists.iter().flat_map(|list| items(report, list)) {
        let workload = Workload {
            namespace: text(resource, "Namespace").filter(|namespace| !namespace.is_empty()),
            kind: text(resource, "Kind").unwrap_or_default(),
            name: text(resource, "Name").unwrap_or_default(),
        };
        let position = *index.entry(workload.clone()).or_insert_with(|| {
            let name = match &workload.namespace {
                Some(namespace) => format!("{namespace}/{}/{}", workload.kind, workload.name),
                None => format!("{}/{}", workload.kind, workload.name),
            };
            artifacts.push(ArtifactSummary { name, resource: Some(workload), ..ArtifactSummary::default() });
            artifacts.len() - 1
        });
        let artifact = &mut artifacts[position];
        add_metadata(artifact, resource.get("Metadata"));
        add_results(artifact, items(resource, "Results"));
        if artifact.error.is_none() {
            artifact.error = text(resource, "Error").filter(|error| !error.is_empty());
        }
    }
    ScanReport { cluster: text(report, "ClusterName"), artifacts }
}

/// `Metadata` is one object, or in some releases of `trivy k8s` a list of them (one per image).
fn add_metadata(artifact: &mut ArtifactSummary, metadata: Option<&Value>) {
    let all = match metadata {
        Some(Value::Array(list)) => list.as_slice(),
        Some(one @ Value::Object(_)) => std::slice::from_ref(one),
        _ => &[],
    };
    for metadata in all {
        if artifact.image_id.is_none() {
            artifact.image_id =
                metadata.get("ImageID").and_then(Value::as_str).and_then(|id| Digest::parse(id).ok());
        }
        for digest in
            items(metadata, "RepoDigests").iter().filter_map(Value::as_str).filter_map(parse_image_id)
        {
            if !artifact.repo_digests.contains(&digest) {
                artifact.repo_digests.push(digest);
            }
        }
    }
}

fn add_results(artifact: &mut ArtifactSummary, results: &[Value]) {
    for result in results {
        for vulnerability in items(result, "Vulnerabilities") {
            artifact.vulnerabilities.add(vulnerability.get("Severity").and_then(Value::as_str));
        }
        for secret in items(result, "Secrets") {
            if artifact.secrets.len() == MAX_SECRETS {
                artifact.secrets_omitted += 1;
                continue;
            }
            artifact.secrets.push(SecretFinding {
                rule_id: text(secret, "RuleID"),
                title: text(secret, "Title"),
                severity: text(secret, "Severity"),
                target: text(result, "Target"),
            });
        }
        artifact.misconfigurations += items(result, "Misconfigurations")
            .iter()
            .filter(|check| matches!(check.get("Status").and_then(Value::as_str), None | Some("FAIL")))
            .count();
    }
}

/// The list at `key`, or nothing when it is absent, null or not a list.
fn items<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// The text at `key`, cut to [`MAX_TEXT`] characters.
fn text(value: &Value, key: &str) -> Option<String> {
    let text = value.get(key)?.as_str()?;
    Some(text.chars().take(MAX_TEXT).collect())
}
