//! The `kir` binary: parse arguments, run one command, render, map errors to exit codes.
//! All logic lives in the library crates under `crates/`.

mod cli;
mod commands;
mod complete;
mod exit;
mod output;
mod settings;
#[cfg(test)]
mod suggestions;

use std::process::ExitCode;

use crate::{
    cli::{
        CaptureCommand, CheckpointCommand, Cli, Command, CredsCommand, ImageCommand, IsolateCommand,
        NodeCommand, OutputArg, PrepareCommand, ReleaseCommand, ReplaceCommand, RespondCommand,
        SnapshotCommand,
    },
    settings::{Settings, UsageError},
};

fn main() -> ExitCode {
    // Like other Unix tools, stop quietly when the reader of the output goes away
    // (`kir ... | head`) instead of failing on every later write.
    // SAFETY: resetting a signal disposition to its default, before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // `COMPLETE=bash kir` (and the shell calling back while completing): answers and exits.
    clap_complete::CompleteEnv::with_factory(<Cli as clap::CommandFactory>::command).complete();
    let cli = parse_command_line();
    init_logging(cli.global.verbose, cli.global.no_color);
    output::fit_tables(cli.global.output == OutputArg::Wide);
    let outcome =
        Settings::resolve(&cli.global).map_err(anyhow::Error::from).and_then(|settings| run(cli, settings));
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {}", output::sanitize(&format!("{error:#}")));
            if error.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::from(exit::FAILURE)
            }
        }
    }
}

