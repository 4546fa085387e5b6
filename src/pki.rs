//! The cluster's certificates and keys, under `<data-dir>/server/tls/` with k3s's file names.
//!
//! On first start this generates two CAs (one signs serving certificates, one client
//! certificates), the API server's serving certificate, the admin client certificate
//! (`system:admin` in `system:masters`), the API server's client certificate for kubelets
//! (`system:apiserver` in `system:masters`, k3s's `client-kube-apiserver`) and the
//! service-account signing key. Kubelet serving certificates (k3s's `serving-kubelet`) are
//! issued by [`ClusterPki::ensure_kubelet_serving`]. Later starts
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

/// The user the API server is when it calls a kubelet (k3s's `client-kube-apiserver`
/// certificate names upstream's `user.APIServerUser`).
pub const APISERVER_KUBELET_CLIENT_USER: &str = "system:apiserver";

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
    #[error("cannot use the certificate signing request: {reason}")]
    Request { reason: String },
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
    /// The API server's client certificate for the kubelets' HTTPS API on 10250: the only
    /// identity a kubelet serves (k3s's `client-kube-apiserver`).
    pub apiserver_kubelet_client: CertKey,
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
        let apiserver_kubelet_client = ensure_leaf(
            dir,
            "client-kube-apiserver",
            &client_ca,
            &LeafSpec {
                common_name: APISERVER_KUBELET_CLIENT_USER,
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
            apiserver_kubelet_client,
            service_account_key,
        })
    }

    /// Loads the kubelet serving certificate `<dir>/serving-kubelet.crt` (and `.key`) for
    /// `names`, issuing it from the server CA when it is missing, old, or lacks a name.
    ///
    /// # Errors
    /// I/O failures, files that do not parse, or a CA that cannot sign.
    pub fn ensure_kubelet_serving(
        &self,
        dir: &Path,
        node: &str,
        names: &ServingNames,
    ) -> Result<CertKey, PkiError> {
        std::fs::create_dir_all(dir).map_err(|source| PkiError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        ensure_leaf(
            dir,
            "serving-kubelet",
            &self.server_ca,
            &LeafSpec {
                common_name: node,
                organizations: &[],
                usage: ExtendedKeyUsagePurpose::ServerAuth,
                names,
            },
        )
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

/// Which cluster CA signs a certificate signing request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuingCa {
    /// The client CA: the certificate authenticates to the API server.
    Client,
    /// The server CA: the certificate serves TLS (kubelet serving certificates).
    Server,
}

/// What a PEM certificate signing request asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestFacts {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub emails: Vec<String>,
    pub uris: Vec<String>,
}

fn bad_request(reason: impl Into<String>) -> PkiError {
    PkiError::Request {
        reason: reason.into(),
    }
}

fn request_der(pem: &str) -> Result<Vec<u8>, PkiError> {
    use rustls::pki_types::CertificateSigningRequestDer;
    use rustls::pki_types::pem::PemObject;
    CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
        .map(|d| d.as_ref().to_vec())
        .map_err(|_| bad_request("PEM block type must be CERTIFICATE REQUEST"))
}

/// The subject and names a PEM certificate signing request carries.
///
/// # Errors
/// When it is not a PEM `CERTIFICATE REQUEST` that parses.
pub fn parse_request(pem: &str) -> Result<RequestFacts, PkiError> {
    use x509_parser::certification_request::X509CertificationRequest;
    use x509_parser::extensions::ParsedExtension;
    let der = request_der(pem)?;
    let (_, request) =
        X509CertificationRequest::from_der(&der).map_err(|e| bad_request(e.to_string()))?;
    let subject = &request.certification_request_info.subject;
    let mut facts = RequestFacts {
        common_name: subject
            .iter_common_name()
            .filter_map(|a| a.as_str().ok())
            .next()
            .unwrap_or_default()
            .to_string(),
        organizations: subject
            .iter_organization()
            .filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect(),
        ..Default::default()
    };
    for extension in request.requested_extensions().into_iter().flatten() {
        let ParsedExtension::SubjectAlternativeName(san) = extension else {
            continue;
        };
        for name in &san.general_names {
            match name {
                GeneralName::DNSName(d) => facts.dns.push(d.to_string()),
                GeneralName::RFC822Name(e) => facts.emails.push(e.to_string()),
                GeneralName::URI(u) => facts.uris.push(u.to_string()),
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

/// Upstream's key usage names (`certificates.k8s.io/v1` `KeyUsage`) as rcgen purposes.
fn usages_for(
    usages: &[String],
) -> Result<(Vec<KeyUsagePurpose>, Vec<ExtendedKeyUsagePurpose>), PkiError> {
    use ExtendedKeyUsagePurpose as E;
    use KeyUsagePurpose as K;
    let (mut key, mut extended) = (Vec::new(), Vec::new());
    let mut unrecognized = Vec::new();
    for usage in usages {
        let k = match usage.as_str() {
            "signing" | "digital signature" => Some(K::DigitalSignature),
            "content commitment" => Some(K::ContentCommitment),
            "key encipherment" => Some(K::KeyEncipherment),
            "key agreement" => Some(K::KeyAgreement),
            "data encipherment" => Some(K::DataEncipherment),
            "cert sign" => Some(K::KeyCertSign),
            "crl sign" => Some(K::CrlSign),
            "encipher only" => Some(K::EncipherOnly),
            "decipher only" => Some(K::DecipherOnly),
            _ => None,
        };
        let e = match usage.as_str() {
            "any" => Some(E::Any),
            "server auth" => Some(E::ServerAuth),
            "client auth" => Some(E::ClientAuth),
            "code signing" => Some(E::CodeSigning),
            "email protection" | "s/mime" => Some(E::EmailProtection),
            "ipsec end system" => Some(E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 5])),
            "ipsec tunnel" => Some(E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 6])),
            "ipsec user" => Some(E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 7])),
            "timestamping" => Some(E::TimeStamping),
            "ocsp signing" => Some(E::OcspSigning),
            "microsoft sgc" => Some(E::Other(vec![1, 3, 6, 1, 4, 1, 311, 10, 3, 3])),
            "netscape sgc" => Some(E::Other(vec![2, 16, 840, 1, 113_730, 4, 1])),
            _ => None,
        };
        match (k, e) {
            (Some(k), _) if !key.contains(&k) => key.push(k),
            (Some(_), _) => {}
            (None, Some(e)) if !extended.contains(&e) => extended.push(e),
            (None, Some(_)) => {}
            (None, None) => unrecognized.push(format!("{usage:?}")),
        }
    }
    if !unrecognized.is_empty() {
        return Err(bad_request(format!(
            "unrecognized usage values: [{}]",
            unrecognized.join(" ")
        )));
    }
    Ok((key, extended))
}

