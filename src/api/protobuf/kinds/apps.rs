//! Field tables for apps/v1, batch/v1 and autoscaling/v1: workload controllers, jobs, Scale.

use super::{core_pod, core_volume, meta};
use crate::api::protobuf::schema::Presence::{Always, Nullable, OmitEmpty, Optional};
use crate::api::protobuf::schema::{
    BOOL, Fields, INT_OR_STRING, INT32, INT64, RAW_JSON, STRING, TIME, f, list, msg,
};

pub(super) static CONTROLLER_REVISION: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "data", RAW_JSON, OmitEmpty),
    f(3, "revision", INT64, Always),
];

pub(super) static DAEMON_SET: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&DAEMON_SET_SPEC), OmitEmpty),
    f(3, "status", msg(&DAEMON_SET_STATUS), OmitEmpty),
];

pub(super) static DAEMON_SET_CONDITION: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "status", STRING, Always),
    f(3, "lastTransitionTime", TIME, OmitEmpty),
    f(4, "reason", STRING, OmitEmpty),
    f(5, "message", STRING, OmitEmpty),
];

pub(super) static DAEMON_SET_SPEC: Fields = &[
    f(1, "selector", msg(&meta::LABEL_SELECTOR), Nullable),
    f(2, "template", msg(&core_pod::POD_TEMPLATE_SPEC), Always),
    f(
        3,
        "updateStrategy",
        msg(&DAEMON_SET_UPDATE_STRATEGY),
        OmitEmpty,
    ),
    f(4, "minReadySeconds", INT32, OmitEmpty),
    f(6, "revisionHistoryLimit", INT32, Optional),
];

pub(super) static DAEMON_SET_STATUS: Fields = &[
    f(1, "currentNumberScheduled", INT32, Always),
    f(2, "numberMisscheduled", INT32, Always),
    f(3, "desiredNumberScheduled", INT32, Always),
    f(4, "numberReady", INT32, Always),
    f(5, "observedGeneration", INT64, OmitEmpty),
    f(6, "updatedNumberScheduled", INT32, OmitEmpty),
    f(7, "numberAvailable", INT32, OmitEmpty),
    f(8, "numberUnavailable", INT32, OmitEmpty),
    f(9, "collisionCount", INT32, Optional),
    f(
        10,
        "conditions",
        list(msg(&DAEMON_SET_CONDITION)),
        OmitEmpty,
    ),
];

pub(super) static DAEMON_SET_UPDATE_STRATEGY: Fields = &[
    f(1, "type", STRING, OmitEmpty),
    f(
        2,
        "rollingUpdate",
        msg(&ROLLING_UPDATE_DAEMON_SET),
        Optional,
    ),
];

pub(super) static DEPLOYMENT: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&DEPLOYMENT_SPEC), OmitEmpty),
    f(3, "status", msg(&DEPLOYMENT_STATUS), OmitEmpty),
];

pub(super) static DEPLOYMENT_CONDITION: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "status", STRING, Always),
    f(6, "lastUpdateTime", TIME, OmitEmpty),
    f(7, "lastTransitionTime", TIME, OmitEmpty),
    f(4, "reason", STRING, OmitEmpty),
    f(5, "message", STRING, OmitEmpty),
];

pub(super) static DEPLOYMENT_SPEC: Fields = &[
    f(1, "replicas", INT32, Optional),
    f(2, "selector", msg(&meta::LABEL_SELECTOR), Nullable),
    f(3, "template", msg(&core_pod::POD_TEMPLATE_SPEC), Always),
    f(4, "strategy", msg(&DEPLOYMENT_STRATEGY), OmitEmpty),
    f(5, "minReadySeconds", INT32, OmitEmpty),
    f(6, "revisionHistoryLimit", INT32, Optional),
    f(7, "paused", BOOL, OmitEmpty),
    f(9, "progressDeadlineSeconds", INT32, Optional),
];

