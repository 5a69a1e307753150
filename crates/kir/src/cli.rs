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

    /// Incident case folders: open, show, verify, export, signing keys
    #[command(subcommand)]
    Case(CaseCommand),

    /// Print a shell completion script
    #[command(
        after_help = "Example:\n  # load completions into the current bash session\n  source <(kir completion bash)"
    )]
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}
