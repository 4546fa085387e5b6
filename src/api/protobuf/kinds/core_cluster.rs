//! Field tables for core/v1, the rest: Namespace, Node, Service, Endpoints, ConfigMap, Secret,
//! ServiceAccount, Event, LimitRange, ResourceQuota, ReplicationController, Binding.

use super::{core_pod, core_volume, meta};
use crate::api::protobuf::schema::Presence::{Always, OmitEmpty, Optional};
use crate::api::protobuf::schema::{
    BOOL, BYTES, Fields, INT_OR_STRING, INT32, INT64, MICRO_TIME, QUANTITY, STRING, TIME, f, list,
    map, msg,
};

pub(super) static ATTACHED_VOLUME: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "devicePath", STRING, Always),
];

pub(super) static BINDING: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "target", msg(&core_volume::OBJECT_REFERENCE), Always),
];

pub(super) static CLIENT_IP_CONFIG: Fields = &[f(1, "timeoutSeconds", INT32, Optional)];

pub(super) static CONFIG_MAP: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(4, "immutable", BOOL, Optional),
    f(2, "data", map(STRING), OmitEmpty),
    f(3, "binaryData", map(BYTES), OmitEmpty),
];

pub(super) static CONFIG_MAP_NODE_CONFIG_SOURCE: Fields = &[
    f(1, "namespace", STRING, Always),
    f(2, "name", STRING, Always),
    f(3, "uid", STRING, OmitEmpty),
    f(4, "resourceVersion", STRING, OmitEmpty),
    f(5, "kubeletConfigKey", STRING, Always),
];

pub(super) static CONTAINER_IMAGE: Fields = &[
    f(1, "names", list(STRING), Always),
    f(2, "sizeBytes", INT64, OmitEmpty),
];

pub(super) static DAEMON_ENDPOINT: Fields = &[f(1, "Port", INT32, Always)];

pub(super) static ENDPOINT_ADDRESS: Fields = &[
    f(1, "ip", STRING, Always),
    f(3, "hostname", STRING, OmitEmpty),
    f(4, "nodeName", STRING, Optional),
    f(
        2,
        "targetRef",
        msg(&core_volume::OBJECT_REFERENCE),
        Optional,
    ),
];

pub(super) static ENDPOINT_PORT: Fields = &[
    f(1, "name", STRING, OmitEmpty),
    f(2, "port", INT32, Always),
    f(3, "protocol", STRING, OmitEmpty),
    f(4, "appProtocol", STRING, Optional),
];

pub(super) static ENDPOINT_SUBSET: Fields = &[
    f(1, "addresses", list(msg(&ENDPOINT_ADDRESS)), OmitEmpty),
    f(
        2,
        "notReadyAddresses",
        list(msg(&ENDPOINT_ADDRESS)),
        OmitEmpty,
    ),
    f(3, "ports", list(msg(&ENDPOINT_PORT)), OmitEmpty),
];

pub(super) static ENDPOINTS: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "subsets", list(msg(&ENDPOINT_SUBSET)), OmitEmpty),
];

pub(super) static EVENT: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), Always),
    f(
        2,
        "involvedObject",
        msg(&core_volume::OBJECT_REFERENCE),
        Always,
    ),
    f(3, "reason", STRING, OmitEmpty),
    f(4, "message", STRING, OmitEmpty),
    f(5, "source", msg(&EVENT_SOURCE), OmitEmpty),
    f(6, "firstTimestamp", TIME, OmitEmpty),
    f(7, "lastTimestamp", TIME, OmitEmpty),
    f(8, "count", INT32, OmitEmpty),
    f(9, "type", STRING, OmitEmpty),
    f(10, "eventTime", MICRO_TIME, OmitEmpty),
    f(11, "series", msg(&EVENT_SERIES), Optional),
    f(12, "action", STRING, OmitEmpty),
    f(13, "related", msg(&core_volume::OBJECT_REFERENCE), Optional),
    f(14, "reportingComponent", STRING, Always),
    f(15, "reportingInstance", STRING, Always),
];

pub(super) static EVENT_SERIES: Fields = &[
    f(1, "count", INT32, OmitEmpty),
    f(2, "lastObservedTime", MICRO_TIME, OmitEmpty),
];

pub(super) static EVENT_SOURCE: Fields = &[
    f(1, "component", STRING, OmitEmpty),
    f(2, "host", STRING, OmitEmpty),
];

