//! DNS messages on the wire (with `hickory-proto`): decoding a request, building the response
//! from a local [`Reply`], and encoding it within the client's size limit — 512 bytes over UDP,
//! or the EDNS payload size the client advertised; a response that does not fit is sent with
//! only its question and the TC flag, and the client retries over TCP.

use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};

use super::records::{Reply, soa};

/// The largest UDP payload this server sends, whatever a client advertises (the DNS Flag Day
/// 2020 recommendation).
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// The limit of a response over TCP (the 2-byte length prefix).
pub const TCP_LIMIT: usize = u16::MAX as usize;

/// A decoded request, or what to do with bytes that are not one.
#[derive(Debug)]
pub enum Request {
    /// A standard query with one question of class IN.
    Query(Message),
    /// Not a cluster question (another class): forward it as it is.
    Forward(Message),
    /// A malformed or unsupported request: this response (FORMERR, NOTIMP).
    Refuse(Message),
    /// Too short to answer (no id): ignore it.
    Drop,
}

/// Decodes `bytes` as a request.
pub fn decode(bytes: &[u8]) -> Request {
    let message = match Message::from_vec(bytes) {
        Ok(message) => message,
        Err(_) if bytes.len() >= 12 => {
            let id = u16::from_be_bytes([bytes[0], bytes[1]]);
            return Request::Refuse(Message::error_msg(id, OpCode::Query, ResponseCode::FormErr));
        }
        Err(_) => return Request::Drop,
    };
    if message.metadata.message_type != MessageType::Query {
        return Request::Drop;
    }
    if message.metadata.op_code != OpCode::Query {
        return Request::Refuse(error_response(&message, ResponseCode::NotImp));
    }
    if message.queries.len() != 1 {
        return Request::Refuse(error_response(&message, ResponseCode::FormErr));
    }
    if message.queries[0].query_class() != DNSClass::IN {
        return Request::Forward(message);
    }
    Request::Query(message)
}

/// The start of a response to `request`: its id, question and EDNS presence.
fn response_to(request: &Message) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata = Metadata::response_from_request(&request.metadata);
    response.metadata.recursion_available = true;
    response.add_queries(request.queries.iter().cloned());
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_UDP_PAYLOAD);
        response.set_edns(edns);
    }
    response
}

/// An error response (no records).
pub fn error_response(request: &Message, rcode: ResponseCode) -> Message {
    let mut response = response_to(request);
    response.metadata.response_code = rcode;
    response
}

/// The authoritative response carrying `reply`; `serial` is the SOA serial of negative answers.
pub fn respond(request: &Message, reply: Reply, serial: u32) -> Message {
    let mut response = response_to(request);
    response.metadata.authoritative = reply.rcode != ResponseCode::ServFail;
    response.metadata.response_code = reply.rcode;
    if let Some(zone) = &reply.soa_zone
        && reply.answers.is_empty()
    {
        response.add_authority(soa(zone, serial));
    }
    response.add_answers(reply.answers);
    response.add_additionals(reply.additionals);
    response
}

/// The most a response to `request` may carry over UDP.
pub fn udp_limit(request: &Message) -> usize {
    match &request.edns {
        Some(edns) => usize::from(edns.max_payload().clamp(512, MAX_UDP_PAYLOAD)),
        None => 512,
    }
}

/// Encodes `response`, truncated to its question with TC set if it exceeds `limit`; a response
/// that cannot be encoded becomes SERVFAIL.
pub fn encode(response: &Message, limit: usize) -> Vec<u8> {
    match response.to_vec() {
        Ok(bytes) if bytes.len() <= limit => bytes,
        Ok(_) => {
            let truncated = response.truncate();
            truncated.to_vec().unwrap_or_default()
        }
        Err(error) => {
            tracing::warn!(%error, "cannot encode a DNS response; answering SERVFAIL");
            let mut failed = response.truncate();
            failed.metadata.truncation = false;
            failed.metadata.response_code = ResponseCode::ServFail;
            failed.to_vec().unwrap_or_default()
        }
    }
}

/// Fits an upstream's response (raw bytes) into `limit`: as it is when it fits, else
/// truncated with TC set.
pub fn fit(bytes: Vec<u8>, limit: usize) -> Vec<u8> {
    if bytes.len() <= limit {
        return bytes;
    }
    match Message::from_vec(&bytes) {
        Ok(message) => encode(&message, limit),
        Err(_) => Vec::new(),
    }
}

