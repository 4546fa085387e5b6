//! Field tables for rbac.authorization.k8s.io/v1, authentication.k8s.io/v1, authorization.k8s.io/v1 and
//! certificates.k8s.io/v1: roles, bindings, reviews, TokenRequest, CertificateSigningRequest.

use super::meta;
use crate::api::protobuf::schema::Presence::{Always, Nullable, OmitEmpty, Optional};
use crate::api::protobuf::schema::{
    BOOL, BYTES, Fields, INT32, INT64, STRING, STRING_LIST, TIME, f, list, map, msg,
};

pub(super) static AGGREGATION_RULE: Fields = &[f(
    1,
    "clusterRoleSelectors",
    list(msg(&meta::LABEL_SELECTOR)),
    OmitEmpty,
)];

pub(super) static CLUSTER_ROLE: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "rules", list(msg(&POLICY_RULE)), Always),
    f(3, "aggregationRule", msg(&AGGREGATION_RULE), Optional),
];

pub(super) static CLUSTER_ROLE_BINDING: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "subjects", list(msg(&SUBJECT)), OmitEmpty),
    f(3, "roleRef", msg(&ROLE_REF), Always),
];

pub(super) static POLICY_RULE: Fields = &[
    f(1, "verbs", list(STRING), Always),
    f(2, "apiGroups", list(STRING), OmitEmpty),
    f(3, "resources", list(STRING), OmitEmpty),
    f(4, "resourceNames", list(STRING), OmitEmpty),
    f(5, "nonResourceURLs", list(STRING), OmitEmpty),
];

pub(super) static ROLE: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "rules", list(msg(&POLICY_RULE)), Always),
];

pub(super) static ROLE_BINDING: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "subjects", list(msg(&SUBJECT)), OmitEmpty),
    f(3, "roleRef", msg(&ROLE_REF), Always),
];

pub(super) static ROLE_REF: Fields = &[
    f(1, "apiGroup", STRING, Always),
    f(2, "kind", STRING, Always),
    f(3, "name", STRING, Always),
];

pub(super) static SUBJECT: Fields = &[
    f(1, "kind", STRING, Always),
    f(2, "apiGroup", STRING, OmitEmpty),
    f(3, "name", STRING, Always),
    f(4, "namespace", STRING, OmitEmpty),
];

pub(super) static BOUND_OBJECT_REFERENCE: Fields = &[
    f(1, "kind", STRING, OmitEmpty),
    f(2, "apiVersion", STRING, OmitEmpty),
    f(3, "name", STRING, OmitEmpty),
    f(4, "uid", STRING, OmitEmpty),
];

pub(super) static SELF_SUBJECT_REVIEW: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "status", msg(&SELF_SUBJECT_REVIEW_STATUS), OmitEmpty),
];

pub(super) static SELF_SUBJECT_REVIEW_STATUS: Fields =
    &[f(1, "userInfo", msg(&USER_INFO), OmitEmpty)];

pub(super) static TOKEN_REQUEST: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&TOKEN_REQUEST_SPEC), Always),
    f(3, "status", msg(&TOKEN_REQUEST_STATUS), OmitEmpty),
];

pub(super) static TOKEN_REQUEST_SPEC: Fields = &[
    f(1, "audiences", list(STRING), Always),
    f(4, "expirationSeconds", INT64, Nullable),
    f(3, "boundObjectRef", msg(&BOUND_OBJECT_REFERENCE), Nullable),
];

pub(super) static TOKEN_REQUEST_STATUS: Fields = &[
    f(1, "token", STRING, Always),
    f(2, "expirationTimestamp", TIME, Always),
];

pub(super) static TOKEN_REVIEW: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&TOKEN_REVIEW_SPEC), Always),
    f(3, "status", msg(&TOKEN_REVIEW_STATUS), OmitEmpty),
];

pub(super) static TOKEN_REVIEW_SPEC: Fields = &[
    f(1, "token", STRING, OmitEmpty),
    f(2, "audiences", list(STRING), OmitEmpty),
];

pub(super) static TOKEN_REVIEW_STATUS: Fields = &[
    f(1, "authenticated", BOOL, OmitEmpty),
    f(2, "user", msg(&USER_INFO), OmitEmpty),
    f(4, "audiences", list(STRING), OmitEmpty),
    f(3, "error", STRING, OmitEmpty),
];

pub(super) static USER_INFO: Fields = &[
    f(1, "username", STRING, OmitEmpty),
    f(2, "uid", STRING, OmitEmpty),
    f(3, "groups", list(STRING), OmitEmpty),
    f(4, "extra", map(STRING_LIST), OmitEmpty),
];

pub(super) static FIELD_SELECTOR_ATTRIBUTES: Fields = &[
    f(1, "rawSelector", STRING, OmitEmpty),
    f(
        2,
        "requirements",
        list(msg(&meta::FIELD_SELECTOR_REQUIREMENT)),
        OmitEmpty,
    ),
];

pub(super) static LABEL_SELECTOR_ATTRIBUTES: Fields = &[
    f(1, "rawSelector", STRING, OmitEmpty),
    f(
        2,
        "requirements",
        list(msg(&meta::LABEL_SELECTOR_REQUIREMENT)),
        OmitEmpty,
    ),
];

pub(super) static LOCAL_SUBJECT_ACCESS_REVIEW: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&SUBJECT_ACCESS_REVIEW_SPEC), Always),
    f(3, "status", msg(&SUBJECT_ACCESS_REVIEW_STATUS), OmitEmpty),
];

