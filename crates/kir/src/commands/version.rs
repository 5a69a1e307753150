//! `kir version` (also `kubectl ir version`): what a case records as `kir_version`.

use crate::{
    cli::OutputFormat,
    output::{print_json, print_yaml},
    settings::Settings,
};

#[derive(serde::Serialize)]
struct Version {
    name: &'static str,
    version: &'static str,
}

pub fn run(settings: &Settings) -> anyhow::Result<()> {
    let version = Version { name: env!("CARGO_PKG_NAME"), version: env!("CARGO_PKG_VERSION") };
    match settings.output {
        OutputFormat::Json => print_json(&version)?,
        OutputFormat::Yaml => print_yaml(&version)?,
        OutputFormat::Table => println!("{} {}", version.name, version.version),
    }
    Ok(())
}