/// The question of a decoded query.
pub fn question(request: &Message) -> Option<(&hickory_proto::rr::Name, RecordType)> {
    request.queries.first().map(|q| (q.name(), q.query_type()))
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::Query;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record};

    use super::*;

    fn query(name: &str, qtype: RecordType, edns: Option<u16>) -> Message {
        let mut message = Message::query();
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        if let Some(size) = edns {
            let mut e = Edns::new();
            e.set_max_payload(size);
            message.set_edns(e);
        }
        message
    }

    fn many_a(n: u8) -> Reply {
        let name = Name::from_ascii("big.default.svc.cluster.local.").unwrap();
        Reply {
            answers: (0..n)
                .map(|i| Record::from_rdata(name.clone(), 5, RData::A(A::new(10, 42, 0, i))))
                .collect(),
            ..Reply::default()
        }
    }

    #[test]
    fn decodes_a_query_and_refuses_garbage() {
        let bytes = query("web.default.svc.cluster.local.", RecordType::A, None)
            .to_vec()
            .unwrap();
        assert!(matches!(decode(&bytes), Request::Query(_)));
        assert!(matches!(decode(&[1, 2, 3]), Request::Drop));
        let mut garbage = vec![0xab, 0xcd];
        garbage.extend([0xff; 20]);
        let Request::Refuse(response) = decode(&garbage) else {
            panic!("garbage is refused");
        };
        assert_eq!(response.metadata.id, 0xabcd);
        assert_eq!(response.metadata.response_code, ResponseCode::FormErr);
    }

    #[test]
    fn other_opcodes_are_not_implemented() {
        let mut message = query("x.", RecordType::A, None);
        message.metadata.op_code = OpCode::Update;
        let Request::Refuse(response) = decode(&message.to_vec().unwrap()) else {
            panic!("an update is refused");
        };
        assert_eq!(response.metadata.response_code, ResponseCode::NotImp);
    }

    #[test]
    fn a_response_keeps_id_question_and_flags() {
        let request = query("big.default.svc.cluster.local.", RecordType::A, None);
        let response = respond(&request, many_a(2), 1);
        assert_eq!(response.metadata.id, request.metadata.id);
        assert!(response.metadata.authoritative);
        assert!(response.metadata.recursion_desired);
        assert!(response.metadata.recursion_available);
        let decoded = Message::from_vec(&encode(&response, 512)).unwrap();
        assert_eq!(decoded.queries, request.queries);
        assert_eq!(decoded.answers.len(), 2);
        assert!(decoded.edns.is_none());
    }

    #[test]
    fn negative_answers_carry_the_soa() {
        let request = query("nope.default.svc.cluster.local.", RecordType::A, None);
        let reply = Reply {
            rcode: ResponseCode::NXDomain,
            soa_zone: Some("cluster.local".into()),
            ..Reply::default()
        };
        let response = respond(&request, reply, 7);
        assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(response.authorities.len(), 1);
        assert_eq!(response.authorities[0].record_type(), RecordType::SOA);
    }

    #[test]
    fn udp_responses_are_truncated_past_512_bytes_or_the_edns_size() {
        let request = query("big.default.svc.cluster.local.", RecordType::A, None);
        let response = respond(&request, many_a(60), 1);
        let bytes = encode(&response, udp_limit(&request));
        assert!(bytes.len() <= 512);
        let decoded = Message::from_vec(&bytes).unwrap();
        assert!(decoded.metadata.truncation);
        assert!(decoded.answers.is_empty());
        assert_eq!(decoded.metadata.id, request.metadata.id);

        let edns = query("big.default.svc.cluster.local.", RecordType::A, Some(4096));
        assert_eq!(udp_limit(&edns), usize::from(MAX_UDP_PAYLOAD));
        let response = respond(&edns, many_a(60), 1);
        let decoded = Message::from_vec(&encode(&response, udp_limit(&edns))).unwrap();
        assert!(!decoded.metadata.truncation);
        assert_eq!(decoded.answers.len(), 60);
        assert!(decoded.edns.is_some());

        let decoded = Message::from_vec(&encode(&response, TCP_LIMIT)).unwrap();
        assert_eq!(decoded.answers.len(), 60);
    }

    #[test]
    fn upstream_answers_are_fitted() {
        let request = query("big.example.", RecordType::A, None);
        let bytes = respond(&request, many_a(60), 1).to_vec().unwrap();
        assert_eq!(fit(bytes.clone(), TCP_LIMIT), bytes);
        let fitted = Message::from_vec(&fit(bytes, 512)).unwrap();
        assert!(fitted.metadata.truncation);
    }
}
