//! `GET /api/v1/namespaces/<ns>/pods/<name>/log`: the options of upstream's `PodLogOptions`
//! (`container`, `follow`, `previous`, `timestamps`, `tailLines`, `sinceSeconds`, `sinceTime`,
//! `limitBytes`; `insecureSkipTLSVerifyBackend` is accepted and has no use here) and the
//! handler that hands them to the pod's kubelet.

use http::Response;
use jiff::Timestamp;
use serde_json::json;

use super::{node_name, pick_container};
use crate::api::field_error::FieldError;
use crate::api::handlers::Ctx;
use crate::api::handlers::write::current;
use crate::api::http::{self as h, Body};
use crate::api::request::Query;
use crate::api::status::{ApiError, Subject};

/// What part of a container's log to answer, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming until the container ends or the client goes away.
    pub follow: bool,
    /// The log of the container's previous (terminated) attempt.
    pub previous: bool,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
    /// Only the last lines.
    pub tail_lines: Option<u64>,
    /// Only lines logged at or after this time (`sinceSeconds` or `sinceTime`).
    pub since: Option<Timestamp>,
    /// Stop after this many bytes.
    pub limit_bytes: Option<u64>,
}

const SUBJECT: Subject<'static> = Subject {
    group: "",
    plural: "pods",
    kind: "PodLogOptions",
};

impl LogOptions {
    /// Parses and validates the query of a log request for pod `name`, as of `now`.
    ///
    /// # Errors
    /// A value that does not parse (400) or is out of range (422, as upstream validates).
    pub fn parse(query: &Query, name: &str, now: Timestamp) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let tail_lines = query.int("tailLines")?;
        if let Some(tail) = tail_lines
            && tail < 0
        {
            errors.push(FieldError::invalid(
                "tailLines",
                &json!(tail),
                "must be greater than or equal to 0",
            ));
        }
        let limit_bytes = query.int("limitBytes")?;
        if let Some(limit) = limit_bytes
            && limit < 1
        {
            errors.push(FieldError::invalid(
                "limitBytes",
                &json!(limit),
                "must be greater than 0",
            ));
        }
        let since_seconds = query.int("sinceSeconds")?;
        if let Some(seconds) = since_seconds
            && seconds < 1
        {
            errors.push(FieldError::invalid(
                "sinceSeconds",
                &json!(seconds),
                "must be greater than 0",
            ));
        }
        let since_time = match query.get("sinceTime").filter(|t| !t.is_empty()) {
            Some(text) => Some(text.parse::<Timestamp>().map_err(|e| {
                ApiError::bad_request(format!("sinceTime {text:?} is not an RFC 3339 time: {e}"))
            })?),
            None => None,
        };
        if since_seconds.is_some() && since_time.is_some() {
            errors.push(FieldError::forbidden(
                "",
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(SUBJECT, name, &errors));
        }
        let since = match (since_seconds, since_time) {
            (Some(seconds), _) => now
                .checked_sub(jiff::SignedDuration::from_secs(seconds))
                .ok()
                .or(Some(Timestamp::MIN)),
            (None, time) => time,
        };
        Ok(LogOptions {
            follow: query.flag("follow"),
            previous: query.flag("previous"),
            timestamps: query.flag("timestamps"),
            tail_lines: tail_lines.and_then(|t| u64::try_from(t).ok()),
            since,
            limit_bytes: limit_bytes.and_then(|l| u64::try_from(l).ok()),
        })
    }
}

/// Answers `pods/log`.
///
/// # Errors
/// The pod is not found, the options or the container are wrong, the pod's kubelet is not
/// reachable or cannot find the log.
pub async fn handle(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let options = LogOptions::parse(&ctx.query, ctx.name(), Timestamp::now())?;
    let Some((_, pod)) = current(ctx, &ctx.key()).await? else {
        return Err(ApiError::not_found(ctx.info.subject(), ctx.name()));
    };
    let container = pick_container(&pod, ctx.query.get("container"))?;
    let Some(node) = node_name(&pod) else {
        // Upstream answers a pod not yet scheduled with an empty log.
        return Ok(h::streaming("text/plain", h::empty()));
    };
    let kubelet = ctx.state.node_streams(node);
    let body = kubelet.logs(&pod, &container, &options).await?;
    Ok(h::streaming("text/plain", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<LogOptions, ApiError> {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        LogOptions::parse(&Query::parse(Some(query)), "p", now)
    }

    #[test]
    fn every_option() {
        let options = parse(
            "container=app&follow=true&previous=true&timestamps=true&tailLines=5&limitBytes=100&insecureSkipTLSVerifyBackend=true",
        )
        .unwrap();
        assert_eq!(
            options,
            LogOptions {
                follow: true,
                previous: true,
                timestamps: true,
                tail_lines: Some(5),
                since: None,
                limit_bytes: Some(100),
            }
        );
        let since = parse("sinceSeconds=60").unwrap().since.unwrap();
        assert_eq!(since.to_string(), "2026-01-01T00:09:00Z");
        let since = parse("sinceTime=2026-01-01T00:05:00Z")
            .unwrap()
            .since
            .unwrap();
        assert_eq!(since.to_string(), "2026-01-01T00:05:00Z");
        assert_eq!(parse("").unwrap(), LogOptions::default());
    }

    #[test]
    fn invalid_options_as_upstream() {
        let error = parse("tailLines=-1").unwrap_err();
        assert_eq!(error.code, 422);
        assert_eq!(
            error.message,
            "PodLogOptions \"p\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(parse("limitBytes=0").unwrap_err().code, 422);
        assert_eq!(parse("sinceSeconds=0").unwrap_err().code, 422);
        let both = parse("sinceSeconds=5&sinceTime=2026-01-01T00:05:00Z").unwrap_err();
        assert!(both.message.contains("at most one of"), "{}", both.message);
        assert_eq!(parse("tailLines=x").unwrap_err().code, 400);
        assert_eq!(parse("sinceTime=yesterday").unwrap_err().code, 400);
    }
}
