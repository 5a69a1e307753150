//! The command line: raw flags as clap parses them. `settings` turns them into validated values.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;
use kir_audit::{TimeSpec, credential::CredentialId};

use crate::settings::{parse_duration, parse_size};

/// Kubernetes incident response: evidence first, containment that really contains.
#[derive(Debug, Parser)]
#[command(name = "kir", version, about, long_about = None, max_term_width = 110)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes, as kubectl users expect them.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// The namespace to act in (default: the context's namespace)
    #[arg(short = 'n', long, global = true, value_name = "NS", add = ArgValueCompleter::new(crate::complete::namespaces))]
    pub namespace: Option<String>,

    /// User to impersonate, e.g. system:serviceaccount:NS:NAME
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,

    /// Group to impersonate (repeatable)
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_group: Vec<String>,

    /// Output format. Tables fit the terminal (or COLUMNS), wrapping long cells; wide never
    /// wraps. markdown, dot and svg: `prepare inventory` only
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,

    /// Incident case folder to record into (it must exist, unless --new-case is given)
    #[arg(long = "case", global = true, env = "KIR_CASE", value_name = "DIR", add = ArgValueCompleter::new(crate::complete::cases))]
    pub case: Option<PathBuf>,

    /// With --case: start the case there if the folder does not exist yet (without it, a
    /// mistyped --case is an error, not a second case)
    #[arg(long, global = true)]
    pub new_case: bool,

    /// How long one API request may take, e.g. 30s or 2m (0 = no limit)
    #[arg(long, global = true, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// No colour in help and usage errors (also when NO_COLOR is set); kir's output has none
    #[arg(long, global = true)]
    pub no_color: bool,

    /// More log output on stderr (-v, -vv, -vvv)
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Yaml,
}

/// `-o` as given: the formats of every command, and those only a document has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Table,
    Wide,
    Json,
    Yaml,
    Markdown,
    Dot,
    Svg,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check connectivity, server version, identity, permissions and cluster capabilities
    Doctor(DoctorArgs),

    /// Incident case folders: open, show, verify, export, signing keys
    #[command(subcommand)]
    Case(CaseCommand),

    /// Capture everything the API server knows about an object into the case
    #[command(subcommand)]
    Capture(CaptureCommand),

    /// Collect processes, sockets and /etc from inside a running container, without writing into it
    #[command(subcommand)]
    Snapshot(SnapshotCommand),

    /// Network-isolate one pod (and by default orphan it so a clean replacement starts)
    #[command(subcommand)]
    Isolate(IsolateCommand),

    /// Reverse `kir isolate` for one pod, from the case journal
    #[command(subcommand)]
    Release(ReleaseCommand),

    /// Delete a suspect pod once its evidence is in the case
    #[command(subcommand)]
    Replace(ReplaceCommand),

    /// Run a whole response playbook
    #[command(subcommand)]
    Respond(RespondCommand),

    /// Reverse every change recorded in a case
    Undo(UndoArgs),

    /// Stolen credentials: what a credential is, what it can reach, who can do what
    #[command(subcommand)]
    Creds(CredsCommand),

    /// Malicious image: find every pod and controller using it, block it at admission
    #[command(subcommand)]
    Image(ImageCommand),

    /// Read a container checkpoint (KEP-2008) without extracting or running anything of it
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),

    /// The collector inside kir's helper pod on a suspect's node (run by kir, not by people)
    #[command(subcommand, hide = true)]
    Node(NodeCommand),

    /// Search, summarise and review Kubernetes audit logs at grep speed
    #[command(subcommand)]
    Audit(AuditCommand),

    /// Find attacks in audit logs and in runtime-sensor events
    #[command(subcommand)]
    Detect(DetectCommand),

    /// Learn what is normal per identity, for `detect audit --baseline`
    #[command(subcommand)]
    Baseline(BaselineCommand),

    /// Before the incident: the architecture inventory, readiness of signals and tools, the responder's RBAC
    #[command(subcommand)]
    Prepare(PrepareCommand),

    /// Practise an incident on a cluster that consents: stage it, detect, respond, check, clean up, score
    #[command(
        after_help = "A drill stages a real attack in a namespace of its own (an intruder's exec into a miner pod; a\n\
                      leaked CI token that reads secrets and binds cluster-admin; a bad image in a Deployment, a\n\
                      DaemonSet and a CronJob), runs `kir detect audit` and the response playbook as a responder\n\
                      would, reads the outcome back from the cluster, cleans up and scores. It runs only on a cluster\n\
                      whose namespace kir-drills is labelled ir.kir.dev/drills=allowed, or with --i-own-this-cluster.\n\
                      Exit status: 0 every check passed, 1 a check failed or the drill could not run.\n\n\
                      Examples:\n  kir drill all --audit-log /var/log/kubernetes/audit/audit.log --i-own-this-cluster\n  \
                      kir drill compromised-pod --audit-log audit.log --out ./drills/monday -o json"
    )]
    Drill(DrillArgs),

    /// Post-incident report of a case (Markdown, JSON, HTML), or the preventive controls it calls for
    Report(ReportArgs),

    /// Print kir's version (with -o json: for scripts and case records)
    Version,

    /// Print a shell completion script
    #[command(
        after_help = "Example:\n  # load completions into the current bash session\n  source <(kir completion bash)"
    )]
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// Confirmation of commands that change the cluster.
#[derive(Debug, Args, Clone)]
pub struct ConfirmArgs {
    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Apply without asking (required when stdin is not a terminal)
    #[arg(short = 'y', long)]
    pub yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum CaptureCommand {
    /// Pod object, owner chain, events, logs (current and previous), node, service account and
    /// its permissions, selecting Services and NetworkPolicies, referenced Secret/ConfigMap
    /// metadata, image digests
    #[command(
        after_help = "Examples:\n  kir capture pod shop/web-7d9f-abcde\n  kir capture pod -n shop web-7d9f-abcde --case ./cases/INC-42"
    )]
    Pod(CapturePodArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Instead of checking: print the least-privilege RBAC for these commands (as doctor names
    /// them, comma-separated, e.g. "capture pod,isolate pod") in the namespace given with -n
    #[arg(long, value_name = "COMMANDS", value_delimiter = ',')]
    pub rbac: Vec<String>,

    /// The ServiceAccount the --rbac output creates and binds
    #[arg(long, value_name = "NAME", default_value = "kir-responder", requires = "rbac")]
    pub service_account: String,
}

/// The pods a pod command acts on: several share one case and one confirmation.
#[derive(Debug, Args, Clone)]
pub struct PodTargets {
    /// The pods: NS/NAME, NAME with -n, or pod/NAME as `kubectl get pods -o name` prints it
    #[arg(value_name = "POD", required_unless_present = "selector", add = ArgValueCompleter::new(crate::complete::pods))]
    pub pods: Vec<String>,

    /// Every pod matching this label selector (in -n's namespace, or every namespace with -A)
    #[arg(short = 'l', long, value_name = "SELECTOR", conflicts_with = "pods")]
    pub selector: Option<String>,

    /// With -l: the pods of every namespace
    #[arg(short = 'A', long, requires = "selector")]
    pub all_namespaces: bool,
}

#[derive(Debug, Args)]
pub struct CapturePodArgs {
    #[command(flatten)]
    pub targets: PodTargets,

    /// Bytes kept of each container log, e.g. 64Mi
    #[arg(long, value_name = "SIZE", default_value = "64Mi", value_parser = parse_size)]
    pub log_limit: u64,
}

#[derive(Debug, Subcommand)]
pub enum CheckpointCommand {
    /// The container, its process tree, open files and sockets, memory and changed files
    #[command(
        after_help = "Examples:\n  kir checkpoint inspect ./cases/INC-42\n  kir checkpoint inspect checkpoint-web_shop-app.tar --grep stratum+tcp://"
    )]
    Inspect(CheckpointInspectArgs),
}

