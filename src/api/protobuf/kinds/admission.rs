//! Field tables for admissionregistration.k8s.io/v1 and flowcontrol.apiserver.k8s.io/v1: webhook and policy
//! configurations, FlowSchema, PriorityLevelConfiguration.

use super::meta;
use crate::api::protobuf::schema::Presence::{Always, Inline, Nullable, OmitEmpty, Optional};
use crate::api::protobuf::schema::{BOOL, BYTES, Fields, INT32, INT64, STRING, TIME, f, list, msg};

pub(super) static APPLY_CONFIGURATION: Fields = &[f(1, "expression", STRING, OmitEmpty)];

pub(super) static AUDIT_ANNOTATION: Fields = &[
    f(1, "key", STRING, Always),
    f(2, "valueExpression", STRING, Always),
];

pub(super) static EXPRESSION_WARNING: Fields = &[
    f(2, "fieldRef", STRING, Always),
    f(3, "warning", STRING, Always),
];

pub(super) static JSON_PATCH: Fields = &[f(1, "expression", STRING, OmitEmpty)];

pub(super) static MATCH_CONDITION: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "expression", STRING, Always),
];

pub(super) static MATCH_RESOURCES: Fields = &[
    f(1, "namespaceSelector", msg(&meta::LABEL_SELECTOR), Optional),
    f(2, "objectSelector", msg(&meta::LABEL_SELECTOR), Optional),
    f(
        3,
        "resourceRules",
        list(msg(&NAMED_RULE_WITH_OPERATIONS)),
        OmitEmpty,
    ),
    f(
        4,
        "excludeResourceRules",
        list(msg(&NAMED_RULE_WITH_OPERATIONS)),
        OmitEmpty,
    ),
    f(7, "matchPolicy", STRING, Optional),
];

pub(super) static MUTATING_ADMISSION_POLICY: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&MUTATING_ADMISSION_POLICY_SPEC), OmitEmpty),
];

pub(super) static MUTATING_ADMISSION_POLICY_BINDING: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(
        2,
        "spec",
        msg(&MUTATING_ADMISSION_POLICY_BINDING_SPEC),
        OmitEmpty,
    ),
];

pub(super) static MUTATING_ADMISSION_POLICY_BINDING_SPEC: Fields = &[
    f(1, "policyName", STRING, OmitEmpty),
    f(2, "paramRef", msg(&PARAM_REF), Optional),
    f(3, "matchResources", msg(&MATCH_RESOURCES), Optional),
];

pub(super) static MUTATING_ADMISSION_POLICY_SPEC: Fields = &[
    f(1, "paramKind", msg(&PARAM_KIND), Optional),
    f(2, "matchConstraints", msg(&MATCH_RESOURCES), Optional),
    f(3, "variables", list(msg(&VARIABLE)), OmitEmpty),
    f(4, "mutations", list(msg(&MUTATION)), OmitEmpty),
    f(5, "failurePolicy", STRING, Optional),
    f(6, "matchConditions", list(msg(&MATCH_CONDITION)), OmitEmpty),
    f(7, "reinvocationPolicy", STRING, OmitEmpty),
];

pub(super) static MUTATING_WEBHOOK: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "clientConfig", msg(&WEBHOOK_CLIENT_CONFIG), Always),
    f(3, "rules", list(msg(&RULE_WITH_OPERATIONS)), OmitEmpty),
    f(4, "failurePolicy", STRING, Optional),
    f(9, "matchPolicy", STRING, Optional),
    f(5, "namespaceSelector", msg(&meta::LABEL_SELECTOR), Optional),
    f(11, "objectSelector", msg(&meta::LABEL_SELECTOR), Optional),
    f(6, "sideEffects", STRING, Nullable),
    f(7, "timeoutSeconds", INT32, Optional),
    f(8, "admissionReviewVersions", list(STRING), Always),
    f(10, "reinvocationPolicy", STRING, Optional),
    f(
        12,
        "matchConditions",
        list(msg(&MATCH_CONDITION)),
        OmitEmpty,
    ),
];

