//! Unit tests of the rendered service proxy table: one per rule semantics.

use super::*;
use crate::agent::proxy::model::Endpoint;

fn endpoint(ip: [u8; 4], local: bool) -> Endpoint {
    Endpoint {
        ip: Ipv4Addr::from(ip),
        port: 8080,
        local,
        ready: true,
        serving: true,
        terminating: false,
    }
}

pub(crate) fn web(endpoints: Vec<Endpoint>) -> ServicePort {
    ServicePort {
        namespace: "default".into(),
        name: "web".into(),
        port_name: "http".into(),
        protocol: Protocol::Tcp,
        cluster_ip: Ipv4Addr::new(10, 43, 0, 20),
        port: 80,
        node_port: None,
        external_ips: Vec::new(),
        affinity_timeout: None,
        external_local: false,
        internal_local: false,
        endpoints,
    }
}

pub(crate) fn render(ports: &[ServicePort]) -> String {
    Ruleset {
        table: DEFAULT_TABLE,
        cluster_cidr: "10.42.0.0/16".parse().unwrap(),
        ports,
    }
    .render()
}

/// The lines of chain `name`, without indentation.
fn chain_body(script: &str, name: &str) -> Vec<String> {
    let start = format!("\tchain {name} {{\n");
    let at = script
        .find(&start)
        .unwrap_or_else(|| panic!("no chain {name} in\n{script}"));
    script[at + start.len()..]
        .lines()
        .take_while(|l| *l != "\t}")
        .map(|l| l.trim().to_string())
        .collect()
}

fn map_elements(script: &str, name: &str) -> Vec<String> {
    let start = format!("\tmap {name} {{\n");
    let at = script.find(&start).unwrap();
    script[at + start.len()..]
        .lines()
        .take_while(|l| *l != "\t}")
        .filter(|l| l.contains(" : ") && !l.contains("type "))
        .map(|l| l.trim().trim_end_matches(',').to_string())
        .collect()
}

#[test]
fn replaces_its_own_table_in_one_script() {
    let script = render(&[]);
    assert!(script.starts_with(
        "table ip kedge-proxy\ndelete table ip kedge-proxy\ntable ip kedge-proxy {\n"
    ));
    assert!(script.ends_with("}\n"));
    assert!(
        !script.contains("inet kedge "),
        "never the pod network's table"
    );
    assert_eq!(
        chain_body(&script, "nat-prerouting"),
        [
            "type nat hook prerouting priority -100; policy accept;",
            "jump services"
        ]
    );
    assert_eq!(
        chain_body(&script, "nat-output"),
        [
            "type nat hook output priority -100; policy accept;",
            "jump services"
        ]
    );
    assert_eq!(
        chain_body(&script, "masquerading"),
        [
            "meta mark & 0x4000 == 0 return",
            "meta mark set meta mark ^ 0x4000",
            "masquerade fully-random"
        ]
    );
    assert!(map_elements(&script, "service-ips").is_empty());
}

#[test]
fn cluster_ip_spreads_over_ready_endpoints_at_random() {
    let mut port = web(vec![
        endpoint([10, 42, 0, 7], true),
        endpoint([10, 42, 0, 8], false),
    ]);
    port.endpoints.push(Endpoint {
        ready: false,
        serving: false,
        ..endpoint([10, 42, 0, 9], true)
    });
    let script = render(&[port]);
    assert_eq!(
        map_elements(&script, "service-ips"),
        ["10.43.0.20 . tcp . 80 : goto svc-default/web/tcp/http"]
    );
    assert_eq!(
        chain_body(&script, "svc-default/web/tcp/http"),
        [
            "ip daddr 10.43.0.20 ip saddr != 10.42.0.0/16 jump mark-for-masquerade",
            "numgen random mod 2 vmap { 0 : goto ep-default/web/tcp/http__10.42.0.7/8080, 1 : goto ep-default/web/tcp/http__10.42.0.8/8080 }"
        ]
    );
    assert_eq!(
        chain_body(&script, "ep-default/web/tcp/http__10.42.0.7/8080"),
        [
            "ip saddr 10.42.0.7 jump mark-for-masquerade",
            "meta l4proto tcp dnat to 10.42.0.7:8080"
        ]
    );
    assert!(!script.contains("10.42.0.9"), "not ready: not used");
    assert!(map_elements(&script, "no-endpoint-services").is_empty());
}

