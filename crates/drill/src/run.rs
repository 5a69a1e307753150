//! Running one scenario: stage, attack, detect, respond, check, clean up. Detection and
//! response are kir's own commands, run as a responder types them; every outcome is then read
//! back from the cluster by the drill itself, not taken from what the commands printed.

use std::{
    ffi::OsString,
    future::Future,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use kir_cluster::{Cluster, exec::ExecLimits};
use serde_json::{Value, json};

use crate::{
    scenario::{self, ExpectedFinding, MINER, Scenario},
    scorecard::ScenarioScore,
};

/// The namespace whose label marks a cluster as one drills may run on.
pub const CONSENT_NAMESPACE: &str = "kir-drills";
/// The label (`key`, `value`) on [`CONSENT_NAMESPACE`] that gives consent.
pub const CONSENT_LABEL: (&str, &str) = ("ir.kir.dev/drills", "allowed");

/// How long workloads get to run, and RBAC changes to reach the authorizer.
const SETTLE: Duration = Duration::from_secs(60);
/// How long detection may take to see the attack in the audit log.
const DETECT_WITHIN: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error(
        "the cluster at {server} is not marked for drills: a drill stages real attacks (an exec into a pod, \
         a leaked token bound to cluster-admin, a bad image rolled out). Mark it with `kubectl create namespace \
         {CONSENT_NAMESPACE} && kubectl label namespace {CONSENT_NAMESPACE} {}={}`, or pass --i-own-this-cluster",
        CONSENT_LABEL.0,
        CONSENT_LABEL.1
    )]
    NoConsent { server: String },
    #[error(transparent)]
    Cluster(#[from] kir_cluster::Error),
}

/// How the cluster consented to drills: the owner's flag or the consent namespace's label.
pub async fn consent(cluster: &Cluster, owner_says_so: bool) -> Result<String, DrillError> {
    if owner_says_so {
        return Ok("--i-own-this-cluster".to_string());
    }
    let labels = cluster.namespace_labels(CONSENT_NAMESPACE).await?;
    match labels.and_then(|l| l.get(CONSENT_LABEL.0).cloned()) {
        Some(value) if value == CONSENT_LABEL.1 => {
            Ok(format!("namespace {CONSENT_NAMESPACE} labelled {}={}", CONSENT_LABEL.0, CONSENT_LABEL.1))
        }
        _ => Err(DrillError::NoConsent { server: cluster.target().server.clone() }),
    }
}

/// kir itself, as the drill runs it for each detection and response step: the same binary,
/// with the connection flags the drill was given.
#[derive(Debug, Clone)]
pub struct Kir {
    pub exe: PathBuf,
    pub connection: Vec<OsString>,
}

/// What one kir command did.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Ran {
    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.stdout).ok()
    }

    /// The last line kir wrote on stderr: its error, for a check's detail.
    fn said(&self) -> String {
        let last = self.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        format!("exit {}: {}", self.code, last.chars().take(400).collect::<String>())
    }
}

impl Kir {
    async fn run(&self, args: &[&str]) -> Ran {
        let started = Instant::now();
        let output = tokio::process::Command::new(&self.exe)
            .args(&self.connection)
            .args(args)
            // The drill names every case itself: an inherited KIR_CASE would mix them.
            .env_remove("KIR_CASE")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await;
        match output {
            Ok(out) => Ran {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                took: started.elapsed(),
            },
            Err(e) => Ran {
                code: -1,
                stdout: String::new(),
                stderr: format!("cannot run {}: {e}", self.exe.display()),
                took: started.elapsed(),
            },
        }
    }
}

/// One drill: the cluster, kir, and where cases go.
pub struct Drill<'a> {
    pub cluster: &'a Cluster,
    pub kir: Kir,
    pub id: String,
    /// The drill's folder: each scenario's case goes into `cases/<scenario>` inside it.
    pub folder: PathBuf,
    /// The API server's audit log, for detection (without it, detection is a failed check).
    pub audit_log: Option<PathBuf>,
    /// Leave what was staged in place (for a look around afterwards).
    pub keep: bool,
    pub progress: &'a (dyn Fn(&str) + Sync),
}

