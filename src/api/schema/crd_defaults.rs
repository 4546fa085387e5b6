//! Defaulting of a `CustomResourceDefinition` (`apiextensions.k8s.io/v1`), as upstream's
//! registered defaulters fill it in:
//!
//! - `spec.names.singular`: the lowercased `kind`; `spec.names.listKind`: `kind` + `List`;
//! - `spec.conversion`: `{strategy: None}` when absent;
//! - `spec.conversion.webhook.clientConfig.service.port`: 443;
//! - `status.storedVersions`: the storage version, when empty.
//!
//! `scope` has no default (it is required), and v1 adds no `additionalPrinterColumns`: a CRD
//! without columns is shown with `NAME` and `AGE` by the table printer, not by defaulting (the
//! `Age` column default existed only in `v1beta1`).

use serde_json::{Map, Value, json};

/// Fills in upstream's CRD defaults.
pub fn default_crd(crd: &mut Value) {
    let Some(object) = crd.as_object_mut() else {
        return;
    };
    let Some(spec) = object_field(object, "spec") else {
        return;
    };
    let Some(names) = object_field(spec, "names") else {
        return;
    };
    let kind = names
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if is_empty_string(names.get("singular")) {
        names.insert("singular".into(), Value::String(kind.to_lowercase()));
    }
    if is_empty_string(names.get("listKind")) && !kind.is_empty() {
        names.insert("listKind".into(), Value::String(format!("{kind}List")));
    }
    if spec.get("conversion").is_none_or(Value::is_null) {
        spec.insert("conversion".into(), json!({"strategy": "None"}));
    }
    let service = spec
        .get_mut("conversion")
        .and_then(|c| c.get_mut("webhook"))
        .and_then(|w| w.get_mut("clientConfig"))
        .and_then(|c| c.get_mut("service"))
        .and_then(Value::as_object_mut);
    if let Some(service) = service
        && service.get("port").is_none_or(Value::is_null)
    {
        service.insert("port".into(), json!(443));
    }
    let storage = spec
        .get("versions")
        .and_then(Value::as_array)
        .and_then(|versions| {
            versions
                .iter()
                .find(|v| v.get("storage") == Some(&Value::Bool(true)))
        })
        .and_then(|v| v.get("name"))
        .cloned();
    let Some(status) = object_field(object, "status") else {
        return;
    };
    let stored_empty = status
        .get("storedVersions")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if stored_empty && let Some(name) = storage {
        status.insert("storedVersions".into(), Value::Array(vec![name]));
    }
}

/// `map[key]` as an object, created when absent or `null`; `None` when it holds something else.
fn object_field<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_string(), Value::Object(Map::new()));
    }
    map.get_mut(key).and_then(Value::as_object_mut)
}

fn is_empty_string(value: Option<&Value>) -> bool {
    value.and_then(Value::as_str).is_none_or(str::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_names_conversion_and_stored_versions() {
        let mut crd = json!({"spec": {
            "group": "stable.example.com", "scope": "Namespaced",
            "names": {"plural": "crontabs", "kind": "CronTab"},
            "versions": [{"name": "v1beta1", "served": true, "storage": false},
                         {"name": "v1", "served": true, "storage": true}],
        }});
        default_crd(&mut crd);
        assert_eq!(crd["spec"]["names"]["singular"], "crontab");
        assert_eq!(crd["spec"]["names"]["listKind"], "CronTabList");
        assert_eq!(crd["spec"]["conversion"], json!({"strategy": "None"}));
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
        assert!(
            crd["spec"]["versions"][1]
                .get("additionalPrinterColumns")
                .is_none()
        );
    }

    #[test]
    fn keeps_given_values_and_defaults_webhook_port() {
        let mut crd = json!({
            "spec": {"names": {"kind": "CronTab", "singular": "ct", "listKind": "CronTabs"},
                     "conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {
                         "service": {"name": "conv", "namespace": "default"}}}},
                     "versions": [{"name": "v1", "storage": true}]},
            "status": {"storedVersions": ["v1beta1"]},
        });
        default_crd(&mut crd);
        assert_eq!(crd["spec"]["names"]["singular"], "ct");
        assert_eq!(crd["spec"]["names"]["listKind"], "CronTabs");
        assert_eq!(
            crd["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["port"],
            443
        );
        assert_eq!(crd["status"]["storedVersions"], json!(["v1beta1"]));
    }
}
