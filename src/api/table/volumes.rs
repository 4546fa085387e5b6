//! Tables of storage and quota in core/v1: persistent volumes, persistent volume claims and
//! resource quotas.

use serde_json::Value;

use super::Column;
use super::fields::{
    access_modes, age, annotation, is_deleting, is_set, list, map, name, text, text_or,
};
use super::quantity;

pub(super) const PERSISTENT_VOLUME_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("Capacity", "The storage size of the volume."),
    Column::text(
        "Access Modes",
        "How the volume can be mounted: RWO, ROX, RWX, RWOP.",
    ),
    Column::text(
        "Reclaim Policy",
        "What happens to the volume when its claim is released.",
    ),
    Column::text(
        "Status",
        "The phase of the volume: Available, Bound, Released or Failed.",
    ),
    Column::text("Claim", "The claim bound to the volume, as namespace/name."),
    Column::text("StorageClass", "The storage class of the volume."),
    Column::text(
        "VolumeAttributesClass",
        "The volume attributes class of the volume.",
    ),
    Column::text("Reason", "Why the volume is in its phase, when known."),
    Column::AGE,
    Column::wide("VolumeMode", "Filesystem or Block."),
];

pub(super) fn persistent_volume(object: &Value, now: i64) -> Vec<Value> {
    let claim = if is_set(object, "/spec/claimRef") {
        format!(
            "{}/{}",
            text(object, "/spec/claimRef/namespace"),
            text(object, "/spec/claimRef/name")
        )
    } else {
        String::new()
    };
    let phase = if is_deleting(object) {
        "Terminating"
    } else {
        text_or(object, "/status/phase", "Pending")
    };
    let class = annotation(object, "volume.beta.kubernetes.io/storage-class")
        .unwrap_or(text(object, "/spec/storageClassName"));
    vec![
        name(object),
        Value::from(quantity::or_zero(object.pointer("/spec/capacity/storage"))),
        Value::from(access_modes(list(object, "/spec/accessModes"))),
        Value::from(text_or(
            object,
            "/spec/persistentVolumeReclaimPolicy",
            "Retain",
        )),
        Value::from(phase),
        Value::from(claim),
        Value::from(class),
        Value::from(text_or(
            object,
            "/spec/volumeAttributesClassName",
            "<unset>",
        )),
        Value::from(text(object, "/status/reason")),
        age(object, now),
        Value::from(text_or(object, "/spec/volumeMode", "Filesystem")),
    ]
}

pub(super) const PERSISTENT_VOLUME_CLAIM_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("Status", "The phase of the claim: Pending, Bound or Lost."),
    Column::text("Volume", "The volume bound to the claim."),
    Column::text("Capacity", "The storage size of the bound volume."),
    Column::text(
        "Access Modes",
        "How the bound volume can be mounted: RWO, ROX, RWX, RWOP.",
    ),
    Column::text("StorageClass", "The storage class requested by the claim."),
    Column::text(
        "VolumeAttributesClass",
        "The volume attributes class requested by the claim.",
    ),
    Column::AGE,
    Column::wide("VolumeMode", "Filesystem or Block."),
];

pub(super) fn persistent_volume_claim(object: &Value, now: i64) -> Vec<Value> {
    let phase = if is_deleting(object) {
        "Terminating"
    } else {
        text_or(object, "/status/phase", "Pending")
    };
    let volume = text(object, "/spec/volumeName");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity::or_zero(object.pointer("/status/capacity/storage")),
            access_modes(list(object, "/status/accessModes")),
        )
    };
    let class = annotation(object, "volume.beta.kubernetes.io/storage-class")
        .unwrap_or(text(object, "/spec/storageClassName"));
    vec![
        name(object),
        Value::from(phase),
        Value::from(volume),
        Value::from(capacity),
        Value::from(modes),
        Value::from(class),
        Value::from(text_or(
            object,
            "/spec/volumeAttributesClassName",
            "<unset>",
        )),
        age(object, now),
        Value::from(text_or(object, "/spec/volumeMode", "Filesystem")),
    ]
}

pub(super) const RESOURCE_QUOTA_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text(
        "Request",
        "Used out of hard limits, for everything but limits.* resources.",
    ),
    Column::text(
        "Limit",
        "Used out of hard limits, for the limits.* resources.",
    ),
    Column::AGE,
];

