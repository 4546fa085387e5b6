//! A pod's volumes on the node, under `<data-dir>/agent/kubelet/pods/<uid>/volumes/<name>`:
//! persistentVolumeClaim (the host directory of the hostPath or local PV it is bound to),
//! emptyDir (a directory; a tmpfs for medium Memory, sized by its sizeLimit, the pod's memory
//! limit or the node's memory, unmounted on removal), hostPath (checked against its type), and the volumes whose
//! content comes from the API — configMap, secret, downwardAPI and projected (with
//! service-account tokens from the TokenRequest API, renewed at 80% of their life). Those are
//! written as upstream's atomic writer does: the files in a fresh `..<stamp>` directory,
//! `..data` pointing at it (swapped by a rename), each top-level entry a link through
//! `..data`, so a container never sees a half-written update. Secret and projected volumes
//! (the service-account one too) are tmpfs mounts, as upstream's kubelet makes them, so
//! secrets and tokens never reach the disk; configMap and downwardAPI ones are directories.
//!
//! Pods that mount nothing at `/var/run/secrets/kubernetes.io/serviceaccount` and do not opt
//! out (`automountServiceAccountToken: false`) get the service-account volume there: a token,
//! `ca.crt` and `namespace` (upstream's admission adds it as a `kube-api-access-*` projected
//! volume; here the kubelet provides it, as [`SERVICE_ACCOUNT_VOLUME`]).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{
    DownwardAPIVolumeFile, KeyToPath, Pod, ServiceAccount, Volume, VolumeProjection,
};
use kube::api::{Api, PostParams};
use serde_json::json;

use super::env::{self, EnvError, PodAddressing, Sources};
use crate::api::admission::validation::parse_quantity;
use crate::runtime::kernel::{Kernel, LinuxKernel};

/// Where service-account credentials are mounted.
pub const SERVICE_ACCOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The name of the volume the kubelet adds for them.
pub const SERVICE_ACCOUNT_VOLUME: &str = "kube-api-access";
/// The lifetime asked for service-account tokens (upstream's admission asks 3607 s).
const TOKEN_SECONDS: i64 = 3607;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("cannot prepare volume {volume}: {path}: {source}")]
    Io {
        volume: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("volume {volume}: {source}")]
    Source {
        volume: String,
        source: Box<EnvError>,
    },
    #[error("volume {volume}: {message}")]
    Invalid { volume: String, message: String },
    #[error("volume {volume}: cannot get a token for service account {account}: {source}")]
    Token {
        volume: String,
        account: String,
        source: Box<kube::Error>,
    },
    #[error("volume {volume}: {kind} volumes are not supported by this kedge yet")]
    Unsupported { volume: String, kind: &'static str },
}

/// One file of a content volume: its path in the volume, content and mode.
type File = (String, Vec<u8>, u32);

/// The volumes of one pod.
#[derive(Debug)]
pub struct PodVolumes {
    dir: PathBuf,
    paths: HashMap<String, PathBuf>,
    written: HashMap<String, Vec<File>>,
    /// Tokens by (volume, path): the token and when to renew it.
    tokens: HashMap<(String, String), (Vec<u8>, SystemTime)>,
}

fn io_error(volume: &str, path: &Path) -> impl FnOnce(io::Error) -> VolumeError {
    let (volume, path) = (volume.to_string(), path.to_path_buf());
    move |source| VolumeError::Io {
        volume,
        path,
        source,
    }
}

/// The host directory of the PersistentVolume bound to claim `claim` of `pod`'s namespace:
/// the claim must be `Bound`, its PV claimed by it (same uid), and a `hostPath` or `local`
/// volume (the only kinds a node provides by itself).
async fn bound_volume_path(
    client: &kube::Client,
    pod: &Pod,
    claim: &str,
) -> Result<PathBuf, String> {
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let pvc = Api::<PersistentVolumeClaim>::namespaced(client.clone(), &namespace)
        .get(claim)
        .await
        .map_err(|e| format!("cannot get persistentvolumeclaim {claim:?}: {e}"))?;
    let phase = pvc.status.as_ref().and_then(|s| s.phase.as_deref());
    let volume_name = pvc
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .filter(|v| !v.is_empty() && phase == Some("Bound"))
        .ok_or_else(|| {
            format!(
                "PVC {namespace}/{claim} has non-bound phase (\"{}\") or empty pvc.Spec.VolumeName",
                phase.unwrap_or("")
            )
        })?;
    let pv = Api::<PersistentVolume>::all(client.clone())
        .get(&volume_name)
        .await
        .map_err(|e| format!("cannot get persistentvolume {volume_name:?}: {e}"))?;
    let spec = pv.spec.unwrap_or_default();
    let claimed_by = spec.claim_ref.as_ref().and_then(|r| r.uid.clone());
    if claimed_by.is_none() || claimed_by != pvc.metadata.uid {
        return Err(format!(
            "persistentvolume {volume_name:?} is not bound to claim {namespace}/{claim}"
        ));
    }
    if let Some(host) = spec.host_path {
        let path = PathBuf::from(&host.path);
        check_host_path(&volume_name, &path, host.type_.as_deref().unwrap_or(""))
            .map_err(|e| e.to_string())?;
        Ok(path)
    } else if let Some(local) = spec.local {
        Ok(PathBuf::from(local.path))
    } else {
        Err(format!(
            "persistentvolume {volume_name:?} is neither hostPath nor local: not supported by this kedge yet"
        ))
    }
}

