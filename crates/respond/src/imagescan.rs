//! `kir image scan`: every distinct image running in the cluster scanned with trivy, a few at
//! a time, the reports kept in the case and summarised per image with the pods that run it.
//! Once one image is known bad, the others of its repository or registry namespace go first.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use futures::{StreamExt, stream};
use kir_cluster::{Cluster, images::PodImages};
use kir_evidence::{Case, JournalRecord};
use kir_image::{ImageRef, Pattern, parse_image_id, trivy};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt;

use crate::{
    Error, Result,
    blocking::{record, store_once},
};

/// The most of one trivy report kept (and read); a larger one is refused, not cut.
pub const REPORT_LIMIT: u64 = 64 << 20;
/// What of trivy's stderr is kept to explain a failure.
const STDERR_KEPT: u64 = 16 << 10;

/// One image to scan and who runs it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScanTarget {
    /// What trivy is given: by digest when the runtime reported one, else as the spec says.
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `ns/pod` of the running pods using it.
    pub pods: Vec<String>,
    /// Named by `--like`'s repository or registry namespace: scanned first.
    pub like: bool,
}

/// The distinct images of `pods` (running ones), deduplicated by the digest the runtime
/// reports (else by the reference), those like `like` first, then by how many pods run them.
pub fn targets(pods: &[PodImages], like: Option<&Pattern>) -> Vec<ScanTarget> {
    let mut by_key: BTreeMap<String, ScanTarget> = BTreeMap::new();
    for pod in pods.iter().filter(|p| !p.terminating && p.phase.as_deref() == Some("Running")) {
        for container in &pod.containers {
            let Ok(spec) = ImageRef::parse(&container.image) else { continue };
            let running = container.image_id.as_deref().and_then(parse_image_id);
            let (key, reference, digest) = match (running, spec.digest()) {
                (Some(running), _) => {
                    let digest = running.digest.to_string();
                    let name = running.name.unwrap_or_else(|| spec.name());
                    (digest.clone(), format!("{name}@{digest}"), Some(digest))
                }
                (None, Some(digest)) => {
                    let digest = digest.to_string();
                    (digest.clone(), format!("{}@{digest}", spec.name()), Some(digest))
                }
                (None, None) => (spec.to_string(), spec.to_string(), None),
            };
            let target = by_key.entry(key).or_insert_with(|| ScanTarget {
                like: like.is_some_and(|pattern| alike(pattern, &spec)),
                reference,
                digest,
                pods: Vec::new(),
            });
            let name = format!("{}/{}", pod.namespace, pod.name);
            if !target.pods.contains(&name) {
                target.pods.push(name);
            }
        }
    }
    let mut targets: Vec<ScanTarget> = by_key.into_values().collect();
    targets.sort_by(|a, b| {
        b.like.cmp(&a.like).then(b.pods.len().cmp(&a.pods.len())).then(a.reference.cmp(&b.reference))
    });
    targets
}

/// Whether `image` is of the pattern's repository, or of the same registry and first path
/// component (an organisation, a team): where a second bad image is likeliest.
fn alike(pattern: &Pattern, image: &ImageRef) -> bool {
    if pattern.matches(&image.to_string(), None).is_match() {
        return true;
    }
    let (registry, repository) = match pattern {
        Pattern::Repository { registry, repository }
        | Pattern::Tag { registry, repository, .. }
        | Pattern::Digest { registry, repository, .. } => (registry.as_str(), repository.as_str()),
        Pattern::Prefix { registry, path } => (registry.as_str(), path.as_deref().unwrap_or("")),
        Pattern::AnyDigest { .. } => return false,
    };
    let namespace = |repository: &str| repository.split('/').next().unwrap_or("").to_string();
    registry.eq_ignore_ascii_case(image.registry())
        && repository.contains('/')
        && namespace(repository) == namespace(image.repository())
}

/// How trivy is run.
#[derive(Debug, Clone)]
pub struct TrivyOptions {
    pub program: PathBuf,
    /// `vuln`, `secret`, `misconfig`, comma-separated, as trivy's `--scanners`.
    pub scanners: String,
    /// Images scanned at once.
    pub parallel: usize,
    /// Time one image's scan may take.
    pub timeout: Duration,
}

/// One image's scan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageScan {
    #[serde(flatten)]
    pub target: ScanTarget,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<trivy::ArtifactSummary>,
    /// Where the report is in the case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The running pods' images in `namespace` (or all), read page by page.
pub async fn running_pods(cluster: &Cluster, namespace: Option<&str>) -> Result<Vec<PodImages>> {
    let mut pods = Vec::new();
    cluster
        .pod_images(namespace, |page| {
            pods.extend(page.into_iter().filter(|p| !p.terminating && p.phase.as_deref() == Some("Running")))
        })
        .await?;
    Ok(pods)
}

