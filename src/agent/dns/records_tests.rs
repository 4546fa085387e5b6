//! Unit tests of [`lookup`] over an in-memory index: the answers and denials CoreDNS's
//! `kubernetes` plugin gives for the same objects.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::rr::rdata::{A, CNAME, PTR, SRV};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

use super::*;

fn zone() -> Zone {
    Zone {
        domain: "cluster.local".into(),
        dns_ip: Ipv4Addr::new(10, 43, 0, 10),
        service_cidr: "10.43.0.0/16".parse().unwrap(),
        cluster_cidr: "10.42.0.0/16".parse().unwrap(),
    }
}

fn namespace(name: &str) -> Namespace {
    serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
}

fn service(namespace: &str, name: &str, spec: serde_json::Value) -> Service {
    serde_json::from_value(
        json!({"metadata": {"namespace": namespace, "name": name}, "spec": spec}),
    )
    .unwrap()
}

fn slice(
    namespace: &str,
    name: &str,
    service: &str,
    endpoints: serde_json::Value,
) -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"namespace": namespace, "name": name,
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }))
    .unwrap()
}

/// `default` and `db` namespaces; `web` (ClusterIP 10.43.1.1, ports http/80 and an unnamed
/// UDP 53); headless `db/pg` with two ready endpoints (one with hostname `pg-0`) and a not
/// ready one; `default/ext` an ExternalName to example.com, `default/alias` to `web`.
fn index() -> ClusterIndex {
    let mut index = ClusterIndex::default();
    index.replace_all(&[namespace("default"), namespace("db")]);
    index.replace_all(&[
        service(
            "default",
            "web",
            json!({"clusterIP": "10.43.1.1", "clusterIPs": ["10.43.1.1"], "ports": [
                {"name": "http", "port": 80, "protocol": "TCP"},
                {"port": 53, "protocol": "UDP"}]}),
        ),
        service(
            "db",
            "pg",
            json!({"clusterIP": "None", "ports": [{"name": "http", "port": 8080}]}),
        ),
        service(
            "default",
            "ext",
            json!({"type": "ExternalName", "externalName": "example.com"}),
        ),
        service(
            "default",
            "alias",
            json!({"type": "ExternalName", "externalName": "web.default.svc.cluster.local."}),
        ),
    ]);
    index.replace_all(&[
        slice(
            "db",
            "pg-abc",
            "pg",
            json!([
                {"addresses": ["10.42.0.5"], "hostname": "pg-0", "conditions": {"ready": true}},
                {"addresses": ["10.42.0.6"]},
                {"addresses": ["10.42.0.7"], "conditions": {"ready": false}},
            ]),
        ),
        slice(
            "default",
            "web-abc",
            "web",
            json!([{"addresses": ["10.42.0.9"], "conditions": {"ready": true}}]),
        ),
    ]);
    index
}

fn ask(index: &ClusterIndex, name: &str, qtype: RecordType) -> Reply {
    match lookup(index, &zone(), &Name::from_ascii(name).unwrap(), qtype) {
        Lookup::Local(reply) => reply,
        Lookup::Forward => panic!("{name} was forwarded"),
    }
}

fn a_records(reply: &Reply) -> Vec<Ipv4Addr> {
    let mut ips: Vec<Ipv4Addr> = reply
        .answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(A(ip)) => Some(ip),
            _ => None,
        })
        .collect();
    ips.sort();
    ips
}

fn assert_nxdomain(index: &ClusterIndex, name: &str, qtype: RecordType) {
    let reply = ask(index, name, qtype);
    assert_eq!(reply.rcode, ResponseCode::NXDomain, "{name} {qtype}");
    assert!(reply.answers.is_empty());
    assert_eq!(reply.soa_zone.as_deref(), Some("cluster.local"));
}

fn assert_nodata(index: &ClusterIndex, name: &str, qtype: RecordType) {
    let reply = ask(index, name, qtype);
    assert_eq!(reply.rcode, ResponseCode::NoError, "{name} {qtype}");
    assert!(
        reply.answers.is_empty(),
        "{name} {qtype}: {:?}",
        reply.answers
    );
    assert!(reply.soa_zone.is_some());
}

#[test]
fn a_cluster_ip_service_answers_its_address_in_any_case() {
    let index = index();
    for name in [
        "web.default.svc.cluster.local.",
        "WEB.Default.SVC.cluster.LOCAL.",
    ] {
        let reply = ask(&index, name, RecordType::A);
        assert_eq!(reply.rcode, ResponseCode::NoError);
        assert_eq!(a_records(&reply), vec![Ipv4Addr::new(10, 43, 1, 1)]);
        assert_eq!(reply.answers[0].ttl, TTL);
        assert_eq!(
            reply.answers[0].name.to_ascii(),
            name,
            "the question's case is kept"
        );
    }
    assert_nodata(&index, "web.default.svc.cluster.local.", RecordType::AAAA);
    assert_nodata(&index, "web.default.svc.cluster.local.", RecordType::TXT);
    assert_nodata(&index, "web.default.svc.cluster.local.", RecordType::CNAME);
}