#[test]
fn udp_and_sctp_ports_dnat_their_protocol() {
    let mut dns = web(vec![endpoint([10, 42, 0, 7], true)]);
    dns.protocol = Protocol::Udp;
    dns.port_name = "dns".into();
    dns.port = 53;
    let mut sctp = dns.clone();
    sctp.protocol = Protocol::Sctp;
    let script = render(&[dns, sctp]);
    let elements = map_elements(&script, "service-ips");
    assert!(elements.contains(&"10.43.0.20 . udp . 53 : goto svc-default/web/udp/dns".into()));
    assert!(elements.contains(&"10.43.0.20 . sctp . 53 : goto svc-default/web/sctp/dns".into()));
    assert!(script.contains("meta l4proto udp dnat to 10.42.0.7:8080"));
    assert!(script.contains("meta l4proto sctp dnat to 10.42.0.7:8080"));
}

#[test]
fn a_service_without_endpoints_is_rejected_at_once() {
    let mut port = web(Vec::new());
    port.node_port = Some(30080);
    let script = render(&[port]);
    assert!(map_elements(&script, "service-ips").is_empty());
    assert_eq!(
        map_elements(&script, "no-endpoint-services"),
        ["10.43.0.20 . tcp . 80 : goto reject-chain"]
    );
    assert_eq!(
        map_elements(&script, "no-endpoint-nodeports"),
        ["tcp . 30080 : goto reject-chain"]
    );
    assert_eq!(
        chain_body(&script, "reject-chain"),
        ["meta l4proto tcp reject with tcp reset", "reject"]
    );
    for (chain, check) in [
        ("filter-forward", "service-endpoints-check"),
        ("filter-output", "service-endpoints-check"),
        ("filter-input", "nodeport-endpoints-check"),
    ] {
        assert_eq!(
            chain_body(&script, chain)[1],
            format!("ct state new jump {check}")
        );
    }
    assert!(!script.contains("chain svc-"));
}

#[test]
fn terminating_serving_endpoints_are_used_when_none_is_ready() {
    let terminating = Endpoint {
        ready: false,
        terminating: true,
        ..endpoint([10, 42, 0, 7], true)
    };
    let script = render(&[web(vec![terminating])]);
    assert!(
        script.contains(
            "numgen random mod 1 vmap { 0 : goto ep-default/web/tcp/http__10.42.0.7/8080 }"
        )
    );
}

#[test]
fn node_ports_and_external_ips_masquerade_under_policy_cluster() {
    let mut port = web(vec![endpoint([10, 42, 0, 7], true)]);
    port.node_port = Some(30080);
    port.external_ips = vec![Ipv4Addr::new(192, 0, 2, 7)];
    let script = render(&[port]);
    assert_eq!(
        map_elements(&script, "service-nodeports"),
        ["tcp . 30080 : goto ext-default/web/tcp/http"]
    );
    assert_eq!(
        map_elements(&script, "service-ips"),
        [
            "10.43.0.20 . tcp . 80 : goto svc-default/web/tcp/http",
            "192.0.2.7 . tcp . 80 : goto ext-default/web/tcp/http"
        ]
    );
    assert_eq!(
        chain_body(&script, "ext-default/web/tcp/http"),
        ["jump mark-for-masquerade", "goto svc-default/web/tcp/http"]
    );
    assert_eq!(
        chain_body(&script, "services"),
        [
            "ip daddr . meta l4proto . th dport vmap @service-ips",
            "fib daddr type local meta l4proto . th dport vmap @service-nodeports"
        ]
    );
}