/// Whether pod volume `name` is one the kubelet writes (configMap, secret, downwardAPI,
/// projected): upstream mounts those read-only in every container, whatever the volumeMount
/// says, so only the kubelet's atomic writer changes them.
pub fn always_read_only(pod: &Pod, name: &str) -> bool {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .find(|v| v.name == name)
        .is_some_and(|v| {
            v.config_map.is_some()
                || v.secret.is_some()
                || v.downward_api.is_some()
                || v.projected.is_some()
        })
}

/// Makes `dir` a tmpfs, as upstream's kubelet backs secret and projected volumes by memory:
/// secrets and service-account tokens never reach the disk (nor wear an SD card when a token
/// is renewed).
fn in_memory(volume: &str, dir: &Path) -> Result<(), VolumeError> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(io_error(volume, dir))?;
    }
    if !is_mount_point(dir) {
        LinuxKernel
            .mount_volume_tmpfs(dir, "mode=0755")
            .map_err(io_error(volume, dir))?;
    }
    Ok(())
}

/// Whether `dir` is a mount point (on another device than its parent).
fn is_mount_point(dir: &Path) -> bool {
    let dev = |p: &Path| std::fs::symlink_metadata(p).ok().map(|m| m.dev());
    match (dev(dir), dir.parent().and_then(dev)) {
        (Some(own), Some(parent)) => own != parent,
        _ => false,
    }
}

/// The size of an emptyDir of medium Memory, as upstream sizes it: the smallest of its
/// `sizeLimit`, the pod's memory limit (when every container has one) and the node's memory.
fn memory_medium_size(
    pod: &Pod,
    empty_dir: &k8s_openapi::api::core::v1::EmptyDirVolumeSource,
) -> u64 {
    let bytes = |q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity| {
        parse_quantity(&q.0).map(|n| (n.nanos() / 1_000_000_000).max(0) as u64)
    };
    let mut size = super::containers::allocatable("memory")
        .map(|n| (n / 1_000_000_000) as u64)
        .unwrap_or(u64::MAX);
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let limits: Option<Vec<u64>> = containers
        .iter()
        .map(|c| {
            c.resources
                .as_ref()
                .and_then(|r| r.limits.as_ref())
                .and_then(|l| l.get("memory"))
                .and_then(bytes)
        })
        .collect();
    if let Some(limits) = limits.filter(|l| !l.is_empty()) {
        size = size.min(limits.iter().sum());
    }
    if let Some(limit) = empty_dir
        .size_limit
        .as_ref()
        .and_then(bytes)
        .filter(|b| *b > 0)
    {
        size = size.min(limit);
    }
    size
}

/// Whether the pod gets the service-account volume.
pub fn wants_service_account(pod: &Pod) -> bool {
    let Some(spec) = &pod.spec else { return false };
    if spec.automount_service_account_token == Some(false) {
        return false;
    }
    !spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .any(|m| m.mount_path.trim_end_matches('/') == SERVICE_ACCOUNT_PATH)
}

impl PodVolumes {
    pub fn new(pods_dir: &Path, uid: &str) -> Self {
        PodVolumes {
            dir: pods_dir.join(uid).join("volumes"),
            paths: HashMap::new(),
            written: HashMap::new(),
            tokens: HashMap::new(),
        }
    }

    /// The host path of volume `name`, once prepared.
    pub fn host_path(&self, name: &str) -> Option<&Path> {
        self.paths.get(name).map(PathBuf::as_path)
    }

