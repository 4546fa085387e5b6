//! Field tables for core/v1, pods: Pod, PodTemplate, PodSpec and what containers are made of.

use super::{core_volume, meta};
use crate::api::protobuf::schema::Presence::{Always, Inline, Nullable, OmitEmpty, Optional};
use crate::api::protobuf::schema::{
    BOOL, Fields, INT_OR_STRING, INT32, INT64, QUANTITY, STRING, TIME, f, list, map, msg,
};

pub(super) static AFFINITY: Fields = &[
    f(1, "nodeAffinity", msg(&NODE_AFFINITY), Optional),
    f(2, "podAffinity", msg(&POD_AFFINITY), Optional),
    f(3, "podAntiAffinity", msg(&POD_ANTI_AFFINITY), Optional),
];

pub(super) static APP_ARMOR_PROFILE: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "localhostProfile", STRING, Optional),
];

pub(super) static CAPABILITIES: Fields = &[
    f(1, "add", list(STRING), OmitEmpty),
    f(2, "drop", list(STRING), OmitEmpty),
];

pub(super) static CONFIG_MAP_ENV_SOURCE: Fields = &[
    f(
        1,
        "localObjectReference",
        msg(&core_volume::LOCAL_OBJECT_REFERENCE),
        Inline,
    ),
    f(2, "optional", BOOL, Optional),
];

pub(super) static CONFIG_MAP_KEY_SELECTOR: Fields = &[
    f(
        1,
        "localObjectReference",
        msg(&core_volume::LOCAL_OBJECT_REFERENCE),
        Inline,
    ),
    f(2, "key", STRING, Always),
    f(3, "optional", BOOL, Optional),
];

pub(super) static CONTAINER: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "image", STRING, OmitEmpty),
    f(3, "command", list(STRING), OmitEmpty),
    f(4, "args", list(STRING), OmitEmpty),
    f(5, "workingDir", STRING, OmitEmpty),
    f(6, "ports", list(msg(&CONTAINER_PORT)), OmitEmpty),
    f(19, "envFrom", list(msg(&ENV_FROM_SOURCE)), OmitEmpty),
    f(7, "env", list(msg(&ENV_VAR)), OmitEmpty),
    f(8, "resources", msg(&RESOURCE_REQUIREMENTS), OmitEmpty),
    f(
        23,
        "resizePolicy",
        list(msg(&CONTAINER_RESIZE_POLICY)),
        OmitEmpty,
    ),
    f(24, "restartPolicy", STRING, Optional),
    f(
        25,
        "restartPolicyRules",
        list(msg(&CONTAINER_RESTART_RULE)),
        OmitEmpty,
    ),
    f(9, "volumeMounts", list(msg(&VOLUME_MOUNT)), OmitEmpty),
    f(21, "volumeDevices", list(msg(&VOLUME_DEVICE)), OmitEmpty),
    f(10, "livenessProbe", msg(&PROBE), Optional),
    f(11, "readinessProbe", msg(&PROBE), Optional),
    f(22, "startupProbe", msg(&PROBE), Optional),
    f(12, "lifecycle", msg(&LIFECYCLE), Optional),
    f(13, "terminationMessagePath", STRING, OmitEmpty),
    f(20, "terminationMessagePolicy", STRING, OmitEmpty),
    f(14, "imagePullPolicy", STRING, OmitEmpty),
    f(15, "securityContext", msg(&SECURITY_CONTEXT), Optional),
    f(16, "stdin", BOOL, OmitEmpty),
    f(17, "stdinOnce", BOOL, OmitEmpty),
    f(18, "tty", BOOL, OmitEmpty),
];

pub(super) static CONTAINER_EXTENDED_RESOURCE_REQUEST: Fields = &[
    f(1, "containerName", STRING, Always),
    f(2, "resourceName", STRING, Always),
    f(3, "requestName", STRING, Always),
];

