//! Sets of field paths, as server-side apply tracks ownership with them, and their `FieldsV1`
//! wire form inside `metadata.managedFields[].fieldsV1`.
//!
//! A path is a list of elements spelled as on the wire: `f:<field>` for an object field,
//! `k:{"name":"c1"}` for the item of a keyed list (key fields sorted by name), `v:"x"` for the
//! item of a set and `i:<n>` for a list index. A set holds exact paths: owning `.spec` is not
//! owning `.spec.replicas`. In `FieldsV1` each path becomes nested objects, `{}` marks a path
//! that is itself a member, and `"."` marks a member that also has members below it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// One step of a path, in its `FieldsV1` spelling (`f:spec`, `k:{"name":"c1"}`, `v:"x"`, `i:0`).
pub(crate) type Element = String;

/// The element naming the object field `name`.
pub(crate) fn field(name: &str) -> Element {
    format!("f:{name}")
}

/// A set of paths: the members at this level, and the sets below each element.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSet {
    members: BTreeSet<Element>,
    children: BTreeMap<Element, FieldSet>,
}

impl FieldSet {
    /// Adds `path`; the empty path (the object itself) is never a member.
    pub(crate) fn insert(&mut self, path: &[Element]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub(crate) fn has(&self, path: &[Element]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self
                .children
                .get(first)
                .is_some_and(|child| child.has(rest)),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    /// Whether the path made of the single element `element` is a member.
    pub(crate) fn is_member(&self, element: &str) -> bool {
        self.members.contains(element)
    }

    /// The paths below `element`, with `element` taken off their front.
    pub(crate) fn child(&self, element: &str) -> Option<&FieldSet> {
        self.children.get(element)
    }

    pub(crate) fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (element, theirs) in &other.children {
            let merged = match out.children.get(element) {
                Some(ours) => ours.union(theirs),
                None => theirs.clone(),
            };
            out.children.insert(element.clone(), merged);
        }
        out
    }

    /// The paths that are in both sets.
    pub(crate) fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(element, ours)| {
                let both = ours.intersection(other.children.get(element)?);
                (!both.is_empty()).then(|| (element.clone(), both))
            })
            .collect();
        FieldSet { members, children }
    }

    /// The paths of `self` that are not in `other` (exact paths: removing `.a` keeps `.a.b`).
    pub(crate) fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(element, ours)| {
                let rest = match other.children.get(element) {
                    Some(theirs) => ours.difference(theirs),
                    None => ours.clone(),
                };
                (!rest.is_empty()).then(|| (element.clone(), rest))
            })
            .collect();
        FieldSet { members, children }
    }

    /// Like [`FieldSet::difference`], but a member of `other` also takes away every path
    /// below it (removing `.a` removes `.a.b`).
    pub(crate) fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter(|(element, _)| !other.members.contains(*element))
            .filter_map(|(element, ours)| {
                let rest = match other.children.get(element) {
                    Some(theirs) => ours.recursive_difference(theirs),
                    None => ours.clone(),
                };
                (!rest.is_empty()).then(|| (element.clone(), rest))
            })
            .collect();
        FieldSet { members, children }
    }

    /// The set plus every object field that has members below it, so that removing the set
    /// from an object also removes the fields it leaves empty.
    pub(crate) fn with_parent_fields(&self) -> FieldSet {
        let mut members = self.members.clone();
        members.extend(
            self.children
                .keys()
                .filter(|e| e.starts_with("f:"))
                .cloned(),
        );
        let children = self
            .children
            .iter()
            .map(|(element, child)| (element.clone(), child.with_parent_fields()))
            .collect();
        FieldSet { members, children }
    }

    /// Every member path: those at this level first, then those below each element, in
    /// element order.
    pub(crate) fn paths(&self) -> Vec<Vec<Element>> {
        let mut out: Vec<Vec<Element>> = self.members.iter().map(|m| vec![m.clone()]).collect();
        for (element, child) in &self.children {
            for mut path in child.paths() {
                path.insert(0, element.clone());
                out.push(path);
            }
        }
        out
    }

    /// The `FieldsV1` form: `{"f:data":{".":{},"f:k":{}}}`.
    pub(crate) fn to_fields_v1(&self) -> Value {
        let mut out = Map::new();
        for member in &self.members {
            if !self.children.contains_key(member) {
                out.insert(member.clone(), Value::Object(Map::new()));
            }
        }
        for (element, child) in &self.children {
            if child.is_empty() {
                continue;
            }
            let mut nested = match child.to_fields_v1() {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            if self.members.contains(element) {
                nested.insert(".".to_string(), Value::Object(Map::new()));
            }
            out.insert(element.clone(), Value::Object(nested));
        }
        Value::Object(out)
    }

    /// Reads a `FieldsV1` value; key and value elements are re-spelled canonically.
    pub(crate) fn from_fields_v1(fields: &Value) -> Result<FieldSet, String> {
        let Value::Object(map) = fields else {
            return Err("fieldsV1 must be a JSON object".to_string());
        };
        let mut set = FieldSet::default();
        for (key, value) in map {
            if key == "." {
                continue;
            }
            let element = canonical_element(key)?;
            let Value::Object(inner) = value else {
                return Err(format!("fieldsV1 entry {key:?} must be a JSON object"));
            };
            if inner.is_empty() || inner.contains_key(".") {
                set.members.insert(element.clone());
            }
            let child = FieldSet::from_fields_v1(value)?;
            if !child.is_empty() {
                set.children.insert(element, child);
            }
        }
        Ok(set)
    }
}

