//! The CSR approving controller, as upstream's `csrapproving`: a CertificateSigningRequest
//! for a kubelet client certificate (`kubernetes.io/kube-apiserver-client-kubelet`,
//! `O=system:nodes`, `CN=system:node:<name>`, client usages, no subject alternative names)
//! is approved (`AutoApproved`) when a SubjectAccessReview says its requester may create
//! `certificatesigningrequests/selfnodeclient` (a node renewing its own certificate) or
//! `certificatesigningrequests/nodeclient` (a bootstrap token). Everything else waits for
//! `kubectl certificate approve`.

use std::collections::BTreeSet;
use std::sync::Arc;

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

use super::{Context, ReconcileError, retry_later};
use crate::api::auth::UserInfo;
use crate::api::local;
use crate::pki::{RequestFacts, parse_request};

pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";

fn user() -> UserInfo {
    UserInfo::system("certificate-controller")
}

/// The PEM request of a CSR (`spec.request` is base64).
pub fn request_pem(csr: &CertificateSigningRequest) -> Option<String> {
    String::from_utf8(csr.spec.request.0.clone()).ok()
}

pub fn usages(csr: &CertificateSigningRequest) -> BTreeSet<String> {
    csr.spec
        .usages
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn usage_set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

/// Go's `%v` of a sorted string list.
fn go_list(list: &BTreeSet<String>) -> String {
    format!("[{}]", list.iter().cloned().collect::<Vec<_>>().join(" "))
}

/// Upstream's `ValidateKubeletClientCSR`.
pub fn validate_kubelet_client(
    facts: &RequestFacts,
    usages: &BTreeSet<String>,
) -> Result<(), String> {
    if facts.organizations != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    if !facts.dns.is_empty() {
        return Err("DNS subjectAltNames are not allowed".into());
    }
    if !facts.emails.is_empty() {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if !facts.ips.is_empty() {
        return Err("IP subjectAltNames are not allowed".into());
    }
    if !facts.uris.is_empty() {
        return Err("URI subjectAltNames are not allowed".into());
    }
    if !facts.common_name.starts_with("system:node:") {
        return Err("subject common name does not begin with system:node:".into());
    }
    let required = usage_set(&["digital signature", "key encipherment", "client auth"]);
    if *usages != required && *usages != usage_set(&["digital signature", "client auth"]) {
        return Err(format!("usages did not match {}", go_list(&required)));
    }
    Ok(())
}

/// Upstream's `ValidateKubeletServingCSR`.
pub fn validate_kubelet_serving(
    facts: &RequestFacts,
    usages: &BTreeSet<String>,
) -> Result<(), String> {
    if facts.organizations != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    if facts.dns.is_empty() && facts.ips.is_empty() {
        return Err("DNS or IP subjectAltName is required".into());
    }
    if !facts.emails.is_empty() {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if !facts.uris.is_empty() {
        return Err("URI subjectAltNames are not allowed".into());
    }
    let required = usage_set(&["digital signature", "key encipherment", "server auth"]);
    if *usages != required && *usages != usage_set(&["digital signature", "server auth"]) {
        return Err(format!("usages did not match {}", go_list(&required)));
    }
    if !facts.common_name.starts_with("system:node:") {
        return Err("subject common name does not begin with system:node:".into());
    }
    Ok(())
}

/// Whether the requester may create CSRs of `subresource`, per a SubjectAccessReview.
async fn authorized(
    ctx: &Context,
    csr: &CertificateSigningRequest,
    subresource: &str,
) -> Result<bool, ReconcileError> {
    let spec = &csr.spec;
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": spec.username,
            "uid": spec.uid,
            "groups": spec.groups,
            "extra": spec.extra,
            "resourceAttributes": {
                "group": "certificates.k8s.io",
                "resource": "certificatesigningrequests",
                "verb": "create",
                "subresource": subresource,
            },
        },
    });
    let (code, body) = local::request(
        &ctx.api,
        &user(),
        Method::POST,
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        "application/json",
        Bytes::from(review.to_string()),
    )
    .await;
    if !(200..300).contains(&code) {
        return Err(ReconcileError::Request(format!(
            "subject access review failed: HTTP {code}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Ok(answer.pointer("/status/allowed").and_then(Value::as_bool) == Some(true))
}

pub fn has_condition(csr: &CertificateSigningRequest, kind: &str) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == kind))
}

pub fn has_certificate(csr: &CertificateSigningRequest) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .is_some_and(|c| !c.0.is_empty())
}

