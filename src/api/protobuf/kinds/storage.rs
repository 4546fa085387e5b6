//! Field tables for storage.k8s.io/v1: StorageClass, CSIDriver, CSINode, CSIStorageCapacity, VolumeAttachment,
//! VolumeAttributesClass.

use super::{core_cluster, core_volume, meta};
use crate::api::protobuf::schema::Presence::{Always, OmitEmpty, Optional};
use crate::api::protobuf::schema::{
    BOOL, Fields, INT32, INT64, QUANTITY, STRING, TIME, f, list, map, msg,
};

pub(super) static CSI_DRIVER: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&CSI_DRIVER_SPEC), Always),
];

pub(super) static CSI_DRIVER_SPEC: Fields = &[
    f(1, "attachRequired", BOOL, Optional),
    f(2, "podInfoOnMount", BOOL, Optional),
    f(3, "volumeLifecycleModes", list(STRING), OmitEmpty),
    f(4, "storageCapacity", BOOL, Optional),
    f(5, "fsGroupPolicy", STRING, Optional),
    f(6, "tokenRequests", list(msg(&TOKEN_REQUEST)), OmitEmpty),
    f(7, "requiresRepublish", BOOL, Optional),
    f(8, "seLinuxMount", BOOL, Optional),
    f(9, "nodeAllocatableUpdatePeriodSeconds", INT64, Optional),
    f(10, "serviceAccountTokenInSecrets", BOOL, Optional),
    f(11, "preventPodSchedulingIfMissing", BOOL, Optional),
];

pub(super) static CSI_NODE: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&CSI_NODE_SPEC), Always),
];

pub(super) static CSI_NODE_DRIVER: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "nodeID", STRING, Always),
    f(3, "topologyKeys", list(STRING), Always),
    f(4, "allocatable", msg(&VOLUME_NODE_RESOURCES), Optional),
];

pub(super) static CSI_NODE_SPEC: Fields = &[f(1, "drivers", list(msg(&CSI_NODE_DRIVER)), Always)];

pub(super) static CSI_STORAGE_CAPACITY: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "nodeTopology", msg(&meta::LABEL_SELECTOR), Optional),
    f(3, "storageClassName", STRING, Always),
    f(4, "capacity", QUANTITY, Optional),
    f(5, "maximumVolumeSize", QUANTITY, Optional),
];

pub(super) static STORAGE_CLASS: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "provisioner", STRING, Always),
    f(3, "parameters", map(STRING), OmitEmpty),
    f(4, "reclaimPolicy", STRING, Optional),
    f(5, "mountOptions", list(STRING), OmitEmpty),
    f(6, "allowVolumeExpansion", BOOL, Optional),
    f(7, "volumeBindingMode", STRING, Optional),
    f(
        8,
        "allowedTopologies",
        list(msg(&core_cluster::TOPOLOGY_SELECTOR_TERM)),
        OmitEmpty,
    ),
];

pub(super) static TOKEN_REQUEST: Fields = &[
    f(1, "audience", STRING, Always),
    f(2, "expirationSeconds", INT64, Optional),
];

pub(super) static VOLUME_ATTACHMENT: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&VOLUME_ATTACHMENT_SPEC), Always),
    f(3, "status", msg(&VOLUME_ATTACHMENT_STATUS), OmitEmpty),
];

pub(super) static VOLUME_ATTACHMENT_SOURCE: Fields = &[
    f(1, "persistentVolumeName", STRING, Optional),
    f(
        2,
        "inlineVolumeSpec",
        msg(&core_volume::PERSISTENT_VOLUME_SPEC),
        Optional,
    ),
];

pub(super) static VOLUME_ATTACHMENT_SPEC: Fields = &[
    f(1, "attacher", STRING, Always),
    f(2, "source", msg(&VOLUME_ATTACHMENT_SOURCE), Always),
    f(3, "nodeName", STRING, Always),
];

pub(super) static VOLUME_ATTACHMENT_STATUS: Fields = &[
    f(1, "attached", BOOL, Always),
    f(2, "attachmentMetadata", map(STRING), OmitEmpty),
    f(3, "attachError", msg(&VOLUME_ERROR), Optional),
    f(4, "detachError", msg(&VOLUME_ERROR), Optional),
];

pub(super) static VOLUME_ATTRIBUTES_CLASS: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "driverName", STRING, Always),
    f(3, "parameters", map(STRING), OmitEmpty),
];

pub(super) static VOLUME_ERROR: Fields = &[
    f(1, "time", TIME, OmitEmpty),
    f(2, "message", STRING, OmitEmpty),
    f(3, "errorCode", INT32, Optional),
];

pub(super) static VOLUME_NODE_RESOURCES: Fields = &[f(1, "count", INT32, Optional)];
