//! Field tables for meta/v1: ObjectMeta and the other apimachinery messages that objects embed, and DeleteOptions.

use crate::api::protobuf::schema::Presence::{Always, OmitEmpty, OmitZero, Optional};
use crate::api::protobuf::schema::{
    BOOL, Fields, INT64, RAW_JSON, STRING, TIME, f, list, map, msg,
};

pub(super) static CONDITION: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "status", STRING, Always),
    f(3, "observedGeneration", INT64, OmitEmpty),
    f(4, "lastTransitionTime", TIME, Always),
    f(5, "reason", STRING, Always),
    f(6, "message", STRING, Always),
];

pub(super) static DELETE_OPTIONS: Fields = &[
    f(1, "gracePeriodSeconds", INT64, Optional),
    f(2, "preconditions", msg(&PRECONDITIONS), Optional),
    f(3, "orphanDependents", BOOL, Optional),
    f(4, "propagationPolicy", STRING, Optional),
    f(5, "dryRun", list(STRING), OmitEmpty),
    f(
        6,
        "ignoreStoreReadErrorWithClusterBreakingPotential",
        BOOL,
        Optional,
    ),
];

pub(super) static FIELD_SELECTOR_REQUIREMENT: Fields = &[
    f(1, "key", STRING, Always),
    f(2, "operator", STRING, Always),
    f(3, "values", list(STRING), OmitEmpty),
];

pub(super) static LABEL_SELECTOR: Fields = &[
    f(1, "matchLabels", map(STRING), OmitEmpty),
    f(
        2,
        "matchExpressions",
        list(msg(&LABEL_SELECTOR_REQUIREMENT)),
        OmitEmpty,
    ),
];

pub(super) static LABEL_SELECTOR_REQUIREMENT: Fields = &[
    f(1, "key", STRING, Always),
    f(2, "operator", STRING, Always),
    f(3, "values", list(STRING), OmitEmpty),
];

pub(super) static MANAGED_FIELDS_ENTRY: Fields = &[
    f(1, "manager", STRING, OmitEmpty),
    f(2, "operation", STRING, OmitEmpty),
    f(3, "apiVersion", STRING, OmitEmpty),
    f(4, "time", TIME, Optional),
    f(6, "fieldsType", STRING, OmitEmpty),
    f(7, "fieldsV1", RAW_JSON, Optional),
    f(8, "subresource", STRING, OmitEmpty),
];

pub(super) static OBJECT_META: Fields = &[
    f(1, "name", STRING, OmitEmpty),
    f(2, "generateName", STRING, OmitEmpty),
    f(3, "namespace", STRING, OmitEmpty),
    f(4, "selfLink", STRING, OmitEmpty),
    f(5, "uid", STRING, OmitEmpty),
    f(6, "resourceVersion", STRING, OmitEmpty),
    f(7, "generation", INT64, OmitEmpty),
    f(8, "creationTimestamp", TIME, OmitZero),
    f(9, "deletionTimestamp", TIME, Optional),
    f(10, "deletionGracePeriodSeconds", INT64, Optional),
    f(11, "labels", map(STRING), OmitEmpty),
    f(12, "annotations", map(STRING), OmitEmpty),
    f(
        13,
        "ownerReferences",
        list(msg(&OWNER_REFERENCE)),
        OmitEmpty,
    ),
    f(14, "finalizers", list(STRING), OmitEmpty),
    f(
        17,
        "managedFields",
        list(msg(&MANAGED_FIELDS_ENTRY)),
        OmitEmpty,
    ),
];

pub(super) static OWNER_REFERENCE: Fields = &[
    f(5, "apiVersion", STRING, Always),
    f(1, "kind", STRING, Always),
    f(3, "name", STRING, Always),
    f(4, "uid", STRING, Always),
    f(6, "controller", BOOL, Optional),
    f(7, "blockOwnerDeletion", BOOL, Optional),
];

pub(super) static PRECONDITIONS: Fields = &[
    f(1, "uid", STRING, Optional),
    f(2, "resourceVersion", STRING, Optional),
];
