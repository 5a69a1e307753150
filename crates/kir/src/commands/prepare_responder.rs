//! `kir prepare responder`: the least-privilege RBAC for running kir, from the permissions each
//! command declares (the lists `kir doctor` checks).

use kir_cluster::permissions;

use crate::{
    cli::{OutputFormat, PrepareResponderArgs},
    output::{print_json, print_yaml, sanitize},
    settings::{Settings, UsageError, validate_dns_label},
};

pub fn run(args: &PrepareResponderArgs, settings: &Settings) -> anyhow::Result<u8> {
    let (account_namespace, account) = args.service_account.split_once('/').ok_or_else(|| {
        UsageError(format!(
            "--service-account {:?}: give NS/NAME, e.g. kir-system/kir-responder",
            sanitize(&args.service_account)
        ))
    })?;
    for (flag, value) in
        [("--service-account namespace", account_namespace), ("--service-account name", account)]
    {
        validate_dns_label(value)
            .map_err(|why| UsageError(format!("{flag} {:?}: {why}", sanitize(value))))?;
    }
    let namespaces: Vec<&str> = args.namespaces.iter().map(|n| n.trim()).filter(|n| !n.is_empty()).collect();
    for namespace in &namespaces {
        validate_dns_label(namespace)
            .map_err(|why| UsageError(format!("--namespaces {:?}: {why}", sanitize(namespace))))?;
    }
    let commands: Vec<&str> = if args.commands.is_empty() {
        permissions::responder_commands()
    } else {
        args.commands.iter().map(|c| c.trim()).collect()
    };
    let objects = permissions::responder_rbac(&commands, &namespaces, account_namespace, account)
        .map_err(|e| UsageError(format!("--for: {e}")))?;
    match settings.output {
        OutputFormat::Json => {
            print_json(&serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects}))?
        }
        OutputFormat::Table | OutputFormat::Yaml => {
            println!(
                "# kir responder RBAC for {} in {}; apply with kubectl apply -f -",
                sanitize(&args.service_account),
                sanitize(&namespaces.join(", "))
            );
            for object in &objects {
                println!("---");
                print_yaml(object)?;
            }
        }
    }
    Ok(crate::exit::SUCCESS)
}
