//! Table-driven decoding of one protobuf message into the JSON object Go's `encoding/json`
//! would write for the same Kubernetes object.

use serde_json::{Map, Number, Value};

use super::ProtobufError;
use super::format::{base64, rfc3339, rfc3339_micro};
use super::schema::{Field, Fields, Presence, Shape, Type};
use super::wire::{FieldReader, WireError, WireValue, packed_varints};

/// How deep messages may nest, embedded raw objects included. The built-in kinds nest about a
/// dozen levels; the limit keeps a hostile body from exhausting the stack.
pub(super) const MAX_DEPTH: usize = 64;

/// Why one field could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeFailure {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("wire type {found} where the field's type needs wire type {expected}")]
    WrongWireType { expected: u8, found: u8 },
    #[error("messages nest deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("timestamp of {seconds} seconds lies outside the years 0000-9999")]
    TimeOutOfRange { seconds: i64 },
    #[error("embedded raw object is not JSON: {0}")]
    EmbeddedJson(#[source] serde_json::Error),
    #[error("embedded raw object: {0}")]
    EmbeddedProtobuf(#[source] Box<ProtobufError>),
}

/// A failure and the JSON path of the field it happened in (`spec.containers[0].ports`).
#[derive(Debug)]
pub(super) struct DecodeError {
    pub path: String,
    pub failure: DecodeFailure,
}

impl DecodeError {
    fn new(failure: impl Into<DecodeFailure>) -> Self {
        DecodeError {
            path: String::new(),
            failure: failure.into(),
        }
    }

    /// Puts `segment` (a field name, or `[index]`) in front of the path.
    fn under(mut self, segment: &str) -> Self {
        self.path = if self.path.is_empty() {
            segment.to_string()
        } else if self.path.starts_with('[') {
            format!("{segment}{}", self.path)
        } else {
            format!("{segment}.{}", self.path)
        };
        self
    }
}

type Decoded<T> = Result<T, DecodeError>;

/// Decodes the message `bytes`, described by `fields`, into a JSON object. Fields the table does
/// not know are skipped, as Go skips them.
pub(super) fn decode_object(
    bytes: &[u8],
    fields: Fields,
    depth: usize,
) -> Decoded<Map<String, Value>> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::new(DecodeFailure::TooDeep));
    }
    let mut seen: Vec<Vec<WireValue<'_>>> = vec![Vec::new(); fields.len()];
    for item in FieldReader::new(bytes) {
        let (number, value) = item.map_err(DecodeError::new)?;
        if let Some(index) = fields.iter().position(|field| field.number == number) {
            seen[index].push(value);
        }
    }
    let mut object = Map::new();
    for (field, values) in fields.iter().zip(&seen) {
        write_field(&mut object, field, values, depth).map_err(|error| {
            if field.presence == Presence::Inline {
                error
            } else {
                error.under(field.name)
            }
        })?;
    }
    Ok(object)
}