pub(super) static LIMIT_RANGE: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&LIMIT_RANGE_SPEC), OmitEmpty),
];

pub(super) static LIMIT_RANGE_ITEM: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "max", map(QUANTITY), OmitEmpty),
    f(3, "min", map(QUANTITY), OmitEmpty),
    f(4, "default", map(QUANTITY), OmitEmpty),
    f(5, "defaultRequest", map(QUANTITY), OmitEmpty),
    f(6, "maxLimitRequestRatio", map(QUANTITY), OmitEmpty),
];

pub(super) static LIMIT_RANGE_SPEC: Fields =
    &[f(1, "limits", list(msg(&LIMIT_RANGE_ITEM)), Always)];

pub(super) static LOAD_BALANCER_INGRESS: Fields = &[
    f(1, "ip", STRING, OmitEmpty),
    f(2, "hostname", STRING, OmitEmpty),
    f(3, "ipMode", STRING, Optional),
    f(4, "ports", list(msg(&PORT_STATUS)), OmitEmpty),
];

pub(super) static LOAD_BALANCER_STATUS: Fields = &[f(
    1,
    "ingress",
    list(msg(&LOAD_BALANCER_INGRESS)),
    OmitEmpty,
)];

pub(super) static NAMESPACE: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&NAMESPACE_SPEC), OmitEmpty),
    f(3, "status", msg(&NAMESPACE_STATUS), OmitEmpty),
];

pub(super) static NAMESPACE_CONDITION: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "status", STRING, Always),
    f(4, "lastTransitionTime", TIME, OmitEmpty),
    f(5, "reason", STRING, OmitEmpty),
    f(6, "message", STRING, OmitEmpty),
];

pub(super) static NAMESPACE_SPEC: Fields = &[f(1, "finalizers", list(STRING), OmitEmpty)];

pub(super) static NAMESPACE_STATUS: Fields = &[
    f(1, "phase", STRING, OmitEmpty),
    f(2, "conditions", list(msg(&NAMESPACE_CONDITION)), OmitEmpty),
];

pub(super) static NODE: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&NODE_SPEC), OmitEmpty),
    f(3, "status", msg(&NODE_STATUS), OmitEmpty),
];

pub(super) static NODE_ADDRESS: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "address", STRING, Always),
];

pub(super) static NODE_CONDITION: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "status", STRING, Always),
    f(3, "lastHeartbeatTime", TIME, OmitEmpty),
    f(4, "lastTransitionTime", TIME, OmitEmpty),
    f(5, "reason", STRING, OmitEmpty),
    f(6, "message", STRING, OmitEmpty),
];

pub(super) static NODE_CONFIG_SOURCE: Fields = &[f(
    2,
    "configMap",
    msg(&CONFIG_MAP_NODE_CONFIG_SOURCE),
    Optional,
)];

pub(super) static NODE_CONFIG_STATUS: Fields = &[
    f(1, "assigned", msg(&NODE_CONFIG_SOURCE), Optional),
    f(2, "active", msg(&NODE_CONFIG_SOURCE), Optional),
    f(3, "lastKnownGood", msg(&NODE_CONFIG_SOURCE), Optional),
    f(4, "error", STRING, OmitEmpty),
];

pub(super) static NODE_DAEMON_ENDPOINTS: Fields =
    &[f(1, "kubeletEndpoint", msg(&DAEMON_ENDPOINT), OmitEmpty)];

pub(super) static NODE_FEATURES: Fields = &[f(1, "supplementalGroupsPolicy", BOOL, Optional)];

pub(super) static NODE_RUNTIME_HANDLER: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "features", msg(&NODE_RUNTIME_HANDLER_FEATURES), Optional),
];

pub(super) static NODE_RUNTIME_HANDLER_FEATURES: Fields = &[
    f(1, "recursiveReadOnlyMounts", BOOL, Optional),
    f(2, "userNamespaces", BOOL, Optional),
];

pub(super) static NODE_SPEC: Fields = &[
    f(1, "podCIDR", STRING, OmitEmpty),
    f(7, "podCIDRs", list(STRING), OmitEmpty),
    f(3, "providerID", STRING, OmitEmpty),
    f(4, "unschedulable", BOOL, OmitEmpty),
    f(5, "taints", list(msg(&TAINT)), OmitEmpty),
    f(6, "configSource", msg(&NODE_CONFIG_SOURCE), Optional),
    f(2, "externalID", STRING, OmitEmpty),
];

