//! Credentials from a pod's `imagePullSecrets`: `kubernetes.io/dockerconfigjson` secrets
//! (`{"auths": {"registry": {"username", "password", "auth"}}}`) and the older
//! `kubernetes.io/dockercfg` form (the `auths` map alone), matched to an image's registry as
//! the kubelet does (Docker Hub's keys `https://index.docker.io/v1/`, `docker.io`, … all match
//! `docker.io` images).

use std::collections::BTreeMap;

use base64::Engine;
use serde::Deserialize;

use super::error::{ImageError, Result};
use super::reference::{DOCKER_HUB, Reference};
use super::registries::Basic;

/// Username and password for a registry, as the kubelet hands them to a pull.
pub type Credentials = Basic;

/// The entries of one or more docker config secrets.
#[derive(Debug, Default, Clone)]
pub struct DockerConfig {
    entries: Vec<(String, Basic)>,
}

#[derive(Deserialize)]
struct ConfigJson {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    auth: Option<String>,
}

impl DockerConfig {
    /// Adds the entries of a `.dockerconfigjson` (or `.dockercfg`) document.
    ///
    /// # Errors
    /// [`ImageError::ParseJson`] for a document that is neither form.
    pub fn add_secret(&mut self, bytes: &[u8]) -> Result<()> {
        let auths = match serde_json::from_slice::<ConfigJson>(bytes) {
            Ok(c) if !c.auths.is_empty() => c.auths,
            _ => serde_json::from_slice::<BTreeMap<String, Entry>>(bytes)
                .map_err(ImageError::json("docker config secret"))?,
        };
        for (key, entry) in auths {
            let basic = match (entry.username, entry.password) {
                (Some(u), Some(p)) if !u.is_empty() => Some(Basic {
                    username: u,
                    password: p,
                }),
                _ => entry
                    .auth
                    .and_then(|a| {
                        base64::engine::general_purpose::STANDARD
                            .decode(a.trim())
                            .ok()
                    })
                    .and_then(|d| {
                        let s = String::from_utf8_lossy(&d).to_string();
                        s.split_once(':').map(|(u, p)| Basic {
                            username: u.to_string(),
                            password: p.to_string(),
                        })
                    }),
            };
            if let Some(basic) = basic {
                self.entries.push((registry_of_key(&key), basic));
            }
        }
        Ok(())
    }

    /// The credentials for `reference`'s registry, first match first.
    pub fn lookup(&self, reference: &Reference) -> Vec<&Basic> {
        self.entries
            .iter()
            .filter(|(registry, _)| *registry == reference.registry)
            .map(|(_, b)| b)
            .collect()
    }
}

/// The registry a docker config key names: `https://index.docker.io/v1/` is `docker.io`.
fn registry_of_key(key: &str) -> String {
    let host = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_docker_hub_aliases_and_hosts() {
        let mut config = DockerConfig::default();
        config
            .add_secret(br#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"ghcr.io":{"username":"a","password":"b"}}}"#)
            .unwrap();
        config
            .add_secret(br#"{"localhost:5000":{"username":"c","password":"d"}}"#)
            .unwrap();
        let hub = config.lookup(&Reference::parse("busybox").unwrap());
        assert_eq!(hub.len(), 1);
        assert_eq!(
            (hub[0].username.as_str(), hub[0].password.as_str()),
            ("u", "p")
        );
        assert_eq!(
            config.lookup(&Reference::parse("ghcr.io/x/y").unwrap())[0].username,
            "a"
        );
        assert_eq!(
            config.lookup(&Reference::parse("localhost:5000/x").unwrap())[0].username,
            "c"
        );
        assert!(
            config
                .lookup(&Reference::parse("quay.io/x").unwrap())
                .is_empty()
        );
    }
}
