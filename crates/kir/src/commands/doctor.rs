//! `kir doctor`: what kir can do here, before an incident needs it.

use comfy_table::Cell;
use kir_cluster::{Cluster, readiness::Readiness};

use crate::{
    cli::OutputFormat,
    output::{print_json, print_key_values, print_table, print_yaml, table, yes_no},
    settings::Settings,
};

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

    if !report.disabled_commands.is_empty() {
        println!();
        println!("Not available with these permissions: {}", report.disabled_commands.join(", "));
    }
    Ok(())
}
