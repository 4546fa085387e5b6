//! Telling a supervisor that kedge is ready: systemd's `sd_notify` protocol, a datagram
//! with `READY=1` sent to the Unix socket named by `NOTIFY_SOCKET`. The systemd units that
//! install.sh writes are `Type=notify`, so systemd holds `systemctl start` (and units ordered
//! after kedge) until this message. A name starting with `@` is an abstract socket.

use std::os::unix::net::UnixDatagram;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot create a socket to notify systemd: {0}")]
    Socket(#[source] std::io::Error),
    #[error("NOTIFY_SOCKET {socket:?} is not a usable socket address: {source}")]
    Address {
        socket: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot send {state:?} to NOTIFY_SOCKET {socket:?}: {source}")]
    Send {
        state: String,
        socket: String,
        #[source]
        source: std::io::Error,
    },
}

/// Tells systemd that start-up has finished. Does nothing when kedge does not run under a
/// `Type=notify` unit (no `NOTIFY_SOCKET`).
///
/// # Errors
/// The socket named by `NOTIFY_SOCKET` cannot be reached.
pub fn ready() -> Result<(), NotifyError> {
    notify("READY=1")
}

/// Sends `state` (newline-separated `KEY=VALUE` assignments) to `NOTIFY_SOCKET`, if set.
///
/// # Errors
/// The socket named by `NOTIFY_SOCKET` cannot be reached.
pub fn notify(state: &str) -> Result<(), NotifyError> {
    match std::env::var("NOTIFY_SOCKET") {
        Ok(socket) if !socket.is_empty() => send(&socket, state),
        _ => Ok(()),
    }
}

fn send(socket: &str, state: &str) -> Result<(), NotifyError> {
    let datagram = UnixDatagram::unbound().map_err(NotifyError::Socket)?;
    let sent = if let Some(name) = socket.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).map_err(
            |source| NotifyError::Address {
                socket: socket.to_string(),
                source,
            },
        )?;
        datagram.send_to_addr(state.as_bytes(), &address)
    } else {
        datagram.send_to(state.as_bytes(), socket)
    };
    sent.map(|_| ()).map_err(|source| NotifyError::Send {
        state: state.to_string(),
        socket: socket.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        send(path.to_str().unwrap(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("kedge-test-notify-{}", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&address).unwrap();
        send(&format!("@{name}"), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn a_missing_socket_is_an_error() {
        let error = send("/nonexistent/kedge-notify", "READY=1").unwrap_err();
        assert!(error.to_string().contains("cannot send"), "{error}");
    }
}
