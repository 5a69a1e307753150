//! The command line: raw flags as clap parses them. `settings` turns them into validated values.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,

    /// User to impersonate, e.g. system:serviceaccount:NS:NAME
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,

    /// Group to impersonate (repeatable)
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_group: Vec<String>,

    /// Output format
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Incident case folder to record into
    #[arg(long = "case", global = true, env = "KIR_CASE", value_name = "DIR")]
    pub case: Option<PathBuf>,

    /// How long one API request may take, e.g. 30s or 2m (0 = no limit)
    #[arg(long, global = true, value_name = "DURATION", default_value = "0")]
    pub request_timeout: String,

    /// Disable colour (also when NO_COLOR is set)
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check connectivity, server version, identity, permissions and cluster capabilities
    Doctor,

    /// Search, summarise and review Kubernetes audit logs at grep speed
    #[command(subcommand)]
    Audit(AuditCommand),

    /// Find attacks in audit logs and in runtime-sensor events
    #[command(subcommand)]
    Detect(DetectCommand),

    /// Learn what is normal per identity, for `detect audit --baseline`
    #[command(subcommand)]
    Baseline(BaselineCommand),

    /// Print a shell completion script
    #[command(
        after_help = "Example:\n  # load completions into the current bash session\n  source <(kir completion bash)"
    )]
    Completion {
        #[arg(value_enum)]
        shell: Shell,
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

    /// Credential id recorded in user.extra (authentication.kubernetes.io/credential-id), e.g. JTI=...
    #[arg(long = "credential-id", value_name = "ID")]
    pub credential_id: Vec<String>,

    /// Only events at or after this time: RFC 3339 (2026-11-27T10:00:00Z), a date, or a duration ago (2h, 7d)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only events at or before this time (same forms as --since)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
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

    /// What one credential did, the writes that matter first (bindings, secrets, pods, exec)
    #[command(after_help = "Example:\n  kir audit timeline audit/ --user system:serviceaccount:prod:web")]
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
