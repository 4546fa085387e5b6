//! Writes that are not plain object writes: `pods/binding`, `pods/eviction`,
//! `serviceaccounts/token` (TokenRequest), and the create-only review kinds
//! (SelfSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview, TokenReview,
//! SubjectAccessReview, LocalSubjectAccessReview).

use http::Response;
use serde_json::{Value, json};

use super::Ctx;
use super::delete::{Deleted, delete_one, options};
use super::write::{current, dry_run};
use crate::api::ApiState;
use crate::api::auth::UserInfo;
use crate::api::auth::tokens::{Claims, KubernetesClaim, ObjectRef};
use crate::api::field_error::FieldError;
use crate::api::http::{self as h, Body};
use crate::api::object;
use crate::api::status::{ApiError, success};
use crate::store;

/// Upstream's TokenRequest bounds.
const MIN_TOKEN_SECONDS: i64 = 600;
const MAX_TOKEN_SECONDS: i64 = 1 << 32;

fn pods_binding_subject() -> crate::api::status::Subject<'static> {
    crate::api::status::Subject {
        group: "",
        plural: "pods/binding",
        kind: "Binding",
    }
}

/// Binds a pod to a node: sets `spec.nodeName` and the `PodScheduled` condition.
pub async fn bind(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let binding = ctx.body_object()?;
    let name = ctx
        .path
        .name
        .clone()
        .filter(|_| ctx.info.kind == "Pod")
        .unwrap_or_else(|| object::name(&binding).to_string());
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                pods_binding_subject(),
                &name,
                &[FieldError::required("target.name", "")],
            )
        })?
        .to_string();
    let pods = ctx
        .state
        .registry
        .get("", "v1", "pods")
        .ok_or_else(|| ApiError::internal("pods are not registered"))?;
    let key = pods.key(ctx.namespace(), &name);
    for _ in 0..8 {
        let Some((kv, pod)) = current(ctx, &key).await? else {
            return Err(ApiError::not_found(pods.subject(), &name));
        };
        if let Some(assigned) = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            return Err(ApiError::conflict_because(
                pods_binding_subject(),
                &name,
                &format!("pod {name} is already assigned to node {assigned:?}"),
            ));
        }
        if object::is_deleting(&pod) {
            return Err(ApiError::conflict_because(
                pods_binding_subject(),
                &name,
                &format!("pod {name} is being deleted, cannot be assigned to a host"),
            ));
        }
        let mut bound = pod.clone();
        bound["spec"]["nodeName"] = json!(node);
        let mut conditions: Vec<Value> = bound
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        conditions.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
        conditions.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": object::now()}));
        bound["status"]["conditions"] = json!(conditions);
        if dry_run(ctx)? {
            return Ok(h::json(201, &success()));
        }
        match ctx
            .state
            .store
            .update(&key, object::for_storage(&bound).into(), kv.mod_revision)
            .await
        {
            Ok(_) => return Ok(h::json(201, &success())),
            Err(store::Error::Conflict { .. }) => continue,
            Err(e) => return Err(ApiError::from_store(e)),
        }
    }
    Err(ApiError::conflict(pods.subject(), &name))
}

/// Evicts a pod: a delete with the eviction's options, if its disruption budget allows
/// (see [`super::eviction`]).
pub async fn evict(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let eviction = ctx.body_object().unwrap_or(Value::Null);
    let mut delete_options = options(&Ctx {
        state: ctx.state,
        user: ctx.user,
        method: ctx.method,
        headers: ctx.headers,
        query: ctx.query.clone(),
        path: ctx.path.clone(),
        info: ctx.info.clone(),
        body: bytes::Bytes::new(),
        warnings: Default::default(),
        upgrade: Default::default(),
    })?;
    if eviction
        .pointer("/deleteOptions/dryRun")
        .and_then(Value::as_array)
        .is_some_and(|d| !d.is_empty())
    {
        delete_options.dry_run = true;
    }
    if let Some(grace) = eviction
        .pointer("/deleteOptions/gracePeriodSeconds")
        .and_then(Value::as_i64)
    {
        delete_options.grace_period = Some(grace.max(0));
    }
    // The pod's disruption budget decides; it may pin the pod's resourceVersion.
    let pin = super::eviction::check_budgets(ctx, &ctx.key(), delete_options.dry_run).await?;
    let mut budget = None;
    if let Some(pin) = pin
        && delete_options.precondition_rv.is_none()
    {
        delete_options.precondition_rv = Some(pin.resource_version);
        budget = pin.budget;
    }
    match delete_one(ctx, &ctx.key(), ctx.name(), &delete_options).await {
        Ok(Deleted::Now(_) | Deleted::Pending(_)) => Ok(h::json(201, &success())),
        // The pod changed since its budget was checked: the client should try again.
        Err(e) if e.code == 409 && budget.is_some() => Err(super::eviction::budget_pending(
            budget.as_deref().unwrap_or_default(),
        )),
        Err(e) => Err(e),
    }
}

