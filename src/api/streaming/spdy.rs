//! A minimal SPDY/3.1 framing layer, enough for the streams of kubectl's exec, attach and
//! port-forward (client-go's SPDY transport): SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS,
//! PING, GOAWAY, HEADERS, WINDOW_UPDATE and DATA frames, with header blocks compressed by one
//! zlib stream per direction seeded with the SPDY/3 dictionary.
//!
//! Flow control is not enforced in either direction (client-go's SPDY library does not
//! either); WINDOW_UPDATE frames are read and ignored.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The frame header's size.
pub const HEADER_LEN: usize = 8;
/// The largest frame accepted (SPDY lengths are 24 bits).
pub const MAX_FRAME: usize = (1 << 24) - 1;
/// Closes a stream in its sender's direction.
pub const FLAG_FIN: u8 = 0x01;

const VERSION: u16 = 3;
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// `RST_STREAM` status codes used here.
pub const PROTOCOL_ERROR: u32 = 1;
pub const CANCEL: u32 = 5;

/// The SPDY/3 header dictionary: header names and common values, each with a 32-bit length,
/// then a run of status codes and common strings (1423 bytes).
pub fn dictionary() -> Vec<u8> {
    const WORDS: &[&str] = &[
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ];
    const CODES: &str = "100101201202205206300302303304305306307402405406407408409410411412413\
        414415416417502504505";
    const PHRASES: &str = "203 Non-Authoritative Information204 No Content301 Moved \
        Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal \
        Server Error501 Not Implemented503 Service Unavailable";
    const DATES: &str = "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 \
        Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT";
    const VALUES: &str = "chunked,text/html,image/png,image/jpg,image/gif,application/xml,\
        application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,\
        sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
    let mut dictionary = Vec::with_capacity(1423);
    for word in WORDS {
        dictionary.extend_from_slice(&(word.len() as u32).to_be_bytes());
        dictionary.extend_from_slice(word.as_bytes());
    }
    for part in [CODES, PHRASES, DATES, VALUES] {
        dictionary.extend_from_slice(part.as_bytes());
    }
    dictionary
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream: u32,
        fin: bool,
        headers: Vec<(String, String)>,
    },
    SynReply {
        stream: u32,
        fin: bool,
        headers: Vec<(String, String)>,
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    Settings,
    Ping(u32),
    GoAway {
        last_stream: u32,
    },
    Headers {
        stream: u32,
    },
    WindowUpdate,
    Data {
        stream: u32,
        fin: bool,
        data: Vec<u8>,
    },
    /// A control frame of a type not known here (ignored, as the protocol asks).
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    #[error("SPDY version {0} is not supported")]
    Version(u16),
    #[error("a SPDY {0} frame is too short")]
    Short(&'static str),
    #[error("cannot decompress a SPDY header block: {0}")]
    Decompress(String),
    #[error("cannot compress a SPDY header block: {0}")]
    Compress(String),
    #[error("a SPDY header block is malformed")]
    HeaderBlock,
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The length of the frame whose header is `header` (8 bytes), payload only.
pub fn payload_len(header: &[u8; HEADER_LEN]) -> usize {
    (usize::from(header[5]) << 16) | (usize::from(header[6]) << 8) | usize::from(header[7])
}

/// Decodes frames; keeps the zlib stream of the peer's header blocks.
pub struct Decoder {
    inflate: Decompress,
    dictionary: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            inflate: Decompress::new(true),
            dictionary: dictionary(),
        }
    }
}

