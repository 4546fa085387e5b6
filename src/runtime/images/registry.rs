//! The Distribution v2 HTTP client: manifests and blobs over HTTPS (rustls, ring) or plain
//! HTTP, with the registry token flow (a `401` with `WWW-Authenticate: Bearer realm=…,
//! service=…, scope=…` sends us to the realm for a token, with basic credentials or an
//! identity token if configured), basic auth, static bearer tokens, and redirects (blob
//! downloads are usually redirected to a CDN, which must not get our credentials).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject};
use serde::Deserialize;

use super::error::{ImageError, Result};
use super::registries::{Basic, Endpoint, TlsConfig};

/// The media types a manifest request accepts, indexes first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// The largest manifest or token response read.
const DOCUMENT_LIMIT: usize = 4 * 1024 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_REDIRECTS: usize = 5;
/// Token lifetime when the token service does not say (the spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// HTTP clients per endpoint TLS setting, and tokens per repository.
#[derive(Default)]
pub struct RegistryClient {
    clients: Mutex<HashMap<String, HttpClient>>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    basic_hosts: Mutex<std::collections::HashSet<String>>,
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: HashMap<String, String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl RegistryClient {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets clients and tokens (after a change of `registries.yaml`).
    pub fn clear(&self) {
        lock(&self.clients).clear();
        lock(&self.tokens).clear();
        lock(&self.basic_hosts).clear();
    }

    /// `GET <endpoint>/<api>/<repository>/<path>`, authenticating as the registry asks and
    /// following redirects; returns a successful response with its body unread.
    ///
    /// # Errors
    /// [`ImageError::Unauthorized`], [`ImageError::RegistryStatus`] for other failures,
    /// [`ImageError::RegistryConnection`] when the registry cannot be reached.
    pub async fn get(
        &self,
        endpoint: &Endpoint,
        path: &str,
        accept: Option<&str>,
        range_from: Option<u64>,
    ) -> Result<Response<Incoming>> {
        let url = format!(
            "{}{}/{}/{}",
            endpoint.base(),
            endpoint.api_path,
            endpoint.repository,
            path
        );
        let token_key = format!("{}/{}", endpoint.host, endpoint.repository);
        let mut challenged = false;
        loop {
            let authorization = self.authorization(endpoint, &token_key);
            let response = self
                .send_following_redirects(endpoint, &url, accept, range_from, authorization)
                .await?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !challenged && endpoint.auth.token.is_none() {
                challenged = true;
                let challenge = response
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge);
                match challenge {
                    Some(c) if c.scheme.eq_ignore_ascii_case("bearer") => {
                        let (token, lifetime) = self.fetch_token(endpoint, &c).await?;
                        lock(&self.tokens)
                            .insert(token_key.clone(), (token, Instant::now() + lifetime));
                        continue;
                    }
                    Some(c)
                        if c.scheme.eq_ignore_ascii_case("basic")
                            && endpoint.auth.basic.is_some() =>
                    {
                        lock(&self.basic_hosts).insert(endpoint.host.clone());
                        continue;
                    }
                    _ => {}
                }
            }
            if status.is_success() {
                return Ok(response);
            }
            let detail = error_detail(response).await;
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(ImageError::Unauthorized {
                    url,
                    reason: format!("{status}{detail}"),
                });
            }
            return Err(ImageError::RegistryStatus {
                url,
                status: status.as_u16(),
                detail,
            });
        }
    }

    /// Fetches a manifest or index: its bytes and the `Content-Type` the registry gave.
    ///
    /// # Errors
    /// As [`RegistryClient::get`], or a body larger than 4 MiB.
    pub async fn manifest(
        &self,
        endpoint: &Endpoint,
        reference: &str,
    ) -> Result<(Vec<u8>, Option<String>)> {
        let response = self
            .get(
                endpoint,
                &format!("manifests/{reference}"),
                Some(MANIFEST_ACCEPT),
                None,
            )
            .await?;
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let url = format!(
            "{}{}/{}/manifests/{reference}",
            endpoint.base(),
            endpoint.api_path,
            endpoint.repository
        );
        let body = read_limited(response.into_body(), &url).await?;
        Ok((body, content_type))
    }

    fn authorization(&self, endpoint: &Endpoint, token_key: &str) -> Option<HeaderValue> {
        if let Some(token) = &endpoint.auth.token {
            return HeaderValue::from_str(&format!("Bearer {token}")).ok();
        }
        if let Some((token, expiry)) = lock(&self.tokens).get(token_key)
            && *expiry > Instant::now()
        {
            return HeaderValue::from_str(&format!("Bearer {token}")).ok();
        }
        if lock(&self.basic_hosts).contains(&endpoint.host) {
            return endpoint.auth.basic.as_ref().map(basic_header);
        }
        None
    }

    async fn fetch_token(
        &self,
        endpoint: &Endpoint,
        challenge: &Challenge,
    ) -> Result<(String, Duration)> {
        let realm = challenge
            .params
            .get("realm")
            .ok_or_else(|| ImageError::Unauthorized {
                url: endpoint.base(),
                reason: "bearer challenge without a realm".to_string(),
            })?;
        let scope = challenge
            .params
            .get("scope")
            .cloned()
            .unwrap_or_else(|| format!("repository:{}:pull", endpoint.repository));
        let same_host = realm_host(realm) == Some(endpoint.host.as_str());
        let client = if same_host {
            self.client(&endpoint.tls, &endpoint.host)?
        } else {
            self.client(&TlsConfig::default(), "")?
        };
        let request = token_request(realm, challenge.params.get("service"), &scope, endpoint)
            .map_err(|e| ImageError::RegistryConnection {
                url: realm.clone(),
                reason: e.to_string(),
            })?;
        let response = send(&client, request, realm).await?;
        let status = response.status();
        if !status.is_success() {
            let detail = error_detail(response).await;
            return Err(ImageError::Unauthorized {
                url: realm.clone(),
                reason: format!("token service answered {status}{detail}"),
            });
        }
        let body = read_limited(response.into_body(), realm).await?;
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(ImageError::json(format!("token from {realm}")))?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ImageError::Unauthorized {
                url: realm.clone(),
                reason: "token service answered without a token".to_string(),
            })?;
        let lifetime = parsed
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        // Renew a little early.
        Ok((
            token,
            lifetime
                .saturating_sub(Duration::from_secs(5))
                .max(Duration::from_secs(1)),
        ))
    }

    async fn send_following_redirects(
        &self,
        endpoint: &Endpoint,
        url: &str,
        accept: Option<&str>,
        range_from: Option<u64>,
        authorization: Option<HeaderValue>,
    ) -> Result<Response<Incoming>> {
        let mut url = url.to_string();
        let mut authorization = authorization;
        for _ in 0..=MAX_REDIRECTS {
            let host = url_host(&url).unwrap_or_default().to_string();
            let client = if host == endpoint.host {
                self.client(&endpoint.tls, &endpoint.host)?
            } else {
                self.client(&TlsConfig::default(), "")?
            };
            let mut builder = Request::builder().uri(url.as_str());
            if let Some(accept) = accept {
                builder = builder.header(header::ACCEPT, accept);
            }
            if let Some(from) = range_from.filter(|f| *f > 0) {
                builder = builder.header(header::RANGE, format!("bytes={from}-"));
            }
            if let Some(auth) = &authorization {
                builder = builder.header(header::AUTHORIZATION, auth.clone());
            }
            builder = builder.header(
                header::USER_AGENT,
                concat!("kedge/", env!("CARGO_PKG_VERSION")),
            );
            let request = builder.body(Full::new(Bytes::new())).map_err(|e| {
                ImageError::RegistryConnection {
                    url: url.clone(),
                    reason: e.to_string(),
                }
            })?;
            let response = send(&client, request, &url).await?;
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let Some(location) = response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                return Ok(response);
            };
            let next = resolve_location(&url, location);
            if url_host(&next) != Some(host.as_str()) {
                authorization = None;
            }
            url = next;
        }
        Err(ImageError::RegistryConnection {
            url,
            reason: "too many redirects".to_string(),
        })
    }

    /// The client for a TLS setting (`host` names it in errors).
    fn client(&self, tls: &TlsConfig, host: &str) -> Result<HttpClient> {
        let key = format!("{tls:?}");
        if let Some(client) = lock(&self.clients).get(&key) {
            return Ok(client.clone());
        }
        let config = tls_config(tls, host)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(REQUEST_TIMEOUT));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        lock(&self.clients).insert(key, client.clone());
        Ok(client)
    }
}

