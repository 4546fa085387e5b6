//! A container's image per its `imagePullPolicy` (Never, IfNotPresent, Always), with
//! `imagePullSecrets`, the Pulling/Pulled/Failed events upstream records, and back-off
//! between failed pulls (`ErrImagePull`, then `ImagePullBackOff`).

use std::time::{Instant, SystemTime};

use k8s_openapi::api::core::v1::{Container, ObjectReference, Pod, Secret};
use kube::api::Api;

use super::Kubelet;
use super::backoff::Backoff;
use super::status::{ImageInfo, Waiting};
use crate::runtime::images::{DockerConfig, Image, Reference};

/// The pull policy of `container`, with upstream's default (Always for `:latest` or no tag).
pub fn pull_policy(container: &Container) -> String {
    if let Some(policy) = container
        .image_pull_policy
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        return policy.to_string();
    }
    let image = container.image.as_deref().unwrap_or_default();
    match Reference::parse(image) {
        Ok(r) if r.tagged_name().is_some_and(|n| !n.ends_with(":latest")) => "IfNotPresent".into(),
        Ok(r) if image.contains('@') && r.tagged_name().is_none() => "IfNotPresent".into(),
        _ => "Always".into(),
    }
}

/// How an image is reported in a container status.
pub fn image_info(spec_image: &str, image: &Image) -> ImageInfo {
    let name = Reference::parse(spec_image)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| spec_image.to_string());
    ImageInfo {
        image: image
            .names
            .iter()
            .find(|n| **n == name)
            .or(image.names.first())
            .cloned()
            .unwrap_or(name),
        image_id: image
            .repo_digests
            .first()
            .cloned()
            .unwrap_or_else(|| image.id.to_string()),
    }
}

async fn credentials(
    kubelet: &Kubelet,
    pod: &Pod,
    image: &str,
) -> Option<crate::runtime::images::Credentials> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(kubelet.client.clone(), &namespace);
    let mut config = DockerConfig::default();
    for reference in pod
        .spec
        .iter()
        .flat_map(|s| s.image_pull_secrets.iter().flatten())
    {
        if let Ok(Some(secret)) = secrets.get_opt(&reference.name).await {
            for key in [".dockerconfigjson", ".dockercfg"] {
                if let Some(bytes) = secret.data.as_ref().and_then(|d| d.get(key)) {
                    let _ = config.add_secret(&bytes.0);
                }
            }
        }
    }
    let reference = Reference::parse(image).ok()?;
    config.lookup(&reference).first().map(|b| (*b).clone())
}

/// Whether [`ensure`] would pull `container`'s image (or try to).
pub fn will_pull(kubelet: &Kubelet, container: &Container) -> bool {
    let name = container.image.as_deref().unwrap_or_default();
    match pull_policy(container).as_str() {
        "Never" => false,
        "IfNotPresent" => kubelet.images.get(name).is_none(),
        _ => true,
    }
}

/// The image of `container`, present or pulled; or why the container must wait.
pub async fn ensure(
    kubelet: &Kubelet,
    pod: &Pod,
    about: &ObjectReference,
    container: &Container,
    backoff: &mut Backoff,
    failed_at: &mut std::collections::HashMap<String, SystemTime>,
) -> Result<Image, Waiting> {
    let name = container.image.clone().unwrap_or_default();
    let present = kubelet.images.get(&name);
    let policy = pull_policy(container);
    let key = format!("image:{name}");
    match (policy.as_str(), present) {
        ("Never", Some(image)) | ("IfNotPresent", Some(image)) => {
            kubelet.events.normal(
                about,
                "Pulled",
                &format!("Container image \"{name}\" already present on machine"),
            );
            return Ok(image);
        }
        ("Never", None) => {
            let message =
                format!("Container image \"{name}\" is not present with pull policy of Never");
            kubelet.events.warning(about, "ErrImageNeverPull", &message);
            return Err(Waiting {
                reason: "ErrImageNeverPull".into(),
                message,
            });
        }
        _ => {}
    }
    if let Some(at) = failed_at.get(&key)
        && backoff.remaining(&key, *at, SystemTime::now()).is_some()
    {
        let message = format!("Back-off pulling image \"{name}\"");
        kubelet.events.normal(about, "BackOff", &message);
        return Err(Waiting {
            reason: "ImagePullBackOff".into(),
            message,
        });
    }
    kubelet
        .events
        .normal(about, "Pulling", &format!("Pulling image \"{name}\""));
    let started = Instant::now();
    let credentials = credentials(kubelet, pod, &name).await;
    match kubelet.images.pull(&name, credentials.as_ref()).await {
        Ok(image) => {
            backoff.reset(&key);
            failed_at.remove(&key);
            let took = started.elapsed().as_secs_f64();
            kubelet.events.normal(
                about,
                "Pulled",
                &format!(
                    "Successfully pulled image \"{name}\" in {took:.3}s ({took:.3}s including waiting). Image size: {} bytes.",
                    image.size
                ),
            );
            Ok(image)
        }
        Err(error) => {
            let now = SystemTime::now();
            if let Some(at) = failed_at.get(&key).copied() {
                backoff.next(&key, at, now);
            } else {
                backoff.next(&key, now, now);
            }
            failed_at.insert(key, now);
            let message = format!("Failed to pull image \"{name}\": {error}");
            kubelet.events.warning(about, "Failed", &message);
            kubelet
                .events
                .warning(about, "Failed", "Error: ErrImagePull");
            Err(Waiting {
                reason: "ErrImagePull".into(),
                message,
            })
        }
    }
}