pub(super) static CONTAINER_PORT: Fields = &[
    f(1, "name", STRING, OmitEmpty),
    f(2, "hostPort", INT32, OmitEmpty),
    f(3, "containerPort", INT32, Always),
    f(4, "protocol", STRING, OmitEmpty),
    f(5, "hostIP", STRING, OmitEmpty),
];

pub(super) static CONTAINER_RESIZE_POLICY: Fields = &[
    f(1, "resourceName", STRING, Always),
    f(2, "restartPolicy", STRING, Always),
];

pub(super) static CONTAINER_RESTART_RULE: Fields = &[
    f(1, "action", STRING, OmitEmpty),
    f(
        2,
        "exitCodes",
        msg(&CONTAINER_RESTART_RULE_ON_EXIT_CODES),
        Optional,
    ),
];

pub(super) static CONTAINER_RESTART_RULE_ON_EXIT_CODES: Fields = &[
    f(1, "operator", STRING, OmitEmpty),
    f(2, "values", list(INT32), OmitEmpty),
];

pub(super) static CONTAINER_STATE: Fields = &[
    f(1, "waiting", msg(&CONTAINER_STATE_WAITING), Optional),
    f(2, "running", msg(&CONTAINER_STATE_RUNNING), Optional),
    f(3, "terminated", msg(&CONTAINER_STATE_TERMINATED), Optional),
];

pub(super) static CONTAINER_STATE_RUNNING: Fields = &[f(1, "startedAt", TIME, OmitEmpty)];

pub(super) static CONTAINER_STATE_TERMINATED: Fields = &[
    f(1, "exitCode", INT32, Always),
    f(2, "signal", INT32, OmitEmpty),
    f(3, "reason", STRING, OmitEmpty),
    f(4, "message", STRING, OmitEmpty),
    f(5, "startedAt", TIME, OmitEmpty),
    f(6, "finishedAt", TIME, OmitEmpty),
    f(7, "containerID", STRING, OmitEmpty),
];

pub(super) static CONTAINER_STATE_WAITING: Fields = &[
    f(1, "reason", STRING, OmitEmpty),
    f(2, "message", STRING, OmitEmpty),
];

pub(super) static CONTAINER_STATUS: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "state", msg(&CONTAINER_STATE), OmitEmpty),
    f(3, "lastState", msg(&CONTAINER_STATE), OmitEmpty),
    f(4, "ready", BOOL, Always),
    f(5, "restartCount", INT32, Always),
    f(6, "image", STRING, Always),
    f(7, "imageID", STRING, Always),
    f(8, "containerID", STRING, OmitEmpty),
    f(9, "started", BOOL, Optional),
    f(10, "allocatedResources", map(QUANTITY), OmitEmpty),
    f(11, "resources", msg(&RESOURCE_REQUIREMENTS), Optional),
    f(
        12,
        "volumeMounts",
        list(msg(&VOLUME_MOUNT_STATUS)),
        OmitEmpty,
    ),
    f(13, "user", msg(&CONTAINER_USER), Optional),
    f(
        14,
        "allocatedResourcesStatus",
        list(msg(&RESOURCE_STATUS)),
        OmitEmpty,
    ),
    f(15, "stopSignal", STRING, Optional),
];

pub(super) static CONTAINER_USER: Fields = &[f(1, "linux", msg(&LINUX_CONTAINER_USER), Optional)];

pub(super) static ENV_FROM_SOURCE: Fields = &[
    f(1, "prefix", STRING, OmitEmpty),
    f(2, "configMapRef", msg(&CONFIG_MAP_ENV_SOURCE), Optional),
    f(3, "secretRef", msg(&SECRET_ENV_SOURCE), Optional),
];

pub(super) static ENV_VAR: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "value", STRING, OmitEmpty),
    f(3, "valueFrom", msg(&ENV_VAR_SOURCE), Optional),
];