#[derive(Debug, Args)]
pub struct CheckpointInspectArgs {
    /// A checkpoint archive (.tar, or .tar.zst as kir stores it), or a case folder: each
    /// checkpoint in it, its hash checked against the case's manifest
    #[arg(value_name = "ARCHIVE|CASE")]
    pub target: PathBuf,

    /// Also search the memory pages for this string: every process and address holding it
    #[arg(long, value_name = "STRING")]
    pub grep: Option<String>,
}

/// What `kir node collect` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Collectable {
    /// One JSON line per process of the container
    Processes,
    /// The container's overlay upper directory as a tar stream
    Changes,
    /// What `changes` stores and finds (deletions, what was left out), as JSON
    ChangesSummary,
    /// The readable private memory of its processes, its cgroup frozen while read
    Memory,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Keep the helper pod running until it is deleted
    Wait,
    /// Collect one container's processes, changed files or memory, to stdout
    Collect {
        #[arg(value_enum)]
        what: Collectable,
        /// The runtime's ID of the container (its cgroups are named by it)
        #[arg(long, value_name = "ID")]
        container_id: String,
        /// Where the node's root file system is mounted
        #[arg(long, value_name = "DIR", default_value = "/host")]
        host_root: PathBuf,
        /// The node's /proc (the helper shares the node's process namespace)
        #[arg(long, value_name = "DIR", default_value = "/proc")]
        proc_root: PathBuf,
        /// Bytes of memory read at most, over all the processes (memory)
        #[arg(long, value_name = "SIZE", default_value = "8Gi", value_parser = parse_size)]
        max_memory_bytes: u64,
        /// Write one zstd frame, with its checksum: memory mostly compresses, and the exec
        /// stream through the API server is the slow part
        #[arg(long)]
        zstd: bool,
    },
    /// Write one file of the node to stdout, never following a link
    Read {
        /// The file, as the helper sees the node (under /host)
        path: PathBuf,
        /// Bytes written at most
        #[arg(long, value_name = "SIZE", default_value = "16Gi", value_parser = parse_size)]
        max_bytes: u64,
        /// Write one zstd frame, with its checksum: a checkpoint's pages mostly compress, and
        /// the exec stream through the API server is the slow part
        #[arg(long)]
        zstd: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Processes, sockets and /etc of one container
    #[command(
        after_help = "Examples:\n  kir snapshot pod shop/web-7d9f-abcde\n  kir snapshot pod shop/web-7d9f-abcde -c sidecar --max-bytes 16Mi"
    )]
    Pod(SnapshotPodArgs),
}

#[derive(Debug, Args)]
pub struct SnapshotPodArgs {
    #[command(flatten)]
    pub targets: PodTargets,

    /// The container (default: the pod's default container, else the first)
    #[arg(short = 'c', long)]
    pub container: Option<String>,

    /// Bytes kept of each command's output
    #[arg(long, value_name = "SIZE", default_value = "64Mi", value_parser = parse_size)]
    pub max_bytes: u64,

    /// Time each command may take
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Where to collect: exec in the container, from its node through a helper pod, or auto
    /// (exec where the container can run it, else the node when --helper-image is known)
    #[arg(long, value_enum, default_value_t = SnapshotFrom::Auto)]
    pub from: SnapshotFrom,

    #[command(flatten)]
    pub node: NodeArgs,
}

/// Collection from the suspect's node, through a helper pod that runs kir there.
#[derive(Debug, Args, Clone)]
pub struct NodeArgs {
    /// The helper pod's image, holding kir's binary at /kir (node-side collection)
    #[arg(long, env = "KIR_HELPER_IMAGE", value_name = "IMAGE")]
    pub helper_image: Option<String>,

    /// How long the helper pod may take to start on the node
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub helper_timeout: Duration,

    /// From the node: also the memory of the container's processes (frozen while it is read)
    #[arg(long)]
    pub memory: bool,

