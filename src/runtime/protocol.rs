//! The shim's protocol on its unix socket (`/run/kedge/shims/<pod-uid>.sock`).
//!
//! Every message is a frame: one byte of kind, four bytes of big-endian length, the payload.
//! [`FrameKind::Control`] frames carry JSON ([`Request`] from the agent, [`Response`] from
//! the shim); the stream kinds carry raw bytes.
//!
//! A connection starts with one request and gets one response. Most requests are answered at
//! once; `StopContainer` and `WaitContainer` are answered when the container has exited. After
//! an `Ok` to `Exec` or `Attach` the connection becomes a stream session: the agent sends
//! `Stdin` frames, an empty `Stdin` frame to close stdin, and `Resize` controls; the shim
//! sends `Stdout`/`Stderr` frames and ends with an `Exit` control (after an exec, or when an
//! attached container exits). The agent bridges these sessions to the API server's
//! exec/attach streams.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::runtime::config::ContainerConfig;
use crate::runtime::state::ContainerStatus;

/// The largest frame either side accepts.
pub const MAX_FRAME: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    Control = 0,
    Stdin = 1,
    Stdout = 2,
    Stderr = 3,
}

impl FrameKind {
    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0 => FrameKind::Control,
            1 => FrameKind::Stdin,
            2 => FrameKind::Stdout,
            3 => FrameKind::Stderr,
            _ => return None,
        })
    }
}

/// What the agent asks a shim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Request {
    /// The sandbox and all its containers.
    Status,
    CreateContainer {
        config: Box<ContainerConfig>,
    },
    StartContainer {
        id: String,
    },
    /// Sends the stop signal, then SIGKILL after `timeout_seconds`; answered at the exit.
    StopContainer {
        id: String,
        timeout_seconds: u64,
    },
    /// Answered when the container has exited.
    WaitContainer {
        id: String,
    },
    /// Forgets an exited container and removes its rootfs (its logs stay).
    RemoveContainer {
        id: String,
    },
    /// Runs a process in a running container; the connection becomes a stream session.
    Exec {
        id: String,
        command: Vec<String>,
        #[serde(default)]
        tty: bool,
        #[serde(default)]
        stdin: bool,
        #[serde(default)]
        width: u16,
        #[serde(default)]
        height: u16,
    },
    /// Streams a container's output (and feeds its stdin, when it has one).
    Attach {
        id: String,
        #[serde(default)]
        stdin: bool,
    },
    /// Within a session: the terminal's new size.
    Resize {
        width: u16,
        height: u16,
    },
    /// Stops every container, removes the sandbox and ends the shim.
    Shutdown {
        timeout_seconds: u64,
    },
}

/// What a shim answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Response {
    Ok,
    Status(SandboxStatus),
    Container(ContainerStatus),
    /// The end of a stream session.
    Exit {
        exit_code: i32,
    },
    Error {
        message: String,
    },
}

/// The sandbox as its shim reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxStatus {
    pub uid: String,
    /// The shim's pid.
    pub pid: i32,
    /// The pod's network namespace file (`None` with host networking).
    pub net_namespace: Option<PathBuf>,
    pub containers: Vec<ContainerStatus>,
}

/// Writes one frame.
///
/// # Errors
/// The payload is too large, or writing failed.
pub fn write_frame(w: &mut impl Write, kind: FrameKind, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame too large",
        ));
    }
    let mut frame = Vec::with_capacity(5 + payload.len());
    frame.push(kind as u8);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    w.write_all(&frame)
}

/// Reads one frame; `None` at a clean end of the connection.
///
/// # Errors
/// A malformed frame, or reading failed.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(FrameKind, Vec<u8>)>> {
    let mut header = [0u8; 5];
    match r.read_exact(&mut header) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let kind = FrameKind::from_byte(header[0]).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown frame kind {}", header[0]),
        )
    })?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((kind, payload)))
}

/// Writes a control message.
///
/// # Errors
/// Writing failed.
pub fn send<T: Serialize>(w: &mut impl Write, message: &T) -> io::Result<()> {
    let payload = serde_json::to_vec(message).map_err(io::Error::other)?;
    write_frame(w, FrameKind::Control, &payload)
}

/// Parses a control frame's payload.
///
/// # Errors
/// Not valid JSON for `T`.
pub fn parse<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> io::Result<T> {
    serde_json::from_slice(payload).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        send(&mut buf, &Request::StartContainer { id: "app.0".into() }).unwrap();
        write_frame(&mut buf, FrameKind::Stdin, b"hi").unwrap();
        let mut r = &buf[..];
        let (kind, payload) = read_frame(&mut r).unwrap().unwrap();
        assert_eq!(kind, FrameKind::Control);
        assert_eq!(
            String::from_utf8_lossy(&payload),
            r#"{"type":"startContainer","id":"app.0"}"#
        );
        assert_eq!(
            parse::<Request>(&payload).unwrap(),
            Request::StartContainer { id: "app.0".into() }
        );
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((FrameKind::Stdin, b"hi".to_vec()))
        );
        assert_eq!(read_frame(&mut r).unwrap(), None);
    }

    #[test]
    fn bad_frames_are_rejected() {
        let mut r: &[u8] = &[9, 0, 0, 0, 0];
        assert!(read_frame(&mut r).is_err());
        let mut r: &[u8] = &[0, 0xff, 0, 0, 0];
        assert!(read_frame(&mut r).is_err());
    }
}
