//! The answer to one question, from the [`ClusterIndex`] alone: a pure function, answering as
//! CoreDNS's `kubernetes` plugin does (with `pods insecure`, as k3s configures it).
//!
//! Inside the cluster domain, a name is read right to left as
//! `[_port._proto. | endpoint.] service . namespace . (svc|pod)`:
//! - the apex, `svc.<domain>` and `pod.<domain>` exist without data (NODATA), and the apex
//!   has the SOA and NS records;
//! - a second label other than `svc` or `pod`, more labels than the forms above, or a
//!   namespace that does not exist is NXDOMAIN; `<ns>.svc` of an existing namespace is NODATA;
//! - a Service answers with its ClusterIPs, a headless one with its ready endpoints' addresses,
//!   an ExternalName one with a CNAME; with no matching port, endpoint or address it is
//!   NXDOMAIN, and a name that exists without records of the asked type is NODATA (`AAAA` of
//!   an IPv4-only Service);
//! - `<a-b-c-d>.<ns>.pod` answers the address it spells for any existing namespace.
//!
//! Reverse names (`d.c.b.a.in-addr.arpa`) of ClusterIPs and ready endpoints answer PTR; other
//! addresses of the service and cluster CIDRs are NXDOMAIN; everything else is forwarded.
//! Until the first list of every kind is in, a name that would be denied is SERVFAIL instead.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use ipnet::Ipv4Net;

use super::index::{ClusterIndex, PortRecord, ServiceKind};

/// The TTL of every cluster record.
pub const TTL: u32 = 5;

/// What the cluster DNS is authoritative for.
#[derive(Clone, Debug)]
pub struct Zone {
    /// The cluster domain, lowercase, without the trailing dot (`cluster.local`).
    pub domain: String,
    /// The address the DNS answers at: the NS record's glue.
    pub dns_ip: Ipv4Addr,
    pub service_cidr: Ipv4Net,
    pub cluster_cidr: Ipv4Net,
}

/// The local answer to a question.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reply {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub additionals: Vec<Record>,
    /// For a negative answer: the zone whose SOA goes into the authority section.
    pub soa_zone: Option<String>,
    /// An ExternalName's target outside the cluster domain, to be resolved upstream and
    /// appended.
    pub chase: Option<Name>,
}

/// Where a question is answered.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    Local(Reply),
    /// Not a cluster name: ask the upstream resolvers.
    Forward,
}

/// Why a cluster name has no records (CoreDNS's name errors versus an empty success).
enum Miss {
    NxDomain,
    NoData,
}

/// One thing a cluster name stands for, before it is shaped into records of the asked type.
struct Hit {
    /// An address (none for an ExternalName or an endpoint without one).
    ip: Option<IpAddr>,
    /// The port, for SRV.
    port: Option<u16>,
    /// The SRV target: `<svc>.<ns>.svc.<domain>` or `<endpoint>.<svc>.<ns>.svc.<domain>`.
    target: String,
    /// An ExternalName's CNAME target.
    cname: Option<String>,
}

/// A parsed cluster name (CoreDNS's `recordRequest`).
#[derive(Default)]
struct Request<'a> {
    port: &'a str,
    protocol: &'a str,
    endpoint: &'a str,
    service: &'a str,
    namespace: &'a str,
    pod_or_svc: &'a str,
}

