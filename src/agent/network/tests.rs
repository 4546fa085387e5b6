//! Unit tests of [`PodNetwork`] over the recording kernel: what setup, attach, detach and
//! teardown ask of the kernel, and what survives a restart.

use std::path::Path;
use std::sync::Arc;

use super::kernel::{NetworkCall, RecordingNetworkKernel};
use super::*;

fn config(dir: &Path) -> NetworkConfig {
    NetworkConfig::new(
        "10.42.0.0/24".parse().unwrap(),
        "10.42.0.0/16".parse().unwrap(),
        dir.to_path_buf(),
    )
}

fn kernel() -> Arc<RecordingNetworkKernel> {
    Arc::new(RecordingNetworkKernel {
        default_mtu: Some(1500),
        ..Default::default()
    })
}

fn scripts(kernel: &RecordingNetworkKernel) -> Vec<String> {
    kernel
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            NetworkCall::ApplyNftables(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn setup_creates_bridge_forwarding_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel();
    let network = PodNetwork::setup_with(config(dir.path()), kernel.clone())
        .await
        .unwrap();
    assert_eq!(network.gateway(), "10.42.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(network.mtu(), 1450);
    let calls = kernel.calls();
    assert_eq!(calls[0], NetworkCall::DefaultRouteMtu);
    assert_eq!(
        calls[1],
        NetworkCall::EnsureBridge(BridgeSpec {
            name: "cni0".into(),
            gateway: "10.42.0.1/24".parse().unwrap(),
            mtu: 1450,
        })
    );
    assert!(calls.contains(&NetworkCall::WriteSysctl {
        path: "net/ipv4/ip_forward".into(),
        value: "1".into()
    }));
    assert!(calls.contains(&NetworkCall::WriteSysctl {
        path: "net/ipv4/conf/cni0/route_localnet".into(),
        value: "1".into()
    }));
    let scripts = scripts(&kernel);
    assert_eq!(scripts.len(), 1);
    assert!(scripts[0].contains("table inet kedge {"));
    assert!(scripts[0].contains("ip saddr 10.42.0.0/16 masquerade fully-random"));
}

#[tokio::test]
async fn an_explicit_mtu_skips_the_default_route() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel();
    let mut config = config(dir.path());
    config.mtu = 9000;
    let network = PodNetwork::setup_with(config, kernel.clone())
        .await
        .unwrap();
    assert_eq!(network.mtu(), 9000);
    assert!(!kernel.calls().contains(&NetworkCall::DefaultRouteMtu));
}

#[tokio::test]
async fn attach_and_detach_a_pod() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel();
    let network = PodNetwork::setup_with(config(dir.path()), kernel.clone())
        .await
        .unwrap();
    let port = HostPort {
        host_port: 8080,
        container_port: 80,
        protocol: Protocol::Tcp,
        host_ip: None,
    };
    let addresses = network
        .attach("uid-a", Path::new("/run/kedge/netns/uid-a"), &[port])
        .await
        .unwrap();
    assert_eq!(addresses.ip, "10.42.0.2".parse::<IpAddr>().unwrap());
    assert_eq!(addresses.gateway, network.gateway());
    let spec = PodInterfaceSpec {
        host_name: host_interface("uid-a"),
        bridge: "cni0".into(),
        netns: "/run/kedge/netns/uid-a".into(),
        address: "10.42.0.2/24".parse().unwrap(),
        gateway: "10.42.0.1".parse().unwrap(),
        mtu: 1450,
    };
    assert!(
        kernel
            .calls()
            .contains(&NetworkCall::CreatePodInterface(spec))
    );
    assert!(scripts(&kernel)[1].contains("tcp dport 8080 dnat ip to 10.42.0.2:80"));
    assert_eq!(network.allocated(), vec!["uid-a".to_string()]);

    // The same pod again: same IP, and the table is not re-applied for unchanged ports.
    let again = network
        .attach("uid-a", Path::new("/run/kedge/netns/uid-a"), &[port])
        .await
        .unwrap();
    assert_eq!(again.ip, addresses.ip);
    assert_eq!(scripts(&kernel).len(), 2);

    network.detach("uid-a").await.unwrap();
    assert!(network.allocated().is_empty());
    assert!(
        kernel
            .calls()
            .contains(&NetworkCall::DeleteLink(host_interface("uid-a")))
    );
    let last = scripts(&kernel).pop().unwrap();
    assert!(!last.contains("dport 8080"));
    // Idempotent.
    network.detach("uid-a").await.unwrap();
}