pub(super) static ENV_VAR_SOURCE: Fields = &[
    f(
        1,
        "fieldRef",
        msg(&core_volume::OBJECT_FIELD_SELECTOR),
        Optional,
    ),
    f(
        2,
        "resourceFieldRef",
        msg(&core_volume::RESOURCE_FIELD_SELECTOR),
        Optional,
    ),
    f(
        3,
        "configMapKeyRef",
        msg(&CONFIG_MAP_KEY_SELECTOR),
        Optional,
    ),
    f(4, "secretKeyRef", msg(&SECRET_KEY_SELECTOR), Optional),
    f(5, "fileKeyRef", msg(&FILE_KEY_SELECTOR), Optional),
];

pub(super) static EPHEMERAL_CONTAINER: Fields = &[
    f(
        1,
        "ephemeralContainerCommon",
        msg(&EPHEMERAL_CONTAINER_COMMON),
        Inline,
    ),
    f(2, "targetContainerName", STRING, OmitEmpty),
];

pub(super) static EPHEMERAL_CONTAINER_COMMON: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "image", STRING, OmitEmpty),
    f(3, "command", list(STRING), OmitEmpty),
    f(4, "args", list(STRING), OmitEmpty),
    f(5, "workingDir", STRING, OmitEmpty),
    f(6, "ports", list(msg(&CONTAINER_PORT)), OmitEmpty),
    f(19, "envFrom", list(msg(&ENV_FROM_SOURCE)), OmitEmpty),
    f(7, "env", list(msg(&ENV_VAR)), OmitEmpty),
    f(8, "resources", msg(&RESOURCE_REQUIREMENTS), OmitEmpty),
    f(
        23,
        "resizePolicy",
        list(msg(&CONTAINER_RESIZE_POLICY)),
        OmitEmpty,
    ),
    f(24, "restartPolicy", STRING, Optional),
    f(
        25,
        "restartPolicyRules",
        list(msg(&CONTAINER_RESTART_RULE)),
        OmitEmpty,
    ),
    f(9, "volumeMounts", list(msg(&VOLUME_MOUNT)), OmitEmpty),
    f(21, "volumeDevices", list(msg(&VOLUME_DEVICE)), OmitEmpty),
    f(10, "livenessProbe", msg(&PROBE), Optional),
    f(11, "readinessProbe", msg(&PROBE), Optional),
    f(22, "startupProbe", msg(&PROBE), Optional),
    f(12, "lifecycle", msg(&LIFECYCLE), Optional),
    f(13, "terminationMessagePath", STRING, OmitEmpty),
    f(20, "terminationMessagePolicy", STRING, OmitEmpty),
    f(14, "imagePullPolicy", STRING, OmitEmpty),
    f(15, "securityContext", msg(&SECURITY_CONTEXT), Optional),
    f(16, "stdin", BOOL, OmitEmpty),
    f(17, "stdinOnce", BOOL, OmitEmpty),
    f(18, "tty", BOOL, OmitEmpty),
];

pub(super) static EXEC_ACTION: Fields = &[f(1, "command", list(STRING), OmitEmpty)];

pub(super) static FILE_KEY_SELECTOR: Fields = &[
    f(1, "volumeName", STRING, Always),
    f(2, "path", STRING, Always),
    f(3, "key", STRING, Always),
    f(4, "optional", BOOL, Optional),
];

pub(super) static GRPC_ACTION: Fields = &[
    f(1, "port", INT32, Always),
    f(2, "service", STRING, Nullable),
];

pub(super) static HTTP_GET_ACTION: Fields = &[
    f(1, "path", STRING, OmitEmpty),
    f(2, "port", INT_OR_STRING, Always),
    f(3, "host", STRING, OmitEmpty),
    f(4, "scheme", STRING, OmitEmpty),
    f(5, "httpHeaders", list(msg(&HTTP_HEADER)), OmitEmpty),
];

