//! The `grpc` probe: the standard health check `grpc.health.v1.Health/Check` over HTTP/2
//! cleartext (prior knowledge, as upstream's kubelet dials without TLS) to the pod's IP.
//! The request and response are two one-field protobuf messages, encoded here by hand:
//!
//! ```text
//! HealthCheckRequest  { string service = 1; }
//! HealthCheckResponse { ServingStatus status = 1; }   // UNKNOWN 0, SERVING 1, NOT_SERVING 2, SERVICE_UNKNOWN 3
//! ```
//! Each travels as a gRPC message: a compression flag byte (0), a big-endian u32 length,
//! then the protobuf bytes. The call's outcome is the `grpc-status` trailer (or header, for
//! a trailers-only answer). Failure messages are upstream's.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// The path of the health check method.
pub const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

/// A `HealthCheckRequest` for `service` as a length-prefixed gRPC message.
pub fn encode_request(service: &str) -> Bytes {
    let mut message = BytesMut::new();
    if !service.is_empty() {
        message.put_u8(0x0a); // field 1, length-delimited
        put_varint(&mut message, service.len() as u64);
        message.put_slice(service.as_bytes());
    }
    frame(&message)
}

/// `message` with the gRPC prefix: not compressed, its length.
pub fn frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(0);
    out.put_u32(message.len() as u32);
    out.put_slice(message);
    out.freeze()
}

fn put_varint(out: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

fn get_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        if !buf.has_remaining() {
            return None;
        }
        let byte = buf.get_u8();
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The `status` of a length-prefixed `HealthCheckResponse` (unknown fields skipped);
/// `None` when it is malformed.
pub fn decode_response(body: &[u8]) -> Option<u64> {
    let mut buf = body;
    if buf.remaining() < 5 || buf.get_u8() != 0 {
        return None;
    }
    let len = buf.get_u32() as usize;
    if buf.remaining() < len {
        return None;
    }
    let mut message = &buf[..len];
    let mut status = 0;
    while message.has_remaining() {
        let key = get_varint(&mut message)?;
        match (key >> 3, key & 7) {
            (1, 0) => status = get_varint(&mut message)?,
            (_, 0) => {
                get_varint(&mut message)?;
            }
            (_, 1) if message.remaining() >= 8 => message.advance(8),
            (_, 5) if message.remaining() >= 4 => message.advance(4),
            (_, 2) => {
                let n = get_varint(&mut message)? as usize;
                if message.remaining() < n {
                    return None;
                }
                message.advance(n);
            }
            _ => return None,
        }
    }
    Some(status)
}

/// The name of a serving status, as the protobuf enum spells it.
pub fn status_name(status: u64) -> String {
    match status {
        0 => "UNKNOWN".into(),
        1 => "SERVING".into(),
        2 => "NOT_SERVING".into(),
        3 => "SERVICE_UNKNOWN".into(),
        n => n.to_string(),
    }
}

/// A duration as Go prints it for whole seconds (`1s`).
fn go_seconds(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

/// One health check of `service` at `addr` within `timeout`.
///
/// # Errors
/// Upstream's message for a failed probe: no connection, the RPC failed or timed out, or
/// the service is not `SERVING`.
pub async fn check(addr: SocketAddr, service: &str, timeout: Duration) -> Result<(), String> {
    let connect = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())
    };
    let (mut sender, connection) = match tokio::time::timeout(timeout, connect).await {
        Err(_) => {
            return Err(format!(
                "timeout: failed to connect service {:?} within {}: context deadline exceeded",
                addr.to_string(),
                go_seconds(timeout)
            ));
        }
        Ok(Err(e)) => {
            return Err(format!(
                "error: failed to connect service at {:?}: {e}",
                addr.to_string()
            ));
        }
        Ok(Ok(pair)) => pair,
    };
    let driver = tokio::spawn(connection);
    let call = async {
        let request = hyper::Request::post(format!("http://{addr}{CHECK_PATH}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("user-agent", "kube-probe/1.35")
            .header("grpc-timeout", format!("{}m", timeout.as_millis().max(1)))
            .body(Full::new(encode_request(service)))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let collected = body.collect().await.map_err(|e| e.to_string())?;
        let trailers = collected.trailers().cloned();
        let grpc = |name: &str| {
            parts
                .headers
                .get(name)
                .or_else(|| trailers.as_ref().and_then(|t| t.get(name)))
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        if !parts.status.is_success() {
            return Err(format!(
                "unexpected HTTP status code {}",
                parts.status.as_u16()
            ));
        }
        let code: u32 = grpc("grpc-status")
            .and_then(|c| c.parse().ok())
            .ok_or("the server sent no grpc-status")?;
        let message = grpc("grpc-message").unwrap_or_default();
        Ok::<_, String>((code, message, collected.to_bytes()))
    };
    let outcome = tokio::time::timeout(timeout, call).await;
    driver.abort();
    match outcome {
        Err(_) | Ok(Ok((4, _, _))) => Err(format!(
            "timeout: health rpc did not complete within {}",
            go_seconds(timeout)
        )),
        Ok(Err(e)) => Err(format!("error: health rpc probe failed: {e}")),
        Ok(Ok((12, message, _))) => Err(format!(
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {message}"
        )),
        Ok(Ok((0, _, body))) => match decode_response(&body) {
            Some(1) => Ok(()),
            Some(status) => Err(format!(
                "service unhealthy (responded with {:?})",
                status_name(status)
            )),
            None => Err("error: health rpc probe failed: malformed response".into()),
        },
        Ok(Ok((code, message, _))) => Err(format!(
            "error: health rpc probe failed: rpc error: code = {code} desc = {message}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_the_service_in_field_one() {
        assert_eq!(&encode_request("")[..], &[0, 0, 0, 0, 0]);
        assert_eq!(
            &encode_request("db")[..],
            &[0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']
        );
        let long = "s".repeat(200);
        let encoded = encode_request(&long);
        assert_eq!(&encoded[5..8], &[0x0a, 0xc8, 0x01]);
        assert_eq!(encoded.len(), 5 + 3 + 200);
    }

    #[test]
    fn a_response_gives_its_status_and_skips_other_fields() {
        assert_eq!(decode_response(&frame(&[0x08, 1])), Some(1));
        assert_eq!(decode_response(&frame(&[0x08, 2])), Some(2));
        // An empty message is the default: UNKNOWN.
        assert_eq!(decode_response(&frame(&[])), Some(0));
        // Field 2 (a string) before field 1.
        assert_eq!(
            decode_response(&frame(&[0x12, 2, b'x', b'y', 0x08, 1])),
            Some(1)
        );
        assert_eq!(decode_response(&[0, 0, 0, 0, 9, 0x08]), None);
        assert_eq!(decode_response(&frame(&[0x08])), None);
        assert_eq!(status_name(2), "NOT_SERVING");
    }
}