pub(super) static DEPLOYMENT_STATUS: Fields = &[
    f(1, "observedGeneration", INT64, OmitEmpty),
    f(2, "replicas", INT32, OmitEmpty),
    f(3, "updatedReplicas", INT32, OmitEmpty),
    f(7, "readyReplicas", INT32, OmitEmpty),
    f(4, "availableReplicas", INT32, OmitEmpty),
    f(5, "unavailableReplicas", INT32, OmitEmpty),
    f(9, "terminatingReplicas", INT32, Optional),
    f(6, "conditions", list(msg(&DEPLOYMENT_CONDITION)), OmitEmpty),
    f(8, "collisionCount", INT32, Optional),
];

pub(super) static DEPLOYMENT_STRATEGY: Fields = &[
    f(1, "type", STRING, OmitEmpty),
    f(
        2,
        "rollingUpdate",
        msg(&ROLLING_UPDATE_DEPLOYMENT),
        Optional,
    ),
];

pub(super) static REPLICA_SET: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&REPLICA_SET_SPEC), OmitEmpty),
    f(3, "status", msg(&REPLICA_SET_STATUS), OmitEmpty),
];

pub(super) static REPLICA_SET_CONDITION: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "status", STRING, Always),
    f(3, "lastTransitionTime", TIME, OmitEmpty),
    f(4, "reason", STRING, OmitEmpty),
    f(5, "message", STRING, OmitEmpty),
];

pub(super) static REPLICA_SET_SPEC: Fields = &[
    f(1, "replicas", INT32, Optional),
    f(4, "minReadySeconds", INT32, OmitEmpty),
    f(2, "selector", msg(&meta::LABEL_SELECTOR), Nullable),
    f(3, "template", msg(&core_pod::POD_TEMPLATE_SPEC), OmitEmpty),
];

pub(super) static REPLICA_SET_STATUS: Fields = &[
    f(1, "replicas", INT32, Always),
    f(2, "fullyLabeledReplicas", INT32, OmitEmpty),
    f(4, "readyReplicas", INT32, OmitEmpty),
    f(5, "availableReplicas", INT32, OmitEmpty),
    f(7, "terminatingReplicas", INT32, Optional),
    f(3, "observedGeneration", INT64, OmitEmpty),
    f(
        6,
        "conditions",
        list(msg(&REPLICA_SET_CONDITION)),
        OmitEmpty,
    ),
];

pub(super) static ROLLING_UPDATE_DAEMON_SET: Fields = &[
    f(1, "maxUnavailable", INT_OR_STRING, Optional),
    f(2, "maxSurge", INT_OR_STRING, Optional),
];

pub(super) static ROLLING_UPDATE_DEPLOYMENT: Fields = &[
    f(1, "maxUnavailable", INT_OR_STRING, Optional),
    f(2, "maxSurge", INT_OR_STRING, Optional),
];

pub(super) static ROLLING_UPDATE_STATEFUL_SET_STRATEGY: Fields = &[
    f(1, "partition", INT32, Optional),
    f(2, "maxUnavailable", INT_OR_STRING, Optional),
];

pub(super) static STATEFUL_SET: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&STATEFUL_SET_SPEC), OmitEmpty),
    f(3, "status", msg(&STATEFUL_SET_STATUS), OmitEmpty),
];

pub(super) static STATEFUL_SET_CONDITION: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "status", STRING, Always),
    f(3, "lastTransitionTime", TIME, OmitEmpty),
    f(4, "reason", STRING, OmitEmpty),
    f(5, "message", STRING, OmitEmpty),
];

pub(super) static STATEFUL_SET_ORDINALS: Fields = &[f(1, "start", INT32, Always)];

pub(super) static STATEFUL_SET_PERSISTENT_VOLUME_CLAIM_RETENTION_POLICY: Fields = &[
    f(1, "whenDeleted", STRING, OmitEmpty),
    f(2, "whenScaled", STRING, OmitEmpty),
];