pub(super) static HTTP_HEADER: Fields =
    &[f(1, "name", STRING, Always), f(2, "value", STRING, Always)];

pub(super) static HOST_ALIAS: Fields = &[
    f(1, "ip", STRING, Always),
    f(2, "hostnames", list(STRING), OmitEmpty),
];

pub(super) static HOST_IP: Fields = &[f(1, "ip", STRING, Always)];

pub(super) static IMAGE_VOLUME_STATUS: Fields = &[f(1, "imageRef", STRING, OmitEmpty)];

pub(super) static LIFECYCLE: Fields = &[
    f(1, "postStart", msg(&LIFECYCLE_HANDLER), Optional),
    f(2, "preStop", msg(&LIFECYCLE_HANDLER), Optional),
    f(3, "stopSignal", STRING, Optional),
];

pub(super) static LIFECYCLE_HANDLER: Fields = &[
    f(1, "exec", msg(&EXEC_ACTION), Optional),
    f(2, "httpGet", msg(&HTTP_GET_ACTION), Optional),
    f(3, "tcpSocket", msg(&TCP_SOCKET_ACTION), Optional),
    f(4, "sleep", msg(&SLEEP_ACTION), Optional),
];

pub(super) static LINUX_CONTAINER_USER: Fields = &[
    f(1, "uid", INT64, Always),
    f(2, "gid", INT64, Always),
    f(3, "supplementalGroups", list(INT64), OmitEmpty),
];

pub(super) static NODE_AFFINITY: Fields = &[
    f(
        1,
        "requiredDuringSchedulingIgnoredDuringExecution",
        msg(&core_volume::NODE_SELECTOR),
        Optional,
    ),
    f(
        2,
        "preferredDuringSchedulingIgnoredDuringExecution",
        list(msg(&PREFERRED_SCHEDULING_TERM)),
        OmitEmpty,
    ),
];

pub(super) static NODE_ALLOCATABLE_RESOURCE_CLAIM_STATUS: Fields = &[
    f(1, "resourceClaimName", STRING, Always),
    f(2, "containers", list(STRING), OmitEmpty),
    f(3, "resources", map(QUANTITY), Always),
];

pub(super) static POD: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&POD_SPEC), OmitEmpty),
    f(3, "status", msg(&POD_STATUS), OmitEmpty),
];

pub(super) static POD_AFFINITY: Fields = &[
    f(
        1,
        "requiredDuringSchedulingIgnoredDuringExecution",
        list(msg(&POD_AFFINITY_TERM)),
        OmitEmpty,
    ),
    f(
        2,
        "preferredDuringSchedulingIgnoredDuringExecution",
        list(msg(&WEIGHTED_POD_AFFINITY_TERM)),
        OmitEmpty,
    ),
];

pub(super) static POD_AFFINITY_TERM: Fields = &[
    f(1, "labelSelector", msg(&meta::LABEL_SELECTOR), Optional),
    f(2, "namespaces", list(STRING), OmitEmpty),
    f(3, "topologyKey", STRING, Always),
    f(4, "namespaceSelector", msg(&meta::LABEL_SELECTOR), Optional),
    f(5, "matchLabelKeys", list(STRING), OmitEmpty),
    f(6, "mismatchLabelKeys", list(STRING), OmitEmpty),
];

pub(super) static POD_ANTI_AFFINITY: Fields = &[
    f(
        1,
        "requiredDuringSchedulingIgnoredDuringExecution",
        list(msg(&POD_AFFINITY_TERM)),
        OmitEmpty,
    ),
    f(
        2,
        "preferredDuringSchedulingIgnoredDuringExecution",
        list(msg(&WEIGHTED_POD_AFFINITY_TERM)),
        OmitEmpty,
    ),
];