    /// From the node: also a checkpoint of the container by its kubelet (KEP-2008)
    #[arg(long)]
    pub checkpoint: bool,

    /// Bytes kept of the memory dump, and of the checkpoint archive
    #[arg(long, value_name = "SIZE", default_value = "8Gi", value_parser = parse_size)]
    pub max_dump_bytes: u64,

    /// Time the memory dump, the checkpoint and bringing it in may each take
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub dump_timeout: Duration,
}

/// Where `snapshot pod` collects from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SnapshotFrom {
    Auto,
    Exec,
    Node,
}

#[derive(Debug, Subcommand)]
pub enum IsolateCommand {
    /// Quarantine label, deny-all NetworkPolicy (plus Cilium/AdminNetworkPolicy deny where
    /// served), orphan from its controller and Services, optionally cordon its node
    #[command(
        after_help = "Examples:\n  kir isolate pod shop/web-7d9f-abcde --dry-run\n  kir isolate pod shop/web-7d9f-abcde --yes --cordon"
    )]
    Pod(IsolatePodArgs),
}

#[derive(Debug, Args)]
pub struct IsolatePodArgs {
    #[command(flatten)]
    pub targets: PodTargets,

    #[command(flatten)]
    pub isolation: IsolationArgs,

    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args, Clone)]
pub struct IsolationArgs {
    /// Relabel the pod so its controller and Services release it (default when its controller
    /// starts replacements)
    #[arg(long, conflicts_with = "no_orphan")]
    pub orphan: bool,

    /// Keep the pod's labels: its controller and Services keep selecting it
    #[arg(long)]
    pub no_orphan: bool,

    /// Also cordon the pod's node
    #[arg(long)]
    pub cordon: bool,

    /// How long to wait for the controller's replacement to run (0 = do not wait)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub replacement_timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Delete the quarantine policies, restore labels, uncordon: every isolation change the
    /// case journal recorded for this pod
    Pod(ReleasePodArgs),
}

#[derive(Debug, Args)]
pub struct ReleasePodArgs {
    /// The pod: NS/NAME, or NAME with -n
    #[arg(add = ArgValueCompleter::new(crate::complete::pods))]
    pub pod: String,

    /// Also lift a quarantine that other cases of this pod rely on (default: kept, and those
    /// cases are named)
    #[arg(long)]
    pub release_shared: bool,

    /// Give the orphaned pod its labels back, so its controller adopts it again (and scales
    /// down, deleting its newest pod: the clean replacement). Default: it stays orphaned
    #[arg(long)]
    pub readopt: bool,

    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Subcommand)]
pub enum ReplaceCommand {
    /// Delete the pod (after `isolate --orphan`: the quarantined suspect)
    Pod(ReplacePodArgs),
}

#[derive(Debug, Args)]
pub struct ReplacePodArgs {
    #[command(flatten)]
    pub targets: PodTargets,

    /// Seconds the pod gets to stop (default: its own terminationGracePeriodSeconds)
    #[arg(long, value_name = "SECONDS")]
    pub grace_period: Option<u32>,

    /// Delete even when the case holds no capture of the pod
    #[arg(long)]
    pub without_evidence: bool,

    /// Delete even when the case records evidence of the pod as incomplete (journaled)
    #[arg(long)]
    pub accept_incomplete_evidence: bool,

    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Subcommand)]
pub enum RespondCommand {
    /// Capture, snapshot, isolate (with orphan) and, with --replace, delete the suspect
    #[command(
        after_help = "Several pods (or -l SELECTOR) share one case and one confirmation, and are answered four at a\n\
                      time; the summary gives the time by which all were isolated.\n\n\
                      Examples:\n  kir respond compromised-pod shop/web-7d9f-abcde --dry-run\n  kir respond compromised-pod shop/web-7d9f-abcde --yes --replace\n  \
                      kir respond compromised-pod -n shop -l app=web --yes\n  \
                      kubectl get pods -n shop -o name | xargs kir respond compromised-pod -n shop --yes"
    )]
    CompromisedPod(RespondPodArgs),

    /// Evidence, the kill switch that works for the credential's type, and proof that it is dead
    #[command(
        after_help = "The credential is given as to `kir creds show`. Legacy token: its Secret is deleted; token bound\n\
                      to a pod: the pod is captured and replaced; token bound to nothing: the service account is\n\
                      recreated (a new UID) and its workloads restarted; certificate or other user: its bindings are\n\
                      revoked, and what no action can kill is said. Then TokenReview and SubjectAccessReview confirm.\n\n\
                      Examples:\n  kir respond stolen-credentials --token-file leaked.txt --dry-run\n  \
                      kir respond stolen-credentials system:serviceaccount:shop:deployer --yes --case ./cases/INC-7"
    )]
    StolenCredentials(RespondStolenArgs),

    /// Find a malicious image, keep the evidence, block it at admission, purge it, confirm
    #[command(
        after_help = "Evidence first: the search (pods and controller templates) is kept in the case, the affected\n\
                      running pods are captured (--capture-limit), the templates that start them kept as read, and\n\
                      with --audit-log the identities that created or changed them. Then `kir image block` (proved by\n\
                      dry-runs) and `kir image purge` with the remedy chosen (pods only are purged once the block\n\
                      is proved), confirmed by searching again. Running it again with the same --case resumes it;\n\
                      `kir undo CASE` lifts the block.\n\n\
                      Examples:\n  kir respond malicious-image registry.evil.io/miner:2.1 --dry-run\n  \
                      kir respond malicious-image shop/web:1.4 --set-image shop/web:1.5 --yes --case ./cases/INC-9"
    )]
    MaliciousImage(RespondImageArgs),
}

#[derive(Debug, Args)]
pub struct RespondImageArgs {
    #[command(flatten)]
    pub purge: ImagePurgeArgs,

    /// What enforces the block
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    pub engine: EngineArg,

