//! The service proxy's kernel boundary: applying an nftables script as one transaction,
//! behind [`RuleApplier`]: over netlink ([`Netlink`], [`crate::nftables`]) on Linux, a
//! recording fake ([`RecordingApplier`]) for unit tests, and the `nft` command
//! ([`NftCommand`], `nft -f -`), which the kernel tests and the benchmark compare kedge with.

use std::io::{self, Write};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use async_trait::async_trait;

/// Every kernel interaction of the service proxy.
#[async_trait]
pub trait RuleApplier: Send + Sync {
    /// Whether rules can be applied at all; the error says what is missing and the fix.
    async fn available(&self) -> io::Result<()>;
    /// Applies a script as one transaction.
    async fn apply(&self, script: &str) -> io::Result<()>;
}

/// nf_tables programmed over netlink: no `nft` command needed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Netlink;

#[async_trait]
impl RuleApplier for Netlink {
    async fn available(&self) -> io::Result<()> {
        tokio::task::spawn_blocking(crate::nftables::available)
            .await
            .map_err(io::Error::other)?
    }

    async fn apply(&self, script: &str) -> io::Result<()> {
        let script = script.to_string();
        tokio::task::spawn_blocking(move || crate::nftables::apply(&script))
            .await
            .map_err(io::Error::other)?
    }
}

/// The `nft` command.
#[derive(Clone, Debug)]
pub struct NftCommand {
    /// The program to run (`nft`, found on `PATH`).
    pub program: String,
}

impl Default for NftCommand {
    fn default() -> Self {
        NftCommand {
            program: "nft".into(),
        }
    }
}

impl NftCommand {
    /// Runs `nft <args>` with `input` on its standard input.
    ///
    /// # Errors
    /// When `nft` cannot be started (the message says to install nftables) or exits with an
    /// error (its standard error is in the message).
    pub fn run(&self, args: &[&str], input: &str) -> io::Result<String> {
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot run `{}`: {e}; the service proxy needs the nft command: install nftables (Debian/Ubuntu/Alpine: package nftables)",
                        self.program
                    ),
                )
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes())?;
        }
        let output = child.wait_with_output()?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(io::Error::other(format!(
                "`{} {}` failed ({}): {}",
                self.program,
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }
}

#[async_trait]
impl RuleApplier for NftCommand {
    async fn available(&self) -> io::Result<()> {
        let nft = self.clone();
        tokio::task::spawn_blocking(move || nft.run(&["--version"], "").map(|_| ()))
            .await
            .map_err(io::Error::other)?
    }

    async fn apply(&self, script: &str) -> io::Result<()> {
        let nft = self.clone();
        let script = script.to_string();
        tokio::task::spawn_blocking(move || nft.run(&["-f", "-"], &script).map(|_| ()))
            .await
            .map_err(io::Error::other)?
    }
}

/// A fake that records every script and can be told to fail.
#[derive(Debug, Default)]
pub struct RecordingApplier {
    pub scripts: Mutex<Vec<String>>,
    /// When set, `available` fails with this message.
    pub unavailable: Option<String>,
}

impl RecordingApplier {
    /// The scripts applied so far.
    pub fn applied(&self) -> Vec<String> {
        self.scripts.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl RuleApplier for RecordingApplier {
    async fn available(&self) -> io::Result<()> {
        match &self.unavailable {
            Some(message) => Err(io::Error::new(io::ErrorKind::NotFound, message.clone())),
            None => Ok(()),
        }
    }

    async fn apply(&self, script: &str) -> io::Result<()> {
        if let Ok(mut scripts) = self.scripts.lock() {
            scripts.push(script.to_string());
        }
        Ok(())
    }
}