pub(super) fn resource_quota(object: &Value, now: i64) -> Vec<Value> {
    let mut requests: Vec<String> = Vec::new();
    let mut limits: Vec<String> = Vec::new();
    let used = map(object, "/status/used");
    for (resource, hard) in map(object, "/status/hard").into_iter().flatten() {
        let line = format!(
            "{resource}: {}/{}",
            quantity::or_zero(used.and_then(|used| used.get(resource))),
            quantity::or_zero(Some(hard))
        );
        if resource.split('.').next() == Some("limits") && resource.contains('.') {
            limits.push(line);
        } else {
            requests.push(line);
        }
    }
    vec![
        name(object),
        Value::from(requests.join(", ")),
        Value::from(limits.join(", ")),
        age(object, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 2024-05-03T10:00:00Z: two days after the objects below were created.
    const NOW: i64 = 1_714_730_400;

    fn meta(name: &str) -> Value {
        json!({"name": name, "namespace": "default", "creationTimestamp": "2024-05-01T10:00:00Z"})
    }

    #[test]
    fn bound_persistent_volume() {
        let volume = json!({
            "metadata": {"name": "pvc-3f2a", "creationTimestamp": "2024-05-01T10:00:00Z"},
            "spec": {"capacity": {"storage": "10240Mi"}, "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "local-path",
                "claimRef": {"namespace": "default", "name": "data-web-0"}, "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"}
        });
        assert_eq!(
            persistent_volume(&volume, NOW),
            vec![
                json!("pvc-3f2a"),
                json!("10Gi"),
                json!("RWO"),
                json!("Delete"),
                json!("Bound"),
                json!("default/data-web-0"),
                json!("local-path"),
                json!("<unset>"),
                json!(""),
                json!("2d"),
                json!("Filesystem")
            ]
        );
        let mut released = volume.clone();
        released["metadata"]["deletionTimestamp"] = json!("2024-05-03T09:00:00Z");
        released["metadata"]["annotations"] =
            json!({"volume.beta.kubernetes.io/storage-class": "old"});
        let row = persistent_volume(&released, NOW);
        assert_eq!(
            (row[4].clone(), row[6].clone()),
            (json!("Terminating"), json!("old"))
        );
        assert_eq!(
            persistent_volume(&json!({}), NOW)[1..6],
            [
                json!("0"),
                json!(""),
                json!("Retain"),
                json!("Pending"),
                json!("")
            ]
        );
    }

    #[test]
    fn pending_and_bound_claims() {
        let pending = json!({
            "metadata": meta("data-web-0"),
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                "storageClassName": "local-path"},
            "status": {"phase": "Pending"}
        });
        assert_eq!(
            persistent_volume_claim(&pending, NOW),
            vec![
                json!("data-web-0"),
                json!("Pending"),
                json!(""),
                json!(""),
                json!(""),
                json!("local-path"),
                json!("<unset>"),
                json!("2d"),
                json!("Filesystem")
            ]
        );
        let mut bound = pending.clone();
        bound["spec"]["volumeName"] = json!("pvc-3f2a");
        bound["spec"]["volumeMode"] = json!("Block");
        bound["status"] = json!({"phase": "Bound", "capacity": {"storage": "1024Mi"},
            "accessModes": ["ReadWriteOnce", "ReadOnlyMany"]});
        assert_eq!(
            persistent_volume_claim(&bound, NOW)[1..],
            [
                json!("Bound"),
                json!("pvc-3f2a"),
                json!("1Gi"),
                json!("RWO,ROX"),
                json!("local-path"),
                json!("<unset>"),
                json!("2d"),
                json!("Block")
            ]
        );
    }

    #[test]
    fn resource_quota_splits_requests_and_limits() {
        let quota = json!({
            "metadata": meta("compute"),
            "status": {
                "hard": {"pods": "10", "requests.cpu": "2", "requests.memory": "2Gi", "limits.cpu": "4",
                    "limits.memory": "4096Mi"},
                "used": {"pods": "3", "requests.cpu": "500m", "requests.memory": "0.5Gi", "limits.cpu": "1"}
            }
        });
        assert_eq!(
            resource_quota(&quota, NOW),
            vec![
                json!("compute"),
                json!("pods: 3/10, requests.cpu: 500m/2, requests.memory: 512Mi/2Gi"),
                json!("limits.cpu: 1/4, limits.memory: 0/4Gi"),
                json!("2d")
            ]
        );
        assert_eq!(
            resource_quota(&json!({}), NOW)[1..3],
            [json!(""), json!("")]
        );
    }
}
