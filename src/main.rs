//! The `kedge` executable: parses the command line and runs one role.

use std::process::ExitCode;

use kedge::cli::{self, CliError, Command};
use kedge::config::{AgentConfig, ServerConfig};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    // `kedge shim` must stay single-threaded and never read the config file: it is dispatched
    // before anything else runs.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "shim") {
        return kedge::runtime::shim::main(args);
    }
    // Internal to kedge-killall.sh, for hosts without the `nft` command.
    if args.get(1).is_some_and(|a| a == "delete-nftables") {
        return match kedge::nftables::delete_kedge_tables() {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("kedge: cannot delete kedge's nftables tables: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let parsed = match cli::parse_from(std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(CliError::Clap(error)) => error.exit(),
        Err(error) => {
            eprintln!("kedge: {error}");
            return ExitCode::from(2);
        }
    };
    let debug = match &parsed.command {
        Command::Server(args) => args.common.debug,
        Command::Agent(args) => args.common.debug,
        Command::CheckConfig(args) => return check_config(&args.root),
        Command::Images(_) => false,
    };
    init_logging(debug);
    for file in &parsed.config_files {
        tracing::info!(file = %file.display(), "read config file");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kedge: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        match parsed.command {
            Command::Server(args) => {
                let config = ServerConfig::from_args(&args, parsed.set)?;
                kedge::server::run(config, shutdown).await
            }
            Command::Agent(args) => {
                let config = AgentConfig::from_args(&args, parsed.set)?;
                kedge::agent::run(config, shutdown).await
            }
            Command::CheckConfig(_) => Ok(()),
            Command::Images(args) => {
                kedge::runtime::images::command::run(&args, &mut std::io::stdout().lock()).await
            }
        }
    });
    // Work still on the blocking pool is not waited for: a pod's worker may be stopping a
    // container that ignores SIGTERM for the rest of its grace period, which its shim (a
    // process of its own) carries on with; dropping the runtime would wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kedge: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// `kedge check-config`: the report on standard output; exit 1 when something required is
/// missing.
fn check_config(root: &std::path::Path) -> ExitCode {
    let host = kedge::check_config::HostRoot::new(root);
    match kedge::check_config::report(&host, &mut std::io::stdout().lock()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("kedge: cannot print the report: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, leaving out causes whose text the previous message
/// already includes.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn init_logging(debug: bool) {
    let default = if debug { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
async fn cancel_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    shutdown.cancel();
}