pub(super) static STATEFUL_SET_SPEC: Fields = &[
    f(1, "replicas", INT32, Optional),
    f(2, "selector", msg(&meta::LABEL_SELECTOR), Nullable),
    f(3, "template", msg(&core_pod::POD_TEMPLATE_SPEC), Always),
    f(
        4,
        "volumeClaimTemplates",
        list(msg(&core_volume::PERSISTENT_VOLUME_CLAIM)),
        OmitEmpty,
    ),
    f(5, "serviceName", STRING, Always),
    f(6, "podManagementPolicy", STRING, OmitEmpty),
    f(
        7,
        "updateStrategy",
        msg(&STATEFUL_SET_UPDATE_STRATEGY),
        OmitEmpty,
    ),
    f(8, "revisionHistoryLimit", INT32, Optional),
    f(9, "minReadySeconds", INT32, OmitEmpty),
    f(
        10,
        "persistentVolumeClaimRetentionPolicy",
        msg(&STATEFUL_SET_PERSISTENT_VOLUME_CLAIM_RETENTION_POLICY),
        Optional,
    ),
    f(11, "ordinals", msg(&STATEFUL_SET_ORDINALS), Optional),
];

pub(super) static STATEFUL_SET_STATUS: Fields = &[
    f(1, "observedGeneration", INT64, OmitEmpty),
    f(2, "replicas", INT32, Always),
    f(3, "readyReplicas", INT32, OmitEmpty),
    f(4, "currentReplicas", INT32, OmitEmpty),
    f(5, "updatedReplicas", INT32, OmitEmpty),
    f(6, "currentRevision", STRING, OmitEmpty),
    f(7, "updateRevision", STRING, OmitEmpty),
    f(9, "collisionCount", INT32, Optional),
    f(
        10,
        "conditions",
        list(msg(&STATEFUL_SET_CONDITION)),
        OmitEmpty,
    ),
    f(11, "availableReplicas", INT32, Always),
];

pub(super) static STATEFUL_SET_UPDATE_STRATEGY: Fields = &[
    f(1, "type", STRING, OmitEmpty),
    f(
        2,
        "rollingUpdate",
        msg(&ROLLING_UPDATE_STATEFUL_SET_STRATEGY),
        Optional,
    ),
];

pub(super) static CRON_JOB: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&CRON_JOB_SPEC), OmitEmpty),
    f(3, "status", msg(&CRON_JOB_STATUS), OmitEmpty),
];

pub(super) static CRON_JOB_SPEC: Fields = &[
    f(1, "schedule", STRING, Always),
    f(8, "timeZone", STRING, Optional),
    f(2, "startingDeadlineSeconds", INT64, Optional),
    f(3, "concurrencyPolicy", STRING, OmitEmpty),
    f(4, "suspend", BOOL, Optional),
    f(5, "jobTemplate", msg(&JOB_TEMPLATE_SPEC), Always),
    f(6, "successfulJobsHistoryLimit", INT32, Optional),
    f(7, "failedJobsHistoryLimit", INT32, Optional),
];

pub(super) static CRON_JOB_STATUS: Fields = &[
    f(
        1,
        "active",
        list(msg(&core_volume::OBJECT_REFERENCE)),
        OmitEmpty,
    ),
    f(4, "lastScheduleTime", TIME, Optional),
    f(5, "lastSuccessfulTime", TIME, Optional),
];

pub(super) static JOB: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&JOB_SPEC), OmitEmpty),
    f(3, "status", msg(&JOB_STATUS), OmitEmpty),
];

pub(super) static JOB_CONDITION: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "status", STRING, Always),
    f(3, "lastProbeTime", TIME, OmitEmpty),
    f(4, "lastTransitionTime", TIME, OmitEmpty),
    f(5, "reason", STRING, OmitEmpty),
    f(6, "message", STRING, OmitEmpty),
];

pub(super) static JOB_SPEC: Fields = &[
    f(1, "parallelism", INT32, Optional),
    f(2, "completions", INT32, Optional),
    f(3, "activeDeadlineSeconds", INT64, Optional),
    f(11, "podFailurePolicy", msg(&POD_FAILURE_POLICY), Optional),
    f(16, "successPolicy", msg(&SUCCESS_POLICY), Optional),
    f(7, "backoffLimit", INT32, Optional),
    f(12, "backoffLimitPerIndex", INT32, Optional),
    f(13, "maxFailedIndexes", INT32, Optional),
    f(4, "selector", msg(&meta::LABEL_SELECTOR), Optional),
    f(5, "manualSelector", BOOL, Optional),
    f(6, "template", msg(&core_pod::POD_TEMPLATE_SPEC), Always),
    f(8, "ttlSecondsAfterFinished", INT32, Optional),
    f(9, "completionMode", STRING, Optional),
    f(10, "suspend", BOOL, Optional),
    f(14, "podReplacementPolicy", STRING, Optional),
    f(15, "managedBy", STRING, Optional),
];

