//! Unit tests of the incremental update: each update must be exactly the diff of two full
//! renders, and leave the state a full render of the new Service ports would have.

use std::net::Ipv4Addr;

use super::*;
use crate::agent::proxy::model::{Endpoint, Protocol};
use crate::agent::proxy::rules::DEFAULT_TABLE;

fn endpoint(last: u8, local: bool) -> Endpoint {
    Endpoint {
        ip: Ipv4Addr::new(10, 42, 0, last),
        port: 8080,
        local,
        ready: true,
        serving: true,
        terminating: false,
    }
}

fn port(name: &str, cluster_ip: u8, endpoints: Vec<Endpoint>) -> ServicePort {
    ServicePort {
        namespace: "default".into(),
        name: name.into(),
        port_name: "http".into(),
        protocol: Protocol::Tcp,
        cluster_ip: Ipv4Addr::new(10, 43, 0, cluster_ip),
        port: 80,
        node_port: None,
        external_ips: Vec::new(),
        affinity_timeout: None,
        external_local: false,
        internal_local: false,
        endpoints,
    }
}

fn ruleset(ports: &[ServicePort]) -> Ruleset<'_> {
    Ruleset {
        table: DEFAULT_TABLE,
        cluster_cidr: "10.42.0.0/16".parse().unwrap(),
        ports,
    }
}

/// Sorted by id, as the proxy's Service ports are.
fn sorted(mut ports: Vec<ServicePort>) -> Vec<ServicePort> {
    ports.sort_by_key(ServicePort::id);
    ports
}

/// A sequence of Service port sets, each a few changes away from the one before.
fn steps() -> Vec<Vec<ServicePort>> {
    let web = port("web", 20, vec![endpoint(7, true), endpoint(8, false)]);
    let mut api = port("api", 21, vec![endpoint(9, true)]);
    api.node_port = Some(30080);
    api.external_ips = vec![Ipv4Addr::new(192, 0, 2, 7)];
    // Same external address as `api`, later by id: it gets the address once `api` is gone.
    let mut shared = port("zz-shared", 22, vec![endpoint(10, true)]);
    shared.external_ips = vec![Ipv4Addr::new(192, 0, 2, 7)];
    let mut udp = port("dns", 23, vec![endpoint(11, true)]);
    udp.protocol = Protocol::Udp;

    let mut steps = vec![Vec::new(), vec![web.clone()]];
    // One endpoint replaced, a Service added.
    let mut web2 = web.clone();
    web2.endpoints[0] = endpoint(12, true);
    steps.push(vec![web2.clone(), api.clone(), shared.clone()]);
    // Session affinity on; external policy Local; a UDP Service.
    let mut web3 = web2.clone();
    web3.affinity_timeout = Some(60);
    let mut api3 = api.clone();
    api3.external_local = true;
    steps.push(vec![web3.clone(), api3, shared.clone(), udp.clone()]);
    // The Service with the shared address goes: the other one takes the address.
    steps.push(vec![web3.clone(), shared.clone(), udp.clone()]);
    // No endpoints left for one; affinity off again.
    let mut web5 = web3.clone();
    web5.endpoints.clear();
    let mut udp5 = udp.clone();
    udp5.internal_local = true;
    udp5.endpoints.push(endpoint(13, false));
    steps.push(vec![web5, shared.clone(), udp5]);
    // Endpoints back; everything else gone.
    steps.push(vec![web]);
    steps.push(Vec::new());
    steps.into_iter().map(sorted).collect()
}

#[test]
fn an_update_is_the_diff_of_full_renders() {
    let steps = steps();
    let mut applied = Applied::new(&ruleset(&steps[0]));
    for pair in steps.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let expected = ruleset(after)
            .build()
            .update_script(&ruleset(before).build())
            .unwrap();
        let script = applied.update(&ruleset(after)).unwrap().script;
        assert_eq!(script, expected, "from {before:#?}\nto {after:#?}");
        assert_eq!(applied, Applied::new(&ruleset(after)));
        assert_eq!(applied.full_script(), ruleset(after).render());
    }
}

