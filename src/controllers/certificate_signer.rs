//! The CSR signing controller, as upstream's `csrsigning` for the built-in signers: once a
//! CertificateSigningRequest is `Approved` (and not `Denied` or `Failed`), it is checked
//! against its signer's rules and issued from the cluster CAs into `status.certificate`:
//!
//! - `kubernetes.io/kube-apiserver-client`: any subject, usages among `digital signature`,
//!   `key encipherment` and (required) `client auth` — signed by the client CA;
//! - `kubernetes.io/kube-apiserver-client-kubelet`: `O=system:nodes`,
//!   `CN=system:node:<name>`, client usages, no subject alternative names — client CA;
//! - `kubernetes.io/kubelet-serving`: `O=system:nodes`, `CN=system:node:<name>`, DNS or IP
//!   names only, serving usages — signed by the server CA, which serves the cluster's TLS;
//! - `kubernetes.io/legacy-unknown` and other signers are never signed here.
//!
//! A request breaking its signer's rules gets the `Failed` condition
//! (`SignerValidationFailure`). Certificates live `spec.expirationSeconds` (at least ten
//! minutes) or one year, whichever is shorter, and never past the CA.

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use http::Method;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::certificate_approver::{
    KUBELET_CLIENT_SIGNER, has_certificate, has_condition, request_pem, usages,
    validate_kubelet_client, validate_kubelet_serving,
};
use super::{Context, ReconcileError, retry_later};
use crate::api::auth::UserInfo;
use crate::api::local;
use crate::api::object;
use crate::pki::{IssuingCa, RequestFacts, parse_request};

const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";
const SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";
/// Upstream's `--cluster-signing-duration` default.
const MAX_LIFETIME_SECONDS: i64 = 365 * 24 * 3600;
/// The shortest lifetime issued (twice the backdating).
const MIN_LIFETIME_SECONDS: i64 = 600;

fn user() -> UserInfo {
    UserInfo::system("certificate-controller")
}

/// Upstream's `validAPIServerClientUsages`.
fn validate_client(usages: &BTreeSet<String>) -> Result<(), String> {
    let mut client_auth = false;
    for usage in usages {
        match usage.as_str() {
            "digital signature" | "key encipherment" => {}
            "client auth" => client_auth = true,
            other => return Err(format!("invalid usage for client certificate: {other}")),
        }
    }
    if !client_auth {
        return Err("missing required usage for client certificate: client auth".into());
    }
    Ok(())
}

/// A signer's rules on a request and its usages; the error says which rule it breaks.
type SignerRules = fn(&RequestFacts, &BTreeSet<String>) -> Result<(), String>;

/// The CA of a built-in signer and its rules; `None` for signers not signed here.
fn signer_for(name: &str) -> Option<(IssuingCa, SignerRules)> {
    match name {
        CLIENT_SIGNER => Some((IssuingCa::Client, |_, usages| validate_client(usages))),
        KUBELET_CLIENT_SIGNER => Some((IssuingCa::Client, validate_kubelet_client)),
        SERVING_SIGNER => Some((IssuingCa::Server, validate_kubelet_serving)),
        _ => None,
    }
}

/// Upstream's signer `duration`: the requested lifetime within ten minutes and one year.
fn lifetime(expiration_seconds: Option<i32>) -> i64 {
    match expiration_seconds {
        None => MAX_LIFETIME_SECONDS,
        Some(s) => i64::from(s).clamp(MIN_LIFETIME_SECONDS, MAX_LIFETIME_SECONDS),
    }
}

async fn update_status(
    ctx: &Context,
    csr: &CertificateSigningRequest,
    status: Value,
) -> Result<(), ReconcileError> {
    let name = csr.metadata.name.clone().unwrap_or_default();
    let mut updated = serde_json::to_value(csr).unwrap_or(Value::Null);
    updated["status"] = status;
    let uri = format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}/status");
    let (code, body) = local::request(
        &ctx.api,
        &user(),
        Method::PUT,
        &uri,
        "application/json",
        Bytes::from(updated.to_string()),
    )
    .await;
    match code {
        200..=299 | 404 | 409 => Ok(()),
        _ => Err(ReconcileError::Request(format!(
            "error updating signature for csr {name}: HTTP {code}: {}",
            String::from_utf8_lossy(&body)
        ))),
    }
}

async fn reconcile(
    csr: Arc<CertificateSigningRequest>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let approved = has_condition(&csr, "Approved") && !has_condition(&csr, "Denied");
    let failed = csr
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Failed" && c.status == "True"));
    if !approved || failed || has_certificate(&csr) {
        return Ok(Action::await_change());
    }
    let Some((ca, validate)) = signer_for(&csr.spec.signer_name) else {
        return Ok(Action::await_change());
    };
    let name = csr.metadata.name.clone().unwrap_or_default();
    let mut status = serde_json::to_value(&csr.status).unwrap_or(Value::Null);
    if !status.is_object() {
        status = json!({});
    }
    let pem = request_pem(&csr).unwrap_or_default();
    let checked = parse_request(&pem)
        .map_err(|e| e.to_string())
        .and_then(|facts| validate(&facts, &usages(&csr)));
    if let Err(error) = checked {
        let mut conditions: Vec<Value> = status
            .get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let now = object::now();
        conditions.push(
            json!({"type": "Failed", "status": "True", "reason": "SignerValidationFailure",
            "message": error, "lastUpdateTime": now, "lastTransitionTime": now}),
        );
        status["conditions"] = json!(conditions);
        warn!(
            csr = name,
            error, "certificate signing request refused by its signer"
        );
        update_status(&ctx, &csr, status).await?;
        return Ok(Action::await_change());
    }
    let seconds = lifetime(csr.spec.expiration_seconds);
    let usage_list: Vec<String> = csr.spec.usages.clone().unwrap_or_default();
    let certificate = ctx
        .api
        .pki
        .sign_request(&pem, ca, &usage_list, time::Duration::seconds(seconds))
        .map_err(|e| ReconcileError::Request(format!("error auto signing csr: {e}")))?;
    status["certificate"] = json!(base64::engine::general_purpose::STANDARD.encode(certificate));
    update_status(&ctx, &csr, status).await?;
    info!(
        csr = name,
        signer = csr.spec.signer_name,
        seconds,
        "issued certificate"
    );
    Ok(Action::await_change())
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let requests: Api<CertificateSigningRequest> = Api::all(ctx.client.clone());
    Controller::new(requests, watcher::Config::default())
        .graceful_shutdown_on(async move { shutdown.cancelled().await })
        .run(reconcile, retry_later, Arc::new(ctx))
        .for_each(|_| async {})
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_stay_within_bounds() {
        assert_eq!(lifetime(None), MAX_LIFETIME_SECONDS);
        assert_eq!(lifetime(Some(60)), 600);
        assert_eq!(lifetime(Some(3600)), 3600);
        assert_eq!(lifetime(Some(i32::MAX)), MAX_LIFETIME_SECONDS);
    }

    #[test]
    fn client_usages_need_client_auth() {
        let set = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            validate_client(&set(&["digital signature", "client auth"])),
            Ok(())
        );
        assert_eq!(
            validate_client(&set(&["server auth", "client auth"])),
            Err("invalid usage for client certificate: server auth".into())
        );
        assert_eq!(
            validate_client(&set(&["digital signature"])),
            Err("missing required usage for client certificate: client auth".into())
        );
        assert!(signer_for("kubernetes.io/legacy-unknown").is_none());
    }
}
