//! The listeners: UDP and TCP port 53 on the cluster DNS address. Cluster names are answered
//! inline from the index (no task per query on the UDP fast path); forwarded names and
//! ExternalName targets outside the cluster are resolved in a task of their own, so a slow
//! upstream never holds up cluster answers.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::forward::{self, read_framed, write_framed};
use super::records::{self, Lookup, Zone};
use super::watch::SharedIndex;
use super::wire::{self, Request};

/// How long an idle TCP client connection is kept.
const TCP_IDLE: std::time::Duration = std::time::Duration::from_secs(10);

/// Everything a query is answered from.
pub struct Resolver {
    pub index: SharedIndex,
    pub zone: Zone,
    pub upstreams: Vec<SocketAddr>,
}

/// What remains to be done for one request after the local lookup.
pub enum Step {
    /// The encoded response.
    Done(Vec<u8>),
    /// Forward the raw request upstream.
    Forward(Message),
    /// Resolve `target` upstream and append its answers to `response`.
    Chase {
        response: Message,
        target: Name,
        qtype: RecordType,
    },
    /// No response at all.
    Nothing,
}

impl Resolver {
    /// Answers `bytes` locally as far as possible; `limit` is the transport's size limit
    /// (`None`: UDP, from the request's EDNS).
    pub fn step(&self, bytes: &[u8], limit: Option<usize>) -> Step {
        let request = match wire::decode(bytes) {
            Request::Query(request) => request,
            Request::Forward(request) => return Step::Forward(request),
            Request::Refuse(response) => {
                return Step::Done(wire::encode(&response, limit.unwrap_or(512)));
            }
            Request::Drop => return Step::Nothing,
        };
        let limit = limit.unwrap_or_else(|| wire::udp_limit(&request));
        let Some((qname, qtype)) = wire::question(&request) else {
            return Step::Nothing;
        };
        let (lookup, serial) = {
            let index = self
                .index
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            (
                records::lookup(&index, &self.zone, qname, qtype),
                index.generation(),
            )
        };
        match lookup {
            Lookup::Forward => Step::Forward(request),
            Lookup::Local(mut reply) => {
                let chase = reply.chase.take();
                let response = wire::respond(&request, reply, serial);
                match chase {
                    Some(target) => Step::Chase {
                        response,
                        target,
                        qtype,
                    },
                    None => Step::Done(wire::encode(&response, limit)),
                }
            }
        }
    }

    /// Completes a step that needs the upstreams.
    pub async fn finish(&self, step: Step, limit: Option<usize>) -> Option<Vec<u8>> {
        match step {
            Step::Done(bytes) => Some(bytes),
            Step::Nothing => None,
            Step::Forward(request) => {
                let limit = limit.unwrap_or_else(|| wire::udp_limit(&request));
                let raw = request.to_vec().ok()?;
                match forward::forward(&self.upstreams, &raw).await {
                    Ok(answer) => Some(wire::fit(answer, limit)),
                    Err(error) => {
                        debug!(%error, "forwarding a DNS query failed; answering SERVFAIL");
                        let response = wire::error_response(&request, ResponseCode::ServFail);
                        Some(wire::encode(&response, limit))
                    }
                }
            }
            Step::Chase {
                mut response,
                target,
                qtype,
            } => {
                let limit = limit.unwrap_or(512);
                let mut query = Message::query();
                query.metadata.recursion_desired = true;
                query.add_query(hickory_proto::op::Query::query(target, qtype));
                if let Ok(raw) = query.to_vec()
                    && let Ok(answer) = forward::forward(&self.upstreams, &raw).await
                    && let Ok(answer) = Message::from_vec(&answer)
                {
                    response.add_answers(answer.answers);
                }
                Some(wire::encode(&response, limit))
            }
        }
    }
}

/// Serves UDP on `socket` until `shutdown`.
pub async fn serve_udp(resolver: Arc<Resolver>, socket: UdpSocket, shutdown: CancellationToken) {
    let socket = Arc::new(socket);
    let mut buffer = vec![0u8; 65_535];
    loop {
        let (n, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            received = socket.recv_from(&mut buffer) => match received {
                Ok(received) => received,
                Err(error) => {
                    debug!(%error, "receiving a DNS query failed");
                    continue;
                }
            },
        };
        match resolver.step(&buffer[..n], None) {
            Step::Done(bytes) => {
                let _ = socket.send_to(&bytes, peer).await;
            }
            Step::Nothing => {}
            step => {
                let resolver = resolver.clone();
                let socket = socket.clone();
                tokio::spawn(async move {
                    if let Some(bytes) = resolver.finish(step, None).await {
                        let _ = socket.send_to(&bytes, peer).await;
                    }
                });
            }
        }
    }
}

/// Serves TCP on `listener` until `shutdown`: each connection may carry several queries.
pub async fn serve_tcp(
    resolver: Arc<Resolver>,
    listener: TcpListener,
    shutdown: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    debug!(%error, "accepting a DNS connection failed");
                    continue;
                }
            },
        };
        let resolver = resolver.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = serve_connection(&resolver, stream) => {}
            }
        });
    }
}