/// Answers `qname` (any case) of type `qtype` from `index`.
pub fn lookup(index: &ClusterIndex, zone: &Zone, qname: &Name, qtype: RecordType) -> Lookup {
    let name = qname.to_lowercase().to_ascii();
    let name = name.trim_end_matches('.');
    if let Some(lookup) = reverse(index, zone, qname, name, qtype) {
        return lookup;
    }
    let base = if name == zone.domain {
        ""
    } else if let Some(base) = name.strip_suffix(&format!(".{}", zone.domain)) {
        base
    } else {
        return Lookup::Forward;
    };
    let mut reply = Reply::default();
    let apex = base.is_empty();
    if apex && qtype == RecordType::SOA {
        reply.answers.push(soa(&zone.domain, index.generation()));
        return Lookup::Local(reply);
    }
    if apex && qtype == RecordType::NS {
        let ns = fqdn(&format!("ns.dns.{}", zone.domain));
        reply.answers.push(record(qname, RData::NS(NS(ns.clone()))));
        reply
            .additionals
            .push(record(&ns, RData::A(A(zone.dns_ip))));
        return Lookup::Local(reply);
    }
    if qtype == RecordType::SOA {
        // CoreDNS answers SOA only at the apex, and an empty success elsewhere.
        return Lookup::Local(negative(zone, ResponseCode::NoError));
    }
    let hits = match find(index, zone, base) {
        Ok(hits) => hits,
        Err(Miss::NoData) => return Lookup::Local(negative(zone, ResponseCode::NoError)),
        Err(Miss::NxDomain) if !index.is_synced() => {
            return Lookup::Local(Reply {
                rcode: ResponseCode::ServFail,
                ..Reply::default()
            });
        }
        Err(Miss::NxDomain) => return Lookup::Local(negative(zone, ResponseCode::NXDomain)),
    };
    shape(index, zone, qname, qtype, &hits)
}

/// Shapes what a name stands for into records of `qtype`.
fn shape(
    index: &ClusterIndex,
    zone: &Zone,
    qname: &Name,
    qtype: RecordType,
    hits: &[Hit],
) -> Lookup {
    let mut reply = Reply::default();
    match qtype {
        RecordType::A | RecordType::AAAA | RecordType::CNAME => {
            if let Some(target) = hits.iter().find_map(|h| h.cname.as_deref()) {
                let target_name = fqdn(target);
                reply
                    .answers
                    .push(record(qname, RData::CNAME(CNAME(target_name.clone()))));
                if qtype != RecordType::CNAME {
                    chase(index, zone, &target_name, qtype, &mut reply);
                }
                return Lookup::Local(reply);
            }
            let mut seen = Vec::new();
            for ip in hits.iter().filter_map(|h| h.ip) {
                if seen.contains(&ip) {
                    continue;
                }
                seen.push(ip);
                match (qtype, ip) {
                    (RecordType::A, IpAddr::V4(v4)) => {
                        reply.answers.push(record(qname, RData::A(A(v4))))
                    }
                    (RecordType::AAAA, IpAddr::V6(v6)) => {
                        reply.answers.push(record(qname, RData::AAAA(AAAA(v6))))
                    }
                    _ => {}
                }
            }
        }
        RecordType::SRV => {
            let with_port: Vec<&Hit> = hits
                .iter()
                .filter(|h| h.port.is_some() || h.cname.is_some())
                .collect();
            // CoreDNS's weights: 100 shared among the records (every hit counts, also one
            // without a port, which gets no record), at least 1.
            let weight = u16::try_from(100 / hits.len().max(1)).unwrap_or(1).max(1);
            let mut glue = Vec::new();
            for hit in with_port {
                let target = fqdn(hit.cname.as_deref().unwrap_or(&hit.target));
                let port = hit.port.unwrap_or(0);
                let srv = record(qname, RData::SRV(SRV::new(0, weight, port, target.clone())));
                if !reply.answers.contains(&srv) {
                    reply.answers.push(srv);
                }
                if let Some(ip) = hit.ip
                    && !glue.contains(&(target.clone(), ip))
                {
                    glue.push((target, ip));
                }
            }
            for (target, ip) in glue {
                let data = match ip {
                    IpAddr::V4(v4) => RData::A(A(v4)),
                    IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
                };
                reply.additionals.push(record(&target, data));
            }
        }
        _ => {}
    }
    if reply.answers.is_empty() {
        return Lookup::Local(negative(zone, ResponseCode::NoError));
    }
    Lookup::Local(reply)
}