#[test]
fn an_unchanged_sync_writes_nothing() {
    let ports = &steps()[3];
    let mut applied = Applied::new(&ruleset(ports));
    assert_eq!(applied.update(&ruleset(ports)), Some(Update::default()));
}

#[test]
fn one_endpoint_change_touches_only_its_service() {
    let ports = sorted(vec![
        port("a", 20, vec![endpoint(7, true)]),
        port("b", 21, vec![endpoint(8, true)]),
    ]);
    let mut applied = Applied::new(&ruleset(&ports));
    let mut changed = ports.clone();
    changed[1].endpoints[0] = endpoint(9, true);
    let script = applied.update(&ruleset(&changed)).unwrap().script;
    assert!(
        script.contains("ep-default/b/tcp/http__10.42.0.9/8080"),
        "{script}"
    );
    assert!(!script.contains("default/a/"), "{script}");
    assert!(
        !script.contains("element"),
        "the ClusterIP still leads to svc-: {script}"
    );
}

#[test]
fn a_removed_udp_endpoint_leaves_its_flows_to_clear() {
    let mut dns = port("dns", 23, vec![endpoint(11, true), endpoint(12, true)]);
    dns.protocol = Protocol::Udp;
    let mut applied = Applied::new(&ruleset(std::slice::from_ref(&dns)));
    dns.endpoints.remove(0);
    let update = applied
        .update(&ruleset(std::slice::from_ref(&dns)))
        .unwrap();
    let endpoints: Vec<_> = update.stale_flows.iter().map(|f| f.endpoint).collect();
    assert_eq!(endpoints, [(Ipv4Addr::new(10, 42, 0, 11), 8080)]);
    let update = applied.update(&ruleset(&[])).unwrap();
    let endpoints: Vec<_> = update.stale_flows.iter().map(|f| f.endpoint).collect();
    assert_eq!(endpoints, [(Ipv4Addr::new(10, 42, 0, 12), 8080)]);
}

#[test]
fn a_new_affinity_timeout_needs_the_whole_table_and_keeps_the_state() {
    let mut web = port("web", 20, vec![endpoint(7, true)]);
    web.affinity_timeout = Some(60);
    let mut applied = Applied::new(&ruleset(std::slice::from_ref(&web)));
    let before = applied.clone();
    web.affinity_timeout = Some(30);
    assert_eq!(applied.update(&ruleset(std::slice::from_ref(&web))), None);
    assert_eq!(applied, before);
}

/// The updates applied for real in a private network namespace, after the full table.
/// Needs root and the `nft` command; skips without root, fails in CI.
#[test]
fn the_kernel_accepts_the_updates() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var_os("CI").is_none(), "needs root in CI");
        eprintln!("skipped: nft needs root");
        return;
    }
    // Applied with `nft` and over netlink, which must list the same table after each step.
    let steps = steps();
    let mut applied = Applied::new(&ruleset(&steps[0]));
    let mut scripts = vec![applied.full_script()];
    for ports in &steps[1..] {
        scripts.push(applied.update(&ruleset(ports)).unwrap().script);
    }
    scripts.push(crate::agent::proxy::rules::delete_script(DEFAULT_TABLE));
    let nft = crate::agent::proxy::nft::NftCommand::default();
    let table = format!("ip {DEFAULT_TABLE}");
    let by_nft = crate::nftables::listings(&scripts, &table, move |script| {
        nft.run(&["-f", "-"], script).map(|_| ())
    });
    let by_netlink = crate::nftables::listings(&scripts, &table, crate::nftables::apply);
    for (listed, ports) in by_nft.iter().zip(&steps) {
        for port in ports {
            assert!(listed.contains(&port.cluster_ip.to_string()), "{listed}");
        }
    }
    assert_eq!(by_nft.last().map(String::as_str), Some(""));
    for (nft, netlink) in by_nft.iter().zip(&by_netlink) {
        assert_eq!(nft, netlink);
    }
}