#[test]
fn missing_names_are_nxdomain_and_empty_ones_nodata() {
    let index = index();
    assert_nxdomain(&index, "nope.default.svc.cluster.local.", RecordType::A);
    assert_nxdomain(&index, "nope.default.svc.cluster.local.", RecordType::AAAA);
    assert_nxdomain(&index, "web.nope.svc.cluster.local.", RecordType::A);
    assert_nxdomain(&index, "nope.svc.cluster.local.", RecordType::A);
    assert_nxdomain(&index, "web.default.nope.cluster.local.", RecordType::A);
    assert_nxdomain(
        &index,
        "a.b.c.web.default.svc.cluster.local.",
        RecordType::A,
    );
    // The search path's first tries for `web.default` and `example.com`.
    assert_nxdomain(
        &index,
        "web.default.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_nxdomain(
        &index,
        "example.com.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_nodata(&index, "default.svc.cluster.local.", RecordType::A);
    assert_nodata(&index, "svc.cluster.local.", RecordType::A);
    assert_nodata(&index, "pod.cluster.local.", RecordType::A);
    assert_nodata(&index, "cluster.local.", RecordType::A);
    assert_nodata(&index, "default.pod.cluster.local.", RecordType::A);
    // SOA is answered at the apex only, and is an empty success elsewhere.
    assert_eq!(
        ask(&index, "cluster.local.", RecordType::SOA).answers[0].record_type(),
        RecordType::SOA
    );
    assert_nodata(&index, "nope.default.svc.cluster.local.", RecordType::SOA);
    let ns = ask(&index, "cluster.local.", RecordType::NS);
    assert_eq!(ns.answers.len(), 1);
    assert_eq!(
        a_records(&Reply {
            answers: ns.additionals,
            ..Reply::default()
        }),
        vec![zone().dns_ip]
    );
}

#[test]
fn a_headless_service_answers_its_ready_endpoints() {
    let index = index();
    let reply = ask(&index, "pg.db.svc.cluster.local.", RecordType::A);
    assert_eq!(
        a_records(&reply),
        vec![Ipv4Addr::new(10, 42, 0, 5), Ipv4Addr::new(10, 42, 0, 6)]
    );
    let pod = ask(&index, "pg-0.pg.db.svc.cluster.local.", RecordType::A);
    assert_eq!(a_records(&pod), vec![Ipv4Addr::new(10, 42, 0, 5)]);
    let by_ip = ask(&index, "10-42-0-6.pg.db.svc.cluster.local.", RecordType::A);
    assert_eq!(a_records(&by_ip), vec![Ipv4Addr::new(10, 42, 0, 6)]);
    assert_nxdomain(&index, "10-42-0-7.pg.db.svc.cluster.local.", RecordType::A);
    assert_nxdomain(&index, "pg-1.pg.db.svc.cluster.local.", RecordType::A);
    // An endpoint of a ClusterIP Service is found by name too.
    let web_pod = ask(
        &index,
        "10-42-0-9.web.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(a_records(&web_pod), vec![Ipv4Addr::new(10, 42, 0, 9)]);
}

#[test]
fn a_headless_service_without_ready_endpoints_is_nxdomain() {
    let mut index = index();
    index.remove(&slice("db", "pg-abc", "pg", json!([])));
    assert_nxdomain(&index, "pg.db.svc.cluster.local.", RecordType::A);
}

#[test]
fn srv_records_for_named_ports() {
    let index = index();
    let reply = ask(
        &index,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(reply.answers.len(), 1);
    let RData::SRV(srv) = &reply.answers[0].data else {
        panic!("an SRV record");
    };
    assert_eq!(srv.port, 80);
    assert_eq!(srv.weight, 100, "CoreDNS's weight for a lone record");
    assert_eq!(srv.target.to_ascii(), "web.default.svc.cluster.local.");
    assert_eq!(
        a_records(&Reply {
            answers: reply.additionals.clone(),
            ..Reply::default()
        }),
        vec![Ipv4Addr::new(10, 43, 1, 1)]
    );
    assert_nxdomain(
        &index,
        "_https._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_nxdomain(
        &index,
        "_http._udp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    // Without port and protocol: every port.
    let all = ask(&index, "web.default.svc.cluster.local.", RecordType::SRV);
    let mut ports: Vec<u16> = all
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(srv) => Some(srv.port),
            _ => None,
        })
        .collect();
    ports.sort();
    assert_eq!(ports, vec![53, 80]);

    let headless = ask(
        &index,
        "_http._tcp.pg.db.svc.cluster.local.",
        RecordType::SRV,
    );
    let mut targets: Vec<String> = headless
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(SRV {
                target,
                port: 8080,
                weight,
                ..
            }) => Some(format!("{} {weight}", target.to_ascii())),
            _ => None,
        })
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        vec![
            "10-42-0-6.pg.db.svc.cluster.local. 50".to_string(),
            "pg-0.pg.db.svc.cluster.local. 50".to_string()
        ]
    );
    assert_eq!(headless.additionals.len(), 2);
}