    /// Affected running pods captured at most (the others are named in the case)
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub capture_limit: usize,

    /// Audit logs (files or folders, plain, gzip or zstd) to read who created or changed the
    /// affected pods and templates (repeatable)
    #[arg(long, value_name = "PATH")]
    pub audit_log: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RespondStolenArgs {
    #[command(flatten)]
    pub credential: CredsShowArgs,

    /// Audit logs (files or folders, plain, gzip or zstd) to read what the credential did:
    /// its actions go into the case, writes and persistence first (repeatable)
    #[arg(long, value_name = "PATH")]
    pub audit_log: Vec<PathBuf>,

    /// How long to wait for restarted workloads
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub wait: Duration,

    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
pub struct RespondPodArgs {
    #[command(flatten)]
    pub targets: PodTargets,

    /// The container to snapshot
    #[arg(short = 'c', long)]
    pub container: Option<String>,

    /// Delete the suspect at the end, once its evidence is complete in the case
    #[arg(long)]
    pub replace: bool,

    /// With --replace: delete the suspect even when some evidence could not be collected (journaled)
    #[arg(long, requires = "replace")]
    pub accept_incomplete_evidence: bool,

    /// How long containment waits for evidence before it goes ahead
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub evidence_budget: Duration,

    /// Bytes kept of each container log
    #[arg(long, value_name = "SIZE", default_value = "64Mi", value_parser = parse_size)]
    pub log_limit: u64,

    #[command(flatten)]
    pub node: NodeArgs,

    #[command(flatten)]
    pub isolation: IsolationArgs,

    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// The practice incident
    #[arg(value_enum)]
    pub scenario: DrillScenario,

    /// The API server's audit log (file or folder), for the detection step
    #[arg(long, value_name = "PATH")]
    pub audit_log: Option<PathBuf>,

    /// Run on this cluster although it is not marked for drills
    #[arg(long)]
    pub i_own_this_cluster: bool,

    /// Leave the staged namespaces and objects in place afterwards
    #[arg(long)]
    pub keep: bool,

    /// The folder for the cases and the scorecard (default: ./drills/<time>-<id>); must not exist or be empty
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DrillScenario {
    CompromisedPod,
    StolenCredentials,
    MaliciousImage,
    All,
}

#[derive(Debug, Subcommand)]
pub enum PrepareCommand {
    /// The architecture document of the cluster: workloads, exposure, network policy coverage,
    /// host access, admins, nodes (-o markdown, json, dot or svg)
    #[command(after_help = "Examples:\n  \
        kir prepare inventory > inventory.md\n  \
        kir prepare inventory -o svg > inventory.svg\n  \
        kir prepare inventory --out inventories        # saves inventory.{json,md,dot,svg}\n  \
        kir prepare inventory --diff inventories/inventory-20260101T000000Z")]
    Inventory(InventoryArgs),

    /// Is everything the playbook relies on there? Audit log and policy, sensors, tools, cases
    #[command(after_help = "Every gap comes with its fix. Exit status: 0 ready, 1 a gap was found.\n\n\
                      Examples:\n  kir prepare check --audit-log /var/log/kubernetes/audit/ --audit-policy /etc/kubernetes/audit-policy.yaml\n  \
                      kir prepare check --sign-key ~/.config/kir/signing.key -o json")]
    Check(PrepareCheckArgs),

    /// Least-privilege RBAC for running kir: one ClusterRole per command, as YAML
    #[command(
        after_help = "Built from the permissions each command declares (the lists kir doctor checks).\n\n\
                      Examples:\n  kir prepare responder --namespaces shop,payments | kubectl apply -f -\n  \
                      kir prepare responder --namespaces shop --for 'respond compromised-pod,undo' --service-account ir/oncall"
    )]
    Responder(PrepareResponderArgs),
}

#[derive(Debug, Args)]
pub struct PrepareCheckArgs {
    /// The API server's audit log (file or folder): is it there, recent, and does it hold what the rules read
    #[arg(long, value_name = "PATH")]
    pub audit_log: Option<PathBuf>,

    /// The API server's audit policy file (--audit-policy-file): does it log what every rule reads
    #[arg(long, value_name = "FILE")]
    pub audit_policy: Option<PathBuf>,

    /// Where cases will be written
    #[arg(long, value_name = "DIR", default_value = "cases")]
    pub cases: PathBuf,

    /// The minisign key cases are signed with (`kir case keygen`); KIR_SIGN_PASSWORD unlocks it
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PrepareResponderArgs {
    /// The namespaces the responder may act in (comma-separated or repeated)
    #[arg(long = "namespaces", value_name = "NS", value_delimiter = ',', required = true)]
    pub namespaces: Vec<String>,

    /// The commands to grant, as `kir doctor` names them (default: every command but drill)
    #[arg(long = "for", value_name = "COMMANDS", value_delimiter = ',')]
    pub commands: Vec<String>,

    /// The responder's ServiceAccount, NS/NAME
    #[arg(long, value_name = "NS/NAME", default_value = "kir-system/kir-responder")]
    pub service_account: String,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The case folder (default: --case or KIR_CASE)
    #[arg(add = ArgValueCompleter::new(crate::complete::cases))]
    pub case: Option<PathBuf>,

    /// Also reverse what other cases that isolated the same pod rely on (default: kept, and
    /// those cases are named)
    #[arg(long)]
    pub release_shared: bool,

    /// Give orphaned pods their labels back, so their controllers adopt them again (and scale
    /// down, deleting their newest pod: the clean replacement). Default: they stay orphaned
    #[arg(long)]
    pub readopt: bool,

    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kir report ./cases/20261127-184200-3fa9c1 > report.md\n  kir report CASE --out /tmp/inc-42/           # report.md, report.json and report.html\n  kir report CASE --format html --out inc-42.html\n  kir report CASE --prevent > controls.yaml     # review, then kubectl apply -f"
)]
pub struct ReportArgs {
    /// The case folder (default: --case or KIR_CASE); it is only read
    #[arg(add = ArgValueCompleter::new(crate::complete::cases))]
    pub case: Option<PathBuf>,

