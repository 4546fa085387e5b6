//! `meta.k8s.io/v1` Tables for `kubectl get`: the columns and cells of built-in kinds, the
//! `additionalPrinterColumns` of custom resources, and each row's object as
//! `PartialObjectMetadata` (or whole, with `includeObject=Object`).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::cache::CachedObject;
use crate::api::convert;
use crate::api::object;
use crate::api::registry::ResourceInfo;
use crate::api::table;
use crate::store::Revision;

/// `PartialObjectMetadata` of an object.
pub fn partial_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn column(name: &str, kind: &str, format: &str, description: &str, priority: i32) -> Value {
    json!({"name": name, "type": kind, "format": format, "description": description, "priority": priority})
}

/// Column definitions and a function producing each row's cells.
/// Produces a row's cells from its object.
type CellsFn<'a> = Box<dyn Fn(&Value) -> Vec<Value> + 'a>;

fn columns(info: &ResourceInfo) -> (Vec<Value>, CellsFn<'_>) {
    if let Some(custom) = &info.custom
        && !custom.printer_columns.is_empty()
    {
        let mut defs = vec![column(
            "Name",
            "string",
            "name",
            "Name must be unique within a namespace.",
            0,
        )];
        defs.extend(
            custom
                .printer_columns
                .iter()
                .map(|c| column(&c.name, &c.kind, &c.format, &c.description, c.priority)),
        );
        let cells = move |object: &Value| {
            let mut cells = vec![json!(object::name(object))];
            let now = object::unix_now();
            cells.extend(custom.printer_columns.iter().map(|c| {
                let cell = crate::api::jsonpath::printer_cell(object, &c.json_path, &c.kind);
                // Upstream shows dates as ages, like the built-in AGE columns.
                if c.kind == "date" && !cell.is_null() {
                    json!(table::duration::translate_timestamp_since(Some(&cell), now))
                } else {
                    cell
                }
            }));
            cells
        };
        return (defs, Box::new(cells));
    }
    let group = info.group.clone();
    let kind = info.kind.clone();
    let defs = table::columns(&info.group, &info.kind)
        .iter()
        .map(|c| column(c.name, c.kind, c.format, c.description, c.priority))
        .collect();
    let now = object::unix_now();
    let cells = move |object: &Value| table::cells(&group, &kind, object, now);
    (defs, Box::new(cells))
}

/// One row: its cells, upstream's row conditions, and the object as asked.
fn row(
    info: &ResourceInfo,
    cells: &dyn Fn(&Value) -> Vec<Value>,
    value: Value,
    include_object: &str,
) -> Value {
    let mut row = json!({"cells": cells(&value)});
    if let Some(conditions) = table::row_conditions(&info.group, &info.kind, &value) {
        row["conditions"] = conditions;
    }
    match include_object {
        "None" => {}
        "Object" => row["object"] = value,
        _ => row["object"] = partial_metadata(&value),
    }
    row
}

/// A Table of `objects`.
pub fn list_table(
    info: &ResourceInfo,
    objects: &[Arc<CachedObject>],
    revision: Revision,
    continue_token: Option<&str>,
    remaining: Option<u64>,
    include_object: &str,
) -> Value {
    let (defs, cells) = columns(info);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            row(
                info,
                &*cells,
                convert::to_request_version(info, o.value()),
                include_object,
            )
        })
        .collect();
    let mut meta = json!({"resourceVersion": revision.to_string()});
    if let Some(token) = continue_token {
        meta["continue"] = json!(token);
    }
    if let Some(remaining) = remaining {
        meta["remainingItemCount"] = json!(remaining);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": defs,
        "rows": rows,
    })
}

/// The Table of one watch event's object: columns only in the first event of a stream.
pub fn event_table(
    info: &ResourceInfo,
    object: &Value,
    with_columns: bool,
    include_object: &str,
) -> Value {
    let (defs, cells) = columns(info);
    let row = row(info, &*cells, object.clone(), include_object);
    let mut table = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": object::resource_version(object).unwrap_or_default()},
        "rows": [row],
    });
    if with_columns {
        table["columnDefinitions"] = json!(defs);
    } else {
        table["columnDefinitions"] = Value::Null;
    }
    table
}