    /// Removes every volume of pod `uid` (emptyDirs and content; never a hostPath).
    ///
    /// # Errors
    /// Something could not be removed.
    pub fn remove(pods_dir: &Path, uid: &str) -> io::Result<()> {
        // emptyDirs of medium Memory are tmpfs mounts: unmounted first.
        let volumes = pods_dir.join(uid).join("volumes");
        for entry in std::fs::read_dir(&volumes).into_iter().flatten().flatten() {
            let path = entry.path();
            if is_mount_point(&path) {
                LinuxKernel.unmount(&path)?;
            }
        }
        match std::fs::remove_dir_all(pods_dir.join(uid)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Creates the pod's volumes, or brings their content up to date.
    ///
    /// # Errors
    /// The first volume that could not be prepared.
    pub async fn prepare(
        &mut self,
        client: &kube::Client,
        pod: &Pod,
        addressing: &PodAddressing,
    ) -> Result<(), VolumeError> {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let mut sources = Sources::new(client.clone(), &namespace);
        let spec = pod.spec.clone().unwrap_or_default();
        for volume in spec.volumes.iter().flatten() {
            self.prepare_one(client, &mut sources, pod, volume, addressing)
                .await?;
        }
        if wants_service_account(pod) {
            let projected = service_account_sources();
            let files = self
                .projected_files(
                    client,
                    &mut sources,
                    pod,
                    SERVICE_ACCOUNT_VOLUME,
                    &projected,
                    0o644,
                    addressing,
                )
                .await?;
            let dir = self.dir.join(SERVICE_ACCOUNT_VOLUME);
            in_memory(SERVICE_ACCOUNT_VOLUME, &dir)?;
            self.write(SERVICE_ACCOUNT_VOLUME, &dir, files)?;
        }
        Ok(())
    }

    async fn prepare_one(
        &mut self,
        client: &kube::Client,
        sources: &mut Sources,
        pod: &Pod,
        volume: &Volume,
        addressing: &PodAddressing,
    ) -> Result<(), VolumeError> {
        let name = volume.name.as_str();
        let dir = self.dir.join(name);
        let source = |source| VolumeError::Source {
            volume: name.to_string(),
            source: Box::new(source),
        };
        if let Some(empty_dir) = &volume.empty_dir {
            if !dir.is_dir() {
                std::fs::create_dir_all(&dir).map_err(io_error(name, &dir))?;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                    .map_err(io_error(name, &dir))?;
            }
            if empty_dir.medium.as_deref() == Some("Memory") && !is_mount_point(&dir) {
                let size = memory_medium_size(pod, empty_dir);
                LinuxKernel
                    .mount_volume_tmpfs(&dir, &format!("mode=1777,size={size}"))
                    .map_err(io_error(name, &dir))?;
            }
            self.paths.insert(name.into(), dir);
        } else if let Some(host) = &volume.host_path {
            let path = PathBuf::from(&host.path);
            check_host_path(name, &path, host.type_.as_deref().unwrap_or(""))?;
            self.paths.insert(name.into(), path);
        } else if let Some(cm) = &volume.config_map {
            let data = sources.config_map_bytes(&cm.name).await.map_err(source)?;
            let files = match data {
                Some(data) => key_files(name, &data, cm.items.as_deref(), cm.default_mode)?,
                None if cm.optional == Some(true) => Vec::new(),
                None => {
                    return Err(VolumeError::Invalid {
                        volume: name.into(),
                        message: format!("configmap \"{}\" not found", cm.name),
                    });
                }
            };
            self.write(name, &dir, files)?;
        } else if let Some(secret) = &volume.secret {
            let secret_name = secret.secret_name.clone().unwrap_or_default();
            let data = sources.secret_bytes(&secret_name).await.map_err(source)?;
            let files = match data {
                Some(data) => key_files(name, &data, secret.items.as_deref(), secret.default_mode)?,
                None if secret.optional == Some(true) => Vec::new(),
                None => {
                    return Err(VolumeError::Invalid {
                        volume: name.into(),
                        message: format!("secret \"{secret_name}\" not found"),
                    });
                }
            };
            in_memory(name, &dir)?;
            self.write(name, &dir, files)?;
        } else if let Some(downward) = &volume.downward_api {
            let files = downward_files(
                name,
                pod,
                downward.items.as_deref().unwrap_or_default(),
                downward.default_mode.unwrap_or(0o644) as u32,
                addressing,
            )?;
            self.write(name, &dir, files)?;
        } else if let Some(projected) = &volume.projected {
            let mode = projected.default_mode.unwrap_or(0o644) as u32;
            let projections = projected.sources.clone().unwrap_or_default();
            let files = self
                .projected_files(client, sources, pod, name, &projections, mode, addressing)
                .await?;
            in_memory(name, &dir)?;
            self.write(name, &dir, files)?;
        } else if let Some(claim) = &volume.persistent_volume_claim {
            let path = bound_volume_path(client, pod, &claim.claim_name)
                .await
                .map_err(|message| VolumeError::Invalid {
                    volume: name.into(),
                    message,
                })?;
            self.paths.insert(name.into(), path);
        } else {
            let kind = if volume.ephemeral.is_some() {
                "ephemeral"
            } else if volume.nfs.is_some() {
                "nfs"
            } else if volume.csi.is_some() {
                "csi"
            } else if volume.image.is_some() {
                "image"
            } else {
                "this kind of"
            };
            return Err(VolumeError::Unsupported {
                volume: name.into(),
                kind,
            });
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn projected_files(
        &mut self,
        client: &kube::Client,
        sources: &mut Sources,
        pod: &Pod,
        volume: &str,
        projections: &[VolumeProjection],
        mode: u32,
        addressing: &PodAddressing,
    ) -> Result<Vec<File>, VolumeError> {
        let source = |source| VolumeError::Source {
            volume: volume.to_string(),
            source: Box::new(source),
        };
        let mut files = Vec::new();
        for projection in projections {
            if let Some(token) = &projection.service_account_token {
                let bytes = self
                    .token(
                        client,
                        pod,
                        volume,
                        &token.path,
                        token.audience.as_deref(),
                        token.expiration_seconds,
                    )
                    .await?;
                files.push((token.path.clone(), bytes, 0o600.min(mode)));
            }
            if let Some(cm) = &projection.config_map {
                match sources.config_map_bytes(&cm.name).await.map_err(source)? {
                    Some(data) => files.extend(key_files(
                        volume,
                        &data,
                        cm.items.as_deref(),
                        Some(mode as i32),
                    )?),
                    None if cm.optional == Some(true) => {}
                    None => {
                        return Err(VolumeError::Invalid {
                            volume: volume.into(),
                            message: format!("configmap \"{}\" not found", cm.name),
                        });
                    }
                }
            }
            if let Some(secret) = &projection.secret {
                match sources.secret_bytes(&secret.name).await.map_err(source)? {
                    Some(data) => files.extend(key_files(
                        volume,
                        &data,
                        secret.items.as_deref(),
                        Some(mode as i32),
                    )?),
                    None if secret.optional == Some(true) => {}
                    None => {
                        return Err(VolumeError::Invalid {
                            volume: volume.into(),
                            message: format!("secret \"{}\" not found", secret.name),
                        });
                    }
                }
            }
            if let Some(downward) = &projection.downward_api {
                files.extend(downward_files(
                    volume,
                    pod,
                    downward.items.as_deref().unwrap_or_default(),
                    mode,
                    addressing,
                )?);
            }
        }
        Ok(files)
    }

    /// A service-account token for the pod, from the TokenRequest API; kept until 80% of its
    /// life has passed.
    async fn token(
        &mut self,
        client: &kube::Client,
        pod: &Pod,
        volume: &str,
        path: &str,
        audience: Option<&str>,
        expiration: Option<i64>,
    ) -> Result<Vec<u8>, VolumeError> {
        let key = (volume.to_string(), path.to_string());
        if let Some((token, renew_at)) = self.tokens.get(&key)
            && SystemTime::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let account = pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "default".into());
        let seconds = expiration.unwrap_or(TOKEN_SECONDS).max(600);
        let audiences: Vec<&str> = audience.filter(|a| !a.is_empty()).into_iter().collect();
        let body = json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": audiences,
                "expirationSeconds": seconds,
                "boundObjectRef": {
                    "apiVersion": "v1", "kind": "Pod",
                    "name": pod.metadata.name, "uid": pod.metadata.uid,
                },
            },
        });
        let api: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
        let token_error = |source| VolumeError::Token {
            volume: volume.to_string(),
            account: account.clone(),
            source: Box::new(source),
        };
        let response: serde_json::Value = api
            .create_subresource("token", &account, &PostParams::default(), &body)
            .await
            .map_err(token_error)?;
        let token = response
            .pointer("/status/token")
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .as_bytes()
            .to_vec();
        let renew_at = SystemTime::now() + Duration::from_secs((seconds as u64) * 8 / 10);
        self.tokens.insert(key, (token.clone(), renew_at));
        Ok(token)
    }