async fn reconcile(
    csr: Arc<CertificateSigningRequest>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    if has_certificate(&csr) || has_condition(&csr, "Approved") || has_condition(&csr, "Denied") {
        return Ok(Action::await_change());
    }
    if csr.spec.signer_name != KUBELET_CLIENT_SIGNER {
        return Ok(Action::await_change());
    }
    let name = csr.metadata.name.clone().unwrap_or_default();
    let Some(facts) = request_pem(&csr).and_then(|pem| parse_request(&pem).ok()) else {
        warn!(csr = name, "unable to parse csr");
        return Ok(Action::await_change());
    };
    if validate_kubelet_client(&facts, &usages(&csr)).is_err() {
        return Ok(Action::await_change());
    }
    let own = csr.spec.username.as_deref() == Some(facts.common_name.as_str());
    let recognizers = [
        (
            own,
            "selfnodeclient",
            "Auto approving self kubelet client certificate after SubjectAccessReview.",
        ),
        (
            true,
            "nodeclient",
            "Auto approving kubelet client certificate after SubjectAccessReview.",
        ),
    ];
    let mut tried = Vec::new();
    for (recognized, subresource, message) in recognizers {
        if !recognized {
            continue;
        }
        tried.push(subresource);
        if !authorized(&ctx, &csr, subresource).await? {
            continue;
        }
        let mut approved = serde_json::to_value(&*csr).unwrap_or(Value::Null);
        let mut conditions: Vec<Value> = approved
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        conditions.push(json!({"type": "Approved", "status": "True", "reason": "AutoApproved", "message": message}));
        if !approved.get("status").is_some_and(Value::is_object) {
            approved["status"] = json!({});
        }
        approved["status"]["conditions"] = json!(conditions);
        let uri =
            format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}/approval");
        let (code, body) = local::request(
            &ctx.api,
            &user(),
            Method::PUT,
            &uri,
            "application/json",
            Bytes::from(approved.to_string()),
        )
        .await;
        return match code {
            200..=299 => {
                info!(
                    csr = name,
                    subresource, "approved certificate signing request"
                );
                Ok(Action::await_change())
            }
            404 | 409 => Ok(Action::await_change()),
            _ => Err(ReconcileError::Request(format!(
                "error updating approval for csr: HTTP {code}: {}",
                String::from_utf8_lossy(&body)
            ))),
        };
    }
    info!(
        csr = name,
        ?tried,
        "recognized csr but subject access review was not approved"
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

    fn node_facts() -> RequestFacts {
        RequestFacts {
            common_name: "system:node:edge-1".into(),
            organizations: vec!["system:nodes".into()],
            ..Default::default()
        }
    }

    #[test]
    fn kubelet_client_requests_are_recognized() {
        let client = usage_set(&["digital signature", "client auth"]);
        assert_eq!(validate_kubelet_client(&node_facts(), &client), Ok(()));
        let mut other = node_facts();
        other.organizations = vec!["devs".into()];
        assert_eq!(
            validate_kubelet_client(&other, &client),
            Err("subject organization is not system:nodes".into())
        );
        let serving = usage_set(&["digital signature", "server auth"]);
        assert_eq!(
            validate_kubelet_client(&node_facts(), &serving),
            Err("usages did not match [client auth digital signature key encipherment]".into())
        );
    }

    #[test]
    fn kubelet_serving_requests_need_names() {
        let serving = usage_set(&["digital signature", "key encipherment", "server auth"]);
        assert_eq!(
            validate_kubelet_serving(&node_facts(), &serving),
            Err("DNS or IP subjectAltName is required".into())
        );
        let mut named = node_facts();
        named.dns = vec!["edge-1".into()];
        assert_eq!(validate_kubelet_serving(&named, &serving), Ok(()));
    }
}