/// TokenRequest: a signed token for the service account, optionally bound to a pod, secret
/// or node.
pub async fn token_request(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let request = ctx.body_object()?;
    let namespace = ctx.namespace().unwrap_or_default().to_string();
    let name = ctx.name().to_string();
    let subject = crate::api::status::Subject {
        group: "authentication.k8s.io",
        plural: "token",
        kind: "TokenRequest",
    };
    let Some((_, account)) = current(ctx, &ctx.key()).await? else {
        return Err(ApiError::not_found(ctx.info.subject(), &name));
    };
    let seconds = request
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    if seconds < MIN_TOKEN_SECONDS {
        return Err(ApiError::invalid(
            subject,
            &name,
            &[FieldError::invalid(
                "spec.expirationSeconds",
                &json!(seconds),
                "may not specify a duration less than 10 minutes",
            )],
        ));
    }
    if seconds > MAX_TOKEN_SECONDS {
        return Err(ApiError::invalid(
            subject,
            &name,
            &[FieldError::invalid(
                "spec.expirationSeconds",
                &json!(seconds),
                "may not specify a duration larger than 2^32 seconds",
            )],
        ));
    }
    let audiences: Vec<String> = match request.pointer("/spec/audiences").and_then(Value::as_array)
    {
        Some(list) if !list.is_empty() => list
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
        _ => ctx.state.tokens.default_audiences().to_vec(),
    };
    let mut claim = KubernetesClaim {
        namespace: namespace.clone(),
        serviceaccount: ObjectRef {
            name: name.clone(),
            uid: object::uid(&account).to_string(),
        },
        pod: None,
        secret: None,
        node: None,
    };
    if let Some(bound) = request
        .pointer("/spec/boundObjectRef")
        .filter(|b| b.is_object())
    {
        let kind = bound
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let bound_name = bound
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (plural, namespaced) = match kind {
            "Pod" => ("pods", true),
            "Secret" => ("secrets", true),
            "Node" => ("nodes", false),
            other => {
                return Err(ApiError::invalid(
                    subject,
                    &name,
                    &[FieldError::not_supported(
                        "spec.boundObjectRef.kind",
                        &json!(other),
                        &["Pod", "Secret", "Node"],
                    )],
                ));
            }
        };
        let info = ctx
            .state
            .registry
            .get("", "v1", plural)
            .ok_or_else(|| ApiError::internal("core kinds are not registered"))?;
        let key = info.key(namespaced.then_some(namespace.as_str()), bound_name);
        let Some((_, object)) = current(ctx, &key).await? else {
            return Err(ApiError::not_found(info.subject(), bound_name));
        };
        let uid = object::uid(&object).to_string();
        if let Some(wanted) = bound
            .get("uid")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            && wanted != uid
        {
            return Err(ApiError::conflict_because(
                info.subject(),
                bound_name,
                &format!(
                    "the UID in the bound object reference ({wanted}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            ));
        }
        let reference = Some(ObjectRef {
            name: bound_name.to_string(),
            uid,
        });
        match kind {
            "Pod" => claim.pod = reference,
            "Secret" => claim.secret = reference,
            _ => claim.node = reference,
        }
    }
    let now = object::unix_now();
    let claims = Claims {
        iss: ctx.state.tokens.issuer().to_string(),
        sub: format!("system:serviceaccount:{namespace}:{name}"),
        aud: audiences.clone(),
        exp: now + seconds,
        iat: now,
        nbf: now,
        jti: object::new_uid(),
        kubernetes: claim,
    };
    let token = ctx
        .state
        .tokens
        .issue(&claims)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut response = request.clone();
    response["apiVersion"] = json!("authentication.k8s.io/v1");
    response["kind"] = json!("TokenRequest");
    response["metadata"] =
        json!({"name": name, "namespace": namespace, "creationTimestamp": object::now()});
    response["spec"]["audiences"] = json!(audiences);
    response["spec"]["expirationSeconds"] = json!(seconds);
    response["status"] = json!({
        "token": token,
        "expirationTimestamp": object::time_after(seconds),
    });
    Ok(h::json(201, &response))
}

/// The user a bearer token names, if it is a valid service-account token whose account
/// (and bound object) still exist.
pub async fn authenticate_token(
    state: &ApiState,
    token: &str,
    audiences: &[String],
) -> Option<UserInfo> {
    let claims = state
        .tokens
        .verify(token, object::unix_now(), audiences)
        .ok()?;
    let k = &claims.kubernetes;
    let live_uid = |plural: &str, namespaced: bool, name: &str| -> Option<(String, Value)> {
        let info = state.registry.get("", "v1", plural)?;
        let key = info.key(namespaced.then_some(k.namespace.as_str()), name);
        let object = state.cache.get(&key)?.value();
        Some((object::uid(&object).to_string(), object))
    };
    let (sa_uid, _) = live_uid("serviceaccounts", true, &k.serviceaccount.name)?;
    if sa_uid != k.serviceaccount.uid {
        return None;
    }
    let mut extra = vec![(
        "authentication.kubernetes.io/credential-id".to_string(),
        vec![format!("JTI={}", claims.jti)],
    )];
    if let Some(pod) = &k.pod {
        let (uid, object) = live_uid("pods", true, &pod.name)?;
        let gone = object
            .pointer("/metadata/deletionTimestamp")
            .and_then(Value::as_str)
            .and_then(object::parse_time)
            .is_some_and(|t| t < object::unix_now());
        if uid != pod.uid || gone {
            return None;
        }
        extra.push((
            "authentication.kubernetes.io/pod-name".into(),
            vec![pod.name.clone()],
        ));
        extra.push((
            "authentication.kubernetes.io/pod-uid".into(),
            vec![pod.uid.clone()],
        ));
    }
    if let Some(secret) = &k.secret {
        let (uid, _) = live_uid("secrets", true, &secret.name)?;
        if uid != secret.uid {
            return None;
        }
    }
    if let Some(node) = &k.node {
        let (uid, _) = live_uid("nodes", false, &node.name)?;
        if uid != node.uid {
            return None;
        }
        extra.push((
            "authentication.kubernetes.io/node-name".into(),
            vec![node.name.clone()],
        ));
    }
    let mut user = UserInfo::new(
        claims.sub.clone(),
        vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{}", k.namespace),
        ],
    );
    user.uid = sa_uid;
    user.extra = extra;
    Some(user)
}

/// Answers the review kinds; `None` for anything else.
pub async fn review(ctx: &Ctx<'_>) -> Result<Option<Response<Body>>, ApiError> {
    let info = &ctx.info;
    if info.group.is_empty() && info.kind == "Binding" {
        return bind(ctx).await.map(Some);
    }
    let review_kind = matches!(
        (info.group.as_str(), info.kind.as_str()),
        ("authorization.k8s.io", _)
            | ("authentication.k8s.io", "SelfSubjectReview" | "TokenReview")
    );
    if !review_kind {
        return Ok(None);
    }
    let mut review = ctx.body_object()?;
    let spec = review.get("spec").cloned().unwrap_or(Value::Null);
    let mut errors = Vec::new();
    if info.group == "authorization.k8s.io" && info.kind != "SelfSubjectRulesReview" {
        let resource = spec.get("resourceAttributes").filter(|v| !v.is_null());
        let non_resource = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
        if resource.is_some() == non_resource.is_some() {
            errors.push(FieldError::invalid(
                "spec.resourceAttributes",
                &json!(if resource.is_some() { "{...}" } else { "null" }),
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ));
        }
        if info.kind == "SubjectAccessReview" || info.kind == "LocalSubjectAccessReview" {
            let user = spec.get("user").and_then(Value::as_str).unwrap_or_default();
            let groups = spec
                .get("groups")
                .and_then(Value::as_array)
                .is_some_and(|g| !g.is_empty());
            if user.is_empty() && !groups {
                errors.push(FieldError::invalid(
                    "spec.user",
                    &json!(user),
                    "at least one of user or group must be specified",
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(info.subject(), "", &errors));
    }
    review["apiVersion"] = json!(info.api_version());
    review["kind"] = json!(info.kind);
    let meta = object::metadata_mut(&mut review);
    meta.insert("creationTimestamp".into(), Value::Null);
    // Authorization is not enforced yet: every authenticated user may do everything, which
    // is what these answers report.
    review["status"] = match info.kind.as_str() {
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            json!({"allowed": true, "reason": "kedge does not enforce authorization yet: every authenticated user is allowed"})
        }
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        "SelfSubjectReview" => json!({"userInfo": ctx.user.to_json()}),
        "TokenReview" => {
            let token = review
                .pointer("/spec/token")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let audiences: Vec<String> = review
                .pointer("/spec/audiences")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            match authenticate_token(ctx.state, &token, &audiences).await {
                Some(user) => {
                    let audiences = if audiences.is_empty() {
                        ctx.state.tokens.default_audiences().to_vec()
                    } else {
                        audiences
                    };
                    json!({"authenticated": true, "user": user.to_json(), "audiences": audiences})
                }
                None => json!({"authenticated": false, "error": "invalid bearer token"}),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(h::json(201, &review)))
}