/// Follows an ExternalName's CNAME inside the cluster domain; a target outside it is left to
/// the server to resolve upstream.
fn chase(index: &ClusterIndex, zone: &Zone, target: &Name, qtype: RecordType, reply: &mut Reply) {
    match lookup(index, zone, target, qtype) {
        Lookup::Local(inner) if inner.rcode == ResponseCode::NoError && inner.chase.is_none() => {
            // One level only: a CNAME pointing at another ExternalName stops there.
            reply.answers.extend(
                inner
                    .answers
                    .into_iter()
                    .filter(|r| r.record_type() != RecordType::CNAME),
            );
        }
        Lookup::Local(_) => {}
        Lookup::Forward => reply.chase = Some(target.clone()),
    }
}

/// What the cluster name `base` (relative to the domain, lowercase) stands for.
fn find(index: &ClusterIndex, zone: &Zone, base: &str) -> Result<Vec<Hit>, Miss> {
    let request = parse(base)?;
    if request.pod_or_svc.is_empty() {
        return Err(Miss::NoData);
    }
    if !index.has_namespace(request.namespace) {
        return Err(Miss::NxDomain);
    }
    if request.service.is_empty() {
        return Err(Miss::NoData);
    }
    if request.pod_or_svc == "pod" {
        return find_pod(&request);
    }
    let hits = find_services(index, zone, &request);
    if hits.is_empty() {
        Err(Miss::NxDomain)
    } else {
        Ok(hits)
    }
}

fn parse(base: &str) -> Result<Request<'_>, Miss> {
    let mut request = Request::default();
    if base.is_empty() || base == "svc" || base == "pod" {
        return Ok(request);
    }
    let mut labels = base.rsplit('.');
    let mut next = || labels.next();
    let Some(pod_or_svc) = next() else {
        return Ok(request);
    };
    if pod_or_svc != "svc" && pod_or_svc != "pod" {
        return Err(Miss::NxDomain);
    }
    request.pod_or_svc = pod_or_svc;
    let Some(namespace) = next() else {
        return Ok(request);
    };
    request.namespace = namespace;
    let Some(service) = next() else {
        return Ok(request);
    };
    request.service = service;
    let rest: Vec<&str> = labels.collect();
    match rest.as_slice() {
        [] => {}
        [endpoint] => request.endpoint = endpoint,
        [protocol, port] => {
            request.protocol = protocol.strip_prefix('_').unwrap_or(protocol);
            request.port = port.strip_prefix('_').unwrap_or(port);
        }
        _ => return Err(Miss::NxDomain),
    }
    Ok(request)
}

/// `<a-b-c-d>.<ns>.pod`: the address the label spells.
fn find_pod(request: &Request<'_>) -> Result<Vec<Hit>, Miss> {
    let label = request.service;
    let text = if label.matches('-').count() == 3 && !label.contains("--") {
        label.replace('-', ".")
    } else {
        label.replace('-', ":")
    };
    let ip: IpAddr = text.parse().map_err(|_| Miss::NxDomain)?;
    Ok(vec![Hit {
        ip: Some(ip),
        port: None,
        target: String::new(),
        cname: None,
    }])
}

fn port_matches(request: &Request<'_>, port: &PortRecord) -> bool {
    (request.port.is_empty() || request.port == port.name)
        && (request.protocol.is_empty() || request.protocol.eq_ignore_ascii_case(&port.protocol))
}

