//! The protobuf wire format, without any schema: a reader that splits a message into
//! `(field number, value)` pairs, and the varint helpers the decoder needs for packed lists.

/// A malformed protobuf message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The message ends inside a tag, a varint, a fixed-size value or a length-delimited value.
    #[error("message is truncated at byte {offset}")]
    Truncated { offset: usize },
    /// A varint runs past ten bytes.
    #[error("varint at byte {offset} is longer than ten bytes")]
    VarintTooLong { offset: usize },
    /// A tag names field 0 or a number above 2^29 - 1, which protobuf does not allow.
    #[error("tag at byte {offset} names an invalid field number")]
    InvalidFieldNumber { offset: usize },
    /// Wire types 3 and 4 (groups) and 6 and 7 (undefined) are not used by Kubernetes.
    #[error("field {field} uses wire type {wire_type}, which Kubernetes messages never use")]
    UnsupportedWireType { field: u32, wire_type: u8 },
}

/// The largest field number protobuf allows.
const MAX_FIELD_NUMBER: u32 = (1 << 29) - 1;

/// One field value as the wire carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WireValue<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: strings, bytes, nested messages, maps' entries and packed lists.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

impl WireValue<'_> {
    /// The wire type number, for error messages.
    pub(super) fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => 0,
            WireValue::Fixed64(_) => 1,
            WireValue::Bytes(_) => 2,
            WireValue::Fixed32(_) => 5,
        }
    }
}

/// Iterates over the fields of one message, in wire order.
pub(super) struct FieldReader<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> FieldReader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        FieldReader {
            buf,
            pos: 0,
            failed: false,
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.buf.len())
            .ok_or(WireError::Truncated {
                offset: self.buf.len(),
            })?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn read_field(&mut self) -> Result<(u32, WireValue<'a>), WireError> {
        let tag_offset = self.pos;
        let tag = read_varint(self.buf, &mut self.pos)?;
        let number = u32::try_from(tag >> 3)
            .ok()
            .filter(|number| (1..=MAX_FIELD_NUMBER).contains(number))
            .ok_or(WireError::InvalidFieldNumber { offset: tag_offset })?;
        let value = match tag & 7 {
            0 => WireValue::Varint(read_varint(self.buf, &mut self.pos)?),
            1 => {
                let bytes = self.take(8)?;
                let mut word = [0u8; 8];
                word.copy_from_slice(bytes);
                WireValue::Fixed64(u64::from_le_bytes(word))
            }
            2 => {
                let len = read_varint(self.buf, &mut self.pos)?;
                let len = usize::try_from(len).map_err(|_| WireError::Truncated {
                    offset: self.buf.len(),
                })?;
                WireValue::Bytes(self.take(len)?)
            }
            5 => {
                let bytes = self.take(4)?;
                let mut word = [0u8; 4];
                word.copy_from_slice(bytes);
                WireValue::Fixed32(u32::from_le_bytes(word))
            }
            other => {
                return Err(WireError::UnsupportedWireType {
                    field: number,
                    wire_type: other as u8,
                });
            }
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for FieldReader<'a> {
    type Item = Result<(u32, WireValue<'a>), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let item = self.read_field();
        self.failed = item.is_err();
        Some(item)
    }
}

/// Reads one varint at `*pos` and moves `*pos` past it.
pub(super) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let start = *pos;
    let mut value = 0u64;
    for index in 0..10 {
        let byte = *buf
            .get(start + index)
            .ok_or(WireError::Truncated { offset: buf.len() })?;
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            *pos = start + index + 1;
            return Ok(value);
        }
    }
    Err(WireError::VarintTooLong { offset: start })
}

/// The varints of a packed `repeated` scalar field.
pub(super) fn packed_varints(bytes: &[u8]) -> Result<Vec<u64>, WireError> {
    let mut pos = 0;
    let mut values = Vec::new();
    while pos < bytes.len() {
        values.push(read_varint(bytes, &mut pos)?);
    }
    Ok(values)
}

/// Builders of protobuf bytes for tests.
#[cfg(test)]
pub(super) mod encode {
    fn varint(mut value: u64, out: &mut Vec<u8>) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    /// Field `number` as a varint.
    pub(in crate::api::protobuf) fn int(number: u32, value: i64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(u64::from(number) << 3, &mut out);
        varint(value as u64, &mut out);
        out
    }

