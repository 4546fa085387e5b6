//! `pods/exec` and `pods/attach` (GET or POST): the options (`command` repeated, `container`,
//! `stdin`, `stdout`, `stderr`, `tty`), the pod's checks, and the upgrade to the WebSocket
//! channel protocol or to SPDY/3.1 ([`spdy_exec`]), after which the pod's kubelet runs the
//! session.

use http::Response;
use hyper::upgrade::OnUpgrade;
use serde_json::Value;

use super::channel::{self, STDERR, STDOUT};
use super::spdy_exec;
use super::{node_name, pick_container};
use crate::api::handlers::Ctx;
use crate::api::handlers::write::current;
use crate::api::http::Body;
use crate::api::request::Query;
use crate::api::status::ApiError;

/// What an exec or attach asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// The command (exec only).
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    /// Never with a TTY, whose output is all stdout.
    pub stderr: bool,
    pub tty: bool,
}

/// Exec or attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Exec,
    Attach,
}

impl ExecOptions {
    /// Parses the query of an exec (`kind` Exec) or attach.
    ///
    /// # Errors
    /// No stream asked for, or an exec without a command.
    pub fn parse(query: &Query, kind: Kind) -> Result<Self, ApiError> {
        let tty = query.flag("tty");
        let options = ExecOptions {
            command: query
                .all("command")
                .into_iter()
                .map(str::to_string)
                .collect(),
            stdin: query.flag("stdin"),
            stdout: query.flag("stdout"),
            stderr: query.flag("stderr") && !tty,
            tty,
        };
        if !options.stdin && !options.stdout && !query.flag("stderr") {
            return Err(ApiError::bad_request(
                "you must specify at least 1 of stdin, stdout, stderr",
            ));
        }
        if kind == Kind::Exec && options.command.is_empty() {
            return Err(ApiError::bad_request(
                "you must specify at least one command for the container",
            ));
        }
        Ok(options)
    }

    /// The first channel the client reads: upstream announces the streams on it.
    pub fn first_channel(&self) -> u8 {
        if self.stdout {
            STDOUT
        } else if self.stderr {
            STDERR
        } else {
            channel::ERROR
        }
    }
}

/// Answers `pods/exec` (`kind` Exec) or `pods/attach`; `upgrade` is the connection's pending
/// upgrade.
///
/// # Errors
/// Bad options, the pod not found or completed, a wrong container, no reachable kubelet, or
/// a request that is not a WebSocket upgrade with a channel subprotocol.
pub async fn handle(
    ctx: &Ctx<'_>,
    kind: Kind,
    upgrade: Option<OnUpgrade>,
) -> Result<Response<Body>, ApiError> {
    let options = ExecOptions::parse(&ctx.query, kind)?;
    let first = options.first_channel();
    let Some((_, pod)) = current(ctx, &ctx.key()).await? else {
        return Err(ApiError::not_found(ctx.info.subject(), ctx.name()));
    };
    let container = pick_container(&pod, ctx.query.get("container"))?;
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if matches!(phase, "Succeeded" | "Failed") {
        let verb = match kind {
            Kind::Exec => "exec into",
            Kind::Attach => "attach to",
        };
        return Err(ApiError::bad_request(format!(
            "cannot {verb} a container in a completed pod; current phase is {phase}"
        )));
    }
    let node = node_name(&pod).ok_or_else(|| {
        ApiError::bad_request(format!("pod {} does not have a host assigned", ctx.name()))
    })?;
    let kubelet = ctx.state.node_streams(node);
    let start = async move {
        match kind {
            Kind::Exec => kubelet.exec(&pod, &container, &options).await,
            Kind::Attach => kubelet.attach(&pod, &container, &options).await,
        }
    };
    let take_upgrade = || {
        upgrade.ok_or_else(|| {
            ApiError::bad_request("this connection cannot be upgraded (HTTP/1.1 is required)")
        })
    };
    if spdy_exec::is_spdy(ctx.headers) {
        if !spdy_exec::offers(ctx.headers, spdy_exec::PROTOCOL) {
            return Err(ApiError::bad_request(format!(
                "none of the offered stream protocols is supported; supported: {}",
                spdy_exec::PROTOCOL
            )));
        }
        let upgrade = take_upgrade()?;
        let options = ExecOptions::parse(&ctx.query, kind)?;
        tokio::spawn(spdy_exec::serve(upgrade, options, start));
        return Ok(spdy_exec::upgrade(spdy_exec::PROTOCOL));
    }
    if !channel::is_websocket(ctx.headers) {
        return Err(ApiError::bad_request(
            "Upgrade request required: exec and attach are served over WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) or SPDY/3.1",
        ));
    }
    let protocol = channel::negotiate(ctx.headers).ok_or_else(|| {
        ApiError::bad_request(format!(
            "none of the offered WebSocket subprotocols is supported; supported: {}",
            channel::PROTOCOLS.join(", ")
        ))
    })?;
    let upgrade = take_upgrade()?;
    let response = channel::upgrade(ctx.headers, protocol)?;
    tokio::spawn(channel::serve(upgrade, protocol, first, start));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str, kind: Kind) -> Result<ExecOptions, ApiError> {
        ExecOptions::parse(&Query::parse(Some(query)), kind)
    }

    #[test]
    fn repeated_commands_and_streams() {
        let options = parse(
            "command=sh&command=-c&command=echo+a%20b&stdin=true&stdout=true&stderr=true",
            Kind::Exec,
        )
        .unwrap();
        assert_eq!(options.command, ["sh", "-c", "echo a b"]);
        assert!(options.stdin && options.stdout && options.stderr && !options.tty);
        assert_eq!(options.first_channel(), STDOUT);
        let tty = parse("command=sh&stdout=true&stderr=true&tty=true", Kind::Exec).unwrap();
        assert!(tty.tty && !tty.stderr);
    }

    #[test]
    fn refused_options() {
        assert_eq!(parse("command=sh", Kind::Exec).unwrap_err().code, 400);
        assert_eq!(parse("stdout=true", Kind::Exec).unwrap_err().code, 400);
        let attach = parse("stdout=true&stdin=true", Kind::Attach).unwrap();
        assert!(attach.command.is_empty());
        assert_eq!(
            parse("stderr=true", Kind::Attach).unwrap().first_channel(),
            STDERR
        );
    }
}
