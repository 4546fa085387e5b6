//! The cluster's certificates and keys, under `<data-dir>/server/tls/` with k3s's file names.
//!
//! On first start this generates two CAs (one signs serving certificates, one client
//! certificates), the API server's serving certificate, the admin client certificate
//! (`system:admin` in `system:masters`) and the service-account signing key. Later starts
//! reuse them; a leaf certificate is re-issued when it is missing, expires within 120 days
//! (as k3s does), lacks a required name, or was not signed by the current CA. CAs live ten
//! years, leaves one.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

const CA_LIFETIME: Duration = Duration::days(3650);
const LEAF_LIFETIME: Duration = Duration::days(365);
const RENEW_BEFORE: Duration = Duration::days(120);

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot create {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a usable key or certificate: {reason} (delete it to have a new one generated)"
    )]
    Parse { path: PathBuf, reason: String },
    #[error("cannot generate {what}: {source}")]
    Generate {
        what: &'static str,
        source: rcgen::Error,
    },
}

/// A certificate and its private key, as PEM.
#[derive(Clone, Debug)]
pub struct CertKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The names the serving certificate must carry.
#[derive(Clone, Debug, Default)]
pub struct ServingNames {
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
}

/// Everything the API server needs to serve TLS and sign tokens.
#[derive(Clone, Debug)]
pub struct ClusterPki {
    pub server_ca: CertKey,
    pub client_ca: CertKey,
    pub serving: CertKey,
    pub admin: CertKey,
    /// PKCS#8 PEM of the ECDSA P-256 key that signs service-account tokens.
    pub service_account_key: String,
}

impl ClusterPki {
    /// Loads the cluster's certificates from `dir`, creating or renewing what is needed.
    ///
    /// # Errors
    /// I/O failures and files that exist but cannot be parsed.
    pub fn ensure(dir: &Path, names: &ServingNames) -> Result<ClusterPki, PkiError> {
        std::fs::create_dir_all(dir).map_err(|source| PkiError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        set_mode(dir, 0o700);
        let server_ca = ensure_ca(dir, "server-ca", "kedge-server-ca")?;
        let client_ca = ensure_ca(dir, "client-ca", "kedge-client-ca")?;
        let serving = ensure_leaf(
            dir,
            "serving-kube-apiserver",
            &server_ca,
            &LeafSpec {
                common_name: "kube-apiserver",
                organizations: &[],
                usage: ExtendedKeyUsagePurpose::ServerAuth,
                names,
            },
        )?;
        let admin = ensure_leaf(
            dir,
            "client-admin",
            &client_ca,
            &LeafSpec {
                common_name: "system:admin",
                organizations: &["system:masters"],
                usage: ExtendedKeyUsagePurpose::ClientAuth,
                names: &ServingNames::default(),
            },
        )?;
        let service_account_key = ensure_key(&dir.join("service.key"))?;
        Ok(ClusterPki {
            server_ca,
            client_ca,
            serving,
            admin,
            service_account_key,
        })
    }

    /// Issues a client certificate signed by the client CA (for agents and kubelets).
    ///
    /// # Errors
    /// When the CA cannot sign.
    pub fn issue_client(
        &self,
        common_name: &str,
        organizations: &[&str],
    ) -> Result<CertKey, PkiError> {
        issue_leaf(
            &self.client_ca,
            &LeafSpec {
                common_name,
                organizations,
                usage: ExtendedKeyUsagePurpose::ClientAuth,
                names: &ServingNames::default(),
            },
        )
    }
}

struct LeafSpec<'a> {
    common_name: &'a str,
    organizations: &'a [&'a str],
    usage: ExtendedKeyUsagePurpose,
    names: &'a ServingNames,
}

fn read(path: &Path) -> Result<Option<String>, PkiError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), PkiError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| PkiError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    set_mode(path, mode);
    Ok(())
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

fn generate_key(what: &'static str) -> Result<KeyPair, PkiError> {
    KeyPair::generate().map_err(|source| PkiError::Generate { what, source })
}

