//! Field tables for networking.k8s.io/v1 and discovery.k8s.io/v1: Ingress, IngressClass, NetworkPolicy,
//! IPAddress, ServiceCIDR, EndpointSlice.

use super::{core_volume, meta};
use crate::api::protobuf::schema::Presence::{Always, Inline, Nullable, OmitEmpty, Optional};
use crate::api::protobuf::schema::{BOOL, Fields, INT_OR_STRING, INT32, STRING, f, list, map, msg};

pub(super) static ENDPOINT: Fields = &[
    f(1, "addresses", list(STRING), Always),
    f(2, "conditions", msg(&ENDPOINT_CONDITIONS), OmitEmpty),
    f(3, "hostname", STRING, Optional),
    f(
        4,
        "targetRef",
        msg(&core_volume::OBJECT_REFERENCE),
        Optional,
    ),
    f(5, "deprecatedTopology", map(STRING), OmitEmpty),
    f(6, "nodeName", STRING, Optional),
    f(7, "zone", STRING, Optional),
    f(8, "hints", msg(&ENDPOINT_HINTS), Optional),
];

pub(super) static ENDPOINT_CONDITIONS: Fields = &[
    f(1, "ready", BOOL, Optional),
    f(2, "serving", BOOL, Optional),
    f(3, "terminating", BOOL, Optional),
];

pub(super) static ENDPOINT_HINTS: Fields = &[
    f(1, "forZones", list(msg(&FOR_ZONE)), OmitEmpty),
    f(2, "forNodes", list(msg(&FOR_NODE)), OmitEmpty),
];

pub(super) static ENDPOINT_PORT: Fields = &[
    f(1, "name", STRING, Optional),
    f(2, "protocol", STRING, Optional),
    f(3, "port", INT32, Optional),
    f(4, "appProtocol", STRING, Optional),
];

pub(super) static ENDPOINT_SLICE: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(4, "addressType", STRING, Always),
    f(2, "endpoints", list(msg(&ENDPOINT)), Always),
    f(3, "ports", list(msg(&ENDPOINT_PORT)), Always),
];

pub(super) static FOR_NODE: Fields = &[f(1, "name", STRING, Always)];

pub(super) static FOR_ZONE: Fields = &[f(1, "name", STRING, Always)];

pub(super) static HTTP_INGRESS_PATH: Fields = &[
    f(1, "path", STRING, OmitEmpty),
    f(3, "pathType", STRING, Nullable),
    f(2, "backend", msg(&INGRESS_BACKEND), Always),
];

pub(super) static HTTP_INGRESS_RULE_VALUE: Fields =
    &[f(1, "paths", list(msg(&HTTP_INGRESS_PATH)), Always)];

pub(super) static IP_ADDRESS: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&IP_ADDRESS_SPEC), OmitEmpty),
];

pub(super) static IP_ADDRESS_SPEC: Fields = &[f(1, "parentRef", msg(&PARENT_REFERENCE), Optional)];

pub(super) static IP_BLOCK: Fields = &[
    f(1, "cidr", STRING, Always),
    f(2, "except", list(STRING), OmitEmpty),
];

pub(super) static INGRESS: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&INGRESS_SPEC), OmitEmpty),
    f(3, "status", msg(&INGRESS_STATUS), OmitEmpty),
];

pub(super) static INGRESS_BACKEND: Fields = &[
    f(4, "service", msg(&INGRESS_SERVICE_BACKEND), Optional),
    f(
        3,
        "resource",
        msg(&core_volume::TYPED_LOCAL_OBJECT_REFERENCE),
        Optional,
    ),
];

pub(super) static INGRESS_CLASS: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&INGRESS_CLASS_SPEC), OmitEmpty),
];

pub(super) static INGRESS_CLASS_PARAMETERS_REFERENCE: Fields = &[
    f(1, "apiGroup", STRING, Optional),
    f(2, "kind", STRING, Always),
    f(3, "name", STRING, Always),
    f(4, "scope", STRING, Nullable),
    f(5, "namespace", STRING, Optional),
];

pub(super) static INGRESS_CLASS_SPEC: Fields = &[
    f(1, "controller", STRING, OmitEmpty),
    f(
        2,
        "parameters",
        msg(&INGRESS_CLASS_PARAMETERS_REFERENCE),
        Optional,
    ),
];

pub(super) static INGRESS_LOAD_BALANCER_INGRESS: Fields = &[
    f(1, "ip", STRING, OmitEmpty),
    f(2, "hostname", STRING, OmitEmpty),
    f(4, "ports", list(msg(&INGRESS_PORT_STATUS)), OmitEmpty),
];

