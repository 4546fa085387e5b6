//! The admin kubeconfig `kedge server` writes to `--write-kubeconfig` (k3s's layout: one
//! cluster, context and user named `default`, credentials embedded).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::pki::ClusterPki;

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot write the kubeconfig {path}: {source} (choose another path with --write-kubeconfig)"
)]
pub struct KubeconfigError {
    path: String,
    source: std::io::Error,
}

/// The kubeconfig text for `server` with the admin credentials.
pub fn admin_kubeconfig(pki: &ClusterPki, server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: {server}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
",
        ca = B64.encode(&pki.server_ca.cert_pem),
        cert = B64.encode(&pki.admin.cert_pem),
        key = B64.encode(&pki.admin.key_pem),
    )
}

/// Writes the kubeconfig atomically with file mode `mode`.
///
/// # Errors
/// When the directory or file cannot be written.
pub fn write(path: &Path, contents: &str, mode: u32) -> Result<(), KubeconfigError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let error = |source| KubeconfigError {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(error)?;
    file.write_all(contents.as_bytes()).map_err(error)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(error)?;
    std::fs::rename(&tmp, path).map_err(error)
}
