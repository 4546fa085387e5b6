//! The in-process transport: a `tower` service that hands requests straight to the API
//! server's handlers, so the control plane's own components (scheduler, controllers) use
//! kube-rs clients with the same semantics as over the network, without TLS or TCP.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body_util::BodyExt;

use super::ApiState;
use super::auth::UserInfo;
use super::http::{self as h, Body};
use super::status::ApiError;

/// Requests as `user`, answered by `state`'s handlers.
#[derive(Clone)]
pub struct LocalService {
    state: Arc<ApiState>,
    user: UserInfo,
}

impl tower::Service<Request<kube::client::Body>> for LocalService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<kube::client::Body>) -> Self::Future {
        let state = self.state.clone();
        let user = self.user.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    return Ok(h::error(&ApiError::bad_request(format!(
                        "cannot read the request body: {e}"
                    ))));
                }
            };
            Ok(super::server::handle_local(&state, Request::from_parts(parts, body), user).await)
        })
    }
}

/// A kube-rs client for the control-plane component `component` (`system:<component>`).
pub fn client(state: &Arc<ApiState>, component: &str) -> kube::Client {
    let service = LocalService {
        state: state.clone(),
        user: UserInfo::system(component),
    };
    kube::Client::new(service, "default")
}

/// One in-process request as `user`: its status and body.
pub async fn request(
    state: &Arc<ApiState>,
    user: &UserInfo,
    method: http::Method,
    uri: &str,
    content_type: &str,
    body: bytes::Bytes,
) -> (u16, bytes::Bytes) {
    let Ok(request) = Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(body)
    else {
        return (400, bytes::Bytes::new());
    };
    let response = super::server::handle_local(state, request, user.clone()).await;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    (status, body)
}