pub(super) static POD_CONDITION: Fields = &[
    f(1, "type", STRING, Always),
    f(7, "observedGeneration", INT64, OmitEmpty),
    f(2, "status", STRING, Always),
    f(3, "lastProbeTime", TIME, OmitEmpty),
    f(4, "lastTransitionTime", TIME, OmitEmpty),
    f(5, "reason", STRING, OmitEmpty),
    f(6, "message", STRING, OmitEmpty),
];

pub(super) static POD_DNS_CONFIG: Fields = &[
    f(1, "nameservers", list(STRING), OmitEmpty),
    f(2, "searches", list(STRING), OmitEmpty),
    f(3, "options", list(msg(&POD_DNS_CONFIG_OPTION)), OmitEmpty),
];

pub(super) static POD_DNS_CONFIG_OPTION: Fields = &[
    f(1, "name", STRING, OmitEmpty),
    f(2, "value", STRING, Optional),
];

pub(super) static POD_EXTENDED_RESOURCE_CLAIM_STATUS: Fields = &[
    f(
        1,
        "requestMappings",
        list(msg(&CONTAINER_EXTENDED_RESOURCE_REQUEST)),
        Always,
    ),
    f(2, "resourceClaimName", STRING, Always),
];

pub(super) static POD_IP: Fields = &[f(1, "ip", STRING, Always)];

pub(super) static POD_OS: Fields = &[f(1, "name", STRING, Always)];

pub(super) static POD_READINESS_GATE: Fields = &[f(1, "conditionType", STRING, Always)];

pub(super) static POD_RESOURCE_CLAIM: Fields = &[
    f(1, "name", STRING, Always),
    f(3, "resourceClaimName", STRING, Optional),
    f(4, "resourceClaimTemplateName", STRING, Optional),
];

pub(super) static POD_RESOURCE_CLAIM_STATUS: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "resourceClaimName", STRING, Optional),
];

pub(super) static POD_SCHEDULING_GATE: Fields = &[f(1, "name", STRING, Always)];

pub(super) static POD_SCHEDULING_GROUP: Fields = &[f(1, "podGroupName", STRING, Optional)];

pub(super) static POD_SECURITY_CONTEXT: Fields = &[
    f(1, "seLinuxOptions", msg(&SE_LINUX_OPTIONS), Optional),
    f(
        8,
        "windowsOptions",
        msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS),
        Optional,
    ),
    f(2, "runAsUser", INT64, Optional),
    f(6, "runAsGroup", INT64, Optional),
    f(3, "runAsNonRoot", BOOL, Optional),
    f(4, "supplementalGroups", list(INT64), OmitEmpty),
    f(12, "supplementalGroupsPolicy", STRING, Optional),
    f(5, "fsGroup", INT64, Optional),
    f(7, "sysctls", list(msg(&SYSCTL)), OmitEmpty),
    f(9, "fsGroupChangePolicy", STRING, Optional),
    f(10, "seccompProfile", msg(&SECCOMP_PROFILE), Optional),
    f(11, "appArmorProfile", msg(&APP_ARMOR_PROFILE), Optional),
    f(13, "seLinuxChangePolicy", STRING, Optional),
];

