//! The HTTPS listener: TLS with an optional client certificate (verified against the client
//! CA; CN is the user, O the groups), HTTP/1.1 and HTTP/2, bearer-token authentication, and
//! request bodies read up to upstream's 3 MiB limit before the handlers see them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::ApiState;
use super::auth::{self, UserInfo};
use super::handlers;
use super::http::{self as h, Body};
use super::status::ApiError;
use crate::pki::CertKey;

/// Upstream's limit on request bodies.
const MAX_BODY: usize = 3 * 1024 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("invalid TLS material: {0}")]
    Tls(String),
    #[error(
        "cannot listen on {addr}: {error} (is another kedge or k3s server running? choose another --https-listen-port)"
    )]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

/// The TLS configuration: the serving certificate, and client certificates requested (not
/// required) and verified against the client CA.
pub fn tls_config(state: &ApiState) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let pki = &state.pki;
    tls_with_client_ca(&pki.serving, &pki.client_ca.cert_pem).map_err(ServerError::Tls)
}

/// A TLS configuration serving `serving` (PEM chain and key) that requests client
/// certificates, without requiring them, and verifies those it gets against `client_ca`
/// (PEM); HTTP/2 or HTTP/1.1 by ALPN. The API server's and the kubelet's listeners use it.
pub fn tls_with_client_ca(
    serving: &CertKey,
    client_ca: &str,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(serving.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
    let key =
        PrivateKeyDer::from_pem_slice(serving.key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(client_ca.as_bytes()) {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| e.to_string())?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Binds the listener (so start-up fails early when the port is taken).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|error| ServerError::Bind { addr, error })
}

/// Serves HTTPS on `listener` until `shutdown`.
pub async fn serve(
    state: Arc<ApiState>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "API server listening");
    }
    serve_https(
        "API server",
        listener,
        tls,
        shutdown,
        move |request, cert_user| {
            let state = state.clone();
            async move { serve_request(&state, request, cert_user).await }
        },
    )
    .await;
}

/// Accepts TLS connections on `listener` until `shutdown` and answers their requests (HTTP/1.1
/// or HTTP/2, with upgrades) with `answer`, which also gets the user the connection's client
/// certificate names, if it presented one. `what` names the listener in the logs. At
/// `shutdown` open connections get 5 s to finish.
pub async fn serve_https<A, F>(
    what: &'static str,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
    answer: A,
) where
    A: Fn(Request<Incoming>, Option<UserInfo>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    warn!(listener = what, %error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let answer = answer.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    debug!(listener = what, %peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let cert_user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|cert| auth::user_from_certificate(cert));
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let answering = answer(request, cert_user.clone());
                async move { Ok::<_, std::convert::Infallible>(answering.await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        debug!(listener = what, %peer, %error, "connection ended with an error");
                    }
                }
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), connection).await;
                }
            }
        });
    }
}

/// Authenticates, reads the body and dispatches one request.
async fn serve_request(
    state: &Arc<ApiState>,
    request: Request<Incoming>,
    cert_user: Option<UserInfo>,
) -> Response<Body> {
    let user = match cert_user {
        Some(user) => Some(user),
        None => match auth::bearer_token(request.headers()) {
            Some(token) => {
                match handlers::subresources::authenticate_token(state, token, &[]).await {
                    Some(user) => Some(user),
                    // A token that does not authenticate is refused, even on public paths.
                    None => return h::error(&ApiError::unauthorized()),
                }
            }
            None => None,
        },
    };
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            let message = if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                "the request body is larger than the 3 MiB limit"
            } else {
                "the request body could not be read"
            };
            return h::error(&ApiError::request_entity_too_large(message));
        }
    };
    let request = Request::from_parts(parts, body);
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let response = handlers::handle(state, request, user).await;
    debug!(%method, %uri, status = response.status().as_u16(), elapsed = ?started.elapsed(), "request");
    response
}

/// Dispatches a request from inside the process (controllers, tests) as `user`, with the
/// same semantics as over the network.
pub async fn handle_local(
    state: &Arc<ApiState>,
    request: Request<Bytes>,
    user: UserInfo,
) -> Response<Body> {
    handlers::handle(state, request, Some(user)).await
}