/// Writes `field` into `object` from all its occurrences, following its `Presence`.
fn write_field(
    object: &mut Map<String, Value>,
    field: &Field,
    values: &[WireValue<'_>],
    depth: usize,
) -> Decoded<()> {
    let empty_collection = || match field.presence {
        Presence::Always | Presence::Nullable => Some(Value::Null),
        _ => None,
    };
    let value = match field.shape {
        Shape::List => {
            let items = decode_list(field.ty, values, depth)?;
            if items.is_empty() {
                empty_collection()
            } else {
                Some(Value::Array(items))
            }
        }
        Shape::Map => {
            let entries = decode_map(field.ty, values, depth)?;
            if entries.is_empty() {
                empty_collection()
            } else {
                Some(Value::Object(entries))
            }
        }
        Shape::One if is_scalar(field.ty) => match values.last() {
            None => match field.presence {
                Presence::Always => Some(zero_scalar(field.ty)),
                Presence::Nullable => Some(Value::Null),
                _ => None,
            },
            Some(last) => {
                let value = decode_scalar(field.ty, last)?;
                let omitted = matches!(field.presence, Presence::OmitEmpty | Presence::OmitZero)
                    && is_zero(&value);
                (!omitted).then_some(value)
            }
        },
        Shape::One => {
            let present = !values.is_empty();
            let bytes = concat_messages(values)?;
            match field.presence {
                Presence::Optional if !present => None,
                Presence::Nullable if !present => Some(Value::Null),
                Presence::OmitZero if bytes.is_empty() => None,
                Presence::Inline => {
                    if let Value::Object(inner) = decode_value(field.ty, &bytes, depth)? {
                        object.extend(inner);
                    }
                    None
                }
                _ => Some(decode_value(field.ty, &bytes, depth)?),
            }
        }
    };
    if let Some(value) = value {
        object.insert(field.name.to_string(), value);
    }
    Ok(())
}

fn is_scalar(ty: Type) -> bool {
    matches!(
        ty,
        Type::String | Type::Bool | Type::Int32 | Type::Int64 | Type::Bytes
    )
}

/// The value an unset non-pointer scalar has in Go (`nil` for `[]byte`).
fn zero_scalar(ty: Type) -> Value {
    match ty {
        Type::String => Value::String(String::new()),
        Type::Bool => Value::Bool(false),
        Type::Int32 | Type::Int64 => Value::Number(Number::from(0)),
        _ => Value::Null,
    }
}

/// Whether `omitempty` leaves this scalar out.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(text) => text.is_empty(),
        Value::Bool(flag) => !flag,
        Value::Number(number) => number.as_i64() == Some(0),
        Value::Null => true,
        _ => false,
    }
}

/// The error for a value whose wire type does not fit the field's type.
fn wrong_wire(value: &WireValue<'_>, expected: u8) -> DecodeError {
    DecodeError::new(DecodeFailure::WrongWireType {
        expected,
        found: value.wire_type(),
    })
}

fn decode_scalar(ty: Type, value: &WireValue<'_>) -> Decoded<Value> {
    match (ty, value) {
        (Type::String, WireValue::Bytes(bytes)) => {
            Ok(Value::String(String::from_utf8_lossy(bytes).into_owned()))
        }
        (Type::Bytes, WireValue::Bytes(bytes)) => Ok(Value::String(base64(bytes))),
        (Type::Bool, WireValue::Varint(raw)) => Ok(Value::Bool(*raw != 0)),
        (Type::Int32, WireValue::Varint(raw)) => Ok(Value::from(*raw as u32 as i32)),
        (Type::Int64, WireValue::Varint(raw)) => Ok(Value::from(*raw as i64)),
        (Type::Bool | Type::Int32 | Type::Int64, other) => Err(wrong_wire(other, 0)),
        (_, other) => Err(wrong_wire(other, 2)),
    }
}

/// The bytes of a message field that may occur more than once: protobuf merges the occurrences,
/// which is the same as decoding them back to back.
fn concat_messages<'a>(values: &[WireValue<'a>]) -> Decoded<std::borrow::Cow<'a, [u8]>> {
    let mut parts = Vec::with_capacity(values.len());
    for value in values {
        match value {
            WireValue::Bytes(bytes) => parts.push(*bytes),
            other => return Err(wrong_wire(other, 2)),
        }
    }
    Ok(match parts.as_slice() {
        [] => std::borrow::Cow::Borrowed(&[][..]),
        [only] => std::borrow::Cow::Borrowed(*only),
        many => std::borrow::Cow::Owned(many.concat()),
    })
}

