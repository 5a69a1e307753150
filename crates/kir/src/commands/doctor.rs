//! `kir doctor`: what kir can do here, before an incident needs it.

use comfy_table::Cell;
use kir_cluster::{
    Cluster, permissions,
    readiness::{Availability, Readiness},
};

use crate::{
    cli::{DoctorArgs, OutputFormat},
    output::{print_json, print_key_values, print_table, print_yaml, sanitize, table, yes_no},
    settings::{Settings, UsageError},
};

/// `kir doctor --rbac`: the least-privilege RBAC of the commands, from their declared
/// permissions. Needs no cluster: YAML documents for `kubectl apply -f -`, or a JSON `List`.
pub fn rbac(args: &DoctorArgs, settings: &Settings) -> anyhow::Result<u8> {
    let Some(namespace) = settings.connect.namespace.as_deref() else {
        return Err(UsageError("--rbac needs -n NS: the namespace the Role grants in".to_string()).into());
    };
    let commands: Vec<&str> = args.rbac.iter().map(|c| c.trim()).collect();
    let objects =
        permissions::least_privilege(&commands, namespace, &args.service_account).map_err(UsageError)?;
    match settings.output {
        OutputFormat::Json => {
            print_json(&serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects}))?
        }
        OutputFormat::Table | OutputFormat::Yaml => {
            for (i, object) in objects.iter().enumerate() {
                if i > 0 {
                    println!("---");
                }
                print_yaml(object)?;
            }
        }
    }
    Ok(crate::exit::SUCCESS)
}

pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let cluster = Cluster::connect(&settings.connect).await?;
    let report = cluster.readiness().await?;
    match settings.output {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Yaml => print_yaml(&report),
        OutputFormat::Table => print_report(&report),
    }
}

fn print_report(report: &Readiness) -> anyhow::Result<()> {
    print_key_values(&[
        ("server", format!("{} at {}", report.server.git_version, report.server.url)),
        ("identity", report.identity.username.clone()),
        ("groups", report.identity.groups.join(", ")),
        ("namespace", report.namespace.clone()),
    ])?;
    println!();

    let mut permissions = table(&["permission", "namespace", "allowed", "needed by"]);
    for p in &report.permissions {
        let check = &p.decision.check;
        let mut what = format!("{} {}", check.verb, check.resource);
        if !check.subresource.is_empty() {
            what = format!("{what}/{}", check.subresource);
        }
        if !check.group.is_empty() {
            what = format!("{what}.{}", check.group);
        }
        if let Some(name) = &check.name {
            what = format!("{what} {name}");
        }
        permissions.add_row(vec![
            Cell::new(what),
            Cell::new(check.namespace.as_deref().unwrap_or("*")),
            yes_no(p.decision.allowed),
            Cell::new(p.needed_by.join(", ")),
        ]);
    }
    print_table(&permissions)?;
    println!();

    let mut capabilities = table(&["capability", "present", "detected by"]);
    for c in &report.capabilities {
        capabilities.add_row(vec![Cell::new(&c.name), yes_no(c.present), Cell::new(&c.detected_by)]);
    }
    print_table(&capabilities)?;
    println!();

    let mut commands = table(&["command", "available", "missing or lost"]);
    for c in &report.commands {
        let name = if c.implemented { c.command.clone() } else { format!("{} (planned)", c.command) };
        let (available, detail) = match c.availability {
            Availability::Available => ("yes", String::new()),
            Availability::Unavailable => ("NO", format!("missing: {}", c.missing.join(", "))),
            Availability::Degraded => (
                "degraded",
                c.degraded
                    .iter()
                    .map(|d| format!("{}: {}", d.permission, d.loses))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        };
        commands.add_row(vec![Cell::new(name), Cell::new(available), Cell::new(sanitize(&detail))]);
    }
    print_table(&commands)?;
    println!();

    let mut checkpoints = table(&["node", "runtime", "checkpoint gate", "checkpoint", "why"]);
    for node in &report.checkpoints {
        let gate = match node.feature_gate {
            Some(true) => "on",
            Some(false) => "off",
            None => "unknown",
        };
        checkpoints.add_row(vec![
            Cell::new(&node.node),
            Cell::new(&node.runtime),
            Cell::new(gate),
            Cell::new(node.possible),
            Cell::new(&node.why),
        ]);
    }
    match &report.checkpoints_unknown {
        Some(why) => {
            println!("container checkpoints: unknown, the nodes could not be listed: {}", sanitize(why))
        }
        None => print_table(&checkpoints)?,
    }
    Ok(())
}
