//! HTTP plumbing shared by the handlers: the response body type, JSON and text answers, and
//! content negotiation of the `Accept` header.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use serde_json::Value;

use super::status::ApiError;

/// The body of every answer: whole, or streamed (watch, logs).
pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

fn respond(status: u16, content_type: &str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// A JSON answer.
pub fn json(status: u16, value: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    respond(status, "application/json", full(bytes))
}

/// A JSON answer whose bytes are already serialized.
pub fn json_bytes(status: u16, bytes: impl Into<Bytes>) -> Response<Body> {
    respond(status, "application/json", full(bytes))
}

/// A JSON answer with a specific media type (aggregated discovery names its version).
pub fn json_as(status: u16, content_type: &str, value: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    respond(status, content_type, full(bytes))
}

pub fn text(status: u16, text: impl Into<String>) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", full(text.into()))
}

pub fn bytes(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    respond(status, content_type, full(body))
}

pub fn streaming(content_type: &str, body: Body) -> Response<Body> {
    let mut response = respond(200, content_type, body);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    response
}

pub fn error(error: &ApiError) -> Response<Body> {
    json(error.code, &error.to_status())
}

/// One media range of an `Accept` header with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRange {
    pub mime: String,
    pub params: Vec<(String, String)>,
}

impl MediaRange {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The media ranges a request accepts, in the order given.
pub fn accepts(headers: &HeaderMap) -> Vec<MediaRange> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Vec::new();
    };
    accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';').map(str::trim);
            let mime = parts.next()?.to_ascii_lowercase();
            if mime.is_empty() {
                return None;
            }
            let params = parts
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
                .collect();
            Some(MediaRange { mime, params })
        })
        .collect()
}

/// Which Table version the client asked for (`application/json;as=Table;v=v1;g=meta.k8s.io`),
/// if it prefers a Table to the plain object.
pub fn wants_table(headers: &HeaderMap) -> bool {
    accepts(headers).iter().any(|r| {
        r.param("as") == Some("Table")
            && r.param("g") == Some("meta.k8s.io")
            && matches!(r.param("v"), Some("v1" | "v1beta1"))
    })
}

/// Whether a client asked for partial object metadata (`as=PartialObjectMetadata`).
pub fn wants_metadata_only(headers: &HeaderMap) -> Option<bool> {
    accepts(headers).iter().find_map(|r| match r.param("as") {
        Some("PartialObjectMetadata") => Some(false),
        Some("PartialObjectMetadataList") => Some(true),
        _ => None,
    })
}

/// The body's media type, without parameters.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_negotiation() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"),
        );
        assert!(wants_table(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!wants_table(&headers));
    }
}