#[tokio::test]
async fn allocations_and_host_ports_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = PodNetwork::setup_with(config(dir.path()), kernel())
        .await
        .unwrap();
    let port = HostPort {
        host_port: 5353,
        container_port: 53,
        protocol: Protocol::Udp,
        host_ip: None,
    };
    let a = first.attach("a", Path::new("/ns/a"), &[]).await.unwrap();
    let b = first
        .attach("b", Path::new("/ns/b"), &[port])
        .await
        .unwrap();
    drop(first);

    let kernel = kernel();
    let second = PodNetwork::setup_with(config(dir.path()), kernel.clone())
        .await
        .unwrap();
    assert_eq!(second.allocated(), vec!["a".to_string(), "b".to_string()]);
    assert_eq!(second.pod_ip("a"), Some(a.ip));
    assert!(scripts(&kernel)[0].contains(&format!("udp dport 5353 dnat ip to {}:53", b.ip)));
    // Nothing attached is touched by setup.
    assert!(
        !kernel
            .calls()
            .iter()
            .any(|c| matches!(c, NetworkCall::DeleteLink(_)))
    );
}

#[tokio::test]
async fn a_failed_attach_keeps_the_ip_for_the_retry() {
    let dir = tempfile::tempdir().unwrap();
    let failing = Arc::new(RecordingNetworkKernel {
        default_mtu: Some(1500),
        fail_on: Some("CreatePodInterface"),
        ..Default::default()
    });
    let network = PodNetwork::setup_with(config(dir.path()), failing)
        .await
        .unwrap();
    let error = network
        .attach("a", Path::new("/ns/a"), &[])
        .await
        .unwrap_err();
    assert!(matches!(error, NetworkError::PodInterface { .. }));
    assert!(error.to_string().contains("attaching pod a"));
    assert_eq!(network.pod_ip("a"), Some("10.42.0.2".parse().unwrap()));
}

#[tokio::test]
async fn invalid_configs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut outside = config(dir.path());
    outside.pod_cidr = "10.99.0.0/24".parse().unwrap();
    let mut long_bridge = config(dir.path());
    long_bridge.bridge = "a-very-long-bridge-name".into();
    let mut bad_table = config(dir.path());
    bad_table.table = "kedge; flush ruleset".into();
    for config in [outside, long_bridge, bad_table] {
        let error = PodNetwork::setup_with(config, kernel()).await.unwrap_err();
        assert!(matches!(error, NetworkError::InvalidConfig(_)), "{error}");
    }
}

#[tokio::test]
async fn teardown_deletes_table_and_bridge() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = RecordingNetworkKernel::default();
    PodNetwork::teardown_with(&config(dir.path()), &kernel)
        .await
        .unwrap();
    assert_eq!(
        kernel.calls(),
        vec![
            NetworkCall::ApplyNftables("table inet kedge\ndelete table inet kedge\n".into()),
            NetworkCall::DeleteBridge("cni0".into()),
        ]
    );
}

#[test]
fn protocols_parse_from_the_kubernetes_spelling() {
    assert_eq!("TCP".parse::<Protocol>().unwrap(), Protocol::Tcp);
    assert_eq!("".parse::<Protocol>().unwrap(), Protocol::Tcp);
    assert_eq!("UDP".parse::<Protocol>().unwrap(), Protocol::Udp);
    assert_eq!("SCTP".parse::<Protocol>().unwrap(), Protocol::Sctp);
    assert!("ICMP".parse::<Protocol>().is_err());
}

/// The kubelet shares one `PodNetwork` between tasks.
#[tokio::test]
async fn pod_network_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_sync<T: Send + Sync>() {}
    assert_sync::<PodNetwork>();
    let dir = tempfile::tempdir().unwrap();
    let setup = PodNetwork::setup_with(config(dir.path()), kernel());
    assert_send(&setup);
    let network = setup.await.unwrap();
    let attach = network.attach("a", Path::new("/ns/a"), &[]);
    assert_send(&attach);
    attach.await.unwrap();
    let detach = network.detach("a");
    assert_send(&detach);
    detach.await.unwrap();
    assert_send(&PodNetwork::setup(config(dir.path())));
    assert_send(&PodNetwork::teardown(&network.config().clone()));
}

#[test]
fn host_interface_names_fit_the_kernel_limit() {
    let name = host_interface("0b5c7a0e-1f7e-4c7a-9d4e-2f3a4b5c6d7e");
    assert_eq!(name.len(), 15);
    assert!(name.starts_with("veth"));
    assert_eq!(name, host_interface("0b5c7a0e-1f7e-4c7a-9d4e-2f3a4b5c6d7e"));
    assert_ne!(name, host_interface("another"));
}