/// Scan every target with trivy, `options.parallel` at a time; `done` is told of each.
pub async fn scan(
    case: &Case,
    actor: &str,
    targets: Vec<ScanTarget>,
    options: &TrivyOptions,
    done: &(dyn Fn(&ImageScan) + Sync),
) -> Result<Vec<ImageScan>> {
    let scans: Vec<ImageScan> = stream::iter(targets)
        .map(|target| async move {
            let scanned = match run_trivy(options, &target.reference).await {
                Ok(bytes) => keep(case, &target, bytes, "trivy image").await,
                Err(error) => ImageScan { target, summary: None, report: None, error: Some(error) },
            };
            done(&scanned);
            scanned
        })
        .buffer_unordered(options.parallel.max(1))
        .collect()
        .await;
    record(
        case,
        JournalRecord::new(actor, "image.scan")
            .parameters(json!({"scanners": options.scanners, "images": scans.len()}))
            .result(json!({
                "scanned": scans.iter().filter(|s| s.summary.is_some()).count(),
                "failed": scans.iter().filter(|s| s.error.is_some()).map(|s| &s.target.reference).collect::<Vec<_>>(),
            })),
    )
    .await?;
    Ok(order(scans))
}

/// Reports trivy already wrote (any of its JSON shapes), read into the case and summarised.
pub async fn ingest(case: &Case, actor: &str, files: &[PathBuf]) -> Result<Vec<ImageScan>> {
    let mut scans = Vec::new();
    for file in files {
        let bytes = read_capped(file).await?;
        let report = trivy::parse_report(&bytes)
            .map_err(|e| Error::Invalid(format!("--from {}: {e}", file.display())))?;
        let digest = hex(&bytes);
        let path = format!("image/scans/imported-{}.json", &digest[..16]);
        store_once(case, &path, &format!("trivy report read from {}", file.display()), bytes).await?;
        for artifact in report.artifacts {
            let target = ScanTarget {
                reference: artifact.name.clone(),
                digest: artifact.image_id.as_ref().map(ToString::to_string),
                pods: artifact
                    .resource
                    .iter()
                    .map(|w| format!("{}/{}", w.namespace.as_deref().unwrap_or(""), w.name))
                    .collect(),
                like: false,
            };
            scans.push(ImageScan {
                target,
                summary: Some(artifact),
                report: Some(path.clone()),
                error: None,
            });
        }
    }
    record(
        case,
        JournalRecord::new(actor, "image.scan.import")
            .parameters(json!({"files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>()}))
            .result(json!({"artifacts": scans.len()})),
    )
    .await?;
    Ok(order(scans))
}

/// Worst first: critical, then high vulnerabilities, then secrets.
fn order(mut scans: Vec<ImageScan>) -> Vec<ImageScan> {
    let weight = |s: &ImageScan| {
        s.summary.as_ref().map_or((0, 0, 0), |a| {
            (a.vulnerabilities.critical, a.vulnerabilities.high, a.secrets.len() as u64)
        })
    };
    scans.sort_by(|a, b| weight(b).cmp(&weight(a)).then(a.target.reference.cmp(&b.target.reference)));
    scans
}

async fn read_capped(file: &Path) -> Result<Vec<u8>> {
    let fail = |why: String| Error::Invalid(format!("--from {}: {why}", file.display()));
    let handle = tokio::fs::File::open(file).await.map_err(|e| fail(format!("cannot open it: {e}")))?;
    let mut bytes = Vec::new();
    handle
        .take(REPORT_LIMIT + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| fail(format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > REPORT_LIMIT {
        return Err(fail(format!("larger than {REPORT_LIMIT} bytes: not read")));
    }
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Keep trivy's report in the case and summarise it.
async fn keep(case: &Case, target: &ScanTarget, bytes: Vec<u8>, how: &str) -> ImageScan {
    let name = target
        .digest
        .as_deref()
        .map(|d| d.trim_start_matches("sha256:").to_string())
        .unwrap_or_else(|| hex(target.reference.as_bytes()));
    let path = format!("image/scans/{}.json", &name[..name.len().min(64)]);
    let summary = trivy::parse_report(&bytes).map(|r| r.artifacts.into_iter().next());
    let stored = store_once(case, &path, &format!("{how} {}", target.reference), bytes).await;
    let target = target.clone();
    match (summary, stored) {
        (Ok(Some(summary)), Ok(())) => {
            ImageScan { target, summary: Some(summary), report: Some(path), error: None }
        }
        (Ok(None), _) => ImageScan {
            target,
            summary: None,
            report: None,
            error: Some("trivy reported no artifact".into()),
        },
        (Err(error), _) => {
            ImageScan { target, summary: None, report: None, error: Some(format!("trivy's report: {error}")) }
        }
        (Ok(Some(summary)), Err(error)) => ImageScan {
            target,
            summary: Some(summary),
            report: None,
            error: Some(format!("not kept in the case: {error}")),
        },
    }
}

/// `trivy image` of one reference: its JSON report, or why there is none.
async fn run_trivy(options: &TrivyOptions, reference: &str) -> std::result::Result<Vec<u8>, String> {
    let mut child = tokio::process::Command::new(&options.program)
        .args(["image", "--quiet", "--format", "json", "--scanners", &options.scanners])
        .args(["--skip-version-check", "--disable-telemetry", "--image-src", "remote"])
        .arg("--timeout")
        .arg(format!("{}s", options.timeout.as_secs().max(1)))
        .arg(reference)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{} cannot be started: {e}", options.program.display()))?;
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("trivy's output cannot be read".into());
    };
    let read = async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        // stderr is drained to the end (a full pipe would stall trivy), its start kept.
        let errors = async {
            (&mut stderr).take(STDERR_KEPT).read_to_end(&mut err).await?;
            tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await
        };
        let mut report = (&mut stdout).take(REPORT_LIMIT + 1);
        let (a, b) = tokio::join!(report.read_to_end(&mut out), errors);
        a.and(b).map(|_| (out, err))
    };
    // trivy's own timeout ends the scan; this one ends a trivy that hangs anyway.
    let waited = tokio::time::timeout(options.timeout + Duration::from_secs(30), async {
        let output = read.await;
        if output.as_ref().is_ok_and(|(out, _)| out.len() as u64 > REPORT_LIMIT) {
            // It would block writing the rest: the report is refused anyway.
            let _ = child.start_kill();
        }
        let status = child.wait().await;
        (output, status)
    })
    .await;
    let ((out, err), status) = match waited {
        Ok((Ok(output), Ok(status))) => (output, status),
        Ok((Err(e), _)) | Ok((_, Err(e))) => return Err(format!("trivy: {e}")),
        Err(_) => return Err(format!("trivy did not finish within {}s", options.timeout.as_secs() + 30)),
    };
    if out.len() as u64 > REPORT_LIMIT {
        return Err(format!("trivy's report is larger than {REPORT_LIMIT} bytes: not kept"));
    }
    if !status.success() {
        let text = String::from_utf8_lossy(&err);
        let last: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).rev().take(3).collect();
        let last: Vec<&str> = last.into_iter().rev().collect();
        return Err(format!("trivy exited with {status}: {}", last.join(" / ")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use kir_cluster::images::{ContainerImage, ContainerKind};

    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn pod(name: &str, images: &[(&str, Option<&str>)]) -> PodImages {
        PodImages {
            namespace: "shop".into(),
            name: name.into(),
            uid: name.into(),
            owners: Vec::new(),
            node: None,
            service_account: None,
            phase: Some("Running".into()),
            mirror: false,
            terminating: false,
            containers: images
                .iter()
                .map(|(image, id)| ContainerImage {
                    kind: ContainerKind::Container,
                    name: "c".into(),
                    image: image.to_string(),
                    image_id: id.map(str::to_string),
                })
                .collect(),
        }
    }

    #[test]
    fn images_are_counted_once_by_the_digest_that_runs() {
        let id = format!("docker.io/library/nginx@{A}");
        let pods = [
            pod("a", &[("nginx:1.27", Some(&id))]),
            pod("b", &[("docker.io/library/nginx:1.27", Some(&id))]),
            pod("c", &[("ghcr.io/team/api:2", None), ("::", None)]),
        ];
        let targets = targets(&pods, None);
        let refs: Vec<_> = targets.iter().map(|t| (t.reference.as_str(), t.pods.len())).collect();
        assert_eq!(refs, [(format!("docker.io/library/nginx@{A}").as_str(), 2), ("ghcr.io/team/api:2", 1)]);
    }

    #[test]
    fn images_like_the_bad_one_go_first() {
        let pods = [
            pod("a", &[("nginx:1.27", None)]),
            pod("b", &[("nginx:1.27", None)]),
            pod("c", &[("ghcr.io/team/worker:1", None)]),
            pod("d", &[("ghcr.io/other/tool:1", None)]),
        ];
        let like = Pattern::parse("ghcr.io/team/api:2").unwrap();
        let order: Vec<_> = targets(&pods, Some(&like)).into_iter().map(|t| (t.reference, t.like)).collect();
        assert_eq!(
            order,
            [
                ("ghcr.io/team/worker:1".to_string(), true),
                ("docker.io/library/nginx:1.27".to_string(), false),
                ("ghcr.io/other/tool:1".to_string(), false),
            ]
        );
    }
}
