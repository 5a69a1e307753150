//! `kir prepare`: what to have ready before an incident. `inventory`: the architecture document
//! of the cluster, saved for the responder and compared with the last one saved.

use std::{
    io::{IsTerminal, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, bail};
use kir_inventory::{Drift, Inventory};
use kir_rbac::RbacSnapshot;

use crate::{
    cli::{InventoryArgs, OutputArg, SvgLayout},
    commands::responder,
    output::{print_json, print_yaml, sanitize},
    settings::{Settings, UsageError},
};

/// The file an inventory is saved as, and that `--diff` reads from a folder.
const SAVED: &str = "inventory.json";

pub async fn inventory(args: &InventoryArgs, settings: &Settings) -> anyhow::Result<u8> {
    let namespace = settings.connect.namespace.as_deref();
    if args.all_namespaces && namespace.is_some() {
        return Err(UsageError("-A and -n name different scopes: give one of them".into()).into());
    }
    if args.diff.is_some() && matches!(settings.output_arg, OutputArg::Dot | OutputArg::Svg) {
        return Err(UsageError("--diff prints markdown, json or yaml, not a diagram".into()).into());
    }
    // A bad --diff input is said before the cluster is read.
    let old = args.diff.as_deref().map(read_saved).transpose()?;
    let responder = responder::connect(settings).await?;
    let cluster = &responder.cluster;
    let verbose = std::io::stderr().is_terminal();
    let read = cluster
        .inventory(namespace, |kind| {
            if verbose {
                eprintln!("reading {kind}");
            }
        })
        .await?;
    let version = cluster.server_info().await.ok().map(|info| info.git_version);
    let target = cluster.target();
    let mut observed = read.observed;
    observed.taken_at = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    observed.cluster = kir_inventory::ClusterInfo {
        server: target.server.clone(),
        context: target.context.clone(),
        version,
    };
    let rbac = RbacSnapshot {
        roles: read.rbac.roles,
        cluster_roles: read.rbac.cluster_roles,
        role_bindings: read.rbac.role_bindings,
        cluster_role_bindings: read.rbac.cluster_role_bindings,
    };
    let inventory = kir_inventory::assemble(observed, &rbac);
    for gap in &inventory.gaps {
        eprintln!("warning: not read: list {}: {}", sanitize(&gap.kind), sanitize(&gap.reason));
    }

    if let Some(dir) = &args.out {
        let folder = save(&inventory, dir, args.layout)?;
        eprintln!("inventory saved in {}", sanitize(&folder.display().to_string()));
    }
    match &old {
        Some(old) => print_drift(&kir_inventory::diff(old, &inventory), settings)?,
        None if args.out.is_none() => print_inventory(&inventory, settings, args.layout)?,
        None => {}
    }
    Ok(if inventory.complete() { crate::exit::SUCCESS } else { crate::exit::INCOMPLETE })
}

/// A saved inventory: `path` itself, or the inventory.json in it.
fn read_saved(path: &Path) -> anyhow::Result<Inventory> {
    let file = if path.is_dir() { path.join(SAVED) } else { path.to_path_buf() };
    let shown = sanitize(&file.display().to_string()).into_owned();
    let bytes = std::fs::read(&file).with_context(|| format!("--diff {shown}: cannot read it"))?;
    kir_inventory::parse(&bytes).with_context(|| format!("--diff {shown}"))
}

fn print_inventory(inventory: &Inventory, settings: &Settings, layout: SvgLayout) -> anyhow::Result<()> {
    let text = match settings.output_arg {
        OutputArg::Json => return print_json(inventory),
        OutputArg::Yaml => return print_yaml(inventory),
        OutputArg::Table | OutputArg::Wide | OutputArg::Markdown => kir_inventory::markdown(inventory),
        OutputArg::Dot => kir_inventory::dot(inventory),
        OutputArg::Svg => svg(inventory, layout)?,
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

fn print_drift(drift: &Drift, settings: &Settings) -> anyhow::Result<()> {
    match settings.output_arg {
        OutputArg::Json => print_json(drift),
        OutputArg::Yaml => print_yaml(drift),
        // Diagram formats were refused before the cluster was read.
        OutputArg::Table | OutputArg::Wide | OutputArg::Markdown | OutputArg::Dot | OutputArg::Svg => {
            std::io::stdout().lock().write_all(kir_inventory::drift_markdown(drift).as_bytes())?;
            Ok(())
        }
    }
}

fn svg(inventory: &Inventory, layout: SvgLayout) -> anyhow::Result<String> {
    match layout {
        SvgLayout::Kir => Ok(kir_inventory::svg(inventory)),
        SvgLayout::Graphviz => graphviz(&kir_inventory::dot(inventory)),
    }
}

/// `dot -Tsvg` of `source`.
fn graphviz(source: &str) -> anyhow::Result<String> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("--layout graphviz runs `dot -Tsvg`, which could not be started (is Graphviz installed?)")?;
    // Writing while dot reads; a diagram larger than a pipe buffer would otherwise deadlock.
    let mut stdin = child.stdin.take().context("dot's input")?;
    let source = source.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(source.as_bytes()));
    let output = child.wait_with_output()?;
    writer.join().map_err(|_| anyhow::anyhow!("writing to dot failed"))??;
    if !output.status.success() {
        bail!("dot -Tsvg failed: {}", sanitize(String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// Write the four files into `dir` when it does not exist yet, else into a new time-stamped
/// folder inside it (earlier inventories are kept); the folder written.
fn save(inventory: &Inventory, dir: &Path, layout: SvgLayout) -> anyhow::Result<PathBuf> {
    let folder = if dir.exists() {
        let stamp = jiff::Timestamp::now().strftime("inventory-%Y%m%dT%H%M%SZ").to_string();
        let mut folder = dir.join(&stamp);
        let mut n = 2;
        while folder.exists() {
            folder = dir.join(format!("{stamp}-{n}"));
            n += 1;
        }
        folder
    } else {
        dir.to_path_buf()
    };
    let shown = sanitize(&folder.display().to_string()).into_owned();
    std::fs::create_dir_all(&folder).with_context(|| format!("--out: cannot create {shown}"))?;
    let files = [
        (SAVED, serde_json::to_string_pretty(inventory)? + "\n"),
        ("inventory.md", kir_inventory::markdown(inventory)),
        ("inventory.dot", kir_inventory::dot(inventory)),
        ("inventory.svg", svg(inventory, layout)?),
    ];
    for (name, text) in files {
        std::fs::write(folder.join(name), text)
            .with_context(|| format!("--out: cannot write {shown}/{name}"))?;
    }
    Ok(folder)
}
