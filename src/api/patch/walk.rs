//! The walks server-side apply makes over objects, guided by their [`Structure`]: the set of
//! fields a value sets, what changed between two values, merging an applied configuration
//! into the live object, and removing a set of fields from an object.
//!
//! Objects merge field by field and keyed lists item by item, atomic nodes are leaves; a node
//! empty or null on both sides is a leaf too, so `{}` and `null` stay distinct.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde_json::{Map, Value};

use super::fieldset::{Element, FieldSet, display_path, field};
use super::structure::{ListShape, Structure};

/// What changed from an old value to a new one, as sets of paths. A node that appears or
/// disappears is listed together with every path below it.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    pub(crate) added: FieldSet,
    pub(crate) modified: FieldSet,
    pub(crate) removed: FieldSet,
}

impl Comparison {
    /// The paths whose value is new or different.
    pub(crate) fn changed(&self) -> FieldSet {
        self.modified.union(&self.added)
    }

    /// The comparison with `ignored` and everything below it left out.
    pub(crate) fn without(self, ignored: &FieldSet) -> Comparison {
        Comparison {
            added: self.added.recursive_difference(ignored),
            modified: self.modified.recursive_difference(ignored),
            removed: self.removed.recursive_difference(ignored),
        }
    }
}

/// Where a walk is: the field names from the root (list items skipped), which the structure
/// is asked about, and the path of elements, which sets are made of.
#[derive(Default)]
struct Cursor<'v> {
    names: Vec<&'v str>,
    path: Vec<Element>,
}

impl<'v> Cursor<'v> {
    fn enter_field(&mut self, name: &'v str) {
        self.names.push(name);
        self.path.push(field(name));
    }

    fn leave_field(&mut self) {
        self.names.pop();
        self.path.pop();
    }

    /// The path of `element` below the current node.
    fn with(&self, element: &Element) -> Vec<Element> {
        let mut path = self.path.clone();
        path.push(element.clone());
        path
    }
}

/// How a node is walked.
enum Node {
    Leaf,
    Object,
    List(ListShape),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Object,
    Array,
    Scalar,
}

fn is_empty_or_absent(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Object(map)) => map.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(_) => false,
    }
}