async fn serve_connection(resolver: &Resolver, mut stream: TcpStream) {
    loop {
        let request = match tokio::time::timeout(TCP_IDLE, read_framed(&mut stream)).await {
            Ok(Ok(Some(request))) => request,
            _ => return,
        };
        let step = resolver.step(&request, Some(wire::TCP_LIMIT));
        let Some(response) = resolver.finish(step, Some(wire::TCP_LIMIT)).await else {
            continue;
        };
        if write_framed(&mut stream, &response).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::RwLock;

    use hickory_proto::op::{Edns, Query};
    use hickory_proto::rr::RData;
    use k8s_openapi::api::core::v1::{Namespace, Service};
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use serde_json::json;

    use super::*;
    use crate::agent::dns::index::ClusterIndex;

    /// A resolver for `domain` over one Service `default/big` with `endpoints` ready
    /// endpoints (headless), forwarding to `upstreams`.
    fn resolver_in(domain: &str, endpoints: u8, upstreams: Vec<SocketAddr>) -> Arc<Resolver> {
        let mut index = ClusterIndex::default();
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap();
        index.replace_all(&[namespace]);
        let service: Service = serde_json::from_value(json!({
            "metadata": {"namespace": "default", "name": "big"},
            "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}}))
        .unwrap();
        index.replace_all(&[service]);
        let addresses: Vec<_> = (1..=endpoints)
            .map(|i| json!({"addresses": [format!("10.42.0.{i}")]}))
            .collect();
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"namespace": "default", "name": "big-1",
                         "labels": {"kubernetes.io/service-name": "big"}},
            "addressType": "IPv4", "endpoints": addresses}))
        .unwrap();
        index.replace_all(&[slice]);
        Arc::new(Resolver {
            index: Arc::new(RwLock::new(index)),
            zone: Zone {
                domain: domain.into(),
                dns_ip: Ipv4Addr::LOCALHOST,
                service_cidr: "10.43.0.0/16".parse().unwrap(),
                cluster_cidr: "10.42.0.0/16".parse().unwrap(),
            },
            upstreams,
        })
    }

    fn resolver(endpoints: u8, upstreams: Vec<SocketAddr>) -> Arc<Resolver> {
        resolver_in("cluster.local", endpoints, upstreams)
    }

    fn query(name: &str, edns: bool) -> Message {
        let mut message = Message::query();
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        if edns {
            let mut e = Edns::new();
            e.set_max_payload(4096);
            message.set_edns(e);
        }
        message
    }

    async fn serve(resolver: Arc<Resolver>, shutdown: &CancellationToken) -> SocketAddr {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = udp.local_addr().unwrap();
        let tcp = TcpListener::bind(address).await.unwrap();
        tokio::spawn(serve_udp(resolver.clone(), udp, shutdown.clone()));
        tokio::spawn(serve_tcp(resolver, tcp, shutdown.clone()));
        address
    }

    async fn ask_udp(server: SocketAddr, message: &Message) -> Message {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket
            .send_to(&message.to_vec().unwrap(), server)
            .await
            .unwrap();
        let mut buffer = vec![0; 65_535];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), socket.recv(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        Message::from_vec(&buffer[..n]).unwrap()
    }

    #[tokio::test]
    async fn a_large_answer_is_truncated_over_udp_and_whole_over_tcp() {
        let shutdown = CancellationToken::new();
        let server = serve(resolver(60, Vec::new()), &shutdown).await;
        let request = query("big.default.svc.cluster.local.", false);
        let udp = ask_udp(server, &request).await;
        assert!(udp.metadata.truncation);
        assert!(udp.answers.is_empty());

        let with_edns = ask_udp(server, &query("big.default.svc.cluster.local.", true)).await;
        assert!(!with_edns.metadata.truncation);
        assert_eq!(with_edns.answers.len(), 60);

        let mut stream = TcpStream::connect(server).await.unwrap();
        for _ in 0..2 {
            write_framed(&mut stream, &request.to_vec().unwrap())
                .await
                .unwrap();
            let answer = read_framed(&mut stream).await.unwrap().unwrap();
            let answer = Message::from_vec(&answer).unwrap();
            assert!(!answer.metadata.truncation);
            assert_eq!(answer.answers.len(), 60);
        }
        shutdown.cancel();
    }

    #[tokio::test]
    async fn other_names_are_forwarded_or_servfail_without_upstreams() {
        let shutdown = CancellationToken::new();
        // The upstream is another resolver of the same kind that knows `big`: a forwarded
        // question for it comes back answered.
        let upstream = serve(resolver(1, Vec::new()), &shutdown).await;
        let upstream_zone = resolver_in("upstream.test", 1, vec![upstream]);
        let server = serve(upstream_zone, &shutdown).await;
        let answer = ask_udp(server, &query("big.default.svc.cluster.local.", false)).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert!(matches!(answer.answers[0].data, RData::A(_)));

        let lonely = serve(resolver(1, Vec::new()), &shutdown).await;
        let answer = ask_udp(lonely, &query("example.org.", false)).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
        shutdown.cancel();
    }
}