    /// Report format (default: markdown; -o json and -o yaml select those too)
    #[arg(long, value_enum)]
    pub format: Option<crate::commands::report::ReportFormat>,

    /// Write into FILE, or into DIR (an existing folder, or a path ending in /): report.md,
    /// report.json and report.html (prevent.yaml with --prevent). Never into the case folder;
    /// never over an existing file. Default: stdout
    #[arg(long, value_name = "FILE-or-DIR")]
    pub out: Option<PathBuf>,

    /// Print the preventive controls the case calls for (reviewable YAML) instead of the report
    #[arg(long)]
    pub prevent: bool,

    /// Do not ask the cluster: containment is reported as the case recorded it (by default the
    /// changes kir made are read back live when the case's cluster is reachable)
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// The cases under a folder: id, title, cluster, when, how much was journaled
    #[command(after_help = "Examples:\n  kir case list\n  kir case list /evidence -o json")]
    List {
        /// The folder holding the cases
        #[arg(default_value = "cases", value_name = "DIR")]
        dir: PathBuf,
    },

    /// Create a case folder and print its path
    #[command(after_help = "Examples:\n  \
        kir case open \"miner in prod/web\"                   # creates ./cases/<id>\n  \
        export KIR_CASE=$(kir case open \"leaked token\" --dir /evidence/inc-42)")]
    Open {
        /// The case's title
        name: String,
        /// Folder to create (default: --case/KIR_CASE when set, else ./cases/<id>)
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Who responds (default: $USER, else $LOGNAME)
        #[arg(long, value_name = "NAME")]
        responder: Option<String>,
    },

    /// Show a case's journal: every action and artifact, in order
    Show {
        /// The case folder (default: --case/KIR_CASE)
        dir: Option<PathBuf>,
    },

    /// Check every byte of a case folder or exported archive against its journal
    #[command(after_help = "Exit status: 0 when intact, 1 naming every changed, missing or extra file and \
        every broken journal entry.\n\nExamples:\n  \
        kir case verify ./cases/20261127-184200-3fa9c1\n  \
        kir case verify case.tar.zst --pubkey kir-signing.pub")]
    Verify {
        /// A case folder or an archive from `kir case export` (default: --case/KIR_CASE)
        path: Option<PathBuf>,
        /// minisign public key to check the manifest's signature with
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
    },

    /// Write a case folder as one archive (tar + zstd), optionally signed
    #[command(after_help = "The archive path is given with --to (-o is the output format).\n\n\
        A password-protected signing key reads its password from KIR_SIGN_PASSWORD.\n\nExample:\n  \
        kir case export ./cases/20261127-184200-3fa9c1 --to inc-42.tar.zst --sign-key kir-signing.key")]
    Export {
        /// The case folder (default: --case/KIR_CASE)
        dir: Option<PathBuf>,
        /// The archive to create (never overwritten), e.g. inc-42.tar.zst
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// minisign secret key to sign the manifest with
        #[arg(long, value_name = "FILE")]
        sign_key: Option<PathBuf>,
    },

    /// Create a minisign key pair for signing exports: PREFIX.key and PREFIX.pub
    #[command(after_help = "With KIR_SIGN_PASSWORD set, the secret key is protected by that password; \
        without it, the secret key is stored unprotected.\n\nExample:\n  \
        KIR_SIGN_PASSWORD=... kir case keygen ~/.config/kir/signing")]
    Keygen {
        /// Path prefix of the two key files
        prefix: PathBuf,
    },
}

/// Which audit events to keep. Values of one flag are alternatives; different flags must all
/// hold. `-n/--namespace` (global) filters by namespace too.
#[derive(Debug, Args, Clone, Default)]
pub struct AuditFilterArgs {
    /// User name, exact or glob (system:serviceaccount:prod:*); matches the authenticated or the impersonated user
    #[arg(long, value_name = "USER")]
    pub user: Vec<String>,

    /// Group of the user, exact or glob
    #[arg(long, value_name = "GROUP")]
    pub group: Vec<String>,

    /// Source IP address or CIDR range (10.0.0.0/8)
    #[arg(long, value_name = "ADDR|CIDR")]
    pub ip: Vec<String>,

    /// Verb: get, list, watch, create, update, patch, delete, deletecollection
    #[arg(long, value_name = "VERB")]
    pub verb: Vec<String>,

    /// Resource, or resource/subresource (pods/exec)
    #[arg(long, value_name = "RESOURCE")]
    pub resource: Vec<String>,

    /// Subresource (exec, log, token, status, ...)
    #[arg(long, value_name = "SUBRESOURCE")]
    pub subresource: Vec<String>,

    /// Object name, exact or glob
    #[arg(long, value_name = "NAME")]
    pub name: Vec<String>,

    /// HTTP status, exact (403) or by class (4xx)
    #[arg(long, value_name = "CODE")]
    pub code: Vec<String>,

    /// Part of the user agent, case-insensitive (kubectl, python-requests)
    #[arg(long = "user-agent", value_name = "TEXT")]
    pub user_agent: Vec<String>,

    /// Credential id the API server recorded for the request (user.extra authentication.kubernetes.io/credential-id), as `kir creds show` prints it: JTI=<jti> for a service-account token, X509SHA256=<64 hex> for a client certificate. A bare JTI (a UUID) or a bare 64-hex fingerprint is read as JTI=... or X509SHA256=...
    #[arg(long = "credential-id", value_name = "ID")]
    pub credential_id: Vec<CredentialId>,

    #[command(flatten)]
    pub time: TimeArgs,
}

