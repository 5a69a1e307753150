//! The shared cluster of the integration tests: the real control plane of `testbed/`.
//!
//! `.ci/run` (and `scripts/test`) start one testbed and pass its kubeconfig in
//! `KIR_TEST_KUBECONFIG`. Without it, the first test that needs a cluster starts a testbed of
//! its own for this test binary and stops it when the binary exits. A testbed that cannot start
//! fails the tests: there is no silent skip.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, Stdio},
    sync::{Mutex, OnceLock},
};

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Client, Config,
    api::{Api, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};

pub struct Testbed {
    pub kubeconfig: PathBuf,
    pub audit_log: PathBuf,
}

static TESTBED: OnceLock<Testbed> = OnceLock::new();
/// The state directory of a testbed this binary started, to stop at exit.
static OWNED_STATE: Mutex<Option<PathBuf>> = Mutex::new(None);

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The testbed, started on first use.
pub fn testbed() -> &'static Testbed {
    TESTBED.get_or_init(|| {
        let kubeconfig = match std::env::var_os("KIR_TEST_KUBECONFIG") {
            Some(path) => PathBuf::from(path),
            None => start_own(),
        };
        Testbed::at(kubeconfig)
    })
}

fn start_own() -> PathBuf {
    let state = std::env::temp_dir().join(format!("kir-test-testbed-{}", std::process::id()));
    *OWNED_STATE.lock().unwrap() = Some(state.clone());
    // SAFETY: registering a plain extern "C" function with no captured state.
    unsafe { libc::atexit(stop_own) };
    up(&state)
}