#[test]
fn external_policy_local_keeps_the_source_and_uses_local_endpoints() {
    let mut port = web(vec![
        endpoint([10, 42, 0, 7], true),
        endpoint([10, 42, 1, 8], false),
    ]);
    port.node_port = Some(30080);
    port.external_local = true;
    let script = render(&[port.clone()]);
    assert_eq!(
        chain_body(&script, "ext-default/web/tcp/http"),
        [
            "ip saddr 10.42.0.0/16 goto svc-default/web/tcp/http",
            "fib saddr type local jump mark-for-masquerade",
            "fib saddr type local goto svc-default/web/tcp/http",
            "goto local-default/web/tcp/http"
        ]
    );
    assert_eq!(
        chain_body(&script, "local-default/web/tcp/http")[1],
        "numgen random mod 1 vmap { 0 : goto ep-default/web/tcp/http__10.42.0.7/8080 }"
    );
    // ClusterIP traffic still reaches both.
    assert!(chain_body(&script, "svc-default/web/tcp/http")[1].starts_with("numgen random mod 2"));

    port.endpoints.retain(|e| !e.local);
    let script = render(&[port]);
    assert_eq!(
        chain_body(&script, "ext-default/web/tcp/http")
            .last()
            .unwrap(),
        "drop"
    );
}

#[test]
fn internal_policy_local_sends_cluster_ip_traffic_to_local_endpoints_only() {
    let mut port = web(vec![
        endpoint([10, 42, 0, 7], true),
        endpoint([10, 42, 1, 8], false),
    ]);
    port.internal_local = true;
    let script = render(&[port.clone()]);
    assert_eq!(
        map_elements(&script, "service-ips"),
        ["10.43.0.20 . tcp . 80 : goto local-default/web/tcp/http"]
    );
    assert!(!script.contains("10.42.1.8/8080 }"));

    port.endpoints.retain(|e| !e.local);
    let script = render(&[port]);
    assert_eq!(
        map_elements(&script, "no-endpoint-services"),
        ["10.43.0.20 . tcp . 80 : drop"]
    );
}

#[test]
fn session_affinity_remembers_clients_per_endpoint() {
    let mut port = web(vec![
        endpoint([10, 42, 0, 7], true),
        endpoint([10, 42, 0, 8], true),
    ]);
    port.affinity_timeout = Some(60);
    let script = render(&[port]);
    assert!(script.contains(
        "\tset affinity-default/web/tcp/http__10.42.0.7/8080 {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout 60s\n\t}\n"
    ));
    let svc = chain_body(&script, "svc-default/web/tcp/http");
    assert_eq!(
        svc[1],
        "ip saddr @affinity-default/web/tcp/http__10.42.0.7/8080 goto ep-default/web/tcp/http__10.42.0.7/8080"
    );
    assert_eq!(
        chain_body(&script, "ep-default/web/tcp/http__10.42.0.8/8080")[1],
        "update @affinity-default/web/tcp/http__10.42.0.8/8080 { ip saddr }"
    );
}

#[test]
fn the_first_service_port_keeps_a_shared_address() {
    let mut a = web(vec![endpoint([10, 42, 0, 7], true)]);
    a.external_ips = vec![Ipv4Addr::new(192, 0, 2, 7)];
    let mut b = a.clone();
    b.name = "zz".into();
    b.cluster_ip = Ipv4Addr::new(10, 43, 0, 21);
    let script = render(&[a, b]);
    let elements = map_elements(&script, "service-ips");
    assert_eq!(elements.len(), 3, "{elements:?}");
    assert!(elements.contains(&"192.0.2.7 . tcp . 80 : goto ext-default/web/tcp/http".into()));
}