pub(super) static MUTATING_WEBHOOK_CONFIGURATION: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "webhooks", list(msg(&MUTATING_WEBHOOK)), OmitEmpty),
];

pub(super) static MUTATION: Fields = &[
    f(2, "patchType", STRING, Always),
    f(3, "applyConfiguration", msg(&APPLY_CONFIGURATION), Optional),
    f(4, "jsonPatch", msg(&JSON_PATCH), Optional),
];

pub(super) static NAMED_RULE_WITH_OPERATIONS: Fields = &[
    f(1, "resourceNames", list(STRING), OmitEmpty),
    f(2, "ruleWithOperations", msg(&RULE_WITH_OPERATIONS), Inline),
];

pub(super) static PARAM_KIND: Fields = &[
    f(1, "apiVersion", STRING, OmitEmpty),
    f(2, "kind", STRING, OmitEmpty),
];

pub(super) static PARAM_REF: Fields = &[
    f(1, "name", STRING, OmitEmpty),
    f(2, "namespace", STRING, OmitEmpty),
    f(3, "selector", msg(&meta::LABEL_SELECTOR), Optional),
    f(4, "parameterNotFoundAction", STRING, Optional),
];

pub(super) static RULE: Fields = &[
    f(1, "apiGroups", list(STRING), OmitEmpty),
    f(2, "apiVersions", list(STRING), OmitEmpty),
    f(3, "resources", list(STRING), OmitEmpty),
    f(4, "scope", STRING, Optional),
];

pub(super) static RULE_WITH_OPERATIONS: Fields = &[
    f(1, "operations", list(STRING), OmitEmpty),
    f(2, "rule", msg(&RULE), Inline),
];

pub(super) static SERVICE_REFERENCE: Fields = &[
    f(1, "namespace", STRING, Always),
    f(2, "name", STRING, Always),
    f(3, "path", STRING, Optional),
    f(4, "port", INT32, Optional),
];

pub(super) static TYPE_CHECKING: Fields = &[f(
    1,
    "expressionWarnings",
    list(msg(&EXPRESSION_WARNING)),
    OmitEmpty,
)];

pub(super) static VALIDATING_ADMISSION_POLICY: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&VALIDATING_ADMISSION_POLICY_SPEC), OmitEmpty),
    f(
        3,
        "status",
        msg(&VALIDATING_ADMISSION_POLICY_STATUS),
        OmitEmpty,
    ),
];

pub(super) static VALIDATING_ADMISSION_POLICY_BINDING: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(
        2,
        "spec",
        msg(&VALIDATING_ADMISSION_POLICY_BINDING_SPEC),
        OmitEmpty,
    ),
];

pub(super) static VALIDATING_ADMISSION_POLICY_BINDING_SPEC: Fields = &[
    f(1, "policyName", STRING, OmitEmpty),
    f(2, "paramRef", msg(&PARAM_REF), Optional),
    f(3, "matchResources", msg(&MATCH_RESOURCES), Optional),
    f(4, "validationActions", list(STRING), OmitEmpty),
];

pub(super) static VALIDATING_ADMISSION_POLICY_SPEC: Fields = &[
    f(1, "paramKind", msg(&PARAM_KIND), Optional),
    f(2, "matchConstraints", msg(&MATCH_RESOURCES), Optional),
    f(3, "validations", list(msg(&VALIDATION)), OmitEmpty),
    f(4, "failurePolicy", STRING, Optional),
    f(
        5,
        "auditAnnotations",
        list(msg(&AUDIT_ANNOTATION)),
        OmitEmpty,
    ),
    f(6, "matchConditions", list(msg(&MATCH_CONDITION)), OmitEmpty),
    f(7, "variables", list(msg(&VARIABLE)), OmitEmpty),
];