/// The token request: a POST with the identity token (OAuth refresh), or a GET with basic
/// credentials when configured (anonymous otherwise).
fn token_request(
    realm: &str,
    service: Option<&String>,
    scope: &str,
    endpoint: &Endpoint,
) -> http::Result<Request<Full<Bytes>>> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(service) = service {
        query.append_pair("service", service);
    }
    query.append_pair("scope", scope);
    if let Some(refresh) = &endpoint.auth.identity_token {
        query
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", refresh)
            .append_pair("client_id", "kedge");
        return Request::builder()
            .method(Method::POST)
            .uri(realm)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(query.finish())));
    }
    let separator = if realm.contains('?') { '&' } else { '?' };
    let mut builder = Request::builder().uri(format!("{realm}{separator}{}", query.finish()));
    if let Some(basic) = &endpoint.auth.basic {
        builder = builder.header(header::AUTHORIZATION, basic_header(basic));
    }
    builder.body(Full::new(Bytes::new()))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn send(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
    url: &str,
) -> Result<Response<Incoming>> {
    match tokio::time::timeout(REQUEST_TIMEOUT, client.request(request)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => Err(ImageError::RegistryConnection {
            url: url.to_string(),
            reason: error_chain(&e),
        }),
        Err(_) => Err(ImageError::RegistryConnection {
            url: url.to_string(),
            reason: format!("no response within {}s", REQUEST_TIMEOUT.as_secs()),
        }),
    }
}