/// `testbed/up` into `state`; the kubeconfig it printed.
fn up(state: &Path) -> PathBuf {
    let output = Command::new(repo_root().join("testbed/up"))
        .env("KIR_TESTBED_STATE", state)
        .env("KIR_TESTBED_REAL_NODE", "1")
        .output()
        .expect("testbed/up can be run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the testbed did not start; tests need it (never skipped):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.trim();
    PathBuf::from(
        line.strip_prefix("export KUBECONFIG=")
            .unwrap_or_else(|| panic!("unexpected testbed/up output {line:?}")),
    )
}

pub fn down(state: &Path) {
    let _ = Command::new(repo_root().join("testbed/down")).env("KIR_TESTBED_STATE", state).output();
}

extern "C" fn stop_own() {
    if let Some(state) = OWNED_STATE.lock().ok().and_then(|mut s| s.take()) {
        down(&state);
    }
}

/// The image of kir's node-side helper, made from the kir under test; imported once.
static HELPER_IMAGE: OnceLock<()> = OnceLock::new();

impl Testbed {
    /// The state directory `testbed/up` wrote the kubeconfig into.
    pub fn state(&self) -> &Path {
        self.kubeconfig.parent().expect("the kubeconfig lies in the testbed's state directory")
    }

    /// The testbed's real node (kubelet, containerd, runc): its name.
    pub fn real_node(&self) -> String {
        let file = self.state().join("real-node");
        std::fs::read_to_string(&file)
            .unwrap_or_else(|_| {
                panic!(
                    "the testbed has no real node ({} is missing): start it with KIR_TESTBED_REAL_NODE=1 testbed/up \
                     (scripts/test does); these tests are never skipped",
                    file.display()
                )
            })
            .trim()
            .to_string()
    }

    /// `kir-testbed/kir:dev`, the helper image holding the kir binary under test, imported into
    /// the real node's containerd on first use.
    pub fn helper_image(&self) -> &'static str {
        HELPER_IMAGE.get_or_init(|| {
            self.real_node();
            let output = Command::new(repo_root().join("testbed/real-node/import-kir"))
                .arg(env!("CARGO_BIN_EXE_kir"))
                .env("KIR_TESTBED_STATE", self.state())
                .output()
                .expect("testbed/real-node/import-kir can be run");
            assert!(
                output.status.success(),
                "the helper image could not be imported: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        });
        "kir-testbed/kir:dev"
    }
}

/// A testbed of one test's own, for what would disturb the tests that share [`testbed`]
/// (restarting the API server). Stopped when dropped.
pub struct OwnTestbed {
    pub testbed: Testbed,
    state: PathBuf,
}

impl OwnTestbed {
    pub fn start(purpose: &str) -> OwnTestbed {
        let state = std::env::temp_dir().join(format!("kir-test-{purpose}-{}", std::process::id()));
        let testbed = Testbed::at(up(&state));
        OwnTestbed { testbed, state }
    }

    /// The state directory, for the testbed's own scripts.
    pub fn state(&self) -> &Path {
        &self.state
    }

    /// `testbed/restart COMPONENT --downtime SECONDS`: killed as in a crash, down for that
    /// long, started again. Returns at once; see [`Restart`].
    pub fn restart(&self, component: &str, downtime_seconds: u32) -> Restart {
        let mut child = Command::new(repo_root().join("testbed/restart"))
            .args([component, "--downtime", &downtime_seconds.to_string()])
            .env("KIR_TESTBED_STATE", &self.state)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("testbed/restart can be run");
        let lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        Restart { child, lines }
    }
}

/// A component restart in progress.
pub struct Restart {
    child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
}

impl Restart {
    /// Block until the component is down.
    pub fn wait_down(&mut self) {
        let line = self.lines.next().and_then(Result::ok);
        assert_eq!(line.as_deref(), Some("down"), "the component was not taken down: {}", self.stderr());
    }

    /// Block until the component is back.
    pub fn wait_up(mut self) {
        let line = self.lines.next().and_then(Result::ok);
        let status = self.child.wait().expect("testbed/restart ends");
        assert!(
            status.success() && line.as_deref() == Some("up"),
            "the component did not come back: {}",
            self.stderr()
        );
    }

    fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(stderr) = self.child.stderr.as_mut() {
            let _ = std::io::Read::read_to_string(stderr, &mut text);
        }
        text
    }
}

impl Drop for OwnTestbed {
    fn drop(&mut self) {
        down(&self.state);
    }
}

impl Testbed {
    fn at(kubeconfig: PathBuf) -> Testbed {
        let state = kubeconfig.parent().expect("kubeconfig lives in the testbed state directory");
        let audit_log = std::fs::read_to_string(state.join("audit-log-path")).unwrap_or_else(|e| {
            panic!("{}/audit-log-path is unreadable ({e}): is this a testbed?", state.display())
        });
        Testbed { kubeconfig, audit_log: PathBuf::from(audit_log.trim()) }
    }

    /// A kube client as the testbed's admin, for setting up and checking test scenes.
    pub async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("testbed kubeconfig parses");
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("testbed kubeconfig resolves");
        Client::try_from(config).expect("client builds")
    }

    /// A fresh namespace for one test, so tests can run side by side.
    pub async fn namespace(&self, purpose: &str) -> String {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{purpose}-{}-{n}", std::process::id());
        let api: Api<Namespace> = Api::all(self.client().await);
        let namespace = Namespace {
            metadata: kube::api::ObjectMeta { name: Some(name.clone()), ..Default::default() },
            ..Default::default()
        };
        api.create(&PostParams::default(), &namespace).await.expect("namespace is created");
        name
    }

    /// The testbed's OCI registry, `127.0.0.1:PORT`.
    pub fn registry(&self) -> String {
        let state = self.kubeconfig.parent().expect("kubeconfig lives in the testbed state directory");
        std::fs::read_to_string(state.join("registry"))
            .expect("the testbed runs a registry")
            .trim()
            .to_string()
    }

    /// The trivy the testbed built.
    pub fn trivy(&self) -> PathBuf {
        let state = self.kubeconfig.parent().expect("kubeconfig lives in the testbed state directory");
        PathBuf::from(
            std::fs::read_to_string(state.join("trivy")).expect("the testbed names its trivy").trim(),
        )
    }

    /// `testbed/push-image REPO:TAG ARGS...`: a new image with a digest of its own, pushed to
    /// the registry; its `REGISTRY/REPO@sha256:...` reference.
    pub fn push_image(&self, repository_tag: &str, args: &[&str]) -> String {
        let state = self.kubeconfig.parent().expect("kubeconfig lives in the testbed state directory");
        let output = Command::new(repo_root().join("testbed/push-image"))
            .arg(repository_tag)
            .args(args)
            .env("KIR_TESTBED_STATE", state)
            .output()
            .expect("testbed/push-image can be run");
        assert!(
            output.status.success(),
            "push-image {repository_tag}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("a reference").trim().to_string()
    }

    /// The text of the audit log as it is now.
    pub fn audit_events(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.audit_log).expect("audit log is readable");
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}
