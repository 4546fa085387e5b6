//! What a request asks for: the route its path names and the options its query carries.

use std::collections::HashMap;

use super::status::ApiError;

/// A request for a resource: `/api/v1/namespaces/ns/pods/name/status` and its kin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// Addressed through the deprecated `/watch/` path prefix.
    pub watch_prefix: bool,
}

/// Every route the API server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    Health(&'static str),
    CaCerts,
    Ping,
    OpenApiV2,
    OpenApiV3Index,
    /// `api/v1` or `apis/apps/v1`.
    OpenApiV3Document(String),
    /// `/api`
    LegacyVersions,
    /// `/api/v1`
    LegacyResources,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/apis/<group>/<version>`
    GroupResources(String, String),
    Resource(ResourcePath),
    NotFound,
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect()
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// Parses a request path.
pub fn route(path: &str) -> Route {
    let parts = segments(path);
    let p: Vec<&str> = parts.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["version"] => Route::Version,
        ["healthz", ..] => Route::Health("healthz"),
        ["livez", ..] => Route::Health("livez"),
        ["readyz", ..] => Route::Health("readyz"),
        ["cacerts"] => Route::CaCerts,
        ["ping"] => Route::Ping,
        ["openapi", "v2"] | ["swagger-2.0.0.pb-v1"] | ["swagger.json"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Index,
        ["openapi", "v3", rest @ ..] => Route::OpenApiV3Document(rest.join("/")),
        ["api"] => Route::LegacyVersions,
        ["api", "v1"] => Route::LegacyResources,
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group(group.to_string()),
        ["apis", group, version] => Route::GroupResources(group.to_string(), version.to_string()),
        ["api", version, rest @ ..] => resource_route("", version, rest),
        ["apis", group, version, rest @ ..] => resource_route(group, version, rest),
        _ => Route::NotFound,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let (watch_prefix, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    let make = |namespace: Option<&str>, plural: &str, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(ResourcePath {
            group: group.to_string(),
            version: version.to_string(),
            namespace: namespace.map(str::to_string),
            plural: plural.to_string(),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
            watch_prefix,
        })
    };
    match rest {
        // `namespaces/<ns>` is the Namespace object; `namespaces/<ns>/status|finalize` its
        // subresources; anything else below a namespace is a namespaced resource.
        ["namespaces", ns, sub @ ("status" | "finalize")] => {
            make(None, "namespaces", Some(ns), Some(sub))
        }
        ["namespaces", ns, plural] => make(Some(ns), plural, None, None),
        ["namespaces", ns, plural, name] => make(Some(ns), plural, Some(name), None),
        ["namespaces", ns, plural, name, sub, ..] => make(Some(ns), plural, Some(name), Some(sub)),
        [plural] => make(None, plural, None, None),
        [plural, name] => make(None, plural, Some(name), None),
        [plural, name, sub, ..] => make(None, plural, Some(name), Some(sub)),
        _ => Route::NotFound,
    }
}

/// The query string, with repeated parameters kept (exec's `command=`).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(query: Option<&str>) -> Self {
        Query {
            pairs: query
                .map(|q| {
                    form_urlencoded::parse(q.as_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean parameter: present as `true`/`1`/empty means true.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "True" | ""))
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("invalid value {v:?} for query parameter {key}"))
            }),
        }
    }

    pub fn map(&self) -> HashMap<String, String> {
        self.pairs.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(path: &str) -> ResourcePath {
        match route(path) {
            Route::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn routes() {
        assert_eq!(route("/api"), Route::LegacyVersions);
        assert_eq!(
            route("/apis/apps/v1"),
            Route::GroupResources("apps".into(), "v1".into())
        );
        assert_eq!(
            route("/openapi/v3/apis/apps/v1"),
            Route::OpenApiV3Document("apis/apps/v1".into())
        );
        let r = resource("/api/v1/namespaces/default/pods/web-0/log");
        assert_eq!(
            (
                r.group.as_str(),
                r.namespace.as_deref(),
                r.plural.as_str(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            ("", Some("default"), "pods", Some("web-0"), Some("log"))
        );
        let r = resource("/api/v1/namespaces/kube-system");
        assert_eq!(
            (r.plural.as_str(), r.name.as_deref(), r.namespace.as_deref()),
            ("namespaces", Some("kube-system"), None)
        );
        let r = resource("/api/v1/namespaces/x/status");
        assert_eq!(
            (r.plural.as_str(), r.subresource.as_deref()),
            ("namespaces", Some("status"))
        );
        let r = resource("/apis/apps/v1/deployments");
        assert_eq!(
            (r.group.as_str(), r.namespace, r.name),
            ("apps", None, None)
        );
        let r = resource("/api/v1/watch/namespaces/default/pods");
        assert!(r.watch_prefix);
        let r = resource("/api/v1/nodes/n1/proxy/metrics");
        assert_eq!(r.subresource.as_deref(), Some("proxy"));
        assert_eq!(
            resource("/api/v1/namespaces/default/configmaps/a%3Ab")
                .name
                .as_deref(),
            Some("a:b")
        );
    }

    #[test]
    fn queries() {
        let q = Query::parse(Some(
            "command=sh&command=-c&command=echo+hi&limit=5&watch=true&labelSelector=app%3Dweb",
        ));
        assert_eq!(q.all("command"), ["sh", "-c", "echo hi"]);
        assert_eq!(q.int("limit").unwrap(), Some(5));
        assert!(q.flag("watch"));
        assert_eq!(q.get("labelSelector"), Some("app=web"));
        assert!(Query::parse(Some("limit=x")).int("limit").is_err());
    }
}
