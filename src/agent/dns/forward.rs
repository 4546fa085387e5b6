//! Names outside the cluster go to the node's upstream resolvers: the `nameserver` lines of
//! `--resolv-conf`, or else of the host's `/etc/resolv.conf`.
//!
//! Loopback nameservers of the host's file are skipped — they are stub resolvers such as
//! systemd-resolved's 127.0.0.53, which pods could never reach and which may loop back — and
//! when none is left, the upstreams systemd-resolved itself uses
//! (`/run/systemd/resolve/resolv.conf`) are tried, as k3s does. A file given with
//! `--resolv-conf` is taken as written, loopback included (the user chose it; the tests point
//! it at a fake upstream on 127.0.0.x). With no upstream at all, forwarded names are SERVFAIL.
//!
//! A query is sent over UDP to each upstream in turn with a timeout; a truncated answer is
//! asked again over TCP.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The host's resolver configuration.
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
/// systemd-resolved's list of its own upstreams.
pub const SYSTEMD_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";

/// How long one upstream gets to answer one query.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(
        "no upstream resolver is configured (every nameserver of the resolv.conf was a loopback stub); pass --resolv-conf with reachable nameservers"
    )]
    NoUpstream,
    #[error("asking upstream {upstream} over {transport}: {source}")]
    Exchange {
        upstream: SocketAddr,
        transport: &'static str,
        source: std::io::Error,
    },
    #[error("upstream {upstream} did not answer within {UPSTREAM_TIMEOUT:?}")]
    Timeout { upstream: SocketAddr },
}

/// The `nameserver` addresses of a resolv.conf's text, in order.
pub fn nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
                .and_then(|ip| ip.split('%').next())
                .and_then(|ip| ip.parse().ok())
        })
        .collect()
}

/// The upstream resolvers: from `explicit` as written, or from the host's files with
/// loopback stubs skipped. A file that cannot be read contributes nothing.
pub fn upstreams(explicit: Option<&Path>) -> Vec<SocketAddr> {
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let ips = match explicit {
        Some(path) => nameservers(&read(path)),
        None => {
            let host: Vec<IpAddr> = nameservers(&read(Path::new(HOST_RESOLV_CONF)))
                .into_iter()
                .filter(|ip| !ip.is_loopback())
                .collect();
            if host.is_empty() {
                nameservers(&read(Path::new(SYSTEMD_RESOLV_CONF)))
                    .into_iter()
                    .filter(|ip| !ip.is_loopback())
                    .collect()
            } else {
                host
            }
        }
    };
    ips.into_iter().map(|ip| SocketAddr::new(ip, 53)).collect()
}

/// Where the upstreams come from, for the start-up log.
pub fn source(explicit: Option<&Path>) -> PathBuf {
    explicit.map_or_else(|| PathBuf::from(HOST_RESOLV_CONF), Path::to_path_buf)
}