pub(super) static POD_SPEC: Fields = &[
    f(1, "volumes", list(msg(&core_volume::VOLUME)), OmitEmpty),
    f(20, "initContainers", list(msg(&CONTAINER)), OmitEmpty),
    f(2, "containers", list(msg(&CONTAINER)), Always),
    f(
        34,
        "ephemeralContainers",
        list(msg(&EPHEMERAL_CONTAINER)),
        OmitEmpty,
    ),
    f(3, "restartPolicy", STRING, OmitEmpty),
    f(4, "terminationGracePeriodSeconds", INT64, Optional),
    f(5, "activeDeadlineSeconds", INT64, Optional),
    f(6, "dnsPolicy", STRING, OmitEmpty),
    f(7, "nodeSelector", map(STRING), OmitEmpty),
    f(8, "serviceAccountName", STRING, OmitEmpty),
    f(9, "serviceAccount", STRING, OmitEmpty),
    f(21, "automountServiceAccountToken", BOOL, Optional),
    f(10, "nodeName", STRING, OmitEmpty),
    f(11, "hostNetwork", BOOL, OmitEmpty),
    f(12, "hostPID", BOOL, OmitEmpty),
    f(13, "hostIPC", BOOL, OmitEmpty),
    f(27, "shareProcessNamespace", BOOL, Optional),
    f(14, "securityContext", msg(&POD_SECURITY_CONTEXT), Optional),
    f(
        15,
        "imagePullSecrets",
        list(msg(&core_volume::LOCAL_OBJECT_REFERENCE)),
        OmitEmpty,
    ),
    f(16, "hostname", STRING, OmitEmpty),
    f(17, "subdomain", STRING, OmitEmpty),
    f(18, "affinity", msg(&AFFINITY), Optional),
    f(19, "schedulerName", STRING, OmitEmpty),
    f(22, "tolerations", list(msg(&TOLERATION)), OmitEmpty),
    f(23, "hostAliases", list(msg(&HOST_ALIAS)), OmitEmpty),
    f(24, "priorityClassName", STRING, OmitEmpty),
    f(25, "priority", INT32, Optional),
    f(26, "dnsConfig", msg(&POD_DNS_CONFIG), Optional),
    f(
        28,
        "readinessGates",
        list(msg(&POD_READINESS_GATE)),
        OmitEmpty,
    ),
    f(29, "runtimeClassName", STRING, Optional),
    f(30, "enableServiceLinks", BOOL, Optional),
    f(31, "preemptionPolicy", STRING, Optional),
    f(32, "overhead", map(QUANTITY), OmitEmpty),
    f(
        33,
        "topologySpreadConstraints",
        list(msg(&TOPOLOGY_SPREAD_CONSTRAINT)),
        OmitEmpty,
    ),
    f(35, "setHostnameAsFQDN", BOOL, Optional),
    f(36, "os", msg(&POD_OS), Optional),
    f(37, "hostUsers", BOOL, Optional),
    f(
        38,
        "schedulingGates",
        list(msg(&POD_SCHEDULING_GATE)),
        OmitEmpty,
    ),
    f(
        39,
        "resourceClaims",
        list(msg(&POD_RESOURCE_CLAIM)),
        OmitEmpty,
    ),
    f(40, "resources", msg(&RESOURCE_REQUIREMENTS), Optional),
    f(41, "hostnameOverride", STRING, Optional),
    f(43, "schedulingGroup", msg(&POD_SCHEDULING_GROUP), Optional),
];

pub(super) static POD_STATUS: Fields = &[
    f(17, "observedGeneration", INT64, OmitEmpty),
    f(1, "phase", STRING, OmitEmpty),
    f(2, "conditions", list(msg(&POD_CONDITION)), OmitEmpty),
    f(3, "message", STRING, OmitEmpty),
    f(4, "reason", STRING, OmitEmpty),
    f(11, "nominatedNodeName", STRING, OmitEmpty),
    f(5, "hostIP", STRING, OmitEmpty),
    f(16, "hostIPs", list(msg(&HOST_IP)), OmitEmpty),
    f(6, "podIP", STRING, OmitEmpty),
    f(12, "podIPs", list(msg(&POD_IP)), OmitEmpty),
    f(7, "startTime", TIME, Optional),
    f(
        10,
        "initContainerStatuses",
        list(msg(&CONTAINER_STATUS)),
        OmitEmpty,
    ),
    f(
        8,
        "containerStatuses",
        list(msg(&CONTAINER_STATUS)),
        OmitEmpty,
    ),
    f(9, "qosClass", STRING, OmitEmpty),
    f(
        13,
        "ephemeralContainerStatuses",
        list(msg(&CONTAINER_STATUS)),
        OmitEmpty,
    ),
    f(14, "resize", STRING, OmitEmpty),
    f(
        15,
        "resourceClaimStatuses",
        list(msg(&POD_RESOURCE_CLAIM_STATUS)),
        OmitEmpty,
    ),
    f(
        18,
        "extendedResourceClaimStatus",
        msg(&POD_EXTENDED_RESOURCE_CLAIM_STATUS),
        Optional,
    ),
    f(19, "allocatedResources", map(QUANTITY), OmitEmpty),
    f(20, "resources", msg(&RESOURCE_REQUIREMENTS), Optional),
    f(
        21,
        "nodeAllocatableResourceClaimStatuses",
        list(msg(&NODE_ALLOCATABLE_RESOURCE_CLAIM_STATUS)),
        OmitEmpty,
    ),
];