/// Which events by time, for every command that reads audit events. A time without a zone is
/// read in the local zone (or UTC with --utc), and kir says which on stderr.
#[derive(Debug, Args, Clone, Default)]
pub struct TimeArgs {
    /// Only requests received at or after TIME: RFC 3339 (2026-11-27T10:00:00Z), a date and time
    /// without zone (2026-11-27T10:00), a date (2026-11-27, from 00:00), or a time ago (90m, 2h, 3d)
    #[arg(long, value_name = "TIME")]
    pub since: Option<TimeSpec>,

    /// Only requests received at or before TIME (same forms as --since)
    #[arg(long, value_name = "TIME")]
    pub until: Option<TimeSpec>,

    /// Read times and dates without a zone as UTC (default: the local time zone)
    #[arg(long)]
    pub utc: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Find audit events by user, address, verb, resource, object, status, agent, credential or time
    #[command(after_help = "Examples:\n  \
        # everything one service account did in the last two hours, as a table\n  \
        kir audit search /var/log/kubernetes/audit/ --user system:serviceaccount:prod:web --since 2h\n\n  \
        # the events themselves, one JSON object per line, for jq\n  \
        kir audit search audit.log.gz --verb create --resource pods/exec -o json")]
    Search {
        /// Audit logs: files, directories (read recursively) or - for standard input; plain, gzip or zstd
        #[arg(required = true, value_name = "FILE")]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        filters: AuditFilterArgs,
    },

    /// Per user (addresses, agents, verbs, first/last seen, active hours) and per source address
    #[command(after_help = "Example:\n  kir audit stats audit/ --since 24h")]
    Stats {
        #[arg(required = true, value_name = "FILE")]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        filters: AuditFilterArgs,
    },

    /// What one user or credential did, the writes that matter first (bindings, secrets, pods, exec)
    #[command(
        after_help = "Needs --user or --credential-id. Each action shows the credential id it used and \
        the API server's stale-token and legacy-token annotations.\n\nExamples:\n  \
        kir audit timeline audit/ --user system:serviceaccount:prod:web\n\n  \
        # every use of one leaked token, as `kir creds show` named it\n  \
        kir audit timeline audit/ --credential-id JTI=5c1b6d4e-8a51-4b0e-9d3a-2f0e5c7b9a11"
    )]
    Timeline {
        #[arg(required = true, value_name = "FILE")]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        filters: AuditFilterArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum DetectCommand {
    /// Run the built-in rules (and Sigma rules, and a baseline) over audit logs
    #[command(
        after_help = "Exit status: 0 nothing found, 3 findings, 4 nothing found but records were skipped.\n\n\
        Examples:\n  kir detect audit /var/log/kubernetes/audit/\n  \
        kir detect audit audit.log --rules sigma/rules/application/kubernetes --baseline baseline.json -o json"
    )]
    Audit {
        #[arg(required = true, value_name = "FILE")]
        inputs: Vec<PathBuf>,

        /// A directory (read recursively) or file of Sigma rules; rules for product kubernetes, service audit are used
        #[arg(long, value_name = "DIR")]
        rules: Vec<PathBuf>,

        /// A baseline from `kir baseline learn`: also flag new networks, hours and user agents per identity
        #[arg(long, value_name = "FILE")]
        baseline: Option<PathBuf>,

        /// Leave the built-in rules out (only --rules and --baseline)
        #[arg(long)]
        no_builtin: bool,

        #[command(flatten)]
        time: TimeArgs,
    },

    /// Run the built-in runtime rules over Falco, Tracee and Tetragon JSON events
    #[command(
        after_help = "Exit status: 0 nothing found, 3 findings, 4 nothing found but records were skipped.\n\n\
        Example:\n  kubectl logs -n kube-system ds/tetragon -c export-stdout | kir detect runtime -"
    )]
    Runtime {
        /// Event files (JSON lines or concatenated JSON), directories or -; plain, gzip or zstd
        #[arg(required = true, value_name = "FILE")]
        inputs: Vec<PathBuf>,
    },

    /// List the built-in rules
    Rules,
}

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Learn per identity the source networks, user agents and active hours from audit logs
    #[command(after_help = "Example:\n  kir baseline learn audit-last-month/ --to baseline.json\n  \
        kir detect audit audit-today.log --baseline baseline.json")]
    Learn {
        #[arg(required = true, value_name = "FILE")]
        inputs: Vec<PathBuf>,

        /// Where to write the baseline (JSON). Named --to because -o is the output format.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Every pod container (init and ephemeral too) and every controller template using an image
    #[command(
        after_help = "REF is matched by meaning, not spelling: nginx, docker.io/library/nginx and nginx:latest are one\n\
                      image. A repository (nginx) matches every tag and digest of it, a tag (nginx:1.25) that tag, a\n\
                      digest (nginx@sha256:..., or sha256:... alone) that digest wherever it runs, and a prefix ending\n\
                      in / (registry.evil.io/ or ghcr.io/team/) every repository under it.\n\n\
                      Examples:\n  kir image find nginx:1.25 -A\n  kir image find registry.evil.io/ -o json\n  \
                      kir image find sha256:4c5f... -n shop"
    )]
    Find(ImageFindArgs),

    /// Deny an image at admission (ValidatingAdmissionPolicy), then prove it by dry-runs
    #[command(
        after_help = "Pods (created, or updated to run it, ephemeral containers included) and the pod templates of\n\
                      Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs and ReplicationControllers are\n\
                      denied. Updates of objects that already run the image are let through, so that containment and\n\
                      scaling to zero still work. kir then asks the API server to admit (server-side dry-run) a pod and\n\
                      a Deployment with every spelling of REF, which must be denied, and with a control image, which\n\
                      must be allowed. `kir undo CASE` lifts the block. --engine kyverno|gatekeeper makes the block a\n\
                      Kyverno ClusterPolicy or a Gatekeeper constraint instead (auto: when that engine's webhook\n\
                      is registered), proved the same way.\n\n\
                      Examples:\n  kir image block nginx:1.25 --dry-run\n  kir image block registry.evil.io/ --yes\n  \
                      kir image block nginx:1.25 -o yaml > block.yaml   # for GitOps: prints, applies nothing"
    )]
    Block(ImageBlockArgs),

    /// Remove an image from every workload using it, then confirm no running pod uses it
    #[command(after_help = "Choose what happens to the workloads that use the image:\n\
                      \x20 --set-image IMAGE   their templates get IMAGE (Deployments, StatefulSets and DaemonSets roll\n\
                      \x20                     out; pods of ReplicaSets and ReplicationControllers are deleted; Jobs, whose\n\
                      \x20                     template cannot change, are suspended)\n\
                      \x20 --scale-to-zero     replicas to 0, CronJobs and Jobs suspended, DaemonSets kept off every node\n\
                      \x20 (neither)           only the pods are deleted: their controllers start them again unless the\n\
                      \x20                     image is blocked first (kir image block)\n\
                      Pods without a controller are captured into the case before they are deleted. Static pods\n\
                      cannot be removed through the API: their nodes are named. Then kir searches again until no\n\
                      running pod uses the image (--timeout).\n\n\
                      Examples:\n  kir image purge registry.evil.io/miner:2.1 --scale-to-zero --dry-run\n  \
                      kir image purge shop/web:1.4 --set-image shop/web:1.5 --yes")]
    Purge(ImagePurgeArgs),

    /// Scan every distinct image running in the cluster with trivy, into the case
    #[command(
        after_help = "Images are counted once by the digest their runtime reports (else by reference) and scanned\n\
                      --parallel at a time; with --like REF, those of the same repository or registry namespace go\n\
                      first. Each report is kept in the case and summarised with the pods that run the image; --from\n\
                      reads reports trivy already wrote (image, k8s --report all or summary) instead of scanning.\n\
                      Vulnerability scanning needs trivy's database (downloaded by trivy, or pointed to with\n\
                      TRIVY_CACHE_DIR and --skip-db-update in TRIVY_* settings); --scanners secret needs none.\n\n\
                      Examples:\n  kir image scan --like registry.evil.io/miner:2.1\n  \
                      kir image scan -n shop --scanners secret\n  kir image scan --from trivy-k8s.json"
    )]
    Scan(ImageScanArgs),
}