impl Decoder {
    fn header_block(&mut self, compressed: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
        let mut out = Vec::with_capacity(compressed.len() * 4 + 64);
        let mut input = compressed;
        loop {
            if out.capacity() - out.len() < 256 {
                out.reserve(out.capacity());
            }
            let before_in = self.inflate.total_in();
            let result = self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = usize::try_from(self.inflate.total_in() - before_in).unwrap_or(0);
            input = &input[used.min(input.len())..];
            match result {
                Ok(Status::Ok | Status::BufError)
                    if input.is_empty() && out.len() < out.capacity() =>
                {
                    break;
                }
                Ok(Status::StreamEnd) => break,
                Ok(_) => {}
                Err(error) if error.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(&self.dictionary)
                        .map_err(|e| SpdyError::Decompress(e.to_string()))?;
                }
                Err(error) => return Err(SpdyError::Decompress(error.to_string())),
            }
        }
        parse_header_block(&out)
    }

    /// Decodes one frame from its 8-byte header and payload.
    ///
    /// # Errors
    /// A malformed frame or header block.
    pub fn decode(
        &mut self,
        header: &[u8; HEADER_LEN],
        payload: &[u8],
    ) -> Result<Frame, SpdyError> {
        let flags = header[4];
        let fin = flags & FLAG_FIN != 0;
        if header[0] & 0x80 == 0 {
            let stream = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
            return Ok(Frame::Data {
                stream,
                fin,
                data: payload.to_vec(),
            });
        }
        let version = u16::from_be_bytes([header[0] & 0x7f, header[1]]);
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        let kind = u16::from_be_bytes([header[2], header[3]]);
        let stream = u32_at(payload, 0).map(|s| s & 0x7fff_ffff);
        Ok(match kind {
            SYN_STREAM => {
                let stream = stream.ok_or(SpdyError::Short("SYN_STREAM"))?;
                let block = payload.get(10..).ok_or(SpdyError::Short("SYN_STREAM"))?;
                Frame::SynStream {
                    stream,
                    fin,
                    headers: self.header_block(block)?,
                }
            }
            SYN_REPLY => {
                let stream = stream.ok_or(SpdyError::Short("SYN_REPLY"))?;
                let block = payload.get(4..).ok_or(SpdyError::Short("SYN_REPLY"))?;
                Frame::SynReply {
                    stream,
                    fin,
                    headers: self.header_block(block)?,
                }
            }
            HEADERS => {
                let stream = stream.ok_or(SpdyError::Short("HEADERS"))?;
                if let Some(block) = payload.get(4..).filter(|b| !b.is_empty()) {
                    self.header_block(block)?;
                }
                Frame::Headers { stream }
            }
            RST_STREAM => Frame::RstStream {
                stream: stream.ok_or(SpdyError::Short("RST_STREAM"))?,
                status: u32_at(payload, 4).ok_or(SpdyError::Short("RST_STREAM"))?,
            },
            SETTINGS => Frame::Settings,
            PING => Frame::Ping(u32_at(payload, 0).ok_or(SpdyError::Short("PING"))?),
            GOAWAY => Frame::GoAway {
                last_stream: stream.ok_or(SpdyError::Short("GOAWAY"))?,
            },
            WINDOW_UPDATE => Frame::WindowUpdate,
            _ => Frame::Unknown,
        })
    }
}

fn parse_header_block(block: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
    let count = u32_at(block, 0).ok_or(SpdyError::HeaderBlock)?;
    let mut at = 4;
    let mut next = || -> Result<String, SpdyError> {
        let len = u32_at(block, at).ok_or(SpdyError::HeaderBlock)? as usize;
        let bytes = block
            .get(at + 4..at + 4 + len)
            .ok_or(SpdyError::HeaderBlock)?;
        at += 4 + len;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    };
    let mut headers = Vec::new();
    for _ in 0..count {
        let name = next()?.to_ascii_lowercase();
        let value = next()?;
        headers.push((name, value));
    }
    Ok(headers)
}

/// Encodes frames; keeps the zlib stream of this side's header blocks.
pub struct Encoder {
    deflate: Compress,
}

impl Default for Encoder {
    fn default() -> Self {
        let mut deflate = Compress::new(Compression::default(), true);
        // Without the dictionary the block is still valid zlib; peers accept both.
        let _ = deflate.set_dictionary(&dictionary());
        Encoder { deflate }
    }
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    frame.extend_from_slice(&kind.to_be_bytes());
    frame.push(flags);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    frame.extend_from_slice(payload);
    frame
}

impl Encoder {
    fn header_block(&mut self, headers: &[(&str, &str)]) -> Result<Vec<u8>, SpdyError> {
        let mut block = Vec::new();
        block.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (name, value) in headers {
            for part in [name.to_ascii_lowercase().as_str(), value] {
                block.extend_from_slice(&(part.len() as u32).to_be_bytes());
                block.extend_from_slice(part.as_bytes());
            }
        }
        let mut out = Vec::with_capacity(block.len() + 64);
        let mut input = block.as_slice();
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity() + 64);
            }
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::Compress(e.to_string()))?;
            let used = usize::try_from(self.deflate.total_in() - before).unwrap_or(0);
            input = &input[used.min(input.len())..];
            // A sync flush is complete once the output did not fill its room.
            if input.is_empty() && out.capacity() - out.len() >= 64 {
                break;
            }
        }
        Ok(out)
    }

    /// A SYN_REPLY for `stream`.
    ///
    /// # Errors
    /// The header block cannot be compressed.
    pub fn syn_reply(
        &mut self,
        stream: u32,
        headers: &[(&str, &str)],
        fin: bool,
    ) -> Result<Vec<u8>, SpdyError> {
        let mut payload = stream.to_be_bytes().to_vec();
        payload.extend(self.header_block(headers)?);
        Ok(control(SYN_REPLY, if fin { FLAG_FIN } else { 0 }, &payload))
    }

    /// A SYN_STREAM opening `stream` (tests play the client with it).
    ///
    /// # Errors
    /// The header block cannot be compressed.
    pub fn syn_stream(
        &mut self,
        stream: u32,
        headers: &[(&str, &str)],
        fin: bool,
    ) -> Result<Vec<u8>, SpdyError> {
        let mut payload = stream.to_be_bytes().to_vec();
        payload.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        payload.extend(self.header_block(headers)?);
        Ok(control(
            SYN_STREAM,
            if fin { FLAG_FIN } else { 0 },
            &payload,
        ))
    }
}