/// Parse the arguments. Installed as `kubectl-ir`, kir is the kubectl plugin `kubectl ir`, and
/// its help and errors say so. kir's own output has no colour; `--no-color` and `NO_COLOR`
/// also turn off the colour of help and usage errors.
fn parse_command_line() -> Cli {
    use clap::{ColorChoice, CommandFactory, FromArgMatches};
    let invoked_as = std::env::args_os().next().map(std::path::PathBuf::from);
    let plugin = invoked_as
        .as_deref()
        .and_then(|p| p.file_name())
        .is_some_and(|name| name.to_string_lossy().starts_with("kubectl-"));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
        || std::env::args_os().any(|arg| arg == "--no-color");
    let mut command = Cli::command();
    if plugin {
        command = command.bin_name("kubectl ir");
    }
    if no_color {
        command = command.color(ColorChoice::Never);
    }
    let matches = command.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

fn run(cli: Cli, settings: Settings) -> anyhow::Result<u8> {
    let document_only = matches!(settings.output_arg, OutputArg::Markdown | OutputArg::Dot | OutputArg::Svg);
    if document_only && !matches!(cli.command, Command::Prepare(PrepareCommand::Inventory(_))) {
        return Err(UsageError(
            "-o markdown, dot and svg are formats of `kir prepare inventory`; this command prints table, json or yaml"
                .into(),
        )
        .into());
    }
    match cli.command {
        Command::Completion { shell } => commands::completion::run(shell)?,
        Command::Version => commands::version::run(&settings)?,
        Command::Prepare(PrepareCommand::Check(args)) => {
            return runtime()?.block_on(commands::prepare_check::run(&args, &settings));
        }
        Command::Prepare(PrepareCommand::Responder(args)) => {
            return commands::prepare_responder::run(&args, &settings);
        }
        Command::Drill(args) => return runtime()?.block_on(commands::drill::run(&args, &settings)),
        Command::Doctor(args) if !args.rbac.is_empty() => return commands::doctor::rbac(&args, &settings),
        Command::Doctor(_) => runtime()?.block_on(commands::doctor::run(&settings))?,
        Command::Audit(command) => return commands::audit::run(command, &settings),
        Command::Detect(command) => return commands::detect::run(command, &settings),
        Command::Baseline(command) => return commands::baseline::run(command, &settings),
        Command::Report(args) => return commands::report::run(&args, &settings),
        Command::Case(command) => return commands::case::run(command, &settings),
        Command::Capture(CaptureCommand::Pod(args)) => {
            return runtime()?.block_on(commands::capture::pod(&args, &settings));
        }
        Command::Checkpoint(CheckpointCommand::Inspect(args)) => {
            return commands::checkpoint::inspect(&args, &settings);
        }
        Command::Node(NodeCommand::Wait) => return commands::node::wait(),
        Command::Node(NodeCommand::Collect {
            what,
            container_id,
            host_root,
            proc_root,
            max_memory_bytes,
            zstd,
        }) => {
            let roots = commands::node::Roots { host: &host_root, proc: &proc_root };
            return commands::node::collect(what, &container_id, &roots, max_memory_bytes, zstd);
        }
        Command::Node(NodeCommand::Read { path, max_bytes, zstd }) => {
            return commands::node::read(&path, max_bytes, zstd);
        }
        Command::Snapshot(SnapshotCommand::Pod(args)) => {
            return runtime()?.block_on(commands::snapshot::pod(&args, &settings));
        }
        Command::Isolate(IsolateCommand::Pod(args)) => {
            return runtime()?.block_on(commands::isolate::pod(&args, &settings));
        }
        Command::Release(ReleaseCommand::Pod(args)) => {
            return runtime()?.block_on(commands::isolate::release(&args, &settings));
        }
        Command::Replace(ReplaceCommand::Pod(args)) => {
            return runtime()?.block_on(commands::replace::pod(&args, &settings));
        }
        Command::Respond(RespondCommand::CompromisedPod(args)) => {
            return runtime()?.block_on(commands::respond::compromised_pod(&args, &settings));
        }
        Command::Respond(RespondCommand::MaliciousImage(args)) => {
            return runtime()?.block_on(commands::image::respond(&args, &settings));
        }
        Command::Respond(RespondCommand::StolenCredentials(args)) => {
            return runtime()?.block_on(commands::creds::stolen(&args, &settings));
        }
        Command::Image(ImageCommand::Find(args)) => {
            return runtime()?.block_on(commands::image::find(&args, &settings));
        }
        Command::Image(ImageCommand::Purge(args)) => {
            return runtime()?.block_on(commands::image::purge(&args, &settings));
        }
        Command::Image(ImageCommand::Scan(args)) => {
            return runtime()?.block_on(commands::image::scan(&args, &settings));
        }
        Command::Image(ImageCommand::Block(args)) => {
            return runtime()?.block_on(commands::image::block(&args, &settings));
        }
        Command::Prepare(PrepareCommand::Inventory(args)) => {
            return runtime()?.block_on(commands::prepare::inventory(&args, &settings));
        }
        Command::Undo(args) => return runtime()?.block_on(commands::undo::run(&args, &settings)),
        Command::Creds(CredsCommand::Show(args)) => {
            return runtime()?.block_on(commands::creds::show(&args, &settings));
        }
        Command::Creds(CredsCommand::Scope(args)) => {
            return runtime()?.block_on(commands::creds::scope(&args, &settings));
        }
        Command::Creds(CredsCommand::Revoke(args)) => {
            return runtime()?.block_on(commands::creds::revoke(&args, &settings));
        }
        Command::Creds(CredsCommand::Rotate(args)) => {
            return runtime()?.block_on(commands::creds::rotate(&args, &settings));
        }
        Command::Creds(CredsCommand::WhoCan(args)) => {
            return runtime()?.block_on(commands::creds::who_can(&args, &settings));
        }
    }
    Ok(exit::SUCCESS)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().on_thread_start(block_sigpipe).build()?)
}

/// SIGPIPE stops kir when the reader of its output goes away (see `main`), but a connection the
/// API server dropped (a restart) must only fail its request, not kill kir mid-response. The
/// runtime's threads, which do the network writes, block the signal: their writes get EPIPE.
fn block_sigpipe() {
    // SAFETY: a zeroed sigset_t is valid input for sigemptyset, and this changes only the
    // calling thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Logs go to stderr so that stdout stays clean for `-o json`. `-v` raises kir's own level;
/// `RUST_LOG` overrides everything. At `-vvv` everything traces except the WebSocket layer,
/// whose trace prints every frame, payload and all: an exec session's output is the suspect
/// container's (hostile, and `/etc` holds its secrets), and belongs in the case only.
fn init_logging(verbosity: u8, no_color: bool) {
    let level = match verbosity {
        0 => "warn",
        1 => {
            "kir=info,kir_cluster=info,kir_respond=info,kir_evidence=info,kir_audit=info,kir_detect=info,warn"
        }
        2 => {
            "kir=debug,kir_cluster=debug,kir_respond=debug,kir_evidence=debug,kir_audit=debug,kir_detect=debug,info"
        }
        _ => "trace,tungstenite=info,tokio_tungstenite=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colour only for a person at a terminal who did not ask for none.
    let colour = !no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(colour)
        .init();
}
