//! The command line: flags and their environment variables (`KEDGE_*` where k3s has
//! `K3S_*`), and the config file that supplies flags as YAML keys.
//!
//! This module only describes and parses; [`crate::config`] turns the result into validated,
//! typed configuration for each component.

mod agent;
mod check_config;
mod config_file;
mod images;
mod server;

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub use agent::{AgentArgs, NodeArgs};
pub use check_config::CheckConfigArgs;
pub use config_file::ConfigFileError;
pub use images::{ImagesArgs, ImagesCommand};
pub use server::ServerArgs;

/// The default config file; its drop-ins live in `config.yaml.d/`.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/kedge/config.yaml";

#[derive(Debug, Parser)]
#[command(
    name = "kedge",
    version = crate::VERSION,
    about = "Kubernetes in one binary: a whole cluster on one machine in about a second",
    args_override_self = true,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a control plane (and, unless --disable-agent, a node) on this machine
    Server(Box<ServerArgs>),
    /// Run a node that joins a server with a token
    Agent(Box<AgentArgs>),
    /// Check that this machine's kernel and host have what kedge needs
    CheckConfig(CheckConfigArgs),
    /// List, import, pull and remove the images in this node's image store
    Images(ImagesArgs),
}

/// Flags every role has.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Config file whose keys are flag names (plus drop-ins in <file>.d/*.yaml)
    #[arg(short = 'c', long, env = "KEDGE_CONFIG_FILE", default_value = DEFAULT_CONFIG_FILE, value_name = "FILE", help_heading = "Config")]
    pub config: std::path::PathBuf,

    /// Log debug messages
    #[arg(long, env = "KEDGE_DEBUG", help_heading = "Logging")]
    pub debug: bool,
}

/// Which flags the user set (on the command line, in the environment or in the config
/// file), by their long names. Defaults are not "set".
#[derive(Debug, Clone, Default)]
pub struct SetFlags(Vec<String>);

impl SetFlags {
    pub fn contains(&self, flag: &str) -> bool {
        self.0.iter().any(|f| f == flag)
    }
}

/// A parsed command line with the config file applied.
#[derive(Debug)]
pub struct Parsed {
    pub command: Command,
    pub set: SetFlags,
    /// The config files that were read, in order.
    pub config_files: Vec<std::path::PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Clap(#[from] clap::Error),
    #[error(transparent)]
    ConfigFile(#[from] ConfigFileError),
}

/// Parses `args` (the first is the program name), applying the config file as k3s does: its
/// keys become flags placed before the command line's own, so a flag given on the command
/// line wins over the file, a repeatable flag given on the command line adds to the file's
/// list, and the file wins over environment variables.
///
/// # Errors
/// An unreadable or malformed config file, a key that is no kedge flag, or a clap error
/// (which also carries `--help` and `--version`).
pub fn parse_from<I, T>(args: I) -> Result<Parsed, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let command = Cli::command();
    let (args, config_files) = config_file::merge(&command, args)?;
    let matches = command.try_get_matches_from(args)?;
    let set = match matches.subcommand() {
        Some((_, sub)) => set_flags(sub),
        None => SetFlags::default(),
    };
    let cli = Cli::from_arg_matches(&matches)?;
    Ok(Parsed {
        command: cli.command,
        set,
        config_files,
    })
}

fn set_flags(matches: &clap::ArgMatches) -> SetFlags {
    let mut set = Vec::new();
    for id in matches.ids() {
        let source = matches.value_source(id.as_str());
        if matches!(
            source,
            Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
        ) {
            set.push(id.as_str().replace('_', "-"));
        }
    }
    SetFlags(set)
}

#[cfg(test)]
mod tests;
