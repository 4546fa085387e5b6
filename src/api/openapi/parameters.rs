//! The path and query parameters that operations declare, with their types and descriptions.
//! kubectl looks for `fieldValidation` among a PATCH operation's parameters to decide whether
//! the server validates fields.

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Location {
    Path,
    Query,
}

/// A parameter's JSON type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ParameterType {
    String,
    Integer,
    Boolean,
}

/// A path or query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Parameter {
    pub name: &'static str,
    pub location: Location,
    pub kind: ParameterType,
    pub description: &'static str,
}

impl ParameterType {
    /// The JSON schema type name.
    pub fn as_str(self) -> &'static str {
        match self {
            ParameterType::String => "string",
            ParameterType::Integer => "integer",
            ParameterType::Boolean => "boolean",
        }
    }
}

const fn query(name: &'static str, kind: ParameterType, description: &'static str) -> Parameter {
    Parameter {
        name,
        location: Location::Query,
        kind,
        description,
    }
}

const fn path(name: &'static str, description: &'static str) -> Parameter {
    Parameter {
        name,
        location: Location::Path,
        kind: ParameterType::String,
        description,
    }
}

const STRING: ParameterType = ParameterType::String;
const INTEGER: ParameterType = ParameterType::Integer;
const BOOLEAN: ParameterType = ParameterType::Boolean;

pub(super) const NAMESPACE: Parameter = path(
    "namespace",
    "object name and auth scope, such as for teams and projects",
);
pub(super) const NAME: Parameter = path("name", "name of the object");
pub(super) const PRETTY: Parameter = query("pretty", STRING, "If 'true', the output is indented.");

/// Parameters of POST and PUT.
pub(super) const WRITE: &[Parameter] = &[
    query(
        "dryRun",
        STRING,
        "When present (All), the request is checked but nothing is persisted.",
    ),
    query(
        "fieldManager",
        STRING,
        "The name of the actor making the change, recorded in managedFields.",
    ),
    query(
        "fieldValidation",
        STRING,
        "How to treat unknown or duplicate fields: Ignore, Warn (the default) or Strict.",
    ),
];

/// Parameters of PATCH: those of writes, and `force` for server-side apply.
pub(super) const PATCH: &[Parameter] = &[
    WRITE[0],
    WRITE[1],
    WRITE[2],
    query(
        "force",
        BOOLEAN,
        "Server-side apply only: take over fields that other managers own.",
    ),
];

/// Parameters of a list or watch.
pub(super) const LIST: &[Parameter] = &[
    query(
        "allowWatchBookmarks",
        BOOLEAN,
        "Ask for BOOKMARK events in a watch.",
    ),
    query(
        "continue",
        STRING,
        "The continue token of the previous page of a paged list.",
    ),
    query(
        "fieldSelector",
        STRING,
        "Select objects by field values, such as metadata.name=x.",
    ),
    query("labelSelector", STRING, "Select objects by labels."),
    query(
        "limit",
        INTEGER,
        "The largest number of objects to return; the rest is reached with continue.",
    ),
    query(
        "resourceVersion",
        STRING,
        "The resource version the list must be at least as new as, or the watch starts after.",
    ),
    query(
        "resourceVersionMatch",
        STRING,
        "How resourceVersion applies to a list: Exact or NotOlderThan.",
    ),
    query(
        "sendInitialEvents",
        BOOLEAN,
        "Start a watch with ADDED events for every existing object, then a BOOKMARK.",
    ),
    query(
        "timeoutSeconds",
        INTEGER,
        "End the list or watch after this many seconds.",
    ),
    query(
        "watch",
        BOOLEAN,
        "Stream changes (ADDED, MODIFIED, DELETED) instead of listing.",
    ),
];

/// Parameters of a DELETE of one object.
pub(super) const DELETE: &[Parameter] = &[
    WRITE[0],
    query(
        "gracePeriodSeconds",
        INTEGER,
        "Seconds the object has to shut down; 0 deletes at once.",
    ),
    query(
        "ignoreStoreReadErrorWithClusterBreakingPotential",
        BOOLEAN,
        "Delete an object that cannot be read from storage.",
    ),
    query(
        "orphanDependents",
        BOOLEAN,
        "Deprecated: use propagationPolicy.",
    ),
    query(
        "propagationPolicy",
        STRING,
        "What happens to dependents: Orphan, Background or Foreground.",
    ),
];

/// Parameters of pods/log.
pub(super) const LOG: &[Parameter] = &[
    query(
        "container",
        STRING,
        "The container whose log to read; may be omitted when the pod has one.",
    ),
    query("follow", BOOLEAN, "Stream the log as it grows."),
    query("limitBytes", INTEGER, "Stop after this many bytes."),
    query(
        "previous",
        BOOLEAN,
        "Read the log of the previous, terminated instance of the container.",
    ),
    query(
        "sinceSeconds",
        INTEGER,
        "Only lines newer than this many seconds.",
    ),
    query("tailLines", INTEGER, "Only this many lines from the end."),
    query(
        "timestamps",
        BOOLEAN,
        "Prefix each line with its RFC 3339 timestamp.",
    ),
];

/// Parameters of pods/exec.
pub(super) const EXEC: &[Parameter] = &[
    query(
        "command",
        STRING,
        "The command to run, one argument per repeated parameter.",
    ),
    query("container", STRING, "The container to run in."),
    query("stderr", BOOLEAN, "Stream standard error."),
    query("stdin", BOOLEAN, "Stream standard input."),
    query("stdout", BOOLEAN, "Stream standard output."),
    query("tty", BOOLEAN, "Allocate a terminal."),
];

/// Parameters of pods/attach: those of exec but `command`.
pub(super) const ATTACH: &[Parameter] = &[EXEC[1], EXEC[2], EXEC[3], EXEC[4], EXEC[5]];

/// Parameters of pods/portforward.
pub(super) const PORT_FORWARD: &[Parameter] = &[query(
    "ports",
    INTEGER,
    "The ports to forward, one per repeated parameter.",
)];

/// Parameters of …/proxy.
pub(super) const PROXY: &[Parameter] = &[query("path", STRING, "The path to proxy to.")];

/// Parameters of DELETE of a collection: those of a delete and of a list, less the watch ones.
pub(super) fn delete_collection() -> Vec<Parameter> {
    let list = LIST
        .iter()
        .filter(|p| !matches!(p.name, "watch" | "allowWatchBookmarks"));
    DELETE.iter().chain(list).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_declares_field_validation() {
        let field_validation = PATCH.iter().find(|p| p.name == "fieldValidation");
        assert_eq!(field_validation.map(|p| p.location), Some(Location::Query));
        assert!(PATCH.iter().any(|p| p.name == "force"));
    }

    #[test]
    fn delete_collection_takes_selectors_but_not_watch() {
        let names: Vec<&str> = delete_collection().iter().map(|p| p.name).collect();
        assert!(names.contains(&"labelSelector"));
        assert!(names.contains(&"propagationPolicy"));
        assert!(!names.contains(&"watch"));
        assert!(!names.contains(&"allowWatchBookmarks"));
    }

    #[test]
    fn attach_is_exec_without_command() {
        assert_eq!(EXEC[0].name, "command");
        assert_eq!(ATTACH, &EXEC[1..]);
        assert_eq!(NAME.location, Location::Path);
        assert_eq!(INTEGER.as_str(), "integer");
    }
}