impl Structure<'_> {
    /// How to walk the node at `cursor` holding `values` (absent and null sides ignored; sides
    /// of different JSON types make a leaf).
    fn node(&self, values: [Option<&Value>; 2], cursor: &Cursor) -> Node {
        let mut seen = None;
        for value in values.into_iter().flatten() {
            let json_type = match value {
                Value::Null => continue,
                Value::Object(_) => JsonType::Object,
                Value::Array(_) => JsonType::Array,
                _ => JsonType::Scalar,
            };
            if seen.is_some_and(|seen| seen != json_type) {
                return Node::Leaf;
            }
            seen = Some(json_type);
        }
        match seen {
            Some(JsonType::Object) => {
                if !cursor.names.is_empty() && self.is_atomic_object(&cursor.names) {
                    Node::Leaf
                } else {
                    Node::Object
                }
            }
            Some(JsonType::Array) => match self.list(&cursor.names) {
                ListShape::Atomic => Node::Leaf,
                shape => Node::List(shape),
            },
            _ => Node::Leaf,
        }
    }

    /// The items of a list with their elements, skipping items that have none.
    fn elements<'v>(&self, shape: &ListShape, items: &'v [Value]) -> Vec<(Element, &'v Value)> {
        items
            .iter()
            .filter_map(|item| Some((self.item_element(shape, item).ok()?, item)))
            .collect()
    }

    /// The paths `value` sets: its leaves, its atomic nodes, its list items, and its empty or
    /// null fields.
    pub(crate) fn field_set(&self, value: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        self.collect(value, &mut Cursor::default(), &mut set);
        set
    }

    fn collect<'v>(&self, value: &'v Value, at: &mut Cursor<'v>, set: &mut FieldSet) {
        match (self.node([Some(value), None], at), value) {
            (Node::Object, Value::Object(map)) => {
                for (name, child) in map {
                    at.enter_field(name);
                    self.collect(child, at, set);
                    if child.is_null() || child.as_object().is_some_and(Map::is_empty) {
                        set.insert(&at.path);
                    }
                    at.leave_field();
                }
            }
            (Node::List(shape), Value::Array(items)) => {
                let elements = self.elements(&shape, items);
                let mut count: HashMap<&Element, usize> = HashMap::new();
                for (element, _) in &elements {
                    *count.entry(element).or_default() += 1;
                }
                for (element, item) in &elements {
                    if count.get(element).is_some_and(|&n| n > 1) {
                        // A duplicated item is owned as a whole, once.
                        set.insert(&at.with(element));
                        continue;
                    }
                    at.path.push(element.clone());
                    self.collect(item, at, set);
                    set.insert(&at.path);
                    at.path.pop();
                }
            }
            _ => set.insert(&at.path),
        }
    }

    /// Checks that every item of an applied configuration's sets and keyed lists has a
    /// distinct element.
    pub(crate) fn validate(&self, value: &Value) -> Result<(), String> {
        self.check(value, &mut Cursor::default())
    }

    fn check<'v>(&self, value: &'v Value, at: &mut Cursor<'v>) -> Result<(), String> {
        match (self.node([Some(value), None], at), value) {
            (Node::Object, Value::Object(map)) => {
                for (name, child) in map {
                    at.enter_field(name);
                    self.check(child, at)?;
                    at.leave_field();
                }
            }
            (Node::List(shape), Value::Array(items)) => {
                let mut seen = BTreeSet::new();
                for (index, item) in items.iter().enumerate() {
                    let element = self
                        .item_element(&shape, item)
                        .map_err(|e| format!("{}: element {index}: {e}", display_path(&at.path)))?;
                    if !seen.insert(element.clone()) {
                        return Err(format!(
                            "{}: duplicate entries for key {}",
                            display_path(&at.path),
                            display_path(std::slice::from_ref(&element))
                        ));
                    }
                    at.path.push(element);
                    self.check(item, at)?;
                    at.path.pop();
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// What changed from `old` to `new`.
    pub(crate) fn compare(&self, old: &Value, new: &Value) -> Comparison {
        let mut out = Comparison::default();
        self.compare_node(Some(old), Some(new), &mut Cursor::default(), &mut out);
        out
    }

    fn compare_node<'v>(
        &self,
        old: Option<&'v Value>,
        new: Option<&'v Value>,
        at: &mut Cursor<'v>,
        out: &mut Comparison,
    ) {
        let node = self.node([old, new], at);
        if matches!(node, Node::Leaf) || (is_empty_or_absent(old) && is_empty_or_absent(new)) {
            if old.is_none() {
                out.added.insert(&at.path);
            } else if new.is_none() {
                out.removed.insert(&at.path);
            } else if old != new {
                out.modified.insert(&at.path);
            }
            return;
        }
        match node {
            Node::Object => {
                let (old_map, new_map) = (
                    old.and_then(Value::as_object),
                    new.and_then(Value::as_object),
                );
                let names: BTreeSet<&'v String> = old_map
                    .into_iter()
                    .chain(new_map)
                    .flat_map(Map::keys)
                    .collect();
                for name in names {
                    at.enter_field(name);
                    let pick = |map: Option<&'v Map<String, Value>>| map.and_then(|m| m.get(name));
                    self.compare_node(pick(old_map), pick(new_map), at, out);
                    at.leave_field();
                }
            }
            Node::List(shape) => self.compare_items(&shape, old, new, at, out),
            Node::Leaf => {}
        }
        if old.is_none() {
            out.added.insert(&at.path);
        } else if new.is_none() {
            out.removed.insert(&at.path);
        }
    }

    fn compare_items<'v>(
        &self,
        shape: &ListShape,
        old: Option<&'v Value>,
        new: Option<&'v Value>,
        at: &mut Cursor<'v>,
        out: &mut Comparison,
    ) {
        let mut order: Vec<Element> = Vec::new();
        let mut group = |value: Option<&'v Value>| {
            let mut groups: HashMap<Element, Vec<&'v Value>> = HashMap::new();
            let items = value
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            for (element, item) in self.elements(shape, items) {
                if !groups.contains_key(&element) && !order.contains(&element) {
                    order.push(element.clone());
                }
                groups.entry(element).or_default().push(item);
            }
            groups
        };
        let (old_items, new_items) = (group(old), group(new));
        for element in order {
            let before = old_items.get(&element).map_or(&[][..], Vec::as_slice);
            let after = new_items.get(&element).map_or(&[][..], Vec::as_slice);
            match (before.len(), after.len()) {
                (0..=1, 0..=1) => {
                    at.path.push(element);
                    self.compare_node(before.first().copied(), after.first().copied(), at, out);
                    at.path.pop();
                }
                // Duplicates on both sides compare as one atomic value.
                (2.., 2..) => {
                    if before != after {
                        out.modified.insert(&at.with(&element));
                    }
                }
                (2.., _) => {
                    if let Some(item) = after.first() {
                        at.path.push(element.clone());
                        self.compare_node(None, Some(item), at, out);
                        at.path.pop();
                    }
                    out.removed.insert(&at.with(&element));
                }
                (_, 2..) => {
                    if let Some(item) = before.first() {
                        at.path.push(element.clone());
                        self.compare_node(Some(item), None, at, out);
                        at.path.pop();
                    }
                    out.added.insert(&at.with(&element));
                }
            }
        }
    }

    /// `config` merged into `live`: objects field by field, keyed lists and sets item by item
    /// (in the configuration's order, live-only items kept where they were), atomic nodes and
    /// scalars replaced. A null in the configuration keeps a live object or keyed list.
    pub(crate) fn merge(&self, live: &Value, config: &Value) -> Result<Value, String> {
        let merged = self.merge_node(Some(live), Some(config), &mut Cursor::default())?;
        Ok(merged.unwrap_or_else(|| Value::Object(Map::new())))
    }

    fn merge_node<'v>(
        &self,
        live: Option<&'v Value>,
        config: Option<&'v Value>,
        at: &mut Cursor<'v>,
    ) -> Result<Option<Value>, String> {
        let (live, config) = match (live, config) {
            (live, None) => return Ok(live.cloned()),
            (None, Some(config)) => return Ok(Some(config.clone())),
            (Some(live), Some(config)) => (live, config),
        };
        if is_empty_or_absent(Some(live)) && is_empty_or_absent(Some(config)) {
            return Ok(Some(config.clone()));
        }
        match self.node([Some(live), Some(config)], at) {
            Node::Leaf => Ok(Some(config.clone())),
            Node::Object => {
                let live_map = live.as_object();
                let mut out = live_map.cloned().unwrap_or_default();
                for (name, value) in config.as_object().into_iter().flatten() {
                    at.enter_field(name);
                    let merged =
                        self.merge_node(live_map.and_then(|m| m.get(name)), Some(value), at)?;
                    at.leave_field();
                    match merged {
                        Some(merged) => out.insert(name.clone(), merged),
                        None => out.remove(name),
                    };
                }
                Ok(Some(Value::Object(out)))
            }
            Node::List(shape) => {
                let items = |value: &'v Value| value.as_array().map_or(&[][..], Vec::as_slice);
                self.merge_items(&shape, items(live), items(config), at)
                    .map(Some)
            }
        }
    }

    fn merge_items<'v>(
        &self,
        shape: &ListShape,
        live: &'v [Value],
        config: &'v [Value],
        at: &mut Cursor<'v>,
    ) -> Result<Value, String> {
        let element_of = |index: usize, item: &Value, at: &Cursor| {
            self.item_element(shape, item)
                .map_err(|e| format!("{}: element {index}: {e}", display_path(&at.path)))
        };
        let mut applied: Vec<(Element, &'v Value)> = Vec::with_capacity(config.len());
        let mut applied_index: HashMap<Element, &'v Value> = HashMap::new();
        for (index, item) in config.iter().enumerate() {
            let element = element_of(index, item, at)?;
            if applied_index.insert(element.clone(), item).is_some() {
                return Err(format!(
                    "{}: duplicate entries for key {}",
                    display_path(&at.path),
                    display_path(std::slice::from_ref(&element))
                ));
            }
            applied.push((element, item));
        }
        // Live duplicates are allowed; an applied item replaces all of them.
        let mut existing: Vec<(Element, &'v Value)> = Vec::with_capacity(live.len());
        let mut existing_index: HashMap<Element, Option<&'v Value>> = HashMap::new();
        for (index, item) in live.iter().enumerate() {
            let element = element_of(index, item, at)?;
            existing_index
                .entry(element.clone())
                .and_modify(|first| *first = None)
                .or_insert(Some(item));
            existing.push((element, item));
        }
        let mut shared: VecDeque<&Element> = applied
            .iter()
            .map(|(e, _)| e)
            .filter(|e| existing_index.contains_key(*e))
            .collect();
        let mut next_shared = shared.pop_front();
        let mut done: BTreeSet<&Element> = BTreeSet::new();
        let mut out = Vec::with_capacity(live.len().max(config.len()));
        let (mut l, mut r) = (0, 0);
        let merge_one = |element: &Element, config_item: &'v Value, at: &mut Cursor<'v>| {
            let live_item = existing_index.get(element).copied().flatten();
            at.path.push(element.clone());
            let merged = self.merge_node(live_item, Some(config_item), at);
            at.path.pop();
            merged
        };
        while l < existing.len() || r < applied.len() {
            if l < existing.len() && r < applied.len() {
                let (element, _) = &existing[l];
                if *element == applied[r].0 {
                    done.insert(element);
                    out.extend(merge_one(element, applied[r].1, at)?);
                    l += 1;
                    r += 1;
                    next_shared = shared.pop_front();
                    continue;
                }
                // A shared item that the configuration places later: wait for it there.
                if applied_index.contains_key(element)
                    && next_shared.is_some_and(|next| next != element)
                {
                    l += 1;
                    continue;
                }
            }
            if l < existing.len() {
                let (element, item) = &existing[l];
                if !applied_index.contains_key(element) {
                    out.push((*item).clone());
                    l += 1;
                    continue;
                }
                if done.contains(element) {
                    l += 1;
                }
            }
            if r < applied.len() {
                let (element, item) = &applied[r];
                done.insert(element);
                out.extend(merge_one(element, item, at)?);
                r += 1;
                if next_shared == Some(element) {
                    next_shared = shared.pop_front();
                }
            }
        }
        Ok(Value::Array(out))
    }

    /// `value` without the paths in `set`: a member path takes its whole subtree, and an
    /// object or list left empty by the removal goes too.
    pub(crate) fn remove(&self, value: &Value, set: &FieldSet) -> Value {
        self.remove_node(value, set, &mut Cursor::default())
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    fn remove_node<'v>(
        &self,
        value: &'v Value,
        set: &FieldSet,
        at: &mut Cursor<'v>,
    ) -> Option<Value> {
        if is_empty_or_absent(Some(value)) {
            return Some(value.clone());
        }
        match (self.node([Some(value), None], at), value) {
            (Node::Object, Value::Object(map)) => {
                let mut out = Map::new();
                for (name, child) in map {
                    let element = field(name);
                    if set.is_member(&element) {
                        continue;
                    }
                    let kept = match set.child(&element) {
                        Some(below) => {
                            at.enter_field(name);
                            let kept = self.remove_node(child, below, at);
                            at.leave_field();
                            kept
                        }
                        None => Some(child.clone()),
                    };
                    if let Some(kept) = kept {
                        out.insert(name.clone(), kept);
                    }
                }
                (!out.is_empty()).then_some(Value::Object(out))
            }
            (Node::List(shape), Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let Ok(element) = self.item_element(&shape, item) else {
                        out.push(item.clone());
                        continue;
                    };
                    if set.is_member(&element) {
                        continue;
                    }
                    match set.child(&element) {
                        Some(below) => {
                            at.path.push(element);
                            out.extend(self.remove_node(item, below, at));
                            at.path.pop();
                        }
                        None => out.push(item.clone()),
                    }
                }
                (!out.is_empty()).then_some(Value::Array(out))
            }
            _ => Some(value.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Structure<'static> {
        Structure::new("", "Pod", None)
    }

    fn fields(value: Value) -> FieldSet {
        FieldSet::from_fields_v1(&value).unwrap()
    }

    #[test]
    fn field_set_of_a_configuration() {
        let config = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"app": "x"}, "annotations": {}},
            "spec": {
                "nodeSelector": {"disk": "ssd"},
                "containers": [{"name": "c", "image": "i", "args": ["a"], "ports": [{"containerPort": 80}]}]
            }
        });
        let expected = json!({
            "f:apiVersion": {}, "f:kind": {},
            "f:metadata": {"f:name": {}, "f:labels": {"f:app": {}}, "f:annotations": {}},
            "f:spec": {
                "f:nodeSelector": {},
                "f:containers": {"k:{\"name\":\"c\"}": {
                    ".": {}, "f:name": {}, "f:image": {}, "f:args": {},
                    "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                }}
            }
        });
        assert_eq!(pod().field_set(&config).to_fields_v1(), expected);
    }

    #[test]
    fn comparison_lists_appeared_nodes_with_their_fields() {
        let old = json!({"spec": {"containers": [{"name": "a", "image": "1"}]}});
        let new = json!({"spec": {"containers": [{"name": "a", "image": "2"}, {"name": "b", "image": "3"}]}, "data": {"k": "v"}});
        let cmp = pod().compare(&old, &new);
        assert_eq!(
            cmp.modified,
            fields(json!({"f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {"f:image": {}}}}}))
        );
        assert_eq!(
            cmp.added,
            fields(json!({
                "f:data": {".": {}, "f:k": {}},
                "f:spec": {"f:containers": {"k:{\"name\":\"b\"}": {".": {}, "f:name": {}, "f:image": {}}}}
            }))
        );
        assert!(cmp.removed.is_empty());
        let back = pod().compare(&new, &old);
        assert_eq!(back.removed, cmp.added);
    }

    #[test]
    fn merge_keeps_live_items_and_config_order() {
        let live = json!({"spec": {"containers": [
            {"name": "a", "image": "1", "resources": {}},
            {"name": "b", "image": "2"},
            {"name": "c", "image": "3"}
        ]}});
        let config = json!({"spec": {"containers": [{"name": "c", "image": "9"}, {"name": "a", "image": "8"}, {"name": "d"}]}});
        let merged = pod().merge(&live, &config).unwrap();
        assert_eq!(
            merged,
            json!({"spec": {"containers": [
                {"name": "b", "image": "2"},
                {"name": "c", "image": "9"},
                {"name": "a", "image": "8", "resources": {}},
                {"name": "d"}
            ]}})
        );
    }

    #[test]
    fn merge_replaces_atomic_nodes_and_keeps_maps_on_null() {
        let live = json!({"spec": {"nodeSelector": {"a": "1"}, "containers": [{"name": "c", "args": ["x", "y"]}], "hostname": "h"}});
        let config = json!({"spec": {"nodeSelector": {"b": "2"}, "containers": [{"name": "c", "args": ["z"]}], "hostname": null}, "metadata": null});
        let merged = pod().merge(&live, &config).unwrap();
        assert_eq!(
            merged,
            json!({"spec": {"nodeSelector": {"b": "2"}, "containers": [{"name": "c", "args": ["z"]}], "hostname": null}, "metadata": null})
        );
        let kept = pod()
            .merge(
                &json!({"metadata": {"labels": {"a": "1"}}}),
                &json!({"metadata": {"labels": null}}),
            )
            .unwrap();
        assert_eq!(kept, json!({"metadata": {"labels": {"a": "1"}}}));
    }

    #[test]
    fn merge_and_validate_refuse_duplicate_keys() {
        let config = json!({"spec": {"containers": [{"name": "c"}, {"name": "c"}]}});
        let expected = r#".spec.containers: duplicate entries for key [name="c"]"#;
        assert_eq!(pod().validate(&config).unwrap_err(), expected);
        assert_eq!(pod().merge(&json!({}), &config).map(|_| ()), Ok(()));
        assert_eq!(
            pod()
                .merge(&json!({"spec": {"containers": [{"name": "x"}]}}), &config)
                .unwrap_err(),
            expected
        );
        let missing = json!({"spec": {"containers": [{"image": "c"}]}});
        assert!(
            pod()
                .validate(&missing)
                .unwrap_err()
                .starts_with(".spec.containers: element 0: ")
        );
    }

    #[test]
    fn remove_drops_members_and_what_they_empty() {
        let value = json!({
            "metadata": {"labels": {"a": "1"}, "finalizers": ["x", "y"]},
            "spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}
        });
        let set = fields(json!({
            "f:metadata": {"f:labels": {"f:a": {}}, "f:finalizers": {"v:\"x\"": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {}, "k:{\"name\":\"b\"}": {"f:image": {}}}}
        }));
        assert_eq!(
            pod().remove(&value, &set),
            json!({"metadata": {"finalizers": ["y"]}, "spec": {"containers": [{"name": "b"}]}})
        );
    }
}
