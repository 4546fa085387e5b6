//! `metadata.managedFields`: reading the entries into the fields each manager owns, writing
//! them back in upstream's order, one entry per manager identity (name, operation,
//! subresource, and for `Update` the API version), capping the number of `Update` managers,
//! and the server-set fields no manager owns.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::fieldset::{FieldSet, field};

/// Upstream keeps at most this many `Update` managers; older ones are folded into
/// [`ANCIENT_CHANGES`].
pub(crate) const MAX_UPDATE_MANAGERS: usize = 10;

/// The manager that collects the fields of the oldest `Update` managers past the cap.
const ANCIENT_CHANGES: &str = "ancient-changes";

/// How a manager last wrote its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who owns a set of fields. Appliers are one manager across API versions, so their
/// `api_version` is empty here.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ManagerId {
    pub(crate) manager: String,
    pub(crate) operation: Operation,
    pub(crate) api_version: String,
    pub(crate) subresource: String,
}

impl ManagerId {
    pub(crate) fn applier(manager: &str, subresource: &str) -> ManagerId {
        ManagerId {
            manager: manager.to_string(),
            operation: Operation::Apply,
            api_version: String::new(),
            subresource: subresource.to_string(),
        }
    }

    pub(crate) fn updater(manager: &str, api_version: &str, subresource: &str) -> ManagerId {
        ManagerId {
            manager: manager.to_string(),
            operation: Operation::Update,
            api_version: api_version.to_string(),
            subresource: subresource.to_string(),
        }
    }
}

/// The fields one manager owns, the version it wrote them at, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ownership {
    pub(crate) fields: FieldSet,
    pub(crate) api_version: String,
    pub(crate) time: Option<String>,
}

/// Every manager of an object.
pub(crate) type Managed = BTreeMap<ManagerId, Ownership>;

/// Reads `metadata.managedFields` (absent or null: no managers).
pub(crate) fn decode(entries: Option<&Value>) -> Result<Managed, String> {
    let entries = match entries {
        None | Some(Value::Null) => return Ok(Managed::new()),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err("managedFields must be a list".to_string()),
    };
    let mut managed = Managed::new();
    for (index, entry) in entries.iter().enumerate() {
        let text = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or("");
        let operation = match text("operation") {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return Err("operation must be `Apply` or `Update`".to_string()),
        };
        let api_version = text("apiVersion");
        if api_version.is_empty() {
            return Err("apiVersion must not be empty".to_string());
        }
        match text("fieldsType") {
            "FieldsV1" => {}
            "" => {
                return Err(format!(
                    "missing fieldsType in managed fields entry {index}"
                ));
            }
            other => {
                return Err(format!(
                    "invalid fieldsType {other:?} in managed fields entry {index}"
                ));
            }
        }
        let fields = match entry.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::default(),
            Some(fields) => {
                FieldSet::from_fields_v1(fields).map_err(|e| format!("error decoding set: {e}"))?
            }
        };
        let id = match operation {
            Operation::Apply => ManagerId::applier(text("manager"), text("subresource")),
            Operation::Update => {
                ManagerId::updater(text("manager"), api_version, text("subresource"))
            }
        };
        let time = entry
            .get("time")
            .and_then(Value::as_str)
            .map(str::to_string);
        managed.insert(
            id,
            Ownership {
                fields,
                api_version: api_version.to_string(),
                time,
            },
        );
    }
    Ok(managed)
}