#[test]
fn everything_is_defined_before_use() {
    let mut port = web(vec![
        endpoint([10, 42, 0, 7], true),
        endpoint([10, 42, 1, 8], false),
    ]);
    port.node_port = Some(30080);
    port.external_local = true;
    port.affinity_timeout = Some(5);
    let script = render(&[port]);
    let mut defined = Vec::new();
    for line in script.lines() {
        let trimmed = line.trim();
        for word in trimmed.split([' ', ',']) {
            let target = word.strip_prefix('@').unwrap_or(word);
            if (target.starts_with("ep-")
                || target.starts_with("svc-")
                || target.starts_with("local-")
                || target.starts_with("ext-")
                || target.starts_with("affinity-"))
                && !trimmed.starts_with("chain ")
                && !trimmed.starts_with("set ")
            {
                assert!(
                    defined.contains(&target.to_string()),
                    "{target} used before its definition"
                );
            }
        }
        if let Some(name) = trimmed
            .strip_prefix("chain ")
            .or_else(|| trimmed.strip_prefix("set "))
            .or_else(|| trimmed.strip_prefix("map "))
        {
            defined.push(name.trim_end_matches(" {").to_string());
        }
    }
}

fn build(ports: &[ServicePort]) -> Table {
    Ruleset {
        table: DEFAULT_TABLE,
        cluster_cidr: "10.42.0.0/16".parse().unwrap(),
        ports,
    }
    .build()
}

#[test]
fn an_unchanged_table_needs_no_update() {
    let ports = [web(vec![endpoint([10, 42, 0, 7], true)])];
    assert_eq!(
        build(&ports).update_script(&build(&ports)),
        Some(String::new())
    );
    assert_eq!(build(&ports).full_script(), render(&ports));
}

#[test]
fn an_endpoint_change_updates_only_what_changed() {
    let mut other = web(vec![endpoint([10, 42, 0, 9], true)]);
    other.name = "other".into();
    other.cluster_ip = Ipv4Addr::new(10, 43, 0, 21);
    let before = build(&[web(vec![endpoint([10, 42, 0, 7], true)]), other.clone()]);
    let after = build(&[web(vec![endpoint([10, 42, 0, 8], true)]), other]);
    let script = after.update_script(&before).unwrap();
    let t = "ip kedge-proxy";
    assert_eq!(
        script.lines().collect::<Vec<_>>(),
        [
            format!("add chain {t} ep-default/web/tcp/http__10.42.0.8/8080"),
            format!(
                "add rule {t} ep-default/web/tcp/http__10.42.0.8/8080 ip saddr 10.42.0.8 jump mark-for-masquerade"
            ),
            format!(
                "add rule {t} ep-default/web/tcp/http__10.42.0.8/8080 meta l4proto tcp dnat to 10.42.0.8:8080"
            ),
            format!("flush chain {t} svc-default/web/tcp/http"),
            format!(
                "add rule {t} svc-default/web/tcp/http ip daddr 10.43.0.20 ip saddr != 10.42.0.0/16 jump mark-for-masquerade"
            ),
            format!(
                "add rule {t} svc-default/web/tcp/http numgen random mod 1 vmap {{ 0 : goto ep-default/web/tcp/http__10.42.0.8/8080 }}"
            ),
            format!("flush chain {t} ep-default/web/tcp/http__10.42.0.7/8080"),
            format!("delete chain {t} ep-default/web/tcp/http__10.42.0.7/8080"),
        ]
    );
}

#[test]
fn a_deleted_service_leaves_the_maps_then_its_chains_and_sets_go() {
    let mut port = web(vec![endpoint([10, 42, 0, 7], true)]);
    port.affinity_timeout = Some(60);
    port.node_port = Some(30080);
    let before = build(&[port]);
    let script = build(&[]).update_script(&before).unwrap();
    let lines: Vec<&str> = script.lines().collect();
    let position = |needle: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("no {needle} in\n{script}"))
    };
    let element = position("delete element ip kedge-proxy service-ips { 10.43.0.20 . tcp . 80 }");
    let nodeport = position("delete element ip kedge-proxy service-nodeports { tcp . 30080 }");
    let chain = position("delete chain ip kedge-proxy svc-default/web/tcp/http");
    let set = position("delete set ip kedge-proxy affinity-default/web/tcp/http__10.42.0.7/8080");
    assert!(
        element < chain && nodeport < chain && chain < set,
        "{script}"
    );
    assert!(!script.contains("add "), "{script}");
}