    /// Writes `files` into the volume at `dir` atomically, unless they are what was written
    /// last time.
    fn write(&mut self, volume: &str, dir: &Path, mut files: Vec<File>) -> Result<(), VolumeError> {
        files.sort();
        self.paths.insert(volume.into(), dir.to_path_buf());
        if self.written.get(volume) == Some(&files) && dir.join("..data").exists() {
            return Ok(());
        }
        write_atomic(dir, &files).map_err(io_error(volume, dir))?;
        self.written.insert(volume.into(), files);
        Ok(())
    }
}

/// The projected sources of the service-account volume.
fn service_account_sources() -> Vec<VolumeProjection> {
    serde_json::from_value(json!([
        {"serviceAccountToken": {"path": "token", "expirationSeconds": TOKEN_SECONDS}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]))
    .unwrap_or_default()
}

fn check_relative(volume: &str, path: &str) -> Result<(), VolumeError> {
    if path.is_empty()
        || path.starts_with('/')
        || path
            .split('/')
            .any(|part| part == ".." || part.starts_with(".."))
    {
        return Err(VolumeError::Invalid {
            volume: volume.into(),
            message: format!("invalid path {path:?}"),
        });
    }
    Ok(())
}

fn key_files(
    volume: &str,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
) -> Result<Vec<File>, VolumeError> {
    let mode = default_mode.unwrap_or(0o644) as u32;
    let mut files = Vec::new();
    match items {
        Some(items) if !items.is_empty() => {
            for item in items {
                let content = data.get(&item.key).ok_or_else(|| VolumeError::Invalid {
                    volume: volume.into(),
                    message: format!("key {} not found", item.key),
                })?;
                check_relative(volume, &item.path)?;
                let item_mode = item.mode.map(|m| m as u32).unwrap_or(mode);
                files.push((item.path.clone(), content.clone(), item_mode));
            }
        }
        _ => {
            for (key, content) in data {
                check_relative(volume, key)?;
                files.push((key.clone(), content.clone(), mode));
            }
        }
    }
    Ok(files)
}

fn downward_files(
    volume: &str,
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    mode: u32,
    addressing: &PodAddressing,
) -> Result<Vec<File>, VolumeError> {
    let mut files = Vec::new();
    for item in items {
        check_relative(volume, &item.path)?;
        let value = if let Some(field) = &item.field_ref {
            env::field_value(pod, &field.field_path, addressing)
        } else if let Some(resource) = &item.resource_field_ref {
            let spec = pod.spec.clone().unwrap_or_default();
            let container = spec
                .containers
                .iter()
                .find(|c| Some(&c.name) == resource.container_name.as_ref())
                .or(spec.containers.first())
                .cloned()
                .unwrap_or_default();
            let divisor = resource.divisor.as_ref().map(|q| q.0.as_str());
            env::resource_value(&container, &resource.resource, divisor, &|_| None)
        } else {
            Ok(String::new())
        }
        .map_err(|source| VolumeError::Source {
            volume: volume.into(),
            source: Box::new(source),
        })?;
        let item_mode = item.mode.map(|m| m as u32).unwrap_or(mode);
        files.push((item.path.clone(), value.into_bytes(), item_mode));
    }
    Ok(files)
}

/// Checks (or creates) a hostPath per its `type`.
fn check_host_path(volume: &str, path: &Path, kind: &str) -> Result<(), VolumeError> {
    let invalid = |message: String| VolumeError::Invalid {
        volume: volume.into(),
        message,
    };
    let meta = std::fs::metadata(path);
    let shown = path.display();
    match kind {
        "" => Ok(()),
        "DirectoryOrCreate" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(invalid(format!(
                "hostPath type check failed: {shown} is not a directory"
            ))),
            Err(_) => {
                std::fs::create_dir_all(path).map_err(io_error(volume, path))?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                    .map_err(io_error(volume, path))
            }
        },
        "FileOrCreate" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(invalid(format!(
                "hostPath type check failed: {shown} is not a file"
            ))),
            Err(_) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io_error(volume, path))?;
                }
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map(|_| ())
                    .map_err(io_error(volume, path))
            }
        },
        "Directory" | "File" | "Socket" | "CharDevice" | "BlockDevice" => {
            let m = meta.map_err(|_| {
                invalid(format!(
                    "hostPath type check failed: {shown} does not exist"
                ))
            })?;
            let t = m.file_type();
            let ok = match kind {
                "Directory" => t.is_dir(),
                "File" => t.is_file(),
                "Socket" => t.is_socket(),
                "CharDevice" => t.is_char_device(),
                _ => t.is_block_device(),
            };
            if ok {
                Ok(())
            } else {
                Err(invalid(format!(
                    "hostPath type check failed: {shown} is not a {kind}"
                )))
            }
        }
        other => Err(invalid(format!("unknown hostPath type {other:?}"))),
    }
}