pub(super) static INGRESS_LOAD_BALANCER_STATUS: Fields = &[f(
    1,
    "ingress",
    list(msg(&INGRESS_LOAD_BALANCER_INGRESS)),
    OmitEmpty,
)];

pub(super) static INGRESS_PORT_STATUS: Fields = &[
    f(1, "port", INT32, Always),
    f(2, "protocol", STRING, Always),
    f(3, "error", STRING, Optional),
];

pub(super) static INGRESS_RULE: Fields = &[
    f(1, "host", STRING, OmitEmpty),
    f(2, "ingressRuleValue", msg(&INGRESS_RULE_VALUE), Inline),
];

pub(super) static INGRESS_RULE_VALUE: Fields =
    &[f(1, "http", msg(&HTTP_INGRESS_RULE_VALUE), Optional)];

pub(super) static INGRESS_SERVICE_BACKEND: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "port", msg(&SERVICE_BACKEND_PORT), OmitEmpty),
];

pub(super) static INGRESS_SPEC: Fields = &[
    f(4, "ingressClassName", STRING, Optional),
    f(1, "defaultBackend", msg(&INGRESS_BACKEND), Optional),
    f(2, "tls", list(msg(&INGRESS_TLS)), OmitEmpty),
    f(3, "rules", list(msg(&INGRESS_RULE)), OmitEmpty),
];

pub(super) static INGRESS_STATUS: Fields = &[f(
    1,
    "loadBalancer",
    msg(&INGRESS_LOAD_BALANCER_STATUS),
    OmitEmpty,
)];

pub(super) static INGRESS_TLS: Fields = &[
    f(1, "hosts", list(STRING), OmitEmpty),
    f(2, "secretName", STRING, OmitEmpty),
];

pub(super) static NETWORK_POLICY: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&NETWORK_POLICY_SPEC), OmitEmpty),
];

pub(super) static NETWORK_POLICY_EGRESS_RULE: Fields = &[
    f(1, "ports", list(msg(&NETWORK_POLICY_PORT)), OmitEmpty),
    f(2, "to", list(msg(&NETWORK_POLICY_PEER)), OmitEmpty),
];

pub(super) static NETWORK_POLICY_INGRESS_RULE: Fields = &[
    f(1, "ports", list(msg(&NETWORK_POLICY_PORT)), OmitEmpty),
    f(2, "from", list(msg(&NETWORK_POLICY_PEER)), OmitEmpty),
];

pub(super) static NETWORK_POLICY_PEER: Fields = &[
    f(1, "podSelector", msg(&meta::LABEL_SELECTOR), Optional),
    f(2, "namespaceSelector", msg(&meta::LABEL_SELECTOR), Optional),
    f(3, "ipBlock", msg(&IP_BLOCK), Optional),
];

pub(super) static NETWORK_POLICY_PORT: Fields = &[
    f(1, "protocol", STRING, Optional),
    f(2, "port", INT_OR_STRING, Optional),
    f(3, "endPort", INT32, Optional),
];

pub(super) static NETWORK_POLICY_SPEC: Fields = &[
    f(1, "podSelector", msg(&meta::LABEL_SELECTOR), Always),
    f(
        2,
        "ingress",
        list(msg(&NETWORK_POLICY_INGRESS_RULE)),
        OmitEmpty,
    ),
    f(
        3,
        "egress",
        list(msg(&NETWORK_POLICY_EGRESS_RULE)),
        OmitEmpty,
    ),
    f(4, "policyTypes", list(STRING), OmitEmpty),
];

pub(super) static PARENT_REFERENCE: Fields = &[
    f(1, "group", STRING, OmitEmpty),
    f(2, "resource", STRING, OmitEmpty),
    f(3, "namespace", STRING, OmitEmpty),
    f(4, "name", STRING, OmitEmpty),
];

pub(super) static SERVICE_BACKEND_PORT: Fields = &[
    f(1, "name", STRING, OmitEmpty),
    f(2, "number", INT32, OmitEmpty),
];

pub(super) static SERVICE_CIDR: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&SERVICE_CIDR_SPEC), OmitEmpty),
    f(3, "status", msg(&SERVICE_CIDR_STATUS), OmitEmpty),
];

pub(super) static SERVICE_CIDR_SPEC: Fields = &[f(1, "cidrs", list(STRING), OmitEmpty)];

pub(super) static SERVICE_CIDR_STATUS: Fields =
    &[f(1, "conditions", list(msg(&meta::CONDITION)), OmitEmpty)];