#[derive(Debug, Args)]
pub struct ImageScanArgs {
    /// Scan first the images of this image's repository or registry namespace
    #[arg(long, value_name = "REF")]
    pub like: Option<String>,

    /// Every namespace (the default unless -n is given)
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// Read these trivy JSON reports instead of scanning (repeatable)
    #[arg(long, value_name = "FILE")]
    pub from: Vec<PathBuf>,

    /// The trivy program (default: trivy on PATH)
    #[arg(long, value_name = "PATH", env = "KIR_TRIVY")]
    pub trivy: Option<PathBuf>,

    /// What trivy looks for: vuln, secret, misconfig (comma-separated)
    #[arg(long, value_name = "LIST", default_value = "vuln,secret")]
    pub scanners: String,

    /// Images scanned at once
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub parallel: u16,

    /// Time one image's scan may take
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct ImagePurgeArgs {
    /// The image: a reference, a digest, or a registry/repository prefix ending in /
    #[arg(value_name = "REF")]
    pub image: String,

    #[command(flatten)]
    pub resolve: ResolveArgs,

    /// Put this image in the templates instead
    #[arg(long, value_name = "IMAGE", conflicts_with = "scale_to_zero")]
    pub set_image: Option<String>,

    /// Scale the workloads to zero (suspend CronJobs and Jobs)
    #[arg(long)]
    pub scale_to_zero: bool,

    /// Every namespace (the default unless -n is given)
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// How long to wait until no running pod uses the image
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse_duration)]
    pub timeout: Duration,

    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

/// How a tag is resolved to the digest it points to.
#[derive(Debug, Args, Clone)]
pub struct ResolveArgs {
    /// Do not ask the registry what the tag points to (pods that name the image by digest are
    /// then found only by the digest they run)
    #[arg(long)]
    pub no_resolve: bool,

    /// Registry credentials for resolving the tag: a docker config file (what docker login
    /// writes, or a dockerconfigjson Secret's content). Default: $DOCKER_CONFIG/config.json or
    /// ~/.docker/config.json when it exists, else anonymous
    #[arg(long, value_name = "PATH")]
    pub registry_config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImageFindArgs {
    /// The image: a reference, a digest, or a registry/repository prefix ending in /
    #[arg(value_name = "REF")]
    pub image: String,

    #[command(flatten)]
    pub resolve: ResolveArgs,

    /// Every namespace (the default unless -n is given)
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}

/// What enforces an image block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// Kyverno or Gatekeeper when its API is served and its webhook registered, else vap
    Auto,
    /// A ValidatingAdmissionPolicy and its binding (built in, Kubernetes 1.30+)
    Vap,
    /// A Kyverno ClusterPolicy
    Kyverno,
    /// A Gatekeeper constraint (and kir's ConstraintTemplate when missing)
    Gatekeeper,
}

#[derive(Debug, Args)]
pub struct ImageBlockArgs {
    /// The image: a reference, a digest, or a registry/repository prefix ending in /
    #[arg(value_name = "REF")]
    pub image: String,

    /// What enforces the block
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    pub engine: EngineArg,

    #[command(flatten)]
    pub resolve: ResolveArgs,

    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Subcommand)]