#[test]
fn an_external_name_is_a_cname() {
    let index = index();
    let reply = ask(&index, "ext.default.svc.cluster.local.", RecordType::A);
    assert_eq!(reply.rcode, ResponseCode::NoError);
    assert_eq!(
        reply.answers[0].data,
        RData::CNAME(CNAME(Name::from_ascii("example.com.").unwrap()))
    );
    assert_eq!(reply.chase, Some(Name::from_ascii("example.com.").unwrap()));
    let cname = ask(&index, "ext.default.svc.cluster.local.", RecordType::CNAME);
    assert_eq!(cname.answers.len(), 1);
    assert_eq!(cname.chase, None);
    assert_nxdomain(&index, "x.ext.default.svc.cluster.local.", RecordType::A);
    // A target inside the cluster is followed at once.
    let alias = ask(&index, "alias.default.svc.cluster.local.", RecordType::A);
    assert_eq!(alias.answers.len(), 2);
    assert_eq!(a_records(&alias), vec![Ipv4Addr::new(10, 43, 1, 1)]);
    assert_eq!(alias.chase, None);
}

#[test]
fn pod_names_answer_the_address_they_spell() {
    let index = index();
    let reply = ask(
        &index,
        "10-42-0-99.default.pod.cluster.local.",
        RecordType::A,
    );
    assert_eq!(a_records(&reply), vec![Ipv4Addr::new(10, 42, 0, 99)]);
    assert_nodata(
        &index,
        "10-42-0-99.default.pod.cluster.local.",
        RecordType::AAAA,
    );
    assert_nxdomain(&index, "10-42-0-99.nope.pod.cluster.local.", RecordType::A);
    assert_nxdomain(
        &index,
        "not-an-ip.default.pod.cluster.local.",
        RecordType::A,
    );
}

#[test]
fn reverse_names_of_cluster_addresses() {
    let index = index();
    let ptr = |name: &str| {
        ask(&index, name, RecordType::PTR)
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::PTR(PTR(target)) => Some(target.to_ascii()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ptr("1.1.43.10.in-addr.arpa."),
        vec!["web.default.svc.cluster.local."]
    );
    assert_eq!(
        ptr("5.0.42.10.in-addr.arpa."),
        vec!["pg-0.pg.db.svc.cluster.local."]
    );
    assert_eq!(
        ptr("6.0.42.10.in-addr.arpa."),
        vec!["10-42-0-6.pg.db.svc.cluster.local."]
    );
    let missing = ask(&index, "99.9.43.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(missing.rcode, ResponseCode::NXDomain);
    assert_eq!(
        lookup(
            &index,
            &zone(),
            &Name::from_ascii("8.8.8.8.in-addr.arpa.").unwrap(),
            RecordType::PTR
        ),
        Lookup::Forward
    );
}

#[test]
fn other_names_are_forwarded() {
    let index = index();
    for name in ["example.com.", "cluster.local.example.com.", "local."] {
        assert_eq!(
            lookup(
                &index,
                &zone(),
                &Name::from_ascii(name).unwrap(),
                RecordType::A
            ),
            Lookup::Forward,
            "{name}"
        );
    }
}

#[test]
fn changes_show_at_once() {
    let mut index = index();
    let web = service(
        "default",
        "web",
        json!({"clusterIP": "10.43.1.1", "ports": [{"port": 80}]}),
    );
    index.remove(&web);
    assert_nxdomain(&index, "web.default.svc.cluster.local.", RecordType::A);
    let moved = service(
        "default",
        "web",
        json!({"clusterIP": "10.43.2.2", "ports": [{"port": 80}]}),
    );
    index.upsert(&moved);
    assert_eq!(
        a_records(&ask(
            &index,
            "web.default.svc.cluster.local.",
            RecordType::A
        )),
        vec![Ipv4Addr::new(10, 43, 2, 2)]
    );
    index.remove(&namespace("default"));
    assert_nxdomain(&index, "web.default.svc.cluster.local.", RecordType::A);
}

#[test]
fn denials_are_servfail_until_every_kind_is_listed() {
    let mut index = ClusterIndex::default();
    index.replace_all(&[namespace("default")]);
    let reply = ask(&index, "web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(reply.rcode, ResponseCode::ServFail);
    index.replace_all::<Service>(&[]);
    index.replace_all::<EndpointSlice>(&[]);
    assert_nxdomain(&index, "web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(index.reverse(IpAddr::V4(Ipv4Addr::new(10, 43, 1, 1))), None);
}
