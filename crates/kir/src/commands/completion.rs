use clap::CommandFactory;
use clap_complete::{generate, shells};

use crate::cli::{Cli, Shell};

pub fn run(shell: Shell) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let name = command.get_name().to_string();
    let mut out = std::io::stdout().lock();
    match shell {
        Shell::Bash => generate(shells::Bash, &mut command, name, &mut out),
        Shell::Zsh => generate(shells::Zsh, &mut command, name, &mut out),
        Shell::Fish => generate(shells::Fish, &mut command, name, &mut out),
    }
    Ok(())
}