pub enum CredsCommand {
    /// What a credential is, how it dies, and whether the API server accepts it now
    #[command(
        after_help = "CREDENTIAL is a subject (user:NAME, group:NAME, system:serviceaccount:NS:NAME) or a token Secret\n\
                      (secret/NS/NAME); or give the credential itself with --token-file, --cert or --kubeconfig-user.\n\
                      The token is never printed or stored: cases keep its SHA-256 fingerprint.\n\n\
                      Examples:\n  kir creds show --token-file leaked.txt\n  pbpaste | kir creds show --token-file -\n  \
                      kir creds show --cert alice.crt\n  kir creds show system:serviceaccount:shop:deployer\n  \
                      kir creds show secret/shop/deployer-token"
    )]
    Show(CredsShowArgs),

    /// A subject's effective RBAC permissions in every namespace, dangerous reach first
    #[command(
        after_help = "Examples:\n  kir creds scope system:serviceaccount:shop:deployer\n  kir creds scope user:alice --group dev\n  \
                      kir creds scope group:system:authenticated -o json"
    )]
    Scope(CredsScopeArgs),

    /// Take a subject out of every binding that names it, then prove what it could do is denied
    #[command(
        after_help = "A binding that names only the subject is deleted; a shared one loses only the subject's entries.\n\
                      Every change is journaled in the case and reversed by `kir undo CASE`. A certificate or token of\n\
                      the subject still authenticates: `kir creds show` says how it dies.\n\n\
                      Examples:\n  kir creds revoke system:serviceaccount:shop:deployer --dry-run\n  \
                      kir creds revoke user:alice --group dev --include-groups --yes --case ./cases/INC-7"
    )]
    Revoke(CredsRevokeArgs),

    /// New values into a Secret, then every workload that reads it restarted and awaited
    #[command(
        after_help = "Workloads that read the Secret (env, envFrom, volumes, projected volumes, imagePullSecrets) are\n\
                      restarted as `kubectl rollout restart` does and awaited until every pod runs with the new values.\n\
                      No value is printed or written into the case: the journal names the keys. Not undoable.\n\n\
                      Examples:\n  kir creds rotate secret/shop/db --generate password --dry-run\n  \
                      kir creds rotate secret/shop/db --from-file password=./new-password --yes --case ./cases/INC-7"
    )]
    Rotate(CredsRotateArgs),

    /// Who may do VERB on RESOURCE, and which binding grants it
    #[command(
        name = "who-can",
        after_help = "RESOURCE is resource[.group][/subresource], e.g. secrets, deployments.apps, pods/exec;\n\
                      a non-resource URL starts with / (e.g. /metrics). Without -n: cluster-wide grants only,\n\
                      -A: in any namespace.\n\nExamples:\n  kir creds who-can get secrets -n shop\n  \
                      kir creds who-can create pods/exec -A\n  kir creds who-can escalate clusterroles.rbac.authorization.k8s.io"
    )]
    WhoCan(WhoCanArgs),
}

#[derive(Debug, Args)]
pub struct CredsShowArgs {
    /// A subject or a token Secret (see below)
    #[arg(required_unless_present_any = ["token_file", "cert", "kubeconfig_user"])]
    pub credential: Option<String>,

    /// The leaked token, from a file or - for standard input
    #[arg(long, value_name = "FILE", conflicts_with_all = ["credential", "cert", "kubeconfig_user"])]
    pub token_file: Option<PathBuf>,

    /// The leaked client certificate (PEM or DER)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["credential", "kubeconfig_user"])]
    pub cert: Option<PathBuf>,

    /// The credential of this user entry of the kubeconfig (a token or a client certificate)
    #[arg(long, value_name = "NAME", conflicts_with = "credential")]
    pub kubeconfig_user: Option<String>,
}

#[derive(Debug, Args)]
pub struct CredsScopeArgs {
    /// user:NAME, group:NAME or system:serviceaccount:NS:NAME
    pub subject: String,

    /// A group the user belongs to (repeatable; service accounts get theirs automatically)
    #[arg(long, value_name = "GROUP")]
    pub group: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WhoCanArgs {
    /// The verb: get, list, watch, create, update, patch, delete, deletecollection, use, bind,
    /// escalate, impersonate, approve, ...
    pub verb: String,

    /// resource[.group][/subresource], or a non-resource URL starting with /
    pub resource: String,

    /// Only grants that cover this object name
    pub name: Option<String>,

    /// In every namespace
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}

#[derive(Debug, Args)]
pub struct CredsRevokeArgs {
    /// user:NAME, group:NAME or system:serviceaccount:NS:NAME
    pub subject: String,

    /// A group the user belongs to (repeatable), for --include-groups
    #[arg(long, value_name = "GROUP")]
    pub group: Vec<String>,

    /// Also take the subject's groups out of the bindings that name them (never everyone's
    /// groups: system:authenticated, system:serviceaccounts)
    #[arg(long)]
    pub include_groups: bool,

    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
pub struct CredsRotateArgs {
    /// The Secret: secret/NAMESPACE/NAME
    pub secret: String,

    /// A new value given on the command line, KEY=VALUE (repeatable; it is in your shell history)
    #[arg(long, value_name = "KEY=VALUE")]
    pub from_literal: Vec<String>,

    /// A new value read from a file, KEY=PATH (repeatable)
    #[arg(long, value_name = "KEY=PATH")]
    pub from_file: Vec<String>,

    /// A new random value (32 characters) for KEY (repeatable); read it from the Secret afterwards
    #[arg(long, value_name = "KEY")]
    pub generate: Vec<String>,

    /// How long to wait for each restarted workload to run again
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub wait: Duration,

    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Every namespace (the default); -n NS documents one
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// Save inventory.json, .md, .dot and .svg into DIR; when DIR exists, into a new folder
    /// inventory-<UTC time> inside it (the folder written is printed)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Print what changed since OLD: a saved inventory.json, or the folder holding it
    #[arg(long, value_name = "OLD")]
    pub diff: Option<PathBuf>,

    /// How the SVG is laid out: by kir itself, or by Graphviz (`dot -Tsvg`, which must be on PATH)
    #[arg(long, value_enum, default_value_t = SvgLayout::Kir)]
    pub layout: SvgLayout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SvgLayout {
    Kir,
    Graphviz,
}