impl Drill<'_> {
    /// Run `scenario` from staging to clean-up. Never fails: what went wrong is a failed check.
    pub async fn run(&self, scenario: Scenario) -> ScenarioScore {
        let staged = scenario.stage(&self.id);
        let mut score = ScenarioScore {
            scenario: scenario.name().to_string(),
            namespace: staged.namespace.clone(),
            ..Default::default()
        };
        let case = self.folder.join("cases").join(scenario.name());
        self.say(scenario, "staging");
        if self.stage(&staged.objects, &mut score).await {
            match scenario {
                Scenario::CompromisedPod => self.compromised_pod(&staged.namespace, &case, &mut score).await,
                Scenario::StolenCredentials => {
                    self.stolen_credentials(&staged.namespace, &case, &mut score).await
                }
                Scenario::MaliciousImage => self.malicious_image(&staged.namespace, &case, &mut score).await,
            }
            if case.join("manifest.json").exists() {
                self.verify(&case, &mut score).await;
                self.report(scenario, &case, &mut score).await;
            }
        }
        if self.keep {
            score.check("cleaned up", true, format!("kept as asked: namespace {}", staged.namespace));
        } else {
            self.say(scenario, "cleaning up");
            self.clean_up(scenario, &staged, &mut score).await;
        }
        score
    }

    fn say(&self, scenario: Scenario, what: &str) {
        (self.progress)(&format!("{}: {what}", scenario.name()));
    }

    async fn stage(&self, objects: &[Value], score: &mut ScenarioScore) -> bool {
        for object in objects {
            if let Err(e) = self.cluster.create_object(object).await {
                let what =
                    format!("{} {}", object["kind"].as_str().unwrap_or(""), object["metadata"]["name"]);
                return score.check("staged", false, format!("cannot create {what}: {e}"));
            }
        }
        score.check("staged", true, format!("{} objects", objects.len()))
    }

    async fn compromised_pod(&self, ns: &str, case: &Path, score: &mut ScenarioScore) {
        let selector = format!("app={MINER}");
        let Some(suspect) = self.running(ns, &selector, 1, None).await.and_then(|p| p.into_iter().next())
        else {
            score.check("workload running", false, format!("no pod of {ns}/{MINER} ran within {SETTLE:?}"));
            return;
        };
        self.say(Scenario::CompromisedPod, "attacking: the intruder execs into the miner to read its token");
        let attacked = async {
            let token = self.cluster.request_token(ns, scenario::INTRUDER, 600).await?;
            let intruder = self.cluster.with_token(&token)?;
            let limits =
                ExecLimits { max_stdout: 64 << 10, max_stderr: 4096, timeout: Duration::from_secs(20) };
            let command = scenario::intruder_command();
            let (intruder, suspect, command) = (&intruder, &suspect, &command);
            until_allowed(|| async move {
                intruder.exec_into(ns, suspect, MINER, command, &mut std::io::sink(), limits).await
            })
            .await
        };
        if let Err(e) = attacked.await {
            score.check("attacked", false, format!("the intruder's exec failed: {e}"));
            return;
        }
        let attack_end = Instant::now();
        let expected = Scenario::CompromisedPod.expected_finding(&self.id).expect("an audit finding");
        let object = format!("{ns}/{suspect}");
        self.detect(Scenario::CompromisedPod, &expected, Some(&object), attack_end, score).await;

        self.say(Scenario::CompromisedPod, "responding: kir respond compromised-pod --replace");
        let case_arg = case.to_string_lossy();
        let respond_start = attack_end.elapsed();
        let ran = self
            .kir
            .run(&[
                "respond",
                "compromised-pod",
                &object,
                "--replace",
                "--yes",
                "-o",
                "json",
                "--new-case",
                "--case",
                &case_arg,
            ])
            .await;
        score.case = Some(case.display().to_string());
        let Some(report) = ran.json() else {
            score.check("isolated", false, format!("kir respond printed no report ({})", ran.said()));
            return;
        };
        let containment = report["containment"].as_str().unwrap_or_default().to_string();
        match report["isolatedAfterMs"].as_u64() {
            Some(ms) if ran.code == 0 => {
                score.time_to_contain_ms = Some(respond_start.as_millis() as u64 + ms);
                score.check("isolated", true, containment);
            }
            _ => {
                score.check("isolated", false, format!("{containment} ({})", ran.said()));
            }
        }
        let gone = match self.cluster.pod(ns, &suspect).await {
            Err(kir_cluster::Error::NotFound { .. }) => true,
            Ok((pod, _)) => pod.metadata.deletion_timestamp.is_some(),
            Err(_) => false,
        };
        score.check(
            "suspect removed",
            gone && report["replace"]["deleted"] == true,
            if gone {
                "deleted once its evidence was in the case".to_string()
            } else {
                format!("{object} still exists")
            },
        );
        match self.running(ns, &selector, 1, Some(&suspect)).await.and_then(|names| names.into_iter().next())
        {
            Some(clean) => {
                score.time_to_recover_ms = Some(attack_end.elapsed().as_millis() as u64);
                score.check("recovered", true, format!("{ns}/{clean} runs in its place"));
            }
            None => {
                score.check(
                    "recovered",
                    false,
                    format!("no clean pod of {ns}/{MINER} ran within {SETTLE:?}"),
                );
            }
        }
    }

    async fn stolen_credentials(&self, ns: &str, case: &Path, score: &mut ScenarioScore) {
        let scenario = Scenario::StolenCredentials;
        let token = match self.cluster.request_token(ns, scenario::LEAKY, 3600).await {
            Ok(token) => token,
            Err(e) => {
                score.check("attacked", false, format!("no token for the CI account: {e}"));
                return;
            }
        };
        let token_file = self.folder.join(format!("{}-leaked-token", scenario.name()));
        if let Err(e) = write_private(&token_file, &token) {
            score.check("attacked", false, format!("cannot write {}: {e}", token_file.display()));
            return;
        }
        self.say(scenario, "attacking: the leaked token reads secrets and binds cluster-admin");
        let backdoor = scenario::backdoor_binding(&self.id, ns);
        let attacked = async {
            let thief = self.cluster.with_token(&token)?;
            let listed = until_allowed(|| thief.list_in::<k8s_openapi::api::core::v1::Secret>(ns)).await?;
            for secret in listed.iter().filter_map(|s| s.metadata.name.as_deref()) {
                thief.get_typed::<k8s_openapi::api::core::v1::Secret>(ns, secret).await?;
            }
            until_allowed(|| thief.create_object(&backdoor)).await
        };
        if let Err(e) = attacked.await {
            score.check("attacked", false, format!("the thief's requests failed: {e}"));
            let _ = std::fs::remove_file(&token_file);
            return;
        }
        let attack_end = Instant::now();
        let expected = scenario.expected_finding(&self.id).expect("an audit finding");
        self.detect(scenario, &expected, None, attack_end, score).await;

        self.say(scenario, "responding: kir respond stolen-credentials --token-file");
        let mut args = vec!["respond", "stolen-credentials", "--token-file"];
        let token_arg = token_file.to_string_lossy().into_owned();
        let case_arg = case.to_string_lossy().into_owned();
        let log_arg = self.audit_log.as_ref().map(|p| p.to_string_lossy().into_owned());
        args.push(&token_arg);
        if let Some(log) = &log_arg {
            args.extend(["--audit-log", log]);
        }
        args.extend(["--wait", "60s", "--yes", "-o", "json", "--new-case", "--case", &case_arg]);
        let respond_start = attack_end.elapsed();
        let ran = self.kir.run(&args).await;
        score.case = Some(case.display().to_string());
        let report = ran.json().unwrap_or(Value::Null);
        let claimed = report["dead"] == true;
        let verdict = self.cluster.review_token(&token, &[]).await;
        let _ = std::fs::remove_file(&token_file);
        match verdict {
            Ok(v) if !v.authenticated && claimed => {
                score.time_to_contain_ms = Some((respond_start + ran.took).as_millis() as u64);
                let why = v.error.unwrap_or_else(|| "refused".to_string());
                score.check("credential dead", true, format!("TokenReview refuses the leaked token: {why}"));
            }
            Ok(v) if v.authenticated => {
                score.check(
                    "credential dead",
                    false,
                    format!("TokenReview still accepts the leaked token ({})", ran.said()),
                );
            }
            Ok(_) => {
                score.check(
                    "credential dead",
                    false,
                    format!("the token is refused but kir did not prove it ({})", ran.said()),
                );
            }
            Err(e) => {
                score.check("credential dead", false, format!("cannot ask TokenReview: {e}"));
            }
        }
        let activity =
            std::fs::read_to_string(case.join("evidence/credentials/activity.json")).unwrap_or_default();
        let backdoor_name = backdoor["metadata"]["name"].as_str().unwrap_or_default();
        if self.audit_log.is_some() {
            score.check(
                "persistence in the evidence",
                activity.contains(backdoor_name),
                format!("the cluster-admin binding {backdoor_name} made with the token is {}in the case's activity", if activity.contains(backdoor_name) { "" } else { "NOT " }),
            );
        }
        // Recovered: the CI account works again, with a token issued after the response.
        match self.cluster.request_token(ns, scenario::LEAKY, 600).await {
            Ok(fresh) => match self.cluster.review_token(&fresh, &[]).await {
                Ok(v) if v.authenticated => {
                    score.time_to_recover_ms = Some(attack_end.elapsed().as_millis() as u64);
                    score.check("recovered", true, "a token issued now for the CI account is accepted");
                }
                Ok(v) => {
                    score.check(
                        "recovered",
                        false,
                        format!("a fresh token is refused: {}", v.error.unwrap_or_default()),
                    );
                }
                Err(e) => {
                    score.check("recovered", false, format!("cannot ask TokenReview: {e}"));
                }
            },
            Err(e) => {
                score.check("recovered", false, format!("no fresh token for the CI account: {e}"));
            }
        }
    }

    async fn malicious_image(&self, ns: &str, case: &Path, score: &mut ScenarioScore) {
        let scenario = Scenario::MaliciousImage;
        if self.running(ns, "app=web", 2, None).await.is_none() {
            score.check(
                "workload running",
                false,
                format!("the 2 pods of {ns}/web did not run within {SETTLE:?}"),
            );
            return;
        }
        // The rollout is the attack: from now on the image runs.
        let attack_end = Instant::now();
        let image = scenario::bad_image(&self.id);
        self.say(scenario, "detecting: kir image find");
        let found = self.kir.run(&["image", "find", &image, "--no-resolve", "-n", ns, "-o", "json"]).await;
        let kinds: Vec<String> = found
            .json()
            .and_then(|r| r["templates"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|t| format!("{} {}", t["kind"].as_str().unwrap_or(""), t["name"].as_str().unwrap_or("")))
            .collect();
        let every = ["Deployment web", "DaemonSet log-agent", "CronJob nightly-report"];
        if every.iter().all(|k| kinds.iter().any(|f| f == k)) {
            score.time_to_detect_ms = Some(attack_end.elapsed().as_millis() as u64);
            score.check("detected", true, format!("kir image find names {}", kinds.join(", ")));
        } else {
            score.check(
                "detected",
                false,
                format!(
                    "kir image find named [{}], not all of {every:?} ({})",
                    kinds.join(", "),
                    found.said()
                ),
            );
        }

        self.say(scenario, "responding: kir respond malicious-image --scale-to-zero");
        let case_arg = case.to_string_lossy();
        let respond_start = attack_end.elapsed();
        let mut args =
            vec!["respond", "malicious-image", &image, "--no-resolve", "--scale-to-zero", "-n", ns];
        let log_arg = self.audit_log.as_ref().map(|p| p.to_string_lossy().into_owned());
        if let Some(log) = &log_arg {
            args.extend(["--audit-log", log]);
        }
        args.extend(["--yes", "-o", "json", "--new-case", "--case", &case_arg]);
        let ran = self.kir.run(&args).await;
        score.case = Some(case.display().to_string());
        let claimed = ran.json().is_some_and(|r| r["contained"] == true);
        // The block, read back by asking admission about the image and about a clean one.
        let pod = |image: &str| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "drill-probe", "namespace": ns},
                   "spec": {"containers": [{"name": "probe", "image": image}]}})
        };
        let denied = self.cluster.dry_run_create(&pod(&image)).await.is_err();
        let control = self.cluster.dry_run_create(&pod("registry.invalid/kir-drill-control/app:1")).await;
        let blocked = denied && control.is_ok();
        let still = self.kir.run(&["image", "find", &image, "--no-resolve", "-n", ns, "-o", "json"]).await;
        let running = still.json().and_then(|r| r["pods"].as_array().map(Vec::len));
        if claimed && blocked && running == Some(0) {
            score.time_to_contain_ms = Some((respond_start + ran.took).as_millis() as u64);
        }
        score.check(
            "blocked",
            blocked,
            match (denied, control) {
                (true, Ok(_)) => "admission denies a pod with the image and admits a clean one".to_string(),
                (false, _) => "admission still admits a pod with the image".to_string(),
                (true, Err(e)) => format!("admission denies even a clean image: {e}"),
            },
        );
        score.check(
            "image gone",
            claimed && running == Some(0),
            match running {
                Some(0) if claimed => "no pod runs the image; kir proved it".to_string(),
                Some(0) => format!("no pod runs the image, but kir did not say contained ({})", ran.said()),
                Some(n) => format!("{n} pods still run the image"),
                None => format!("cannot search again ({})", still.said()),
            },
        );
        match self.running(ns, "app=api", 1, None).await {
            Some(_) => {
                score.time_to_recover_ms = Some(attack_end.elapsed().as_millis() as u64);
                score.check("clean workload untouched", true, format!("{ns}/api keeps running"));
            }
            None => {
                score.check("clean workload untouched", false, format!("{ns}/api does not run"));
            }
        }
    }

    /// Run detection over the audit log until it names the attacker (or time runs out).
    async fn detect(
        &self,
        scenario: Scenario,
        expected: &ExpectedFinding,
        object: Option<&str>,
        attack_end: Instant,
        score: &mut ScenarioScore,
    ) {
        let Some(log) = &self.audit_log else {
            score.check("detected", false, "no audit log given (--audit-log): detection was not exercised");
            return;
        };
        self.say(scenario, "detecting: kir detect audit");
        let log = log.to_string_lossy();
        let mut last = String::new();
        while attack_end.elapsed() < DETECT_WITHIN {
            let ran = self.kir.run(&["detect", "audit", &log, "-o", "json"]).await;
            let found = ran.stdout.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|f| {
                f["rule"]["id"] == expected.rule
                    && f["user"] == expected.user.as_str()
                    && object
                        .is_none_or(|o| f["objects"].as_array().is_some_and(|a| a.iter().any(|v| v == o)))
            });
            if let Some(finding) = found {
                score.time_to_detect_ms = Some(attack_end.elapsed().as_millis() as u64);
                let suggested = finding["suggestedResponse"].as_str().unwrap_or("none");
                score.check(
                    "detected",
                    true,
                    format!("{} names {}; suggested: {suggested}", expected.rule, expected.user),
                );
                return;
            }
            last = ran.said();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        score.check(
            "detected",
            false,
            format!(
                "no {} finding for {} within {DETECT_WITHIN:?} (last run: {last})",
                expected.rule, expected.user
            ),
        );
    }

    async fn verify(&self, case: &Path, score: &mut ScenarioScore) {
        let ran = self.kir.run(&["case", "verify", &case.to_string_lossy(), "-o", "json"]).await;
        let report = ran.json().unwrap_or(Value::Null);
        score.evidence_items = report["artifacts"].as_u64();
        let intact = report["intact"] == true;
        score.check(
            "evidence verifies",
            intact,
            if intact {
                format!("{} artifacts, {} journal entries", report["artifacts"], report["journalEntries"])
            } else {
                format!("kir case verify: {}", ran.said())
            },
        );
    }

    /// The post-incident report of the case, as the responder would write it next, with
    /// containment read back from the cluster while the drill's objects still stand.
    async fn report(&self, scenario: Scenario, case: &Path, score: &mut ScenarioScore) {
        let out = self.folder.join("reports").join(scenario.name());
        let mut out_arg = out.to_string_lossy().into_owned();
        // A trailing separator asks for a folder: report.md, report.json, report.html.
        out_arg.push(std::path::MAIN_SEPARATOR);
        let ran = self.kir.run(&["report", &case.to_string_lossy(), "--out", &out_arg]).await;
        let html = out.join("report.html");
        let written = ran.code == 0 && html.is_file();
        score.check(
            "report",
            written,
            if written { format!("{}", html.display()) } else { format!("kir report: {}", ran.said()) },
        );
    }

    async fn clean_up(&self, scenario: Scenario, staged: &scenario::Staged, score: &mut ScenarioScore) {
        let mut left = Vec::new();
        if scenario == Scenario::MaliciousImage && score.case.is_some() {
            // The admission block is cluster-wide: lifted by undo, the way a responder would.
            let case = score.case.clone().unwrap_or_default();
            let ran = self.kir.run(&["undo", &case, "--yes"]).await;
            if ran.code != 0 {
                left.push(format!("the image block (kir undo: {})", ran.said()));
            }
        }
        let cluster_wide: Vec<Value> = staged
            .objects
            .iter()
            .filter(|o| o["kind"].as_str().is_some_and(|k| k.starts_with("Cluster")))
            .cloned()
            .chain(
                (scenario == Scenario::StolenCredentials)
                    .then(|| scenario::backdoor_binding(&self.id, &staged.namespace)),
            )
            .collect();
        for object in cluster_wide {
            let kind = object["kind"].as_str().unwrap_or_default();
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            if let Err(e) = self.delete_cluster_object(kind, name).await {
                left.push(format!("{kind} {name} ({e})"));
            }
        }
        if let Err(e) = self.cluster.delete_namespace(&staged.namespace).await {
            left.push(format!("namespace {} ({e})", staged.namespace));
        }
        if left.is_empty() {
            score.check(
                "cleaned up",
                true,
                format!("namespace {} and the drill's cluster-wide objects deleted", staged.namespace),
            );
        } else {
            score.check("cleaned up", false, format!("left behind: {}", left.join("; ")));
        }
    }

    async fn delete_cluster_object(&self, kind: &str, name: &str) -> Result<(), kir_cluster::Error> {
        let api_version = "rbac.authorization.k8s.io/v1";
        let object = match self.cluster.get_object(api_version, kind, None, name).await {
            Ok(fetched) => fetched.value,
            Err(kir_cluster::Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let uid = object["metadata"]["uid"].as_str().unwrap_or_default();
        self.cluster.delete_object(api_version, kind, None, name, uid).await.map(|_| ())
    }

    /// At least `count` running pods of `selector` other than `except`, waiting up to
    /// [`SETTLE`].
    async fn running(
        &self,
        ns: &str,
        selector: &str,
        count: usize,
        except: Option<&str>,
    ) -> Option<Vec<String>> {
        let deadline = Instant::now() + SETTLE;
        while Instant::now() < deadline {
            if let Ok(mut names) = self.cluster.running_pod_names(ns, selector).await {
                names.retain(|n| Some(n.as_str()) != except);
                if names.len() >= count {
                    return Some(names);
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        None
    }
}

/// Retry a request the API server forbids for a few seconds: RBAC objects just created reach
/// the authorizer's cache a moment later.
async fn until_allowed<T, F, Fut>(mut request: F) -> Result<T, kir_cluster::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kir_cluster::Error>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match request().await {
            Err(kir_cluster::Error::Forbidden { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            outcome => return outcome,
        }
    }
}

/// A file only its owner can read: the leaked token is live until the response kills it.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}