/// A DATA frame (`data` at most [`MAX_FRAME`] bytes).
pub fn data(stream: u32, data: &[u8], fin: bool) -> Vec<u8> {
    let mut frame = Vec::with_capacity(HEADER_LEN + data.len());
    frame.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    frame.push(if fin { FLAG_FIN } else { 0 });
    frame.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    frame.extend_from_slice(data);
    frame
}

pub fn rst_stream(stream: u32, status: u32) -> Vec<u8> {
    let mut payload = stream.to_be_bytes().to_vec();
    payload.extend_from_slice(&status.to_be_bytes());
    control(RST_STREAM, 0, &payload)
}

pub fn ping(id: u32) -> Vec<u8> {
    control(PING, 0, &id.to_be_bytes())
}

pub fn goaway(last_stream: u32) -> Vec<u8> {
    let mut payload = last_stream.to_be_bytes().to_vec();
    payload.extend_from_slice(&0u32.to_be_bytes());
    control(GOAWAY, 0, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(frame: &[u8]) -> ([u8; HEADER_LEN], &[u8]) {
        let header: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().unwrap();
        assert_eq!(payload_len(&header), frame.len() - HEADER_LEN);
        (header, &frame[HEADER_LEN..])
    }

    #[test]
    fn the_dictionary_is_the_specs() {
        let dictionary = dictionary();
        assert_eq!(dictionary.len(), 1423);
        assert!(dictionary.starts_with(b"\x00\x00\x00\x07options\x00\x00\x00\x04head"));
        assert!(dictionary.ends_with(b"utf-,*,enq=0."));
    }

    #[test]
    fn header_blocks_share_one_zlib_stream() {
        let (mut client, mut server) = (Encoder::default(), Decoder::default());
        for (id, kind) in [(1, "error"), (3, "stdout"), (5, "stderr")] {
            let frame = client
                .syn_stream(id, &[("streamType", kind), ("X-Extra", "v")], false)
                .unwrap();
            let (header, payload) = split(&frame);
            assert_eq!(
                server.decode(&header, payload).unwrap(),
                Frame::SynStream {
                    stream: id,
                    fin: false,
                    headers: vec![
                        ("streamtype".into(), kind.into()),
                        ("x-extra".into(), "v".into())
                    ],
                }
            );
        }
        let reply = client.syn_reply(7, &[], true).unwrap();
        let (header, payload) = split(&reply);
        assert_eq!(
            server.decode(&header, payload).unwrap(),
            Frame::SynReply {
                stream: 7,
                fin: true,
                headers: vec![]
            }
        );
    }

    #[test]
    fn data_and_control_frames() {
        let mut decoder = Decoder::default();
        let frame = data(3, b"hello", true);
        let (header, payload) = split(&frame);
        assert_eq!(
            decoder.decode(&header, payload).unwrap(),
            Frame::Data {
                stream: 3,
                fin: true,
                data: b"hello".to_vec()
            }
        );
        let frame = ping(9);
        let (header, payload) = split(&frame);
        assert_eq!(decoder.decode(&header, payload).unwrap(), Frame::Ping(9));
        let frame = rst_stream(5, CANCEL);
        let (header, payload) = split(&frame);
        assert_eq!(
            decoder.decode(&header, payload).unwrap(),
            Frame::RstStream {
                stream: 5,
                status: CANCEL
            }
        );
        let frame = goaway(11);
        let (header, payload) = split(&frame);
        assert_eq!(
            decoder.decode(&header, payload).unwrap(),
            Frame::GoAway { last_stream: 11 }
        );
        let mut old = goaway(1);
        old[1] = 2;
        let (header, payload) = split(&old);
        assert!(matches!(
            decoder.decode(&header, payload),
            Err(SpdyError::Version(2))
        ));
    }
}
