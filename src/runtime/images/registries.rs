//! `registries.yaml` in k3s's format, at `/etc/kedge/registries.yaml`:
//!
//! ```yaml
//! mirrors:
//!   docker.io:                       # or "*" for every registry without its own entry
//!     endpoint: ["https://mirror.example.com:5000", "http://10.0.0.1:5000"]
//!     rewrite:
//!       "^library/(.*)": "mirrored/$1"
//! configs:
//!   "mirror.example.com:5000":       # an endpoint's host[:port], a registry name, or "*"
//!     auth: {username: u, password: p}   # or auth: <base64 u:p>, token, identity_token
//!     tls: {ca_file: ..., cert_file: ..., key_file: ..., insecure_skip_verify: false}
//! ```
//!
//! A pull tries the mirror endpoints in order, then the registry's default endpoint
//! (`https://<registry>`, `https://registry-1.docker.io` for `docker.io`). Rewrites apply to
//! mirror endpoints only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

use super::error::{ImageError, Result};
use super::reference::{DOCKER_HUB, DOCKER_HUB_ENDPOINT, Reference};

/// The default location of the registries file.
pub const DEFAULT_PATH: &str = "/etc/kedge/registries.yaml";

/// The registries file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Registries {
    #[serde(default)]
    pub mirrors: BTreeMap<String, Mirror>,
    #[serde(default)]
    pub configs: BTreeMap<String, RegistryConfig>,
}

/// Mirror endpoints of one registry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Mirror {
    #[serde(default)]
    pub endpoint: Vec<String>,
    /// Regular expression → replacement, applied to the repository path.
    #[serde(default)]
    pub rewrite: BTreeMap<String, String>,
}

/// Credentials and TLS settings for one host.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct RegistryConfig {
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct AuthConfig {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// base64 of `username:password`.
    #[serde(default)]
    pub auth: Option<String>,
    /// A bearer token sent to the registry as is.
    #[serde(default)]
    pub token: Option<String>,
    /// An OAuth refresh token for the registry's token service.
    #[serde(default, alias = "identitytoken")]
    pub identity_token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct TlsConfig {
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// Username and password for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Basic {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Basic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Basic")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// How to authenticate to one endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointAuth {
    pub basic: Option<Basic>,
    pub token: Option<String>,
    pub identity_token: Option<String>,
}

/// One place to pull an image from.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`.
    pub host: String,
    /// The API prefix, `/v2` unless the endpoint URL names another path.
    pub api_path: String,
    /// The repository path on this endpoint (after rewrites).
    pub repository: String,
    pub auth: EndpointAuth,
    pub tls: TlsConfig,
    /// Whether this is the registry itself rather than a mirror.
    pub is_default: bool,
}

impl Endpoint {
    /// `scheme://host`
    pub fn base(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }
}

impl Registries {
    /// Reads `path`; a missing file is an empty configuration.
    ///
    /// # Errors
    /// [`ImageError::RegistriesConfig`] for unreadable or invalid YAML, or bad rewrites.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Registries::default()),
            Err(e) => return Err(ImageError::io("read", path)(e)),
        };
        Self::parse(&text, path)
    }

    /// Parses the YAML `text` (read from `path`, for messages).
    ///
    /// # Errors
    /// [`ImageError::RegistriesConfig`].
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let config_err = |reason: String| ImageError::RegistriesConfig {
            path: path.to_path_buf(),
            reason,
        };
        if text.trim().is_empty() {
            return Ok(Registries::default());
        }
        let registries: Registries =
            serde_yaml_ng::from_str(text).map_err(|e| config_err(e.to_string()))?;
        for (name, mirror) in &registries.mirrors {
            for pattern in mirror.rewrite.keys() {
                regex::Regex::new(pattern)
                    .map_err(|e| config_err(format!("mirrors.{name}.rewrite {pattern:?}: {e}")))?;
            }
            for endpoint in &mirror.endpoint {
                parse_endpoint(endpoint).map_err(|reason| {
                    config_err(format!("mirrors.{name}.endpoint {endpoint:?}: {reason}"))
                })?;
            }
        }
        Ok(registries)
    }

    /// The endpoints to try for `reference`, in order. `pull_secret` (from the pod's
    /// imagePullSecrets) authenticates to the registry itself, taking precedence over
    /// `configs`.
    pub fn endpoints(&self, reference: &Reference, pull_secret: Option<&Basic>) -> Vec<Endpoint> {
        let registry = reference.registry.as_str();
        let default_host = if registry == DOCKER_HUB {
            DOCKER_HUB_ENDPOINT
        } else {
            registry
        };
        let mirror = self.mirrors.get(registry).or_else(|| self.mirrors.get("*"));
        let mut endpoints = Vec::new();
        let mut default_listed = false;
        for url in mirror.map(|m| m.endpoint.as_slice()).unwrap_or_default() {
            let Ok((scheme, host, api_path)) = parse_endpoint(url) else {
                continue;
            };
            let is_default = host == default_host || host == registry;
            default_listed |= is_default && api_path == "/v2";
            let repository = if is_default {
                reference.repository.clone()
            } else {
                rewrite(mirror, &reference.repository)
            };
            endpoints.push(self.endpoint(
                scheme,
                host,
                api_path,
                repository,
                registry,
                is_default,
                pull_secret,
            ));
        }
        if !default_listed {
            endpoints.push(self.endpoint(
                "https".to_string(),
                default_host.to_string(),
                "/v2".to_string(),
                reference.repository.clone(),
                registry,
                true,
                pull_secret,
            ));
        }
        endpoints
    }

    #[allow(clippy::too_many_arguments)]
    fn endpoint(
        &self,
        scheme: String,
        host: String,
        api_path: String,
        repository: String,
        registry: &str,
        is_default: bool,
        pull_secret: Option<&Basic>,
    ) -> Endpoint {
        let config = self
            .configs
            .iter()
            .find(|(key, _)| strip_scheme(key) == host)
            .or_else(|| {
                is_default
                    .then(|| self.configs.get_key_value(registry))
                    .flatten()
            })
            .or_else(|| self.configs.get_key_value("*"))
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        let mut auth = config.auth.as_ref().map(endpoint_auth).unwrap_or_default();
        if is_default && let Some(secret) = pull_secret {
            auth.basic = Some(secret.clone());
        }
        Endpoint {
            scheme,
            host,
            api_path,
            repository,
            auth,
            tls: config.tls.unwrap_or_default(),
            is_default,
        }
    }
}