pub(super) static VALIDATING_ADMISSION_POLICY_STATUS: Fields = &[
    f(1, "observedGeneration", INT64, OmitEmpty),
    f(2, "typeChecking", msg(&TYPE_CHECKING), Optional),
    f(3, "conditions", list(msg(&meta::CONDITION)), OmitEmpty),
];

pub(super) static VALIDATING_WEBHOOK: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "clientConfig", msg(&WEBHOOK_CLIENT_CONFIG), Always),
    f(3, "rules", list(msg(&RULE_WITH_OPERATIONS)), OmitEmpty),
    f(4, "failurePolicy", STRING, Optional),
    f(9, "matchPolicy", STRING, Optional),
    f(5, "namespaceSelector", msg(&meta::LABEL_SELECTOR), Optional),
    f(10, "objectSelector", msg(&meta::LABEL_SELECTOR), Optional),
    f(6, "sideEffects", STRING, Nullable),
    f(7, "timeoutSeconds", INT32, Optional),
    f(8, "admissionReviewVersions", list(STRING), Always),
    f(
        11,
        "matchConditions",
        list(msg(&MATCH_CONDITION)),
        OmitEmpty,
    ),
];

pub(super) static VALIDATING_WEBHOOK_CONFIGURATION: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "webhooks", list(msg(&VALIDATING_WEBHOOK)), OmitEmpty),
];

pub(super) static VALIDATION: Fields = &[
    f(1, "expression", STRING, Always),
    f(2, "message", STRING, OmitEmpty),
    f(3, "reason", STRING, Optional),
    f(4, "messageExpression", STRING, OmitEmpty),
];

pub(super) static VARIABLE: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "expression", STRING, Always),
];

pub(super) static WEBHOOK_CLIENT_CONFIG: Fields = &[
    f(3, "url", STRING, Optional),
    f(1, "service", msg(&SERVICE_REFERENCE), Optional),
    f(2, "caBundle", BYTES, OmitEmpty),
];

pub(super) static EXEMPT_PRIORITY_LEVEL_CONFIGURATION: Fields = &[
    f(1, "nominalConcurrencyShares", INT32, Optional),
    f(2, "lendablePercent", INT32, Optional),
];

pub(super) static FLOW_DISTINGUISHER_METHOD: Fields = &[f(1, "type", STRING, Always)];

pub(super) static FLOW_SCHEMA: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&FLOW_SCHEMA_SPEC), OmitEmpty),
    f(3, "status", msg(&FLOW_SCHEMA_STATUS), OmitEmpty),
];

pub(super) static FLOW_SCHEMA_CONDITION: Fields = &[
    f(1, "type", STRING, OmitEmpty),
    f(2, "status", STRING, OmitEmpty),
    f(3, "lastTransitionTime", TIME, OmitEmpty),
    f(4, "reason", STRING, OmitEmpty),
    f(5, "message", STRING, OmitEmpty),
];

pub(super) static FLOW_SCHEMA_SPEC: Fields = &[
    f(
        1,
        "priorityLevelConfiguration",
        msg(&PRIORITY_LEVEL_CONFIGURATION_REFERENCE),
        Always,
    ),
    f(2, "matchingPrecedence", INT32, Always),
    f(
        3,
        "distinguisherMethod",
        msg(&FLOW_DISTINGUISHER_METHOD),
        Optional,
    ),
    f(
        4,
        "rules",
        list(msg(&POLICY_RULES_WITH_SUBJECTS)),
        OmitEmpty,
    ),
];

pub(super) static FLOW_SCHEMA_STATUS: Fields = &[f(
    1,
    "conditions",
    list(msg(&FLOW_SCHEMA_CONDITION)),
    OmitEmpty,
)];

pub(super) static GROUP_SUBJECT: Fields = &[f(1, "name", STRING, Always)];

pub(super) static LIMIT_RESPONSE: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "queuing", msg(&QUEUING_CONFIGURATION), Optional),
];

