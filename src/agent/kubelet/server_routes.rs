//! The paths of the kubelet's HTTPS API (upstream's `pkg/kubelet/server`), as the API
//! server's `nodes/proxy` and streaming calls address them:
//!
//! - `/healthz`;
//! - `/pods`: the pods bound to this node, as a `PodList`;
//! - `/containerLogs/{namespace}/{pod}/{container}` with `PodLogOptions` in the query;
//! - `/exec/{namespace}/{pod}[/{uid}]/{container}` and `/attach/...` (WebSocket,
//!   `v5`/`v4.channel.k8s.io`), query as `pods/exec`;
//! - `/portForward/{namespace}/{pod}[/{uid}]` (WebSocket, `v4.channel.k8s.io`, `?ports=`).
//!
//! Every path is a `nodes/proxy` subresource to authorization, as upstream maps it.

/// What a request to the kubelet addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeletRoute {
    Healthz,
    Pods,
    ContainerLogs {
        namespace: String,
        pod: String,
        container: String,
    },
    Exec(ContainerPath),
    Attach(ContainerPath),
    PortForward {
        namespace: String,
        pod: String,
        uid: Option<String>,
    },
    NotFound,
}

/// The container an exec or attach addresses (`uid` pins the pod instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPath {
    pub namespace: String,
    pub pod: String,
    pub uid: Option<String>,
    pub container: String,
}

fn decode(segment: &str) -> String {
    if !segment.contains('%') {
        return segment.to_string();
    }
    form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| segment.to_string())
}

/// Parses a request path of the kubelet's API.
pub fn route(path: &str) -> KubeletRoute {
    let parts: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let p: Vec<&str> = parts.iter().map(String::as_str).collect();
    let owned = |s: &str| s.to_string();
    let container = |ns: &str, pod: &str, uid: Option<&str>, c: &str| ContainerPath {
        namespace: owned(ns),
        pod: owned(pod),
        uid: uid.map(owned),
        container: owned(c),
    };
    match p.as_slice() {
        ["healthz"] => KubeletRoute::Healthz,
        ["pods"] => KubeletRoute::Pods,
        ["containerLogs", ns, pod, c] => KubeletRoute::ContainerLogs {
            namespace: owned(ns),
            pod: owned(pod),
            container: owned(c),
        },
        ["exec", ns, pod, c] => KubeletRoute::Exec(container(ns, pod, None, c)),
        ["exec", ns, pod, uid, c] => KubeletRoute::Exec(container(ns, pod, Some(uid), c)),
        ["attach", ns, pod, c] => KubeletRoute::Attach(container(ns, pod, None, c)),
        ["attach", ns, pod, uid, c] => KubeletRoute::Attach(container(ns, pod, Some(uid), c)),
        ["portForward", ns, pod] => KubeletRoute::PortForward {
            namespace: owned(ns),
            pod: owned(pod),
            uid: None,
        },
        ["portForward", ns, pod, uid] => KubeletRoute::PortForward {
            namespace: owned(ns),
            pod: owned(pod),
            uid: Some(owned(uid)),
        },
        _ => KubeletRoute::NotFound,
    }
}

/// The authorization verb of an HTTP method, as upstream's kubelet names it.
pub fn verb(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET | http::Method::HEAD => "get",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_as_upstream() {
        assert_eq!(route("/healthz"), KubeletRoute::Healthz);
        assert_eq!(route("/pods/"), KubeletRoute::Pods);
        assert_eq!(
            route("/containerLogs/default/web-0/app"),
            KubeletRoute::ContainerLogs {
                namespace: "default".into(),
                pod: "web-0".into(),
                container: "app".into()
            }
        );
        assert_eq!(
            route("/exec/default/web-0/app"),
            KubeletRoute::Exec(ContainerPath {
                namespace: "default".into(),
                pod: "web-0".into(),
                uid: None,
                container: "app".into()
            })
        );
        let KubeletRoute::Attach(path) = route("/attach/default/web-0/u-1/app") else {
            panic!("attach with a uid")
        };
        assert_eq!(
            (path.uid.as_deref(), path.container.as_str()),
            (Some("u-1"), "app")
        );
        assert_eq!(
            route("/portForward/ns/p%2Dq"),
            KubeletRoute::PortForward {
                namespace: "ns".into(),
                pod: "p-q".into(),
                uid: None
            }
        );
        for other in ["/", "/stats/summary", "/containerLogs/ns/p", "/exec/a/b"] {
            assert_eq!(route(other), KubeletRoute::NotFound, "{other}");
        }
    }

    #[test]
    fn verbs() {
        assert_eq!(verb(&http::Method::GET), "get");
        assert_eq!(verb(&http::Method::POST), "create");
        assert_eq!(verb(&http::Method::OPTIONS), "");
    }
}