fn endpoint_auth(auth: &AuthConfig) -> EndpointAuth {
    let mut basic = match (&auth.username, &auth.password) {
        (Some(u), p) if !u.is_empty() => Some(Basic {
            username: u.clone(),
            password: p.clone().unwrap_or_default(),
        }),
        _ => None,
    };
    if basic.is_none()
        && let Some(encoded) = &auth.auth
        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim())
        && let Some((u, p)) = String::from_utf8_lossy(&decoded).split_once(':')
    {
        basic = Some(Basic {
            username: u.to_string(),
            password: p.to_string(),
        });
    }
    EndpointAuth {
        basic,
        token: auth.token.clone().filter(|t| !t.is_empty()),
        identity_token: auth.identity_token.clone().filter(|t| !t.is_empty()),
    }
}

fn strip_scheme(s: &str) -> &str {
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    s.trim_end_matches('/')
}

/// `(scheme, host, api path)` of an endpoint URL; `https` when no scheme is given.
fn parse_endpoint(url: &str) -> std::result::Result<(String, String, String), String> {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, rest)) if s == "http" || s == "https" => (s.to_string(), rest),
        Some((s, _)) => return Err(format!("unsupported scheme {s:?}")),
        None => ("https".to_string(), url),
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err("no host".to_string());
    }
    let api_path = if path.is_empty() {
        "/v2".to_string()
    } else {
        path.to_string()
    };
    Ok((scheme, host.to_string(), api_path))
}

fn rewrite(mirror: Option<&Mirror>, repository: &str) -> String {
    for (pattern, replacement) in mirror.map(|m| &m.rewrite).into_iter().flatten() {
        if let Ok(re) = regex::Regex::new(pattern)
            && re.is_match(repository)
        {
            return re.replace(repository, replacement.as_str()).into_owned();
        }
    }
    repository.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
mirrors:
  docker.io:
    endpoint:
      - "https://mirror.example.com:5000"
      - "http://10.0.0.1:5000/custom/v2"
    rewrite:
      "^library/(.*)": "hub/$1"
  "*":
    endpoint: ["http://cache.local"]
configs:
  "mirror.example.com:5000":
    auth:
      username: user
      password: pass
    tls:
      ca_file: /etc/ca.pem
      insecure_skip_verify: true
  docker.io:
    auth:
      auth: dTI6cDI=
  "*":
    auth:
      token: tok
"#;

    fn registries() -> Registries {
        Registries::parse(YAML, Path::new("registries.yaml")).unwrap()
    }

    #[test]
    fn mirrors_then_default_with_rewrites() {
        let r = registries();
        let busybox = Reference::parse("busybox").unwrap();
        let eps = r.endpoints(&busybox, None);
        let summary: Vec<_> = eps
            .iter()
            .map(|e| format!("{}{}/{}", e.base(), e.api_path, e.repository))
            .collect();
        assert_eq!(
            summary,
            [
                "https://mirror.example.com:5000/v2/hub/busybox",
                "http://10.0.0.1:5000/custom/v2/hub/busybox",
                "https://registry-1.docker.io/v2/library/busybox",
            ]
        );
        assert_eq!(eps[0].auth.basic.as_ref().unwrap().username, "user");
        assert!(eps[0].tls.insecure_skip_verify);
        assert_eq!(eps[1].auth.token.as_deref(), Some("tok"), "wildcard config");
        assert_eq!(
            eps[2].auth.basic.as_ref().unwrap().username,
            "u2",
            "registry-name config, base64 auth"
        );
        let secret = Basic {
            username: "s".into(),
            password: "p".into(),
        };
        let eps = r.endpoints(&busybox, Some(&secret));
        assert_eq!(eps[2].auth.basic.as_ref(), Some(&secret));
        assert_ne!(eps[0].auth.basic.as_ref(), Some(&secret));
    }

    #[test]
    fn wildcard_mirror_and_plain_registries() {
        let r = registries();
        let eps = r.endpoints(&Reference::parse("ghcr.io/a/b:1").unwrap(), None);
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].base(), "http://cache.local");
        assert_eq!(eps[1].base(), "https://ghcr.io");
        assert!(eps[1].is_default);
        let none = Registries::default();
        let eps = none.endpoints(&Reference::parse("localhost:5000/x").unwrap(), None);
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].base(), "https://localhost:5000");
    }

    #[test]
    fn invalid_files_are_reported() {
        let bad = "mirrors:\n  x:\n    rewrite:\n      \"(\": y\n";
        assert!(Registries::parse(bad, Path::new("r.yaml")).is_err());
        assert!(Registries::parse("mirrors: [", Path::new("r.yaml")).is_err());
        assert_eq!(
            Registries::parse("", Path::new("r.yaml")).unwrap(),
            Registries::default()
        );
    }
}