fn decode_list(ty: Type, values: &[WireValue<'_>], depth: usize) -> Decoded<Vec<Value>> {
    let mut items = Vec::with_capacity(values.len());
    for value in values {
        let index = items.len();
        let at = |error: DecodeError| error.under(&format!("[{index}]"));
        match (ty, value) {
            (Type::Bool | Type::Int32 | Type::Int64, WireValue::Bytes(packed)) => {
                for raw in packed_varints(packed).map_err(|error| at(DecodeError::new(error)))? {
                    items.push(decode_scalar(ty, &WireValue::Varint(raw))?);
                }
            }
            _ if is_scalar(ty) => items.push(decode_scalar(ty, value).map_err(at)?),
            (_, WireValue::Bytes(bytes)) => items.push(decode_value(ty, bytes, depth).map_err(at)?),
            (_, other) => return Err(at(wrong_wire(other, 2))),
        }
    }
    Ok(items)
}

fn decode_map(ty: Type, values: &[WireValue<'_>], depth: usize) -> Decoded<Map<String, Value>> {
    let mut entries = Map::new();
    for value in values {
        let WireValue::Bytes(entry) = value else {
            return Err(wrong_wire(value, 2));
        };
        let mut key = String::new();
        let mut raw_value = None;
        for item in FieldReader::new(entry) {
            match item.map_err(DecodeError::new)? {
                (1, WireValue::Bytes(bytes)) => key = String::from_utf8_lossy(bytes).into_owned(),
                (1, other) => return Err(wrong_wire(&other, 2)),
                (2, found) => raw_value = Some(found),
                _ => {}
            }
        }
        let decoded = match raw_value {
            Some(found) if is_scalar(ty) => decode_scalar(ty, &found),
            None if is_scalar(ty) => Ok(zero_scalar(ty)),
            Some(WireValue::Bytes(bytes)) => decode_value(ty, bytes, depth),
            Some(other) => Err(wrong_wire(&other, 2)),
            None => decode_value(ty, &[], depth),
        };
        entries.insert(
            key.clone(),
            decoded.map_err(|error| error.under(&format!("[{key}]")))?,
        );
    }
    Ok(entries)
}

/// The last value of each of the fields numbered 1 to 3 of a small well-known message.
fn small_message<'a>(bytes: &'a [u8]) -> Decoded<[Option<WireValue<'a>>; 3]> {
    let mut found = [None; 3];
    for item in FieldReader::new(bytes) {
        let (number, value) = item.map_err(DecodeError::new)?;
        if let Some(slot) = found.get_mut((number as usize).wrapping_sub(1)) {
            *slot = Some(value);
        }
    }
    Ok(found)
}

fn varint_of(value: Option<WireValue<'_>>) -> Decoded<i64> {
    match value {
        None => Ok(0),
        Some(WireValue::Varint(raw)) => Ok(raw as i64),
        Some(other) => Err(wrong_wire(&other, 0)),
    }
}

fn string_of(value: Option<WireValue<'_>>) -> Decoded<Option<String>> {
    match value {
        None => Ok(None),
        Some(WireValue::Bytes(bytes)) => Ok(Some(String::from_utf8_lossy(bytes).into_owned())),
        Some(other) => Err(wrong_wire(&other, 2)),
    }
}

/// Decodes one message-typed value (a nested table or a well-known apimachinery type).
fn decode_value(ty: Type, bytes: &[u8], depth: usize) -> Decoded<Value> {
    match ty {
        Type::Message(fields) => Ok(Value::Object(decode_object(bytes, fields, depth + 1)?)),
        Type::Time | Type::MicroTime if bytes.is_empty() => Ok(Value::Null),
        Type::Time => {
            let [seconds, _, _] = small_message(bytes)?;
            let seconds = varint_of(seconds)?;
            rfc3339(seconds)
                .map(Value::String)
                .ok_or(DecodeError::new(DecodeFailure::TimeOutOfRange { seconds }))
        }
        Type::MicroTime => {
            let [seconds, nanos, _] = small_message(bytes)?;
            let seconds = varint_of(seconds)?;
            let nanos = i64::from(varint_of(nanos)? as i32);
            rfc3339_micro(seconds, nanos)
                .map(Value::String)
                .ok_or(DecodeError::new(DecodeFailure::TimeOutOfRange { seconds }))
        }
        Type::Quantity => {
            let [text, _, _] = small_message(bytes)?;
            let text = string_of(text)?.filter(|text| !text.is_empty());
            Ok(Value::String(text.unwrap_or_else(|| "0".to_string())))
        }
        Type::IntOrString => {
            let [kind, int_value, string_value] = small_message(bytes)?;
            if varint_of(kind)? == 1 {
                Ok(Value::String(string_of(string_value)?.unwrap_or_default()))
            } else {
                Ok(Value::from(varint_of(int_value)? as i32))
            }
        }
        Type::RawJson => {
            let [raw, _, _] = small_message(bytes)?;
            match raw {
                None => Ok(Value::Null),
                Some(WireValue::Bytes(raw)) => decode_raw(raw, depth),
                Some(other) => Err(wrong_wire(&other, 2)),
            }
        }
        Type::StringList => {
            let mut items = Vec::new();
            for item in FieldReader::new(bytes) {
                match item.map_err(DecodeError::new)? {
                    (1, WireValue::Bytes(text)) => {
                        items.push(Value::String(String::from_utf8_lossy(text).into_owned()));
                    }
                    (1, other) => return Err(wrong_wire(&other, 2)),
                    _ => {}
                }
            }
            Ok(Value::Array(items))
        }
        Type::String | Type::Bool | Type::Int32 | Type::Int64 | Type::Bytes => {
            decode_scalar(ty, &WireValue::Bytes(bytes))
        }
    }
}

/// The raw bytes of a `RawExtension` or `FieldsV1`: JSON as a rule, or a whole protobuf
/// object when a protobuf client embedded one.
fn decode_raw(raw: &[u8], depth: usize) -> Decoded<Value> {
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(&super::MAGIC) {
        return super::decode_nested(raw, depth + 1)
            .map_err(|error| DecodeError::new(DecodeFailure::EmbeddedProtobuf(Box::new(error))));
    }
    serde_json::from_slice(raw)
        .map_err(|error| DecodeError::new(DecodeFailure::EmbeddedJson(error)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::protobuf::schema::Presence::{
        Always, Inline, Nullable, OmitEmpty, OmitZero, Optional,
    };
    use crate::api::protobuf::schema::{
        BOOL, BYTES, INT_OR_STRING, INT32, INT64, MICRO_TIME, QUANTITY, RAW_JSON, STRING,
        STRING_LIST, TIME, f, list, map, msg,
    };
    use crate::api::protobuf::wire::encode::{bytes, int, message, text};
    use serde_json::json;

    static INNER: Fields = &[
        f(1, "name", STRING, Always),
        f(2, "count", INT32, OmitEmpty),
    ];
    static SOURCE: Fields = &[
        f(1, "path", STRING, OmitEmpty),
        f(2, "size", INT64, Optional),
    ];
    static SAMPLE: Fields = &[
        f(1, "text", STRING, OmitEmpty),
        f(2, "flag", BOOL, OmitEmpty),
        f(3, "pointer", INT32, Optional),
        f(4, "required", INT32, Always),
        f(5, "selector", msg(&INNER), Nullable),
        f(6, "optional", msg(&INNER), Optional),
        f(7, "nested", msg(&INNER), OmitEmpty),
        f(8, "items", list(STRING), OmitEmpty),
        f(9, "rules", list(STRING), Always),
        f(10, "labels", map(STRING), OmitEmpty),
        f(11, "data", map(BYTES), OmitEmpty),
        f(12, "created", TIME, OmitZero),
        f(13, "when", TIME, OmitEmpty),
        f(14, "source", msg(&SOURCE), Inline),
        f(15, "numbers", list(INT32), OmitEmpty),
        f(16, "port", INT_OR_STRING, OmitEmpty),
        f(17, "quantity", QUANTITY, OmitEmpty),
        f(18, "raw", RAW_JSON, OmitEmpty),
        f(19, "extra", map(STRING_LIST), OmitEmpty),
        f(20, "renewTime", MICRO_TIME, Optional),
        f(21, "blob", BYTES, Always),
        f(22, "children", list(msg(&INNER)), OmitEmpty),
        f(23, "limits", map(QUANTITY), OmitEmpty),
        f(24, "optionalBlob", BYTES, OmitEmpty),
    ];

    fn decode(parts: &[Vec<u8>]) -> Value {
        match decode_object(&parts.concat(), SAMPLE, 0) {
            Ok(object) => Value::Object(object),
            Err(error) => panic!("{}: {}", error.path, error.failure),
        }
    }

    fn failure(parts: &[Vec<u8>]) -> DecodeError {
        match decode_object(&parts.concat(), SAMPLE, 0) {
            Ok(object) => panic!("decoded {object:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn an_empty_message_reads_as_gos_zero_value() {
        assert_eq!(
            decode(&[]),
            json!({
                "required": 0,
                "selector": null,
                "nested": {"name": ""},
                "rules": null,
                "when": null,
                "port": 0,
                "quantity": "0",
                "raw": null,
                "blob": null,
            })
        );
    }

    #[test]
    fn zero_scalars_are_omitted_unless_pointers() {
        let value = decode(&[
            text(1, ""),
            int(2, 0),
            int(3, 0),
            int(4, 0),
            bytes(24, b""),
            bytes(21, b""),
        ]);
        assert_eq!(value["pointer"], json!(0));
        assert_eq!(value["required"], json!(0));
        assert_eq!(value["blob"], json!(""));
        for absent in ["text", "flag", "optionalBlob", "optional"] {
            assert!(value.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn set_values_are_written() {
        let value = decode(&[
            text(1, "hello"),
            int(2, 1),
            int(3, -1),
            message(5, &[text(1, "sel")]),
            message(6, &[text(1, "opt"), int(2, 2)]),
            text(8, "a"),
            text(8, "b"),
            text(9, "verb"),
            message(10, &[text(1, "app"), text(2, "web")]),
            message(11, &[text(1, "key"), bytes(2, b"hunter2")]),
            message(22, &[text(1, "first")]),
            message(22, &[]),
        ]);
        assert_eq!(value["text"], json!("hello"));
        assert_eq!(value["flag"], json!(true));
        assert_eq!(value["pointer"], json!(-1));
        assert_eq!(value["selector"], json!({"name": "sel"}));
        assert_eq!(value["optional"], json!({"name": "opt", "count": 2}));
        assert_eq!(value["items"], json!(["a", "b"]));
        assert_eq!(value["rules"], json!(["verb"]));
        assert_eq!(value["labels"], json!({"app": "web"}));
        assert_eq!(value["data"], json!({"key": "aHVudGVyMg=="}));
        assert_eq!(value["children"], json!([{"name": "first"}, {"name": ""}]));
    }

    #[test]
    fn inline_fields_join_the_enclosing_object() {
        let value = decode(&[message(14, &[text(1, "/var/log"), int(2, 0)])]);
        assert_eq!(value["path"], json!("/var/log"));
        assert_eq!(value["size"], json!(0));
        assert!(value.get("source").is_none());
    }

    #[test]
    fn times_follow_omitzero_and_omitempty() {
        let value = decode(&[message(12, &[]), message(13, &[])]);
        assert!(value.get("created").is_none());
        assert_eq!(value["when"], Value::Null);
        let value = decode(&[
            message(12, &[int(1, 1_714_557_600)]),
            message(13, &[int(1, 1_714_557_600), int(2, 999)]),
            message(20, &[int(1, 1_714_557_600), int(2, 123_456_789)]),
        ]);
        assert_eq!(value["created"], json!("2024-05-01T10:00:00Z"));
        assert_eq!(value["when"], json!("2024-05-01T10:00:00Z"));
        assert_eq!(value["renewTime"], json!("2024-05-01T10:00:00.123456Z"));
        let error = failure(&[message(13, &[int(1, i64::MAX)])]);
        assert_eq!(error.path, "when");
        assert!(matches!(
            error.failure,
            DecodeFailure::TimeOutOfRange { .. }
        ));
    }

    #[test]
    fn int_or_string_and_quantities() {
        assert_eq!(
            decode(&[message(16, &[int(1, 0), int(2, 8080)])])["port"],
            json!(8080)
        );
        assert_eq!(
            decode(&[message(16, &[int(1, 1), text(3, "http")])])["port"],
            json!("http")
        );
        assert_eq!(
            decode(&[message(17, &[text(1, "500m")])])["quantity"],
            json!("500m")
        );
        let limits = decode(&[
            message(23, &[text(1, "cpu"), message(2, &[text(1, "1")])]),
            message(23, &[text(1, "memory")]),
        ]);
        assert_eq!(limits["limits"], json!({"cpu": "1", "memory": "0"}));
    }

    #[test]
    fn repeated_scalars_may_be_packed() {
        let packed = bytes(15, &[1, 0xff, 0xff, 0xff, 0xff, 0x0f, 42]);
        assert_eq!(
            decode(&[packed, int(15, 7)])["numbers"],
            json!([1, -1, 42, 7])
        );
    }

    #[test]
    fn raw_extensions_embed_json() {
        let value = decode(&[message(18, &[bytes(1, br#"{"spec":{"replicas":2}}"#)])]);
        assert_eq!(value["raw"], json!({"spec": {"replicas": 2}}));
        let error = failure(&[message(18, &[bytes(1, b"{not json")])]);
        assert_eq!(error.path, "raw");
        assert!(matches!(error.failure, DecodeFailure::EmbeddedJson(_)));
    }

    #[test]
    fn string_lists_keep_empty_wrappers() {
        let value = decode(&[
            message(
                19,
                &[text(1, "scopes"), message(2, &[text(1, "a"), text(1, "b")])],
            ),
            message(19, &[text(1, "empty"), message(2, &[])]),
        ]);
        assert_eq!(value["extra"], json!({"scopes": ["a", "b"], "empty": []}));
    }

    #[test]
    fn unknown_fields_are_skipped_and_messages_merge() {
        let value = decode(&[
            text(99, "from a newer release"),
            message(6, &[text(1, "first")]),
            message(6, &[int(2, 3)]),
            text(1, "earlier"),
            text(1, "later"),
        ]);
        assert_eq!(value["optional"], json!({"name": "first", "count": 3}));
        assert_eq!(value["text"], json!("later"));
        assert!(value.get("99").is_none());
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(decode(&[bytes(1, b"a\xffb")])["text"], json!("a\u{fffd}b"));
    }

    #[test]
    fn wrong_wire_types_name_the_field() {
        let error = failure(&[message(22, &[text(1, "ok")]), message(22, &[text(2, "x")])]);
        assert_eq!(error.path, "children[1].count");
        assert!(matches!(
            error.failure,
            DecodeFailure::WrongWireType {
                expected: 0,
                found: 2
            }
        ));
        let error = failure(&[message(10, &[text(1, "app"), int(2, 1)])]);
        assert_eq!(error.path, "labels[app]");
        assert_eq!(failure(&[int(5, 1)]).path, "selector");
    }

    #[test]
    fn truncated_nested_messages_fail() {
        let error = failure(&[bytes(6, &[0x0a, 0x05, b'a'])]);
        assert_eq!(error.path, "optional");
        assert!(matches!(
            error.failure,
            DecodeFailure::Wire(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let error = match decode_object(&[], SAMPLE, MAX_DEPTH + 1) {
            Ok(object) => panic!("decoded {object:?}"),
            Err(error) => error,
        };
        assert!(matches!(error.failure, DecodeFailure::TooDeep));
    }
}