/// An error with its sources, `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

async fn read_limited(body: Incoming, url: &str) -> Result<Vec<u8>> {
    Limited::new(body, DOCUMENT_LIMIT)
        .collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .map_err(|e| ImageError::RegistryConnection {
            url: url.to_string(),
            reason: format!("reading the response: {e}"),
        })
}

/// The start of an error response's body, for messages (`: {"errors":[…]}`).
async fn error_detail(response: Response<Incoming>) -> String {
    let body = Limited::new(response.into_body(), 64 * 1024)
        .collect()
        .await;
    match body {
        Ok(c) => {
            let bytes = c.to_bytes();
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                .trim()
                .to_string();
            if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            }
        }
        Err(_) => String::new(),
    }
}

fn basic_header(basic: &Basic) -> HeaderValue {
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", basic.username, basic.password));
    HeaderValue::from_str(&format!("Basic {encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `host[:port]` of an absolute URL.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.split(['/', '?']).next().unwrap_or(rest))
}

fn realm_host(realm: &str) -> Option<&str> {
    url_host(realm)
}

/// A `Location` header made absolute against `base`.
fn resolve_location(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let Some((scheme, rest)) = base.split_once("://") else {
        return location.to_string();
    };
    let host = rest.split('/').next().unwrap_or(rest);
    if location.starts_with('/') {
        format!("{scheme}://{host}{location}")
    } else {
        let dir = base.rsplit_once('/').map_or(base, |(d, _)| d);
        format!("{dir}/{location}")
    }
}

/// Parses `Bearer realm="…",service="…",scope="…"` (quoted values may hold commas).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
            value = value.trim().to_string();
        }
        params.insert(key, value);
    }
    Some(Challenge {
        scheme: scheme.to_string(),
        params,
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's trusted roots, loaded once.
fn native_roots() -> &'static rustls::RootCertStore {
    static ROOTS: OnceLock<rustls::RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        let loaded = rustls_native_certs::load_native_certs();
        for error in &loaded.errors {
            tracing::debug!(%error, "loading the system's CA certificates");
        }
        let (added, _) = roots.add_parsable_certificates(loaded.certs);
        if added == 0 {
            tracing::warn!(
                "no system CA certificates found: HTTPS registries need ca_file in registries.yaml"
            );
        }
        roots
    })
}

fn tls_config(tls: &TlsConfig, host: &str) -> Result<rustls::ClientConfig> {
    let tls_err = |reason: String| ImageError::Tls {
        host: host.to_string(),
        reason,
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?;
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider())))
    } else {
        let mut roots = native_roots().clone();
        if let Some(ca_file) = &tls.ca_file {
            let certs = CertificateDer::pem_file_iter(ca_file)
                .map_err(|e| tls_err(format!("ca_file {}: {e}", ca_file.display())))?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| tls_err(format!("ca_file {}: {e}", ca_file.display())))?;
            if certs.is_empty() {
                return Err(tls_err(format!(
                    "ca_file {} holds no certificate",
                    ca_file.display()
                )));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| tls_err(format!("ca_file {}: {e}", ca_file.display())))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    match (&tls.cert_file, &tls.key_file) {
        (Some(cert_file), Some(key_file)) => {
            let certs = CertificateDer::pem_file_iter(cert_file)
                .and_then(|i| i.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| tls_err(format!("cert_file {}: {e}", cert_file.display())))?;
            let key = PrivateKeyDer::from_pem_file(key_file)
                .map_err(|e| tls_err(format!("key_file {}: {e}", key_file.display())))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| tls_err(e.to_string()))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(tls_err("cert_file and key_file go together".to_string())),
    }
}

/// `insecure_skip_verify`: any certificate is accepted, signatures are still checked.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Reads the next data frame of a body (`None` at the end).
///
/// # Errors
/// The connection broke.
pub async fn next_chunk(body: &mut Incoming) -> std::result::Result<Option<Bytes>, hyper::Error> {
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_challenges() {
        let c = parse_challenge(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#).unwrap();
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["service"], "registry.docker.io");
        assert_eq!(c.params["scope"], "repository:library/busybox:pull,push");
        let b = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(b.scheme, "Basic");
        assert_eq!(b.params["realm"], "Registry Realm");
        let unquoted = parse_challenge("Bearer realm=https://x/token, service=x").unwrap();
        assert_eq!(unquoted.params["service"], "x");
    }

    #[test]
    fn redirects_resolve() {
        assert_eq!(
            resolve_location("https://a:5000/v2/x/blobs/y", "/b/c"),
            "https://a:5000/b/c"
        );
        assert_eq!(
            resolve_location("https://a/v2/x", "https://cdn/z"),
            "https://cdn/z"
        );
        assert_eq!(url_host("http://127.0.0.1:80/v2/"), Some("127.0.0.1:80"));
    }
}