/// Writes the managers as `managedFields` entries, `Apply` before `Update`, then oldest first,
/// then by manager name; `None` when there are none.
pub(crate) fn encode(managed: &Managed) -> Option<Value> {
    if managed.is_empty() {
        return None;
    }
    let mut owners: Vec<(&ManagerId, &Ownership)> = managed.iter().collect();
    owners.sort_by(|(a, a_own), (b, b_own)| {
        a.operation
            .cmp(&b.operation)
            .then_with(|| seconds(a_own.time.as_deref()).cmp(&seconds(b_own.time.as_deref())))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| a_own.api_version.cmp(&b_own.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    let entries = owners
        .into_iter()
        .map(|(id, own)| {
            let mut entry = Map::new();
            entry.insert("manager".to_string(), json!(id.manager));
            entry.insert("operation".to_string(), json!(id.operation.as_str()));
            entry.insert("apiVersion".to_string(), json!(own.api_version));
            if let Some(time) = &own.time {
                entry.insert("time".to_string(), json!(time));
            }
            entry.insert("fieldsType".to_string(), json!("FieldsV1"));
            entry.insert("fieldsV1".to_string(), own.fields.to_fields_v1());
            if !id.subresource.is_empty() {
                entry.insert("subresource".to_string(), json!(id.subresource));
            }
            Value::Object(entry)
        })
        .collect();
    Some(Value::Array(entries))
}

/// Folds the oldest `Update` managers into one `ancient-changes` manager per API version
/// until at most `max` remain.
pub(crate) fn cap_updaters(managed: &mut Managed, max: usize) {
    let mut updaters: Vec<ManagerId> = managed
        .keys()
        .filter(|id| id.operation == Operation::Update)
        .cloned()
        .collect();
    if updaters.len() <= max {
        return;
    }
    updaters.sort_by(|a, b| {
        let time = |id: &ManagerId| seconds(managed.get(id).and_then(|own| own.time.as_deref()));
        time(a).cmp(&time(b)).then_with(|| a.cmp(b))
    });
    let mut remaining = updaters.len();
    let mut first_of_version: BTreeMap<String, ManagerId> = BTreeMap::new();
    for id in updaters {
        if remaining <= max {
            break;
        }
        let Some(own) = managed.get(&id).cloned() else {
            continue;
        };
        let Some(first) = first_of_version.get(&own.api_version).cloned() else {
            first_of_version.insert(own.api_version.clone(), id);
            continue;
        };
        let bucket = ManagerId::updater(ANCIENT_CHANGES, &own.api_version, "");
        if !managed.contains_key(&bucket)
            && let Some(first_own) = managed.remove(&first)
        {
            managed.insert(bucket.clone(), first_own);
        }
        managed.remove(&id);
        let bucket_own = managed.entry(bucket).or_insert_with(|| Ownership {
            fields: FieldSet::default(),
            api_version: own.api_version.clone(),
            time: None,
        });
        bucket_own.fields = own.fields.union(&bucket_own.fields);
        bucket_own.time = own.time;
        remaining -= 1;
    }
}

/// Seconds since the epoch of an RFC 3339 time (`2024-05-01T10:00:00Z`,
/// `2024-05-01T12:00:00.5+02:00`); absent or unreadable times count as 0, as upstream's
/// missing times do.
fn seconds(time: Option<&str>) -> i64 {
    time.and_then(parse_rfc3339).unwrap_or(0)
}

fn parse_rfc3339(time: &str) -> Option<i64> {
    let number = |range: std::ops::Range<usize>| time.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let zone = time
        .get(19..)?
        .trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = match zone.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let hours = zone.get(1..3)?.parse::<i64>().ok()?;
            let minutes = zone.get(4..6)?.parse::<i64>().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The paths the server sets, which no manager owns (`apiVersion`, `kind`, and the metadata
/// upstream strips from every entry).
pub(crate) fn server_fields() -> FieldSet {
    let mut set = FieldSet::default();
    set.insert(&[field("apiVersion")]);
    set.insert(&[field("kind")]);
    set.insert(&[field("metadata")]);
    for name in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&[field("metadata"), field(name)]);
    }
    set
}

/// Takes [`server_fields`] away from `id`, dropping it when nothing is left.
pub(crate) fn disown_server_fields(managed: &mut Managed, id: &ManagerId) {
    if let Some(own) = managed.get_mut(id) {
        own.fields = own.fields.difference(&server_fields());
        if own.fields.is_empty() {
            managed.remove(id);
        }
    }
}

/// The object's `metadata.managedFields`, if any.
pub(crate) fn managed_fields_of(object: &Value) -> Option<&Value> {
    object.get("metadata")?.get("managedFields")
}

/// A copy of the object without `metadata.managedFields`.
pub(crate) fn without_managed_fields(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    object
}

/// Writes `metadata.managedFields`, or removes it for `None`.
pub(crate) fn set_managed_fields(object: &mut Value, entries: Option<Value>) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    match entries {
        Some(entries) => metadata.insert("managedFields".to_string(), entries),
        None => metadata.remove("managedFields"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn compare_times(a: &str, b: &str) -> Ordering {
        seconds(Some(a)).cmp(&seconds(Some(b)))
    }

    fn entry(manager: &str, operation: &str, time: &str) -> Value {
        json!({"manager": manager, "operation": operation, "apiVersion": "v1", "time": time,
               "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:k": {}}}})
    }

    #[test]
    fn round_trip_in_upstream_order() {
        let entries = json!([
            entry("b", "Update", "2024-01-01T00:00:02Z"),
            entry("kubectl", "Apply", "2024-01-01T00:00:05Z"),
            entry("a", "Update", "2024-01-01T00:00:02Z"),
            entry("z", "Update", "2024-01-01T00:00:01Z"),
        ]);
        let managed = decode(Some(&entries)).unwrap();
        let order: Vec<String> = encode(&managed)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(order, ["kubectl", "z", "a", "b"]);
        assert_eq!(encode(&managed).unwrap()[1], entries[3]);
        assert_eq!(encode(&Managed::new()), None);
    }

    #[test]
    fn decoding_checks_entries() {
        let bad_operation = json!([{"manager": "m", "operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}]);
        assert_eq!(
            decode(Some(&bad_operation)).unwrap_err(),
            "operation must be `Apply` or `Update`"
        );
        let no_type = json!([{"manager": "m", "operation": "Update", "apiVersion": "v1"}]);
        assert_eq!(
            decode(Some(&no_type)).unwrap_err(),
            "missing fieldsType in managed fields entry 0"
        );
        let no_version = json!([{"manager": "m", "operation": "Update", "fieldsType": "FieldsV1"}]);
        assert!(decode(Some(&no_version)).is_err());
        assert!(decode(None).unwrap().is_empty());
    }

    #[test]
    fn times_compare_by_instant() {
        assert_eq!(parse_rfc3339("1970-01-02T00:00:00Z"), Some(86_400));
        assert_eq!(
            compare_times("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z"),
            Ordering::Equal
        );
        assert_eq!(
            compare_times("2024-05-01T10:00:00.9Z", "2024-05-01T10:00:01Z"),
            Ordering::Less
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn oldest_updaters_fold_into_ancient_changes() {
        let mut managed = Managed::new();
        for i in 0..12 {
            let mut fields = FieldSet::default();
            fields.insert(&[format!("f:f{i}")]);
            managed.insert(
                ManagerId::updater(&format!("m{i:02}"), "v1", ""),
                Ownership {
                    fields,
                    api_version: "v1".to_string(),
                    time: Some(format!("2024-01-01T00:00:{i:02}Z")),
                },
            );
        }
        cap_updaters(&mut managed, MAX_UPDATE_MANAGERS);
        assert_eq!(managed.len(), 10);
        let bucket = &managed[&ManagerId::updater(ANCIENT_CHANGES, "v1", "")];
        assert!(bucket.fields.has(&["f:f0".to_string()]));
        assert!(bucket.fields.has(&["f:f2".to_string()]));
        assert_eq!(bucket.time.as_deref(), Some("2024-01-01T00:00:02Z"));
        assert!(!managed.contains_key(&ManagerId::updater("m00", "v1", "")));
        assert!(managed.contains_key(&ManagerId::updater("m03", "v1", "")));
    }
}
