//! Probes and lifecycle handlers: exactly one handler each (exec, httpGet, tcpSocket, grpc or
//! sleep), ports by number or name, thresholds, and the rules that differ per probe kind.

use serde_json::Value;

use super::json::Node;
use super::names::{http_header_name_errors, invalid_each, port_name_errors, port_num_errors};
use crate::api::field_error::FieldError;

/// A port given as a number or an IANA name.
pub(crate) fn port_num_or_name(node: &Node, errs: &mut Vec<FieldError>) {
    match node.value() {
        Value::Number(n) => {
            let p = n.as_i64().unwrap_or(0);
            for msg in port_num_errors(p) {
                errs.push(FieldError::invalid(node.path(), &Value::from(p), &msg));
            }
        }
        Value::String(s) => errs.extend(invalid_each(node.path(), s, port_name_errors(s))),
        Value::Null => {
            for msg in port_num_errors(0) {
                errs.push(FieldError::invalid(node.path(), &Value::from(0), &msg));
            }
        }
        other => errs.push(FieldError::type_invalid(
            node.path(),
            other,
            "must be of type integer or string",
        )),
    }
}

fn validate_handler(
    handler: &Node,
    allow_grpc: bool,
    allow_sleep: bool,
    grace: Option<i64>,
    errs: &mut Vec<FieldError>,
) {
    let mut count = 0;
    for kind in ["exec", "httpGet", "tcpSocket", "grpc", "sleep"] {
        let action = handler.field(kind);
        if !action.is_set() || (kind == "grpc" && !allow_grpc) || (kind == "sleep" && !allow_sleep)
        {
            continue;
        }
        if count > 0 {
            errs.push(FieldError::forbidden(
                action.path(),
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        count += 1;
        match kind {
            "exec" => {
                if action.field("command").len() == 0 {
                    errs.push(FieldError::required(action.path().child("command"), ""));
                }
            }
            "httpGet" => {
                let path = action.field("path");
                if path.str(errs).is_empty() {
                    errs.push(FieldError::required(path.path(), ""));
                }
                port_num_or_name(&action.field("port"), errs);
                let scheme = action.field("scheme");
                let s = scheme.str(errs);
                if s != "HTTP" && s != "HTTPS" {
                    errs.push(FieldError::not_supported(
                        scheme.path(),
                        &Value::from(s),
                        &["HTTP", "HTTPS"],
                    ));
                }
                for header in action.field("httpHeaders").items(errs) {
                    let name = header.field("name").str(errs);
                    errs.extend(invalid_each(
                        &action.path().child("httpHeaders"),
                        name,
                        http_header_name_errors(name),
                    ));
                }
            }
            "tcpSocket" => port_num_or_name(&action.field("port"), errs),
            "grpc" => {
                let port = action.field("port");
                let p = port.int(errs);
                for msg in port_num_errors(p) {
                    errs.push(FieldError::invalid(port.path(), &Value::from(p), &msg));
                }
            }
            _ => {
                let seconds = action.field("seconds").int(errs);
                if let Some(g) = grace
                    && (seconds <= 0 || seconds > g)
                {
                    errs.push(FieldError::invalid(
                            action.path(),
                            &Value::from(seconds),
                            &format!("must be greater than 0 and less than terminationGracePeriodSeconds ({g})"),
                        ));
                }
            }
        }
    }
    if count == 0 {
        errs.push(FieldError::required(
            handler.path(),
            "must specify a handler type",
        ));
    }
}

pub(crate) fn validate_lifecycle(lifecycle: &Node, grace: Option<i64>, errs: &mut Vec<FieldError>) {
    for hook in ["postStart", "preStop"] {
        let handler = lifecycle.field(hook);
        if handler.is_set() {
            validate_handler(&handler, false, true, grace, errs);
        }
    }
    let signal = lifecycle.field("stopSignal");
    if signal.is_set() && signal.str(errs).is_empty() {
        errs.push(FieldError::required(signal.path(), ""));
    }
}

pub(crate) fn validate_probe(
    probe: &Node,
    kind: &str,
    grace: Option<i64>,
    errs: &mut Vec<FieldError>,
) {
    if !probe.is_set() {
        return;
    }
    validate_handler(probe, true, false, grace, errs);
    for key in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        super::meta::nonnegative(&probe.field(key), errs);
    }
    let tgps = probe.field("terminationGracePeriodSeconds");
    if let Some(t) = tgps.opt_int(errs)
        && t <= 0
    {
        errs.push(FieldError::invalid(
            tgps.path(),
            &Value::from(t),
            "must be greater than 0",
        ));
    }
    match kind {
        "liveness" | "startup" => {
            let success = probe.field("successThreshold");
            let s = success.int(errs);
            if s != 1 {
                errs.push(FieldError::invalid(
                    success.path(),
                    &Value::from(s),
                    "must be 1",
                ));
            }
        }
        _ => {
            if tgps.is_set() {
                errs.push(FieldError::invalid(
                    tgps.path(),
                    tgps.value(),
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
}
