//! A registry served in the test process from an OCI layout, for what Debian's
//! docker-registry cannot show: Docker Hub's bearer-token flow, request counts (pull
//! deduplication) and a connection cut in the middle of a blob (resumption).

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;

const TOKEN: &str = "kedge-test-token";

/// One request the registry served.
#[derive(Debug, Clone)]
pub struct Logged {
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    log: Vec<Logged>,
    /// Blob digest → bytes after which the next download of it is cut.
    cut: HashMap<String, usize>,
}

pub struct FakeRegistry {
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeRegistry {
    /// Serves `layout` as repository `name`, tag `tag` = the layout's top descriptor; token
    /// requests must carry `credentials` (basic) when given.
    pub async fn start(layout: &Path, credentials: Option<(&str, &str)>) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let layout = layout.to_path_buf();
        let expected_basic = credentials.map(|(u, p)| {
            use base64::Engine;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        let task = {
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let state = Arc::clone(&state);
                    let layout = layout.clone();
                    let expected_basic = expected_basic.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let state = Arc::clone(&state);
                            let layout = layout.clone();
                            let expected_basic = expected_basic.clone();
                            async move {
                                Ok::<_, Infallible>(handle(
                                    req,
                                    &state,
                                    &layout,
                                    port,
                                    expected_basic.as_deref(),
                                ))
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            })
        };
        FakeRegistry { port, state, task }
    }

    /// Cuts the next download of `digest` after `bytes` bytes.
    pub fn cut_next_download(&self, digest: &str, bytes: usize) {
        self.state
            .lock()
            .unwrap()
            .cut
            .insert(digest.to_string(), bytes);
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state.lock().unwrap().log.clone()
    }

    /// How many requests asked for `path`.
    pub fn count(&self, path_suffix: &str) -> usize {
        self.log()
            .iter()
            .filter(|l| l.path.ends_with(path_suffix))
            .count()
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
}

fn handle(
    req: Request<Incoming>,
    state: &Mutex<State>,
    layout: &Path,
    port: u16,
    expected_basic: Option<&str>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let authorization = header("authorization");
    let range = header("range");
    state.lock().unwrap().log.push(Logged {
        path: path.clone(),
        range: range.clone(),
        authorization: authorization.clone(),
    });
    if path == "/token" {
        if expected_basic.is_some() && authorization.as_deref() != expected_basic {
            return full(StatusCode::UNAUTHORIZED, "bad credentials");
        }
        return full(
            StatusCode::OK,
            format!(r#"{{"token":"{TOKEN}","expires_in":300}}"#),
        );
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return full(StatusCode::NOT_FOUND, "");
    };
    if authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        let mut r = full(
            StatusCode::UNAUTHORIZED,
            r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
        );
        let repo = rest.rsplitn(3, '/').nth(2).unwrap_or("");
        let challenge = format!(
            r#"Bearer realm="http://127.0.0.1:{port}/token",service="fake-registry",scope="repository:{repo}:pull""#
        );
        r.headers_mut()
            .insert("www-authenticate", challenge.parse().unwrap());
        return r;
    }
    let mut parts = rest.rsplitn(3, '/');
    let (reference, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let digest = if reference.starts_with("sha256:") {
        reference.to_string()
    } else {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let Ok(bytes) = std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    ) else {
        return full(
            StatusCode::NOT_FOUND,
            r#"{"errors":[{"code":"BLOB_UNKNOWN"}]}"#,
        );
    };
    if kind == "manifests" {
        let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let mut r = full(StatusCode::OK, bytes);
        r.headers_mut().insert(
            "content-type",
            doc["mediaType"].as_str().unwrap().parse().unwrap(),
        );
        r.headers_mut()
            .insert("docker-content-digest", digest.parse().unwrap());
        return r;
    }
    let from = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n < bytes.len());
    let total = bytes.len();
    let body = Bytes::from(bytes).slice(from.unwrap_or(0)..);
    let cut = state.lock().unwrap().cut.remove(&digest);
    let status = if from.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let length = body.len();
    let mut response = match cut {
        Some(at) if at < body.len() => {
            // Send `at` bytes, then fail the body: the connection is closed mid-blob. In between
            // the body is pending once: hyper flushes what it buffered to the socket when the
            // body is pending, and drops it if the error comes first.
            let first = body.slice(..at);
            let chunks = futures::stream::unfold(0u8, move |step| {
                let first = first.clone();
                async move {
                    match step {
                        0 => Some((Ok(Frame::data(first)), 1)),
                        1 => {
                            tokio::task::yield_now().await;
                            Some((Err(std::io::Error::other("cut by the test")), 2))
                        }
                        _ => None,
                    }
                }
            });
            let mut r = Response::new(BodyExt::boxed(StreamBody::new(chunks)));
            *r.status_mut() = status;
            r
        }
        _ => full(status, body),
    };
    response
        .headers_mut()
        .insert("content-length", length.to_string().parse().unwrap());
    if let Some(from) = from {
        response.headers_mut().insert(
            "content-range",
            format!("bytes {from}-{}/{total}", total - 1)
                .parse()
                .unwrap(),
        );
    }
    response
}
