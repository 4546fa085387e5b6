//! What the image store's tests share: the test image built by scripts/build-test-image.sh,
//! Debian's docker-registry run on loopback, and a small push client for it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Whether `tool` is on PATH; in CI its absence fails the test (scripts/test-tools.sh
/// installs it), elsewhere the test is skipped.
pub fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found || !in_ci(),
        "{tool} is missing: run scripts/test-tools.sh"
    );
    if !found {
        eprintln!("skipped: {tool} is not installed (scripts/test-tools.sh installs it)");
    }
    found
}

/// The test image directory (see scripts/build-test-image.sh), built once per test run.
pub fn test_image() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        if !have("busybox") || !have("zstd") {
            return None;
        }
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("images-fixture-{}", std::process::id()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-test-image.sh");
        let out = Command::new(script)
            .arg(&dir)
            .output()
            .expect("run build-test-image.sh");
        assert!(
            out.status.success(),
            "build-test-image.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(dir)
    })
    .as_deref()
}

/// `image.json` of the test image.
pub fn image_facts(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("image.json")).unwrap()).unwrap()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's `docker-registry` on a loopback port, killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

pub struct RegistryOptions<'a> {
    pub storage: &'a Path,
    /// Certificate and key (PEM) to serve HTTPS.
    pub tls: Option<(&'a Path, &'a Path)>,
    /// An htpasswd file (bcrypt) for basic auth.
    pub htpasswd: Option<&'a Path>,
}

impl Registry {
    pub fn start(options: RegistryOptions<'_>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            options.storage.display()
        );
        if let Some((cert, key)) = options.tls {
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
        }
        if let Some(htpasswd) = options.htpasswd {
            config += &format!(
                "auth:\n  htpasswd:\n    realm: kedge-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One plain-HTTP/1.1 request (`Connection: close`): status, headers, body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request += &format!("{k}: {v}\r\n");
    }
    request += "\r\n";
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response headers");
    let head = String::from_utf8_lossy(&response[..end]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, response[end + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Pushes the OCI layout `layout` to the registry on `port` as `name:tag` with the
/// Distribution API (blob uploads, then manifests by digest, then the index by tag).
pub fn push(port: u16, layout: &Path, name: &str, tag: &str) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let top = &index["manifests"][0];
    push_manifest(
        port,
        layout,
        name,
        top["digest"].as_str().unwrap(),
        top["mediaType"].as_str().unwrap(),
        Some(tag),
    );
}

fn blob_bytes(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

fn push_manifest(
    port: u16,
    layout: &Path,
    name: &str,
    digest: &str,
    media_type: &str,
    tag: Option<&str>,
) {
    let bytes = blob_bytes(layout, digest);
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    if let Some(children) = doc["manifests"].as_array() {
        for child in children {
            push_manifest(
                port,
                layout,
                name,
                child["digest"].as_str().unwrap(),
                child["mediaType"].as_str().unwrap(),
                None,
            );
        }
    } else {
        push_blob(
            port,
            layout,
            name,
            doc["config"]["digest"].as_str().unwrap(),
        );
        for layer in doc["layers"].as_array().unwrap() {
            push_blob(port, layout, name, layer["digest"].as_str().unwrap());
        }
    }
    let reference = tag.unwrap_or(digest);
    let (status, _, body) = http(
        port,
        "PUT",
        &format!("/v2/{name}/manifests/{reference}"),
        &[("Content-Type", media_type)],
        &bytes,
    );
    assert_eq!(
        status,
        201,
        "PUT manifest {reference}: {}",
        String::from_utf8_lossy(&body)
    );
}

fn push_blob(port: u16, layout: &Path, name: &str, digest: &str) {
    let (status, _, _) = http(
        port,
        "HEAD",
        &format!("/v2/{name}/blobs/{digest}"),
        &[],
        b"",
    );
    if status == 200 {
        return;
    }
    let (status, headers, body) = http(
        port,
        "POST",
        &format!("/v2/{name}/blobs/uploads/"),
        &[],
        b"",
    );
    assert_eq!(
        status,
        202,
        "start upload: {}",
        String::from_utf8_lossy(&body)
    );
    let location = header(&headers, "location").expect("upload location");
    let path = match location.split_once("://") {
        Some((_, rest)) => &rest[rest.find('/').unwrap()..],
        None => location,
    };
    let separator = if path.contains('?') { '&' } else { '?' };
    let url = format!("{path}{separator}digest={}", digest.replace(':', "%3A"));
    let bytes = blob_bytes(layout, digest);
    let (status, _, body) = http(
        port,
        "PUT",
        &url,
        &[("Content-Type", "application/octet-stream")],
        &bytes,
    );
    assert_eq!(
        status,
        201,
        "upload {digest}: {}",
        String::from_utf8_lossy(&body)
    );
}

/// A CA (ca.pem) and a serving certificate it signed for 127.0.0.1 and localhost
/// (cert.pem, key.pem); returns (ca, cert, key).
pub fn test_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kedge test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca.pem(), &ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&key, &issuer).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}