pub(super) static POD_TEMPLATE: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "template", msg(&POD_TEMPLATE_SPEC), OmitEmpty),
];

pub(super) static POD_TEMPLATE_SPEC: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&POD_SPEC), OmitEmpty),
];

pub(super) static PREFERRED_SCHEDULING_TERM: Fields = &[
    f(1, "weight", INT32, Always),
    f(
        2,
        "preference",
        msg(&core_volume::NODE_SELECTOR_TERM),
        Always,
    ),
];

pub(super) static PROBE: Fields = &[
    f(1, "handler", msg(&PROBE_HANDLER), Inline),
    f(2, "initialDelaySeconds", INT32, OmitEmpty),
    f(3, "timeoutSeconds", INT32, OmitEmpty),
    f(4, "periodSeconds", INT32, OmitEmpty),
    f(5, "successThreshold", INT32, OmitEmpty),
    f(6, "failureThreshold", INT32, OmitEmpty),
    f(7, "terminationGracePeriodSeconds", INT64, Optional),
];

pub(super) static PROBE_HANDLER: Fields = &[
    f(1, "exec", msg(&EXEC_ACTION), Optional),
    f(2, "httpGet", msg(&HTTP_GET_ACTION), Optional),
    f(3, "tcpSocket", msg(&TCP_SOCKET_ACTION), Optional),
    f(4, "grpc", msg(&GRPC_ACTION), Optional),
];

pub(super) static RESOURCE_CLAIM: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "request", STRING, OmitEmpty),
];

pub(super) static RESOURCE_HEALTH: Fields = &[
    f(1, "resourceID", STRING, Always),
    f(2, "health", STRING, OmitEmpty),
    f(6, "message", STRING, Optional),
];

pub(super) static RESOURCE_REQUIREMENTS: Fields = &[
    f(1, "limits", map(QUANTITY), OmitEmpty),
    f(2, "requests", map(QUANTITY), OmitEmpty),
    f(3, "claims", list(msg(&RESOURCE_CLAIM)), OmitEmpty),
];

pub(super) static RESOURCE_STATUS: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "resources", list(msg(&RESOURCE_HEALTH)), OmitEmpty),
];

pub(super) static SE_LINUX_OPTIONS: Fields = &[
    f(1, "user", STRING, OmitEmpty),
    f(2, "role", STRING, OmitEmpty),
    f(3, "type", STRING, OmitEmpty),
    f(4, "level", STRING, OmitEmpty),
];

pub(super) static SECCOMP_PROFILE: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "localhostProfile", STRING, Optional),
];

pub(super) static SECRET_ENV_SOURCE: Fields = &[
    f(
        1,
        "localObjectReference",
        msg(&core_volume::LOCAL_OBJECT_REFERENCE),
        Inline,
    ),
    f(2, "optional", BOOL, Optional),
];

pub(super) static SECRET_KEY_SELECTOR: Fields = &[
    f(
        1,
        "localObjectReference",
        msg(&core_volume::LOCAL_OBJECT_REFERENCE),
        Inline,
    ),
    f(2, "key", STRING, Always),
    f(3, "optional", BOOL, Optional),
];