/// Sends `request` (a whole DNS message) to the upstreams in turn; the first answer wins.
///
/// # Errors
/// [`ForwardError::NoUpstream`] without upstreams, else the last upstream's failure.
pub async fn forward(upstreams: &[SocketAddr], request: &[u8]) -> Result<Vec<u8>, ForwardError> {
    let mut last = ForwardError::NoUpstream;
    for &upstream in upstreams {
        match exchange(upstream, request).await {
            Ok(answer) => return Ok(answer),
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// One upstream: UDP, then TCP if the answer came back truncated.
async fn exchange(upstream: SocketAddr, request: &[u8]) -> Result<Vec<u8>, ForwardError> {
    let answer = tokio::time::timeout(UPSTREAM_TIMEOUT, exchange_udp(upstream, request))
        .await
        .map_err(|_| ForwardError::Timeout { upstream })?
        .map_err(|source| ForwardError::Exchange {
            upstream,
            transport: "UDP",
            source,
        })?;
    // The TC bit: byte 2, 0x02.
    if answer.len() > 2 && answer[2] & 0x02 != 0 {
        return tokio::time::timeout(UPSTREAM_TIMEOUT, exchange_tcp(upstream, request))
            .await
            .map_err(|_| ForwardError::Timeout { upstream })?
            .map_err(|source| ForwardError::Exchange {
                upstream,
                transport: "TCP",
                source,
            });
    }
    Ok(answer)
}

async fn exchange_udp(upstream: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = match upstream {
        SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        SocketAddr::V6(_) => ([0u16; 8], 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(upstream).await?;
    socket.send(request).await?;
    let mut buffer = vec![0; 65_535];
    loop {
        let n = socket.recv(&mut buffer).await?;
        // An answer to another query (a late one, or spoofed) has another id: keep waiting.
        if n >= 2 && request.len() >= 2 && buffer[..2] == request[..2] {
            buffer.truncate(n);
            return Ok(buffer);
        }
    }
}

async fn exchange_tcp(upstream: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await?;
    write_framed(&mut stream, request).await?;
    read_framed(&mut stream).await?.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed without an answer",
        )
    })
}

/// Writes one length-prefixed message (DNS over TCP).
pub async fn write_framed<W: AsyncWriteExt + Unpin>(
    stream: &mut W,
    message: &[u8],
) -> std::io::Result<()> {
    let length = u16::try_from(message.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "message too long"))?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(message);
    stream.write_all(&framed).await
}

/// Reads one length-prefixed message; `None` at a clean end of stream.
pub async fn read_framed<R: AsyncReadExt + Unpin>(
    stream: &mut R,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut length = [0u8; 2];
    match stream.read_exact(&mut length).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut message = vec![0; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut message).await?;
    Ok(Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nameserver_lines() {
        let text = "# comment\nsearch example.com\nnameserver 192.0.2.1\nnameserver  fe80::1%eth0\nnameserver bogus\noptions ndots:2\nnameserver 127.0.0.53\n";
        let ips = nameservers(text);
        assert_eq!(
            ips,
            vec![
                "192.0.2.1".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap(),
                "127.0.0.53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn an_explicit_file_is_taken_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(&path, "nameserver 127.0.0.77\nnameserver 192.0.2.1\n").unwrap();
        assert_eq!(
            upstreams(Some(&path)),
            vec![
                "127.0.0.77:53".parse::<SocketAddr>().unwrap(),
                "192.0.2.1:53".parse().unwrap()
            ]
        );
        assert!(upstreams(Some(&dir.path().join("missing"))).is_empty());
    }

    #[test]
    fn host_files_never_yield_loopback_upstreams() {
        assert!(upstreams(None).iter().all(|a| !a.ip().is_loopback()));
    }

    /// A fake upstream on a loopback port: answers every query with its own bytes, flagged as
    /// a response, truncated over UDP when `truncate` is set; over TCP it answers in full.
    async fn fake_upstream(truncate: bool) -> SocketAddr {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
        tokio::spawn(async move {
            let mut buffer = vec![0; 512];
            while let Ok((n, peer)) = udp.recv_from(&mut buffer).await {
                let mut answer = buffer[..n].to_vec();
                answer[2] |= 0x80;
                if truncate {
                    answer[2] |= 0x02;
                }
                let _ = udp.send_to(&answer, peer).await;
            }
        });
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                if let Ok(Some(mut message)) = read_framed(&mut stream).await {
                    message[2] |= 0x80;
                    message.extend_from_slice(b"tcp");
                    let _ = write_framed(&mut stream, &message).await;
                }
            }
        });
        addr
    }

    fn request() -> Vec<u8> {
        let mut message = hickory_proto::op::Message::query();
        message.add_query(hickory_proto::op::Query::query(
            hickory_proto::rr::Name::from_ascii("example.org.").unwrap(),
            hickory_proto::rr::RecordType::A,
        ));
        message.to_vec().unwrap()
    }

    #[tokio::test]
    async fn forwards_over_udp_and_retries_truncated_answers_over_tcp() {
        let request = request();
        let plain = fake_upstream(false).await;
        let answer = forward(&[plain], &request).await.unwrap();
        assert_eq!(answer[..2], request[..2]);
        assert!(answer[2] & 0x80 != 0);
        assert!(!answer.ends_with(b"tcp"));

        let truncating = fake_upstream(true).await;
        let answer = forward(&[truncating], &request).await.unwrap();
        assert!(
            answer.ends_with(b"tcp"),
            "the truncated answer is asked again over TCP"
        );
    }

    #[tokio::test]
    async fn a_silent_upstream_is_skipped_and_none_is_an_error() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let plain = fake_upstream(false).await;
        let request = request();
        let answer = forward(&[silent.local_addr().unwrap(), plain], &request)
            .await
            .unwrap();
        assert_eq!(answer[..2], request[..2]);
        assert!(matches!(
            forward(&[], &request).await,
            Err(ForwardError::NoUpstream)
        ));
    }
}
