//! Field tables for policy/v1, scheduling.k8s.io/v1, node.k8s.io/v1, coordination.k8s.io/v1 and events.k8s.io/v1:
//! PodDisruptionBudget, Eviction, PriorityClass, RuntimeClass, Lease, Event.

use super::{core_cluster, core_pod, core_volume, meta};
use crate::api::protobuf::schema::Presence::{Always, OmitEmpty, Optional};
use crate::api::protobuf::schema::{
    BOOL, Fields, INT_OR_STRING, INT32, INT64, MICRO_TIME, QUANTITY, STRING, TIME, f, list, map,
    msg,
};

pub(super) static LEASE: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&LEASE_SPEC), OmitEmpty),
];

pub(super) static LEASE_SPEC: Fields = &[
    f(1, "holderIdentity", STRING, Optional),
    f(2, "leaseDurationSeconds", INT32, Optional),
    f(3, "acquireTime", MICRO_TIME, Optional),
    f(4, "renewTime", MICRO_TIME, Optional),
    f(5, "leaseTransitions", INT32, Optional),
    f(6, "strategy", STRING, Optional),
    f(7, "preferredHolder", STRING, Optional),
];

pub(super) static EVENT: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), Always),
    f(2, "eventTime", MICRO_TIME, Always),
    f(3, "series", msg(&EVENT_SERIES), Optional),
    f(4, "reportingController", STRING, OmitEmpty),
    f(5, "reportingInstance", STRING, OmitEmpty),
    f(6, "action", STRING, OmitEmpty),
    f(7, "reason", STRING, OmitEmpty),
    f(
        8,
        "regarding",
        msg(&core_volume::OBJECT_REFERENCE),
        OmitEmpty,
    ),
    f(9, "related", msg(&core_volume::OBJECT_REFERENCE), Optional),
    f(10, "note", STRING, OmitEmpty),
    f(11, "type", STRING, OmitEmpty),
    f(
        12,
        "deprecatedSource",
        msg(&core_cluster::EVENT_SOURCE),
        OmitEmpty,
    ),
    f(13, "deprecatedFirstTimestamp", TIME, OmitEmpty),
    f(14, "deprecatedLastTimestamp", TIME, OmitEmpty),
    f(15, "deprecatedCount", INT32, OmitEmpty),
];

pub(super) static EVENT_SERIES: Fields = &[
    f(1, "count", INT32, Always),
    f(2, "lastObservedTime", MICRO_TIME, Always),
];

pub(super) static OVERHEAD: Fields = &[f(1, "podFixed", map(QUANTITY), OmitEmpty)];

pub(super) static RUNTIME_CLASS: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "handler", STRING, Always),
    f(3, "overhead", msg(&OVERHEAD), Optional),
    f(4, "scheduling", msg(&SCHEDULING), Optional),
];

pub(super) static SCHEDULING: Fields = &[
    f(1, "nodeSelector", map(STRING), OmitEmpty),
    f(
        2,
        "tolerations",
        list(msg(&core_pod::TOLERATION)),
        OmitEmpty,
    ),
];

pub(super) static EVICTION: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "deleteOptions", msg(&meta::DELETE_OPTIONS), Optional),
];

pub(super) static POD_DISRUPTION_BUDGET: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&POD_DISRUPTION_BUDGET_SPEC), OmitEmpty),
    f(3, "status", msg(&POD_DISRUPTION_BUDGET_STATUS), OmitEmpty),
];

pub(super) static POD_DISRUPTION_BUDGET_SPEC: Fields = &[
    f(1, "minAvailable", INT_OR_STRING, Optional),
    f(2, "selector", msg(&meta::LABEL_SELECTOR), Optional),
    f(3, "maxUnavailable", INT_OR_STRING, Optional),
    f(4, "unhealthyPodEvictionPolicy", STRING, Optional),
];

pub(super) static POD_DISRUPTION_BUDGET_STATUS: Fields = &[
    f(1, "observedGeneration", INT64, OmitEmpty),
    f(2, "disruptedPods", map(TIME), OmitEmpty),
    f(3, "disruptionsAllowed", INT32, Always),
    f(4, "currentHealthy", INT32, Always),
    f(5, "desiredHealthy", INT32, Always),
    f(6, "expectedPods", INT32, Always),
    f(7, "conditions", list(msg(&meta::CONDITION)), OmitEmpty),
];

pub(super) static PRIORITY_CLASS: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "value", INT32, Always),
    f(3, "globalDefault", BOOL, OmitEmpty),
    f(4, "description", STRING, OmitEmpty),
    f(5, "preemptionPolicy", STRING, Optional),
];