pub(super) static SECURITY_CONTEXT: Fields = &[
    f(1, "capabilities", msg(&CAPABILITIES), Optional),
    f(2, "privileged", BOOL, Optional),
    f(3, "seLinuxOptions", msg(&SE_LINUX_OPTIONS), Optional),
    f(
        10,
        "windowsOptions",
        msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS),
        Optional,
    ),
    f(4, "runAsUser", INT64, Optional),
    f(8, "runAsGroup", INT64, Optional),
    f(5, "runAsNonRoot", BOOL, Optional),
    f(6, "readOnlyRootFilesystem", BOOL, Optional),
    f(7, "allowPrivilegeEscalation", BOOL, Optional),
    f(9, "procMount", STRING, Optional),
    f(11, "seccompProfile", msg(&SECCOMP_PROFILE), Optional),
    f(12, "appArmorProfile", msg(&APP_ARMOR_PROFILE), Optional),
];

pub(super) static SLEEP_ACTION: Fields = &[f(1, "seconds", INT64, Always)];

pub(super) static SYSCTL: Fields = &[f(1, "name", STRING, Always), f(2, "value", STRING, Always)];

pub(super) static TCP_SOCKET_ACTION: Fields = &[
    f(1, "port", INT_OR_STRING, Always),
    f(2, "host", STRING, OmitEmpty),
];

pub(super) static TOLERATION: Fields = &[
    f(1, "key", STRING, OmitEmpty),
    f(2, "operator", STRING, OmitEmpty),
    f(3, "value", STRING, OmitEmpty),
    f(4, "effect", STRING, OmitEmpty),
    f(5, "tolerationSeconds", INT64, Optional),
];

pub(super) static TOPOLOGY_SPREAD_CONSTRAINT: Fields = &[
    f(1, "maxSkew", INT32, Always),
    f(2, "topologyKey", STRING, Always),
    f(3, "whenUnsatisfiable", STRING, Always),
    f(4, "labelSelector", msg(&meta::LABEL_SELECTOR), Optional),
    f(5, "minDomains", INT32, Optional),
    f(6, "nodeAffinityPolicy", STRING, Optional),
    f(7, "nodeTaintsPolicy", STRING, Optional),
    f(8, "matchLabelKeys", list(STRING), OmitEmpty),
];

pub(super) static VOLUME_DEVICE: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "devicePath", STRING, Always),
];

pub(super) static VOLUME_MOUNT: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "readOnly", BOOL, OmitEmpty),
    f(7, "recursiveReadOnly", STRING, Optional),
    f(3, "mountPath", STRING, Always),
    f(4, "subPath", STRING, OmitEmpty),
    f(5, "mountPropagation", STRING, Optional),
    f(6, "subPathExpr", STRING, OmitEmpty),
];

pub(super) static VOLUME_MOUNT_STATUS: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "mountPath", STRING, Always),
    f(3, "readOnly", BOOL, OmitEmpty),
    f(4, "recursiveReadOnly", STRING, Optional),
    f(5, "volumeStatus", msg(&VOLUME_STATUS), Optional),
];

pub(super) static VOLUME_STATUS: Fields = &[f(1, "image", msg(&IMAGE_VOLUME_STATUS), Optional)];

pub(super) static WEIGHTED_POD_AFFINITY_TERM: Fields = &[
    f(1, "weight", INT32, Always),
    f(2, "podAffinityTerm", msg(&POD_AFFINITY_TERM), Always),
];

pub(super) static WINDOWS_SECURITY_CONTEXT_OPTIONS: Fields = &[
    f(1, "gmsaCredentialSpecName", STRING, Optional),
    f(2, "gmsaCredentialSpec", STRING, Optional),
    f(3, "runAsUserName", STRING, Optional),
    f(4, "hostProcess", BOOL, Optional),
];