/// Certificates are backdated this much, so clocks a little behind accept them.
const BACKDATE: Duration = Duration::minutes(5);
/// Certificates living less than this have the backdate taken out of their lifetime.
const SHORT: Duration = Duration::hours(8);

impl ClusterPki {
    /// Signs a PEM certificate signing request with `ca`, for `usages` (upstream's key usage
    /// names), valid for `lifetime` (and never past the CA): the subject and every subject
    /// alternative name come from the request; it is never a CA.
    ///
    /// # Errors
    /// When the request does not parse or verify, names an unknown usage, or the CA cannot
    /// sign.
    pub fn sign_request(
        &self,
        request_pem: &str,
        ca: IssuingCa,
        usages: &[String],
        lifetime: Duration,
    ) -> Result<String, PkiError> {
        let mut request = rcgen::CertificateSigningRequestParams::from_pem(request_pem)
            .map_err(|e| bad_request(e.to_string()))?;
        let ca = match ca {
            IssuingCa::Client => &self.client_ca,
            IssuingCa::Server => &self.server_ca,
        };
        let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(|source| PkiError::Generate {
            what: "certificate (CA key)",
            source,
        })?;
        let ca_not_after = parse_cert(Path::new("CA"), &ca.cert_pem)?.not_after;
        let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(|source| {
            PkiError::Generate {
                what: "certificate (CA certificate)",
                source,
            }
        })?;
        let (key_usages, extended) = usages_for(usages)?;
        let now = OffsetDateTime::now_utc();
        let not_before = now - BACKDATE;
        let mut not_after = if lifetime < SHORT {
            not_before + lifetime
        } else {
            now + lifetime
        };
        if let Ok(ca_end) = OffsetDateTime::from_unix_timestamp(ca_not_after)
            && ca_end < not_after
        {
            not_after = ca_end;
        }
        let params = &mut request.params;
        params.key_usages = key_usages;
        params.extended_key_usages = extended;
        params.is_ca = IsCa::ExplicitNoCa;
        params.custom_extensions.clear();
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before;
        params.not_after = not_after;
        let mut serial = *uuid::Uuid::new_v4().as_bytes();
        serial[0] &= 0x7f;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let cert = request
            .signed_by(&issuer)
            .map_err(|source| PkiError::Generate {
                what: "certificate from a signing request",
                source,
            })?;
        Ok(cert.pem())
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
    fn signs_requests_with_the_client_ca() {
        let dir = tempfile::tempdir().unwrap();
        let pki = ClusterPki::ensure(dir.path(), &names()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "system:node:edge-1");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "system:nodes");
        let pem = params.serialize_request(&key).unwrap().pem().unwrap();
        let facts = parse_request(&pem).unwrap();
        assert_eq!(facts.common_name, "system:node:edge-1");
        assert_eq!(facts.organizations, vec!["system:nodes".to_string()]);
        let usages = vec!["digital signature".to_string(), "client auth".to_string()];
        let cert = pki
            .sign_request(&pem, IssuingCa::Client, &usages, Duration::minutes(10))
            .unwrap();
        let der = rustls_der(&cert).unwrap();
        let (_, parsed) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(
            parsed.issuer().to_string(),
            ca_subject(&pki.client_ca).unwrap()
        );
        let lifetime =
            parsed.validity().not_after.timestamp() - parsed.validity().not_before.timestamp();
        assert_eq!(lifetime, 600);
        assert!(!parsed.is_ca());
        let ca_der = rustls_der(&pki.client_ca.cert_pem).unwrap();
        let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
        assert!(parsed.verify_signature(Some(ca.public_key())).is_ok());
        let error = pki
            .sign_request(
                &pem,
                IssuingCa::Client,
                &["bogus".to_string()],
                Duration::hours(1),
            )
            .unwrap_err();
        assert!(
            error.to_string().contains("unrecognized usage values"),
            "{error}"
        );
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