fn find_services(index: &ClusterIndex, zone: &Zone, request: &Request<'_>) -> Vec<Hit> {
    let mut hits = Vec::new();
    let (namespace, name) = (request.namespace, request.service);
    let Some(service) = index.service(namespace, name) else {
        return hits;
    };
    let service_name = format!("{name}.{namespace}.svc.{}", zone.domain);
    match &service.kind {
        ServiceKind::ExternalName(target) => {
            if request.endpoint.is_empty() {
                hits.push(Hit {
                    ip: None,
                    port: None,
                    target: service_name,
                    cname: Some(target.clone()),
                });
            }
        }
        kind if *kind == ServiceKind::Headless || !request.endpoint.is_empty() => {
            for (endpoint, ports) in index.endpoints(namespace, name) {
                for &ip in &endpoint.addresses {
                    let label = endpoint.label(ip);
                    if !request.endpoint.is_empty() && request.endpoint != label {
                        continue;
                    }
                    let target = format!("{label}.{service_name}");
                    if ports.is_empty() {
                        // Like CoreDNS's sentinel port: the address answers A, not SRV.
                        if request.port.is_empty() && request.protocol.is_empty() {
                            hits.push(Hit {
                                ip: Some(ip),
                                port: None,
                                target: target.clone(),
                                cname: None,
                            });
                        }
                        continue;
                    }
                    for port in ports.iter().filter(|p| port_matches(request, p)) {
                        hits.push(Hit {
                            ip: Some(ip),
                            port: Some(port.port),
                            target: target.clone(),
                            cname: None,
                        });
                    }
                }
            }
        }
        ServiceKind::ClusterIp(ips) => {
            for port in service.ports.iter().filter(|p| port_matches(request, p)) {
                for &ip in ips {
                    hits.push(Hit {
                        ip: Some(ip),
                        port: Some(port.port),
                        target: service_name.clone(),
                        cname: None,
                    });
                }
            }
        }
        ServiceKind::Headless => {}
    }
    hits
}

/// PTR and other questions under `in-addr.arpa`; `None` for names that are not reverse IPv4
/// names.
fn reverse(
    index: &ClusterIndex,
    zone: &Zone,
    qname: &Name,
    name: &str,
    qtype: RecordType,
) -> Option<Lookup> {
    let digits = name.strip_suffix(".in-addr.arpa")?;
    let octets: Vec<u8> = digits
        .split('.')
        .map(|d| d.parse().ok())
        .collect::<Option<_>>()?;
    let [d, c, b, a] = octets.as_slice() else {
        return Some(Lookup::Forward);
    };
    let ip = Ipv4Addr::new(*a, *b, *c, *d);
    let ours = zone.service_cidr.contains(&ip) || zone.cluster_cidr.contains(&ip);
    let Some(target) = index.reverse(IpAddr::V4(ip)) else {
        if !ours {
            return Some(Lookup::Forward);
        }
        let mut reply = negative(zone, ResponseCode::NXDomain);
        reply.soa_zone = Some("in-addr.arpa".into());
        if !index.is_synced() {
            reply = Reply {
                rcode: ResponseCode::ServFail,
                ..Reply::default()
            };
        }
        return Some(Lookup::Local(reply));
    };
    let mut reply = Reply::default();
    if qtype == RecordType::PTR {
        let target = fqdn(&format!("{target}.{}", zone.domain));
        reply.answers.push(record(qname, RData::PTR(PTR(target))));
    } else {
        reply.soa_zone = Some("in-addr.arpa".into());
    }
    Some(Lookup::Local(reply))
}

fn negative(zone: &Zone, rcode: ResponseCode) -> Reply {
    Reply {
        rcode,
        soa_zone: Some(zone.domain.clone()),
        ..Reply::default()
    }
}

/// `name.` as a DNS name; a name that does not parse becomes the root (never for names built
/// from validated Kubernetes names).
pub fn fqdn(name: &str) -> Name {
    let mut parsed = Name::from_ascii(name).unwrap_or_else(|_| Name::root());
    parsed.set_fqdn(true);
    parsed
}

pub fn record(name: &Name, data: RData) -> Record {
    Record::from_rdata(name.clone(), TTL, data)
}

/// The zone's SOA, as CoreDNS writes it.
pub fn soa(zone: &str, serial: u32) -> Record {
    let data = SOA::new(
        fqdn(&format!("ns.dns.{zone}")),
        fqdn(&format!("hostmaster.{zone}")),
        serial,
        7200,
        1800,
        86400,
        TTL,
    );
    record(&fqdn(zone), RData::SOA(data))
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