pub(super) static JOB_STATUS: Fields = &[
    f(1, "conditions", list(msg(&JOB_CONDITION)), OmitEmpty),
    f(2, "startTime", TIME, Optional),
    f(3, "completionTime", TIME, Optional),
    f(4, "active", INT32, OmitEmpty),
    f(5, "succeeded", INT32, OmitEmpty),
    f(6, "failed", INT32, OmitEmpty),
    f(11, "terminating", INT32, Optional),
    f(7, "completedIndexes", STRING, OmitEmpty),
    f(10, "failedIndexes", STRING, Optional),
    f(
        8,
        "uncountedTerminatedPods",
        msg(&UNCOUNTED_TERMINATED_PODS),
        Optional,
    ),
    f(9, "ready", INT32, Optional),
];

pub(super) static JOB_TEMPLATE_SPEC: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&JOB_SPEC), OmitEmpty),
];

pub(super) static POD_FAILURE_POLICY: Fields =
    &[f(1, "rules", list(msg(&POD_FAILURE_POLICY_RULE)), Always)];

pub(super) static POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT: Fields = &[
    f(1, "containerName", STRING, Optional),
    f(2, "operator", STRING, Always),
    f(3, "values", list(INT32), Always),
];

pub(super) static POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN: Fields =
    &[f(1, "type", STRING, Always), f(2, "status", STRING, Always)];

pub(super) static POD_FAILURE_POLICY_RULE: Fields = &[
    f(1, "action", STRING, Always),
    f(
        2,
        "onExitCodes",
        msg(&POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT),
        Optional,
    ),
    f(
        3,
        "onPodConditions",
        list(msg(&POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN)),
        OmitEmpty,
    ),
];

pub(super) static SUCCESS_POLICY: Fields =
    &[f(1, "rules", list(msg(&SUCCESS_POLICY_RULE)), Always)];

pub(super) static SUCCESS_POLICY_RULE: Fields = &[
    f(1, "succeededIndexes", STRING, Optional),
    f(2, "succeededCount", INT32, Optional),
];

pub(super) static UNCOUNTED_TERMINATED_PODS: Fields = &[
    f(1, "succeeded", list(STRING), OmitEmpty),
    f(2, "failed", list(STRING), OmitEmpty),
];

pub(super) static CROSS_VERSION_OBJECT_REFERENCE: Fields = &[
    f(1, "kind", STRING, Always),
    f(2, "name", STRING, Always),
    f(3, "apiVersion", STRING, OmitEmpty),
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

pub(super) static HORIZONTAL_POD_AUTOSCALER_SPEC: Fields = &[
    f(
        1,
        "scaleTargetRef",
        msg(&CROSS_VERSION_OBJECT_REFERENCE),
        Always,
    ),
    f(2, "minReplicas", INT32, Optional),
    f(3, "maxReplicas", INT32, Always),
    f(4, "targetCPUUtilizationPercentage", INT32, Optional),
];

pub(super) static HORIZONTAL_POD_AUTOSCALER_STATUS: Fields = &[
    f(1, "observedGeneration", INT64, Optional),
    f(2, "lastScaleTime", TIME, Optional),
    f(3, "currentReplicas", INT32, Always),
    f(4, "desiredReplicas", INT32, Always),
    f(5, "currentCPUUtilizationPercentage", INT32, Optional),
];

pub(super) static SCALE: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&SCALE_SPEC), OmitEmpty),
    f(3, "status", msg(&SCALE_STATUS), OmitEmpty),
];

pub(super) static SCALE_SPEC: Fields = &[f(1, "replicas", INT32, OmitEmpty)];

pub(super) static SCALE_STATUS: Fields = &[
    f(1, "replicas", INT32, Always),
    f(2, "selector", STRING, OmitEmpty),
];
