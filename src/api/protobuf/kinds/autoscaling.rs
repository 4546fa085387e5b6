//! Field tables for autoscaling/v2: HorizontalPodAutoscaler.

use super::meta;
use crate::api::protobuf::schema::Presence::{Always, OmitEmpty, Optional};
use crate::api::protobuf::schema::{Fields, INT32, INT64, QUANTITY, STRING, TIME, f, list, msg};

pub(super) static CONTAINER_RESOURCE_METRIC_SOURCE: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "target", msg(&METRIC_TARGET), Always),
    f(3, "container", STRING, Always),
];

pub(super) static CONTAINER_RESOURCE_METRIC_STATUS: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "current", msg(&METRIC_VALUE_STATUS), Always),
    f(3, "container", STRING, Always),
];

pub(super) static CROSS_VERSION_OBJECT_REFERENCE: Fields = &[
    f(1, "kind", STRING, Always),
    f(2, "name", STRING, Always),
    f(3, "apiVersion", STRING, OmitEmpty),
];

pub(super) static EXTERNAL_METRIC_SOURCE: Fields = &[
    f(1, "metric", msg(&METRIC_IDENTIFIER), Always),
    f(2, "target", msg(&METRIC_TARGET), Always),
];

pub(super) static EXTERNAL_METRIC_STATUS: Fields = &[
    f(1, "metric", msg(&METRIC_IDENTIFIER), Always),
    f(2, "current", msg(&METRIC_VALUE_STATUS), Always),
];

pub(super) static HPA_SCALING_POLICY: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "value", INT32, Always),
    f(3, "periodSeconds", INT32, Always),
];

pub(super) static HPA_SCALING_RULES: Fields = &[
    f(3, "stabilizationWindowSeconds", INT32, Optional),
    f(1, "selectPolicy", STRING, Optional),
    f(2, "policies", list(msg(&HPA_SCALING_POLICY)), OmitEmpty),
    f(4, "tolerance", QUANTITY, Optional),
];

pub(super) static HORIZONTAL_POD_AUTOSCALER: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&HORIZONTAL_POD_AUTOSCALER_SPEC), OmitEmpty),
    f(
        3,
        "status",
        msg(&HORIZONTAL_POD_AUTOSCALER_STATUS),
        OmitEmpty,
    ),
];

pub(super) static HORIZONTAL_POD_AUTOSCALER_BEHAVIOR: Fields = &[
    f(1, "scaleUp", msg(&HPA_SCALING_RULES), Optional),
    f(2, "scaleDown", msg(&HPA_SCALING_RULES), Optional),
];

pub(super) static HORIZONTAL_POD_AUTOSCALER_CONDITION: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "status", STRING, Always),
    f(3, "lastTransitionTime", TIME, OmitEmpty),
    f(4, "reason", STRING, OmitEmpty),
    f(5, "message", STRING, OmitEmpty),
];

pub(super) static HORIZONTAL_POD_AUTOSCALER_SPEC: Fields = &[
    f(
        1,
        "scaleTargetRef",
        msg(&CROSS_VERSION_OBJECT_REFERENCE),
        Always,
    ),
    f(2, "minReplicas", INT32, Optional),
    f(3, "maxReplicas", INT32, Always),
    f(4, "metrics", list(msg(&METRIC_SPEC)), OmitEmpty),
    f(
        5,
        "behavior",
        msg(&HORIZONTAL_POD_AUTOSCALER_BEHAVIOR),
        Optional,
    ),
];

pub(super) static HORIZONTAL_POD_AUTOSCALER_STATUS: Fields = &[
    f(1, "observedGeneration", INT64, Optional),
    f(2, "lastScaleTime", TIME, Optional),
    f(3, "currentReplicas", INT32, OmitEmpty),
    f(4, "desiredReplicas", INT32, Always),
    f(5, "currentMetrics", list(msg(&METRIC_STATUS)), Always),
    f(
        6,
        "conditions",
        list(msg(&HORIZONTAL_POD_AUTOSCALER_CONDITION)),
        OmitEmpty,
    ),
];

pub(super) static METRIC_IDENTIFIER: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "selector", msg(&meta::LABEL_SELECTOR), Optional),
];

pub(super) static METRIC_SPEC: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "object", msg(&OBJECT_METRIC_SOURCE), Optional),
    f(3, "pods", msg(&PODS_METRIC_SOURCE), Optional),
    f(4, "resource", msg(&RESOURCE_METRIC_SOURCE), Optional),
    f(
        7,
        "containerResource",
        msg(&CONTAINER_RESOURCE_METRIC_SOURCE),
        Optional,
    ),
    f(5, "external", msg(&EXTERNAL_METRIC_SOURCE), Optional),
];

pub(super) static METRIC_STATUS: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "object", msg(&OBJECT_METRIC_STATUS), Optional),
    f(3, "pods", msg(&PODS_METRIC_STATUS), Optional),
    f(4, "resource", msg(&RESOURCE_METRIC_STATUS), Optional),
    f(
        7,
        "containerResource",
        msg(&CONTAINER_RESOURCE_METRIC_STATUS),
        Optional,
    ),
    f(5, "external", msg(&EXTERNAL_METRIC_STATUS), Optional),
];

pub(super) static METRIC_TARGET: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "value", QUANTITY, Optional),
    f(3, "averageValue", QUANTITY, Optional),
    f(4, "averageUtilization", INT32, Optional),
];

pub(super) static METRIC_VALUE_STATUS: Fields = &[
    f(1, "value", QUANTITY, Optional),
    f(2, "averageValue", QUANTITY, Optional),
    f(3, "averageUtilization", INT32, Optional),
];

pub(super) static OBJECT_METRIC_SOURCE: Fields = &[
    f(
        1,
        "describedObject",
        msg(&CROSS_VERSION_OBJECT_REFERENCE),
        Always,
    ),
    f(2, "target", msg(&METRIC_TARGET), Always),
    f(3, "metric", msg(&METRIC_IDENTIFIER), Always),
];

pub(super) static OBJECT_METRIC_STATUS: Fields = &[
    f(1, "metric", msg(&METRIC_IDENTIFIER), Always),
    f(2, "current", msg(&METRIC_VALUE_STATUS), Always),
    f(
        3,
        "describedObject",
        msg(&CROSS_VERSION_OBJECT_REFERENCE),
        Always,
    ),
];

pub(super) static PODS_METRIC_SOURCE: Fields = &[
    f(1, "metric", msg(&METRIC_IDENTIFIER), Always),
    f(2, "target", msg(&METRIC_TARGET), Always),
];

pub(super) static PODS_METRIC_STATUS: Fields = &[
    f(1, "metric", msg(&METRIC_IDENTIFIER), Always),
    f(2, "current", msg(&METRIC_VALUE_STATUS), Always),
];

pub(super) static RESOURCE_METRIC_SOURCE: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "target", msg(&METRIC_TARGET), Always),
];

pub(super) static RESOURCE_METRIC_STATUS: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "current", msg(&METRIC_VALUE_STATUS), Always),
];