fn parse_key(path: &Path, pem: &str) -> Result<KeyPair, PkiError> {
    KeyPair::from_pem(pem).map_err(|e| PkiError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn ensure_key(path: &Path) -> Result<String, PkiError> {
    if let Some(pem) = read(path)? {
        parse_key(path, &pem)?;
        return Ok(pem);
    }
    let pem = generate_key("service account key")?.serialize_pem();
    write(path, &pem, 0o600)?;
    Ok(pem)
}

fn ensure_ca(dir: &Path, file: &str, name: &str) -> Result<CertKey, PkiError> {
    let cert_path = dir.join(format!("{file}.crt"));
    let key_path = dir.join(format!("{file}.key"));
    if let (Some(cert_pem), Some(key_pem)) = (read(&cert_path)?, read(&key_path)?) {
        parse_key(&key_path, &key_pem)?;
        parse_cert(&cert_path, &cert_pem)?;
        return Ok(CertKey { cert_pem, key_pem });
    }
    let key = generate_key("certificate authority key")?;
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(
        DnType::CommonName,
        format!("{name}@{}", now.unix_timestamp()),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - Duration::hours(1);
    params.not_after = now + CA_LIFETIME;
    let cert = params
        .self_signed(&key)
        .map_err(|source| PkiError::Generate {
            what: "certificate authority",
            source,
        })?;
    let pair = CertKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    write(&key_path, &pair.key_pem, 0o600)?;
    write(&cert_path, &pair.cert_pem, 0o644)?;
    Ok(pair)
}

/// What a parsed certificate tells us about whether it can be kept.
struct CertFacts {
    not_after: i64,
    issuer: String,
    dns: Vec<String>,
    ips: Vec<IpAddr>,
}

fn parse_cert(path: &Path, pem: &str) -> Result<CertFacts, PkiError> {
    let bad = |reason: String| PkiError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    let der = rustls_der(pem).ok_or_else(|| bad("no PEM certificate".into()))?;
    let (_, cert) = X509Certificate::from_der(&der).map_err(|e| bad(e.to_string()))?;
    let mut facts = CertFacts {
        not_after: cert.validity().not_after.timestamp(),
        issuer: cert.issuer().to_string(),
        dns: Vec::new(),
        ips: Vec::new(),
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => facts.dns.push(dns.to_string()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => facts.ips.push(IpAddr::from(
                        <[u8; 4]>::try_from(*bytes).unwrap_or_default(),
                    )),
                    16 => facts.ips.push(IpAddr::from(
                        <[u8; 16]>::try_from(*bytes).unwrap_or_default(),
                    )),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(facts)
}

/// The DER bytes of the first certificate in a PEM text.
fn rustls_der(pem: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()?
        .ok()
        .map(|c| c.to_vec())
}

fn ca_subject(ca: &CertKey) -> Option<String> {
    let der = rustls_der(&ca.cert_pem)?;
    let (_, cert) = X509Certificate::from_der(&der).ok()?;
    Some(cert.subject().to_string())
}

fn ensure_leaf(
    dir: &Path,
    file: &str,
    ca: &CertKey,
    spec: &LeafSpec<'_>,
) -> Result<CertKey, PkiError> {
    let cert_path = dir.join(format!("{file}.crt"));
    let key_path = dir.join(format!("{file}.key"));
    if let (Some(cert_pem), Some(key_pem)) = (read(&cert_path)?, read(&key_path)?) {
        parse_key(&key_path, &key_pem)?;
        let facts = parse_cert(&cert_path, &cert_pem)?;
        let fresh = facts.not_after > (OffsetDateTime::now_utc() + RENEW_BEFORE).unix_timestamp();
        let same_ca = ca_subject(ca).is_some_and(|s| s == facts.issuer);
        let has_names = spec.names.dns.iter().all(|d| facts.dns.contains(d))
            && spec.names.ips.iter().all(|ip| facts.ips.contains(ip));
        if fresh && same_ca && has_names {
            return Ok(CertKey { cert_pem, key_pem });
        }
        tracing::info!(file, fresh, same_ca, has_names, "re-issuing certificate");
    }
    let pair = issue_leaf(ca, spec)?;
    write(&key_path, &pair.key_pem, 0o600)?;
    write(&cert_path, &pair.cert_pem, 0o644)?;
    Ok(pair)
}

fn issue_leaf(ca: &CertKey, spec: &LeafSpec<'_>) -> Result<CertKey, PkiError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(|source| PkiError::Generate {
        what: "certificate (CA key)",
        source,
    })?;
    let issuer =
        Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(|source| PkiError::Generate {
            what: "certificate (CA certificate)",
            source,
        })?;
    let key = generate_key("certificate key")?;
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, spec.common_name);
    for org in spec.organizations {
        params
            .distinguished_name
            .push(DnType::OrganizationName, *org);
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![spec.usage.clone()];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - Duration::hours(1);
    params.not_after = now + LEAF_LIFETIME;
    for dns in &spec.names.dns {
        let name = dns
            .clone()
            .try_into()
            .map_err(|source| PkiError::Generate {
                what: "certificate (DNS name)",
                source,
            })?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    for ip in &spec.names.ips {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|source| PkiError::Generate {
            what: "certificate",
            source,
        })?;
    Ok(CertKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> ServingNames {
        ServingNames {
            dns: vec!["localhost".into(), "kubernetes.default.svc".into()],
            ips: vec!["127.0.0.1".parse().unwrap(), "10.43.0.1".parse().unwrap()],
        }
    }

    #[test]
    fn generates_once_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let first = ClusterPki::ensure(dir.path(), &names()).unwrap();
        let again = ClusterPki::ensure(dir.path(), &names()).unwrap();
        assert_eq!(first.server_ca.cert_pem, again.server_ca.cert_pem);
        assert_eq!(first.serving.cert_pem, again.serving.cert_pem);
        assert_eq!(first.admin.cert_pem, again.admin.cert_pem);
        assert_eq!(first.service_account_key, again.service_account_key);
        let facts = parse_cert(Path::new("x"), &first.serving.cert_pem).unwrap();
        assert!(facts.dns.contains(&"kubernetes.default.svc".to_string()));
        assert!(facts.ips.contains(&"10.43.0.1".parse().unwrap()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("server-ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_new_name_reissues_the_serving_certificate_only() {
        let dir = tempfile::tempdir().unwrap();
        let first = ClusterPki::ensure(dir.path(), &names()).unwrap();
        let mut more = names();
        more.dns.push("kedge.example.com".into());
        let second = ClusterPki::ensure(dir.path(), &more).unwrap();
        assert_eq!(first.server_ca.cert_pem, second.server_ca.cert_pem);
        assert_ne!(first.serving.cert_pem, second.serving.cert_pem);
        assert_eq!(first.admin.cert_pem, second.admin.cert_pem);
        let facts = parse_cert(Path::new("x"), &second.serving.cert_pem).unwrap();
        assert!(facts.dns.contains(&"kedge.example.com".to_string()));
    }

    #[test]
    fn a_corrupt_key_is_reported_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        ClusterPki::ensure(dir.path(), &names()).unwrap();
        std::fs::write(dir.path().join("client-ca.key"), "garbage").unwrap();
        let error = ClusterPki::ensure(dir.path(), &names())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("client-ca.key") && error.contains("delete it"),
            "{error}"
        );
    }
}