pub(super) static LIMITED_PRIORITY_LEVEL_CONFIGURATION: Fields = &[
    f(1, "nominalConcurrencyShares", INT32, Nullable),
    f(2, "limitResponse", msg(&LIMIT_RESPONSE), OmitEmpty),
    f(3, "lendablePercent", INT32, Optional),
    f(4, "borrowingLimitPercent", INT32, Optional),
];

pub(super) static NON_RESOURCE_POLICY_RULE: Fields = &[
    f(1, "verbs", list(STRING), Always),
    f(6, "nonResourceURLs", list(STRING), Always),
];

pub(super) static POLICY_RULES_WITH_SUBJECTS: Fields = &[
    f(1, "subjects", list(msg(&SUBJECT)), Always),
    f(
        2,
        "resourceRules",
        list(msg(&RESOURCE_POLICY_RULE)),
        OmitEmpty,
    ),
    f(
        3,
        "nonResourceRules",
        list(msg(&NON_RESOURCE_POLICY_RULE)),
        OmitEmpty,
    ),
];

pub(super) static PRIORITY_LEVEL_CONFIGURATION: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(
        2,
        "spec",
        msg(&PRIORITY_LEVEL_CONFIGURATION_SPEC),
        OmitEmpty,
    ),
    f(
        3,
        "status",
        msg(&PRIORITY_LEVEL_CONFIGURATION_STATUS),
        OmitEmpty,
    ),
];

pub(super) static PRIORITY_LEVEL_CONFIGURATION_CONDITION: Fields = &[
    f(1, "type", STRING, OmitEmpty),
    f(2, "status", STRING, OmitEmpty),
    f(3, "lastTransitionTime", TIME, OmitEmpty),
    f(4, "reason", STRING, OmitEmpty),
    f(5, "message", STRING, OmitEmpty),
];

pub(super) static PRIORITY_LEVEL_CONFIGURATION_REFERENCE: Fields = &[f(1, "name", STRING, Always)];

pub(super) static PRIORITY_LEVEL_CONFIGURATION_SPEC: Fields = &[
    f(1, "type", STRING, Always),
    f(
        2,
        "limited",
        msg(&LIMITED_PRIORITY_LEVEL_CONFIGURATION),
        Optional,
    ),
    f(
        3,
        "exempt",
        msg(&EXEMPT_PRIORITY_LEVEL_CONFIGURATION),
        Optional,
    ),
];

pub(super) static PRIORITY_LEVEL_CONFIGURATION_STATUS: Fields = &[f(
    1,
    "conditions",
    list(msg(&PRIORITY_LEVEL_CONFIGURATION_CONDITION)),
    OmitEmpty,
)];

pub(super) static QUEUING_CONFIGURATION: Fields = &[
    f(1, "queues", INT32, Always),
    f(2, "handSize", INT32, Always),
    f(3, "queueLengthLimit", INT32, Always),
];

pub(super) static RESOURCE_POLICY_RULE: Fields = &[
    f(1, "verbs", list(STRING), Always),
    f(2, "apiGroups", list(STRING), Always),
    f(3, "resources", list(STRING), Always),
    f(4, "clusterScope", BOOL, OmitEmpty),
    f(5, "namespaces", list(STRING), Always),
];

pub(super) static SERVICE_ACCOUNT_SUBJECT: Fields = &[
    f(1, "namespace", STRING, Always),
    f(2, "name", STRING, Always),
];

pub(super) static SUBJECT: Fields = &[
    f(1, "kind", STRING, Always),
    f(2, "user", msg(&USER_SUBJECT), Optional),
    f(3, "group", msg(&GROUP_SUBJECT), Optional),
    f(4, "serviceAccount", msg(&SERVICE_ACCOUNT_SUBJECT), Optional),
];

pub(super) static USER_SUBJECT: Fields = &[f(1, "name", STRING, Always)];