    /// Field `number` as length-delimited `bytes`.
    pub(in crate::api::protobuf) fn bytes(number: u32, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(u64::from(number) << 3 | 2, &mut out);
        varint(bytes.len() as u64, &mut out);
        out.extend_from_slice(bytes);
        out
    }

    /// Field `number` as a string.
    pub(in crate::api::protobuf) fn text(number: u32, text: &str) -> Vec<u8> {
        bytes(number, text.as_bytes())
    }

    /// Field `number` as a nested message made of `parts`.
    pub(in crate::api::protobuf) fn message(number: u32, parts: &[Vec<u8>]) -> Vec<u8> {
        bytes(number, &parts.concat())
    }

    /// A whole request body: magic, then the `runtime.Unknown` envelope around `raw`.
    pub(in crate::api::protobuf) fn body(
        api_version: &str,
        kind: &str,
        raw: &[Vec<u8>],
    ) -> Vec<u8> {
        let envelope = [
            message(1, &[text(1, api_version), text(2, kind)]),
            message(2, raw),
        ]
        .concat();
        [b"k8s\0".to_vec(), envelope].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(buf: &[u8]) -> Result<Vec<(u32, WireValue<'_>)>, WireError> {
        FieldReader::new(buf).collect()
    }

    #[test]
    fn reads_every_wire_type() {
        let buf = [
            0x08, 0x96, 0x01, // 1: varint 150
            0x12, 0x02, b'h', b'i', // 2: "hi"
            0x19, 1, 0, 0, 0, 0, 0, 0, 0, // 3: fixed64 1
            0x25, 2, 0, 0, 0, // 4: fixed32 2
        ];
        assert_eq!(
            fields(&buf),
            Ok(vec![
                (1, WireValue::Varint(150)),
                (2, WireValue::Bytes(b"hi")),
                (3, WireValue::Fixed64(1)),
                (4, WireValue::Fixed32(2)),
            ])
        );
    }

    #[test]
    fn large_field_numbers_and_negative_varints() {
        // Field 300, varint -1 as ten bytes.
        let mut buf = vec![0xe0, 0x12];
        buf.extend([0xff; 9]);
        buf.push(0x01);
        assert_eq!(fields(&buf), Ok(vec![(300, WireValue::Varint(u64::MAX))]));
    }

    #[test]
    fn truncated_messages_fail() {
        assert_eq!(
            fields(&[0x12, 0x05, b'a']),
            Err(WireError::Truncated { offset: 3 })
        );
        assert_eq!(fields(&[0x08]), Err(WireError::Truncated { offset: 1 }));
        assert_eq!(
            fields(&[0x08, 0x80]),
            Err(WireError::Truncated { offset: 2 })
        );
        assert_eq!(
            fields(&[0x19, 1, 2]),
            Err(WireError::Truncated { offset: 3 })
        );
    }

    #[test]
    fn overlong_varints_fail() {
        let buf = [
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert_eq!(fields(&buf), Err(WireError::VarintTooLong { offset: 1 }));
    }

    #[test]
    fn groups_and_field_zero_fail() {
        assert_eq!(
            fields(&[0x0b]),
            Err(WireError::UnsupportedWireType {
                field: 1,
                wire_type: 3
            })
        );
        assert_eq!(
            fields(&[0x00, 0x01]),
            Err(WireError::InvalidFieldNumber { offset: 0 })
        );
        // Field 2^29 as a varint tag.
        assert_eq!(
            fields(&[0x80, 0x80, 0x80, 0x80, 0x20, 0x00]),
            Err(WireError::InvalidFieldNumber { offset: 0 })
        );
    }

    #[test]
    fn the_reader_stops_after_an_error() {
        let mut reader = FieldReader::new(&[0x08]);
        assert!(matches!(reader.next(), Some(Err(_))));
        assert!(reader.next().is_none());
    }

    #[test]
    fn packed_varints_split() {
        assert_eq!(packed_varints(&[1, 0x96, 0x01, 0]), Ok(vec![1, 150, 0]));
        assert_eq!(packed_varints(&[]), Ok(vec![]));
        assert_eq!(
            packed_varints(&[0x80]),
            Err(WireError::Truncated { offset: 1 })
        );
    }
}