#[test]
fn a_new_affinity_timeout_replaces_the_table() {
    let mut port = web(vec![endpoint([10, 42, 0, 7], true)]);
    port.affinity_timeout = Some(60);
    let before = build(std::slice::from_ref(&port));
    port.affinity_timeout = Some(30);
    assert_eq!(build(&[port]).update_script(&before), None);
}

/// Checks scripts with the kernel (`nft -c`), then applies them in a private network
/// namespace. Needs root and the `nft` command; skips without root, fails in CI.
#[test]
fn the_kernel_accepts_the_scripts() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var_os("CI").is_none(), "needs root in CI");
        eprintln!("skipped: nft -c needs root");
        return;
    }
    let nft = crate::agent::proxy::nft::NftCommand::default();
    let mut all = web(vec![
        endpoint([10, 42, 0, 7], true),
        endpoint([10, 42, 1, 8], false),
    ]);
    all.node_port = Some(30080);
    all.external_ips = vec![Ipv4Addr::new(192, 0, 2, 7)];
    all.affinity_timeout = Some(30);
    let mut local = all.clone();
    local.name = "local".into();
    local.cluster_ip = Ipv4Addr::new(10, 43, 0, 21);
    local.node_port = Some(30081);
    local.external_local = true;
    local.internal_local = true;
    let mut none = web(Vec::new());
    none.name = "none".into();
    none.cluster_ip = Ipv4Addr::new(10, 43, 0, 22);
    none.node_port = Some(30082);
    let mut udp = web(vec![endpoint([10, 42, 0, 7], true)]);
    udp.protocol = Protocol::Udp;
    let ports = [all, local, none, udp];
    for script in [render(&[]), render(&ports)] {
        if let Err(error) = nft.run(&["-c", "-f", "-"], &script) {
            panic!("{error}\n{script}");
        }
    }
    // Applied for real in a network namespace of a thread of its own (the `nft` children
    // inherit it; the namespace goes with the thread): the whole table, then updates; once
    // with the `nft` command and once over netlink, which must leave the same table.
    let mut changed = ports.to_vec();
    changed[0].endpoints.remove(0);
    changed[1].affinity_timeout = None;
    changed.remove(3);
    let first = build(&ports);
    let second = build(&changed);
    let third = build(&[]);
    let scripts = vec![
        first.full_script(),
        second.update_script(&first).unwrap(),
        third.update_script(&second).unwrap(),
        delete_script(DEFAULT_TABLE),
    ];
    let table = format!("ip {DEFAULT_TABLE}");
    let by_nft = crate::nftables::listings(&scripts, &table, move |script| {
        nft.run(&["-f", "-"], script).map(|_| ())
    });
    let by_netlink = crate::nftables::listings(&scripts, &table, crate::nftables::apply);
    assert!(by_nft[0].contains("10.42.1.8"), "{}", by_nft[0]);
    let listed = &by_nft[1];
    assert!(
        !listed.contains("ep-default/web/tcp/http__10.42.0.7/8080"),
        "{listed}"
    );
    assert!(!listed.contains("affinity-default/local/"), "{listed}");
    assert!(!listed.contains("udp"), "{listed}");
    assert!(!by_nft[2].contains("10.42."), "{}", by_nft[2]);
    assert_eq!(by_nft[3], "");
    for (nft, netlink) in by_nft.iter().zip(&by_netlink) {
        assert_eq!(nft, netlink);
    }
}