pub(super) static NODE_STATUS: Fields = &[
    f(1, "capacity", map(QUANTITY), OmitEmpty),
    f(2, "allocatable", map(QUANTITY), OmitEmpty),
    f(3, "phase", STRING, OmitEmpty),
    f(4, "conditions", list(msg(&NODE_CONDITION)), OmitEmpty),
    f(5, "addresses", list(msg(&NODE_ADDRESS)), OmitEmpty),
    f(6, "daemonEndpoints", msg(&NODE_DAEMON_ENDPOINTS), OmitEmpty),
    f(7, "nodeInfo", msg(&NODE_SYSTEM_INFO), OmitEmpty),
    f(8, "images", list(msg(&CONTAINER_IMAGE)), OmitEmpty),
    f(9, "volumesInUse", list(STRING), OmitEmpty),
    f(
        10,
        "volumesAttached",
        list(msg(&ATTACHED_VOLUME)),
        OmitEmpty,
    ),
    f(11, "config", msg(&NODE_CONFIG_STATUS), Optional),
    f(
        12,
        "runtimeHandlers",
        list(msg(&NODE_RUNTIME_HANDLER)),
        OmitEmpty,
    ),
    f(13, "features", msg(&NODE_FEATURES), Optional),
    f(14, "declaredFeatures", list(STRING), OmitEmpty),
];

pub(super) static NODE_SWAP_STATUS: Fields = &[f(1, "capacity", INT64, Optional)];

pub(super) static NODE_SYSTEM_INFO: Fields = &[
    f(1, "machineID", STRING, Always),
    f(2, "systemUUID", STRING, Always),
    f(3, "bootID", STRING, Always),
    f(4, "kernelVersion", STRING, Always),
    f(5, "osImage", STRING, Always),
    f(6, "containerRuntimeVersion", STRING, Always),
    f(7, "kubeletVersion", STRING, Always),
    f(8, "kubeProxyVersion", STRING, Always),
    f(9, "operatingSystem", STRING, Always),
    f(10, "architecture", STRING, Always),
    f(11, "swap", msg(&NODE_SWAP_STATUS), Optional),
];

pub(super) static PORT_STATUS: Fields = &[
    f(1, "port", INT32, Always),
    f(2, "protocol", STRING, Always),
    f(3, "error", STRING, Optional),
];

pub(super) static REPLICATION_CONTROLLER: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&REPLICATION_CONTROLLER_SPEC), OmitEmpty),
    f(3, "status", msg(&REPLICATION_CONTROLLER_STATUS), OmitEmpty),
];

pub(super) static REPLICATION_CONTROLLER_CONDITION: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "status", STRING, Always),
    f(3, "lastTransitionTime", TIME, OmitEmpty),
    f(4, "reason", STRING, OmitEmpty),
    f(5, "message", STRING, OmitEmpty),
];

pub(super) static REPLICATION_CONTROLLER_SPEC: Fields = &[
    f(1, "replicas", INT32, Optional),
    f(4, "minReadySeconds", INT32, OmitEmpty),
    f(2, "selector", map(STRING), OmitEmpty),
    f(3, "template", msg(&core_pod::POD_TEMPLATE_SPEC), Optional),
];

pub(super) static REPLICATION_CONTROLLER_STATUS: Fields = &[
    f(1, "replicas", INT32, Always),
    f(2, "fullyLabeledReplicas", INT32, OmitEmpty),
    f(4, "readyReplicas", INT32, OmitEmpty),
    f(5, "availableReplicas", INT32, OmitEmpty),
    f(3, "observedGeneration", INT64, OmitEmpty),
    f(
        6,
        "conditions",
        list(msg(&REPLICATION_CONTROLLER_CONDITION)),
        OmitEmpty,
    ),
];

pub(super) static RESOURCE_QUOTA: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&RESOURCE_QUOTA_SPEC), OmitEmpty),
    f(3, "status", msg(&RESOURCE_QUOTA_STATUS), OmitEmpty),
];

pub(super) static RESOURCE_QUOTA_SPEC: Fields = &[
    f(1, "hard", map(QUANTITY), OmitEmpty),
    f(2, "scopes", list(STRING), OmitEmpty),
    f(3, "scopeSelector", msg(&SCOPE_SELECTOR), Optional),
];

pub(super) static RESOURCE_QUOTA_STATUS: Fields = &[
    f(1, "hard", map(QUANTITY), OmitEmpty),
    f(2, "used", map(QUANTITY), OmitEmpty),
];

