//! The built-in ServiceLB, as k3s's: a LoadBalancer Service (without a
//! `spec.loadBalancerClass`) gets this node's InternalIP as `status.loadBalancer.ingress`,
//! written through the status subresource, and the proxy serves the Service's ports there
//! (the ingress IP is an external destination in [`super::rules`]). A Service that stops being
//! a LoadBalancer has the node's entry taken back.
//!
//! Unlike k3s no `svclb` pods are started: the node's own rules answer. Two LoadBalancer
//! Services on the same port share the address; the first by namespace/name wins.

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use tracing::{info, warn};

/// The ingress IPs a Service should have, when they differ from its status: `Some(ips)` is
/// the status to write.
pub fn wanted_ingress(service: &Service, node_ip: IpAddr) -> Option<Vec<String>> {
    let spec = service.spec.as_ref()?;
    let current: Vec<String> = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.clone())
        .collect();
    let node = node_ip.to_string();
    let ours = spec.type_.as_deref() == Some("LoadBalancer") && spec.load_balancer_class.is_none();
    if ours {
        (current != [node.clone()]).then(|| vec![node])
    } else if spec.load_balancer_class.is_none() && current.contains(&node) {
        Some(current.into_iter().filter(|ip| *ip != node).collect())
    } else {
        None
    }
}

/// Writes the wanted ingress of every Service that needs it.
///
/// # Errors
/// Returns the first failed write (after trying every Service); the caller retries later.
pub async fn reconcile(
    client: &kube::Client,
    services: &[Arc<Service>],
    node_ip: IpAddr,
) -> Result<(), kube::Error> {
    let mut result = Ok(());
    for service in services {
        let Some(ingress) = wanted_ingress(service, node_ip) else {
            continue;
        };
        let (Some(namespace), Some(name)) = (
            service.metadata.namespace.as_deref(),
            service.metadata.name.as_deref(),
        ) else {
            continue;
        };
        let entries: Vec<_> = ingress
            .iter()
            .map(|ip| json!({"ip": ip, "ipMode": "VIP"}))
            .collect();
        let patch = json!({"status": {"loadBalancer": {"ingress": entries}}});
        let api: Api<Service> = Api::namespaced(client.clone(), namespace);
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                info!(service = %format!("{namespace}/{name}"), ?ingress, "ServiceLB set the load balancer ingress")
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(error) => {
                warn!(%error, service = %format!("{namespace}/{name}"), "ServiceLB cannot write the load balancer status");
                if result.is_ok() {
                    result = Err(error);
                }
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(value: serde_json::Value) -> Service {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn load_balancers_get_the_node_ip_once() {
        let node: IpAddr = "192.168.1.5".parse().unwrap();
        let pending = service(json!({
            "metadata": {"namespace": "default", "name": "lb"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}
        }));
        assert_eq!(
            wanted_ingress(&pending, node),
            Some(vec!["192.168.1.5".to_string()])
        );
        let done = service(json!({
            "metadata": {"namespace": "default", "name": "lb"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.5"}]}}
        }));
        assert_eq!(wanted_ingress(&done, node), None);
    }

    #[test]
    fn other_classes_are_left_alone_and_former_load_balancers_released() {
        let node: IpAddr = "192.168.1.5".parse().unwrap();
        let classed = service(json!({
            "metadata": {"namespace": "default", "name": "lb"},
            "spec": {"type": "LoadBalancer", "loadBalancerClass": "example.com/lb"}
        }));
        assert_eq!(wanted_ingress(&classed, node), None);
        let former = service(json!({
            "metadata": {"namespace": "default", "name": "lb"},
            "spec": {"type": "ClusterIP"},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.5"}]}}
        }));
        assert_eq!(wanted_ingress(&former, node), Some(vec![]));
        let plain = service(json!({
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {"type": "ClusterIP"}
        }));
        assert_eq!(wanted_ingress(&plain, node), None);
    }
}
