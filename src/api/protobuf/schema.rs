//! The vocabulary of the field tables: for each protobuf message of the Kubernetes API, which
//! field number carries which JSON field, of what type, and when the JSON encoding writes it.
//!
//! The tables themselves live in `kinds/`. Field numbers and wire types are those of upstream's
//! `generated.proto`; `Presence` follows each Go field's shape (pointer or not) and its `json`
//! tag (`omitempty`, `omitzero`, `inline`), because that is what decides how the JSON encoding of
//! the same object reads.

/// The fields of one protobuf message.
pub(super) type Fields = &'static [Field];

/// What one field holds, as the protobuf wire carries it and as JSON shows it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Type {
    /// A length-delimited UTF-8 string.
    String,
    /// A varint, `true` when not zero.
    Bool,
    /// A varint truncated to 32 bits, signed.
    Int32,
    /// A varint, signed.
    Int64,
    /// Length-delimited bytes, shown in JSON as standard base64.
    Bytes,
    /// A nested message with its own table.
    Message(&'static Fields),
    /// `metav1.Time`: a Timestamp {1: seconds, 2: nanos}, shown as RFC 3339 to the second;
    /// an empty message is the zero time, shown as `null`.
    Time,
    /// `metav1.MicroTime`: a Timestamp shown as RFC 3339 with six fractional digits.
    MicroTime,
    /// `resource.Quantity`: {1: string}, shown as that string.
    Quantity,
    /// `intstr.IntOrString`: {1: type, 2: intVal, 3: strVal}, shown as a number or a string.
    IntOrString,
    /// `runtime.RawExtension` and `metav1.FieldsV1`: {1: raw}, raw being JSON shown inline.
    RawJson,
    /// A named string slice wrapped in a message {1: repeated items} (`ExtraValue`), shown as an
    /// array; a present but empty wrapper is `[]`.
    StringList,
}

/// How many values a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// One value; for scalars the last occurrence wins, messages merge.
    One,
    /// `repeated`: scalars may arrive packed or one per occurrence.
    List,
    /// `map<string, T>`: repeated entries {1: key, 2: value}.
    Map,
}

/// When the JSON encoding writes a field, from the Go field's shape and `json` tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Presence {
    /// Not a pointer, `omitempty`: scalars, lists and maps are left out when empty or zero;
    /// nested messages are always written (Go never omits a struct).
    OmitEmpty,
    /// `omitzero`: left out when it holds the zero value (`creationTimestamp` since 1.34).
    OmitZero,
    /// A pointer with `omitempty`: written exactly when the sender set it.
    Optional,
    /// A pointer without `omitempty`: `null` when the sender did not set it.
    Nullable,
    /// Neither pointer nor `omitempty`: always written, the zero value when unset (lists, maps
    /// and bytes as `null`).
    Always,
    /// `json:",inline"`: the nested message's fields are written into the enclosing object.
    Inline,
}

/// A field's shape and type together, as the table helpers build them.
#[derive(Clone, Copy, Debug)]
pub(super) struct FieldType {
    pub shape: Shape,
    pub ty: Type,
}

/// One row of a table.
#[derive(Clone, Copy, Debug)]
pub(super) struct Field {
    pub number: u32,
    pub name: &'static str,
    pub shape: Shape,
    pub ty: Type,
    pub presence: Presence,
}

const fn one(ty: Type) -> FieldType {
    FieldType {
        shape: Shape::One,
        ty,
    }
}

pub(super) const STRING: FieldType = one(Type::String);
pub(super) const BOOL: FieldType = one(Type::Bool);
pub(super) const INT32: FieldType = one(Type::Int32);
pub(super) const INT64: FieldType = one(Type::Int64);
pub(super) const BYTES: FieldType = one(Type::Bytes);
pub(super) const TIME: FieldType = one(Type::Time);
pub(super) const MICRO_TIME: FieldType = one(Type::MicroTime);
pub(super) const QUANTITY: FieldType = one(Type::Quantity);
pub(super) const INT_OR_STRING: FieldType = one(Type::IntOrString);
pub(super) const RAW_JSON: FieldType = one(Type::RawJson);
pub(super) const STRING_LIST: FieldType = one(Type::StringList);

/// A nested message described by `fields`.
pub(super) const fn msg(fields: &'static Fields) -> FieldType {
    one(Type::Message(fields))
}

/// A `repeated` field of `item`.
pub(super) const fn list(item: FieldType) -> FieldType {
    FieldType {
        shape: Shape::List,
        ty: item.ty,
    }
}

/// A `map<string, value>` field.
pub(super) const fn map(value: FieldType) -> FieldType {
    FieldType {
        shape: Shape::Map,
        ty: value.ty,
    }
}

/// One table row: field `number` is JSON field `name`.
pub(super) const fn f(
    number: u32,
    name: &'static str,
    field_type: FieldType,
    presence: Presence,
) -> Field {
    Field {
        number,
        name,
        shape: field_type.shape,
        ty: field_type.ty,
        presence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static INNER: Fields = &[f(1, "a", STRING, Presence::OmitEmpty)];

    #[test]
    fn helpers_set_shape_and_type() {
        let row = f(3, "items", list(msg(&INNER)), Presence::OmitEmpty);
        assert_eq!(row.number, 3);
        assert_eq!(row.shape, Shape::List);
        assert!(matches!(row.ty, Type::Message(fields) if fields.len() == 1));
        let row = f(4, "data", map(BYTES), Presence::Always);
        assert_eq!(row.shape, Shape::Map);
        assert!(matches!(row.ty, Type::Bytes));
        assert_eq!(f(5, "x", QUANTITY, Presence::Optional).shape, Shape::One);
    }
}