pub(super) static SCOPE_SELECTOR: Fields = &[f(
    1,
    "matchExpressions",
    list(msg(&SCOPED_RESOURCE_SELECTOR_REQUIREMENT)),
    OmitEmpty,
)];

pub(super) static SCOPED_RESOURCE_SELECTOR_REQUIREMENT: Fields = &[
    f(1, "scopeName", STRING, Always),
    f(2, "operator", STRING, Always),
    f(3, "values", list(STRING), OmitEmpty),
];

pub(super) static SECRET: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(5, "immutable", BOOL, Optional),
    f(2, "data", map(BYTES), OmitEmpty),
    f(4, "stringData", map(STRING), OmitEmpty),
    f(3, "type", STRING, OmitEmpty),
];

pub(super) static SERVICE: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&SERVICE_SPEC), OmitEmpty),
    f(3, "status", msg(&SERVICE_STATUS), OmitEmpty),
];

pub(super) static SERVICE_ACCOUNT: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(
        2,
        "secrets",
        list(msg(&core_volume::OBJECT_REFERENCE)),
        OmitEmpty,
    ),
    f(
        3,
        "imagePullSecrets",
        list(msg(&core_volume::LOCAL_OBJECT_REFERENCE)),
        OmitEmpty,
    ),
    f(4, "automountServiceAccountToken", BOOL, Optional),
];

pub(super) static SERVICE_PORT: Fields = &[
    f(1, "name", STRING, OmitEmpty),
    f(2, "protocol", STRING, OmitEmpty),
    f(6, "appProtocol", STRING, Optional),
    f(3, "port", INT32, Always),
    f(4, "targetPort", INT_OR_STRING, OmitEmpty),
    f(5, "nodePort", INT32, OmitEmpty),
];

pub(super) static SERVICE_SPEC: Fields = &[
    f(1, "ports", list(msg(&SERVICE_PORT)), OmitEmpty),
    f(2, "selector", map(STRING), OmitEmpty),
    f(3, "clusterIP", STRING, OmitEmpty),
    f(18, "clusterIPs", list(STRING), OmitEmpty),
    f(4, "type", STRING, OmitEmpty),
    f(5, "externalIPs", list(STRING), OmitEmpty),
    f(7, "sessionAffinity", STRING, OmitEmpty),
    f(8, "loadBalancerIP", STRING, OmitEmpty),
    f(9, "loadBalancerSourceRanges", list(STRING), OmitEmpty),
    f(10, "externalName", STRING, OmitEmpty),
    f(11, "externalTrafficPolicy", STRING, OmitEmpty),
    f(12, "healthCheckNodePort", INT32, OmitEmpty),
    f(13, "publishNotReadyAddresses", BOOL, OmitEmpty),
    f(
        14,
        "sessionAffinityConfig",
        msg(&SESSION_AFFINITY_CONFIG),
        Optional,
    ),
    f(19, "ipFamilies", list(STRING), OmitEmpty),
    f(17, "ipFamilyPolicy", STRING, Optional),
    f(20, "allocateLoadBalancerNodePorts", BOOL, Optional),
    f(21, "loadBalancerClass", STRING, Optional),
    f(22, "internalTrafficPolicy", STRING, Optional),
    f(23, "trafficDistribution", STRING, Optional),
];

pub(super) static SERVICE_STATUS: Fields = &[
    f(1, "loadBalancer", msg(&LOAD_BALANCER_STATUS), OmitEmpty),
    f(2, "conditions", list(msg(&meta::CONDITION)), OmitEmpty),
];

pub(super) static SESSION_AFFINITY_CONFIG: Fields =
    &[f(1, "clientIP", msg(&CLIENT_IP_CONFIG), Optional)];

pub(super) static TAINT: Fields = &[
    f(1, "key", STRING, Always),
    f(2, "value", STRING, OmitEmpty),
    f(3, "effect", STRING, Always),
    f(4, "timeAdded", TIME, Optional),
];

pub(super) static TOPOLOGY_SELECTOR_LABEL_REQUIREMENT: Fields = &[
    f(1, "key", STRING, Always),
    f(2, "values", list(STRING), Always),
];

pub(super) static TOPOLOGY_SELECTOR_TERM: Fields = &[f(
    1,
    "matchLabelExpressions",
    list(msg(&TOPOLOGY_SELECTOR_LABEL_REQUIREMENT)),
    OmitEmpty,
)];