/// Checks an element read from the wire and spells its JSON part as this module writes it.
fn canonical_element(element: &str) -> Result<Element, String> {
    let bad = || format!("invalid path element {element:?}");
    let (kind, rest) = element.split_at_checked(2).ok_or_else(bad)?;
    match kind {
        "f:" => Ok(element.to_string()),
        "i:" => rest
            .parse::<usize>()
            .map(|_| element.to_string())
            .map_err(|_| bad()),
        "k:" => match serde_json::from_str::<Value>(rest) {
            Ok(key @ Value::Object(_)) => Ok(format!("k:{key}")),
            _ => Err(bad()),
        },
        "v:" => serde_json::from_str::<Value>(rest)
            .map(|value| format!("v:{value}"))
            .map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// A path as upstream prints it in conflicts: `.spec.containers[name="c1"].image`,
/// `.metadata.finalizers[="x"]`, `.spec.list[0]`.
pub(crate) fn display_path(path: &[Element]) -> String {
    let mut out = String::new();
    for element in path {
        let (kind, rest) = element.split_at_checked(2).unwrap_or(("", element));
        match kind {
            "f:" => {
                out.push('.');
                out.push_str(rest);
            }
            "k:" => {
                let fields: Vec<String> = match serde_json::from_str::<Value>(rest) {
                    Ok(Value::Object(key)) => key
                        .iter()
                        .map(|(name, value)| format!("{name}={}", show_value(value)))
                        .collect(),
                    _ => vec![rest.to_string()],
                };
                out.push_str(&format!("[{}]", fields.join(",")));
            }
            "v:" => {
                let shown = serde_json::from_str::<Value>(rest)
                    .map(|value| show_value(&value))
                    .unwrap_or_else(|_| rest.to_string());
                out.push_str(&format!("[={shown}]"));
            }
            "i:" => out.push_str(&format!("[{rest}]")),
            _ => out.push_str(element),
        }
    }
    out
}

/// A value inside a printed path: strings quoted, numbers and booleans bare.
fn show_value(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => {
            let shown: Vec<String> = items.iter().map(show_value).collect();
            format!("[{}]", shown.join(","))
        }
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", show_value(v)))
            .collect(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(elements: &[&str]) -> Vec<Element> {
        elements.iter().map(|e| e.to_string()).collect()
    }

    fn set_of(paths: &[&[&str]]) -> FieldSet {
        let mut set = FieldSet::default();
        for p in paths {
            set.insert(&path(p));
        }
        set
    }

    #[test]
    fn fields_v1_round_trip() {
        let wire = json!({
            "f:data": {".": {}, "f:k": {}},
            "f:spec": {"f:containers": {"k:{\"name\":\"c1\"}": {".": {}, "f:image": {}, "f:name": {}}}},
            "f:metadata": {"f:finalizers": {"v:\"example.com/x\"": {}}}
        });
        let set = FieldSet::from_fields_v1(&wire).unwrap();
        assert!(set.has(&path(&["f:data"])));
        assert!(set.has(&path(&["f:data", "f:k"])));
        assert!(!set.has(&path(&["f:spec"])));
        assert!(set.has(&path(&["f:spec", "f:containers", r#"k:{"name":"c1"}"#])));
        assert_eq!(set.to_fields_v1(), wire);
    }

    #[test]
    fn reading_respells_keys_and_rejects_garbage() {
        let wire = json!({"f:ports": {"k:{ \"protocol\": \"TCP\", \"containerPort\": 80 }": {}}});
        let set = FieldSet::from_fields_v1(&wire).unwrap();
        assert!(set.has(&path(&[
            "f:ports",
            r#"k:{"containerPort":80,"protocol":"TCP"}"#
        ])));
        assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"k:[1]": {}})).is_err());
    }

    #[test]
    fn set_algebra_uses_exact_paths() {
        let a = set_of(&[&["f:a"], &["f:a", "f:b"], &["f:c"]]);
        let b = set_of(&[&["f:a"], &["f:c", "f:d"]]);
        assert_eq!(a.difference(&b), set_of(&[&["f:a", "f:b"], &["f:c"]]));
        assert_eq!(a.recursive_difference(&b), set_of(&[&["f:c"]]));
        assert_eq!(a.intersection(&b), set_of(&[&["f:a"]]));
        assert_eq!(
            a.union(&b),
            set_of(&[&["f:a"], &["f:a", "f:b"], &["f:c"], &["f:c", "f:d"]])
        );
        assert!(a.difference(&a).is_empty());
    }

    #[test]
    fn parent_fields_become_members_but_items_do_not() {
        let set = set_of(&[&["f:spec", "f:list", r#"k:{"name":"x"}"#, "f:value"]]);
        let named = set.with_parent_fields();
        assert!(named.has(&path(&["f:spec"])));
        assert!(named.has(&path(&["f:spec", "f:list"])));
        assert!(!named.has(&path(&["f:spec", "f:list", r#"k:{"name":"x"}"#])));
    }

    #[test]
    fn paths_print_as_upstream() {
        let p = path(&[
            "f:spec",
            "f:ports",
            r#"k:{"port":80,"protocol":"TCP"}"#,
            "f:name",
        ]);
        assert_eq!(
            display_path(&p),
            r#".spec.ports[port=80,protocol="TCP"].name"#
        );
        assert_eq!(
            display_path(&path(&["f:metadata", "f:finalizers", r#"v:"a/b""#])),
            r#".metadata.finalizers[="a/b"]"#
        );
        assert_eq!(display_path(&path(&["f:x", "i:3"])), ".x[3]");
        assert_eq!(
            set_of(&[&["f:b"], &["f:a", "f:c"]]).paths(),
            vec![path(&["f:b"]), path(&["f:a", "f:c"])]
        );
    }
}