pub(super) static NON_RESOURCE_ATTRIBUTES: Fields = &[
    f(1, "path", STRING, OmitEmpty),
    f(2, "verb", STRING, OmitEmpty),
];

pub(super) static NON_RESOURCE_RULE: Fields = &[
    f(1, "verbs", list(STRING), Always),
    f(2, "nonResourceURLs", list(STRING), OmitEmpty),
];

pub(super) static RESOURCE_ATTRIBUTES: Fields = &[
    f(1, "namespace", STRING, OmitEmpty),
    f(2, "verb", STRING, OmitEmpty),
    f(3, "group", STRING, OmitEmpty),
    f(4, "version", STRING, OmitEmpty),
    f(5, "resource", STRING, OmitEmpty),
    f(6, "subresource", STRING, OmitEmpty),
    f(7, "name", STRING, OmitEmpty),
    f(
        8,
        "fieldSelector",
        msg(&FIELD_SELECTOR_ATTRIBUTES),
        Optional,
    ),
    f(
        9,
        "labelSelector",
        msg(&LABEL_SELECTOR_ATTRIBUTES),
        Optional,
    ),
];

pub(super) static RESOURCE_RULE: Fields = &[
    f(1, "verbs", list(STRING), Always),
    f(2, "apiGroups", list(STRING), OmitEmpty),
    f(3, "resources", list(STRING), OmitEmpty),
    f(4, "resourceNames", list(STRING), OmitEmpty),
];

pub(super) static SELF_SUBJECT_ACCESS_REVIEW: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&SELF_SUBJECT_ACCESS_REVIEW_SPEC), Always),
    f(3, "status", msg(&SUBJECT_ACCESS_REVIEW_STATUS), OmitEmpty),
];

pub(super) static SELF_SUBJECT_ACCESS_REVIEW_SPEC: Fields = &[
    f(1, "resourceAttributes", msg(&RESOURCE_ATTRIBUTES), Optional),
    f(
        2,
        "nonResourceAttributes",
        msg(&NON_RESOURCE_ATTRIBUTES),
        Optional,
    ),
];

pub(super) static SELF_SUBJECT_RULES_REVIEW: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&SELF_SUBJECT_RULES_REVIEW_SPEC), Always),
    f(3, "status", msg(&SUBJECT_RULES_REVIEW_STATUS), OmitEmpty),
];

pub(super) static SELF_SUBJECT_RULES_REVIEW_SPEC: Fields = &[f(1, "namespace", STRING, OmitEmpty)];

pub(super) static SUBJECT_ACCESS_REVIEW: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&SUBJECT_ACCESS_REVIEW_SPEC), Always),
    f(3, "status", msg(&SUBJECT_ACCESS_REVIEW_STATUS), OmitEmpty),
];

pub(super) static SUBJECT_ACCESS_REVIEW_SPEC: Fields = &[
    f(1, "resourceAttributes", msg(&RESOURCE_ATTRIBUTES), Optional),
    f(
        2,
        "nonResourceAttributes",
        msg(&NON_RESOURCE_ATTRIBUTES),
        Optional,
    ),
    f(3, "user", STRING, OmitEmpty),
    f(4, "groups", list(STRING), OmitEmpty),
    f(5, "extra", map(STRING_LIST), OmitEmpty),
    f(6, "uid", STRING, OmitEmpty),
];

pub(super) static SUBJECT_ACCESS_REVIEW_STATUS: Fields = &[
    f(1, "allowed", BOOL, Always),
    f(4, "denied", BOOL, OmitEmpty),
    f(2, "reason", STRING, OmitEmpty),
    f(3, "evaluationError", STRING, OmitEmpty),
];

pub(super) static SUBJECT_RULES_REVIEW_STATUS: Fields = &[
    f(1, "resourceRules", list(msg(&RESOURCE_RULE)), Always),
    f(2, "nonResourceRules", list(msg(&NON_RESOURCE_RULE)), Always),
    f(3, "incomplete", BOOL, Always),
    f(4, "evaluationError", STRING, OmitEmpty),
];

pub(super) static CERTIFICATE_SIGNING_REQUEST: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&CERTIFICATE_SIGNING_REQUEST_SPEC), Always),
    f(
        3,
        "status",
        msg(&CERTIFICATE_SIGNING_REQUEST_STATUS),
        OmitEmpty,
    ),
];

pub(super) static CERTIFICATE_SIGNING_REQUEST_CONDITION: Fields = &[
    f(1, "type", STRING, Always),
    f(6, "status", STRING, Always),
    f(2, "reason", STRING, OmitEmpty),
    f(3, "message", STRING, OmitEmpty),
    f(4, "lastUpdateTime", TIME, OmitEmpty),
    f(5, "lastTransitionTime", TIME, OmitEmpty),
];

pub(super) static CERTIFICATE_SIGNING_REQUEST_SPEC: Fields = &[
    f(1, "request", BYTES, Always),
    f(7, "signerName", STRING, Always),
    f(8, "expirationSeconds", INT32, Optional),
    f(5, "usages", list(STRING), OmitEmpty),
    f(2, "username", STRING, OmitEmpty),
    f(3, "uid", STRING, OmitEmpty),
    f(4, "groups", list(STRING), OmitEmpty),
    f(6, "extra", map(STRING_LIST), OmitEmpty),
];

pub(super) static CERTIFICATE_SIGNING_REQUEST_STATUS: Fields = &[
    f(
        1,
        "conditions",
        list(msg(&CERTIFICATE_SIGNING_REQUEST_CONDITION)),
        OmitEmpty,
    ),
    f(2, "certificate", BYTES, OmitEmpty),
];