/// Upstream's atomic writer: files in a new `..<stamp>` directory, `..data` swapped to it by
/// a rename, top-level entries linked through `..data`, the old directory removed.
fn write_atomic(dir: &Path, files: &[File]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let stamp = format!(
        "..{}_{}",
        jiff::Timestamp::now().strftime("%Y_%m_%d_%H_%M_%S"),
        fastrand::u32(..)
    );
    let fresh = dir.join(&stamp);
    std::fs::create_dir(&fresh)?;
    std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755))?;
    let mut top = std::collections::BTreeSet::new();
    for (path, content, mode) in files {
        let target = fresh.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, content)?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(*mode & 0o777))?;
        if let Some(first) = path.split('/').next() {
            top.insert(first.to_string());
        }
    }
    let old = std::fs::read_link(dir.join("..data")).ok();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&stamp, &tmp)?;
    std::fs::rename(&tmp, dir.join("..data"))?;
    for name in &top {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(name), &link)?;
        }
    }
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..") && !top.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    if let Some(old) = old.filter(|o| o.as_os_str() != stamp.as_str()) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_empty_dir_is_sized_by_its_limit_or_the_pods() {
        let pod = |limits: &str| -> Pod {
            serde_json::from_value(json!({"spec": {"containers": [
                {"name": "a", "resources": {"limits": {"memory": limits}}},
            ]}}))
            .unwrap()
        };
        let source = |limit: Option<&str>| k8s_openapi::api::core::v1::EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            size_limit: limit
                .map(|l| k8s_openapi::apimachinery::pkg::api::resource::Quantity(l.into())),
        };
        assert_eq!(
            memory_medium_size(&pod("64Mi"), &source(Some("1Mi"))),
            1 << 20
        );
        assert_eq!(
            memory_medium_size(&pod("2Mi"), &source(Some("8Mi"))),
            2 << 20
        );
        assert_eq!(memory_medium_size(&pod("2Mi"), &source(None)), 2 << 20);
    }

    #[test]
    fn volumes_the_kubelet_writes_are_read_only() {
        let pod: Pod = serde_json::from_value(json!({"spec": {"containers": [], "volumes": [
            {"name": "cm", "configMap": {"name": "c"}},
            {"name": "s", "secret": {"secretName": "s"}},
            {"name": "d", "downwardAPI": {"items": []}},
            {"name": "p", "projected": {"sources": []}},
            {"name": "e", "emptyDir": {}},
            {"name": "h", "hostPath": {"path": "/tmp"}},
        ]}}))
        .unwrap();
        for name in ["cm", "s", "d", "p"] {
            assert!(always_read_only(&pod, name), "{name}");
        }
        for name in ["e", "h", "missing"] {
            assert!(!always_read_only(&pod, name), "{name}");
        }
    }

    #[test]
    fn atomic_writes_swap_the_data_link() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("config");
        write_atomic(
            &dir,
            &[
                ("a".into(), b"1".to_vec(), 0o644),
                ("sub/b".into(), b"2".to_vec(), 0o600),
            ],
        )
        .unwrap();
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"1");
        assert_eq!(std::fs::read(dir.join("sub/b")).unwrap(), b"2");
        write_atomic(&dir, &[("a".into(), b"3".to_vec(), 0o644)]).unwrap();
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"3");
        assert!(std::fs::symlink_metadata(dir.join("sub")).is_err());
        let stamps = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                let name = name.to_string_lossy();
                name.starts_with("..") && name != "..data"
            })
            .count();
        assert_eq!(stamps, 1);
    }

    #[test]
    fn key_paths_stay_inside_the_volume() {
        let data = BTreeMap::from([("k".to_string(), b"v".to_vec())]);
        let items = [KeyToPath {
            key: "k".into(),
            path: "../escape".into(),
            mode: None,
        }];
        assert!(key_files("v", &data, Some(&items), None).is_err());
    }
}
