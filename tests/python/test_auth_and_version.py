"""Service-account tokens, authentication and authorization reviews, version and API versions.

Covers TokenRequest (`create_namespaced_service_account_token`) yielding a bearer token that
authenticates a fresh ApiClient (discovery and SelfSubjectReview show
`system:serviceaccount:<ns>:<name>`), TokenReview of it, tokens bound to the service account
dying with it, 401 for bad tokens, RBAC on the token's user (403 without a binding, allowed
with a Role + RoleBinding), SelfSubjectAccessReview/SelfSubjectRulesReview/SubjectAccessReview,
`/version` through VersionApi and `/api`, `/apis` through CoreApi/ApisApi.
"""

import datetime
import json
import re

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from conftest import expect_error, wait_for


def make_service_account(core, namespace, name="robot"):
    return core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
    )


def request_token(core, namespace, name="robot", seconds=3600, audiences=None):
    body = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=audiences or [], expiration_seconds=seconds)
    )
    return core.create_namespaced_service_account_token(name, namespace, body)


def token_client(kube_config, token):
    """An ApiClient that authenticates with `token` only (no client certificate)."""
    cfg = client.Configuration(host=kube_config.host)
    cfg.ssl_ca_cert = kube_config.ssl_ca_cert
    cfg.verify_ssl = kube_config.verify_ssl
    cfg.api_key = {"BearerToken": token}
    cfg.api_key_prefix = {"BearerToken": "Bearer"}
    return client.ApiClient(cfg)


def test_service_account_token_authenticates(core, kube_config, namespace):
    sa = make_service_account(core, namespace)
    before = datetime.datetime.now(datetime.timezone.utc)
    issued = request_token(core, namespace, seconds=3600)
    assert issued.kind == "TokenRequest"
    assert issued.api_version == "authentication.k8s.io/v1"
    assert issued.status.token.count(".") == 2, "a JWT"
    expires = issued.status.expiration_timestamp
    assert datetime.timedelta(minutes=59) < expires - before < datetime.timedelta(minutes=61), expires
    # Audiences default to the API server's.
    assert issued.spec.audiences

    with token_client(kube_config, issued.status.token) as api:
        resources = client.CoreV1Api(api).get_api_resources()
        assert resources.group_version == "v1"
        assert "configmaps" in [r.name for r in resources.resources]

        review = client.AuthenticationV1Api(api).create_self_subject_review(client.V1SelfSubjectReview())
        user = review.status.user_info
        assert user.username == f"system:serviceaccount:{namespace}:robot"
        assert user.uid == sa.metadata.uid
        assert set(user.groups) == {"system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"}


def test_token_review(core, api_client, namespace):
    make_service_account(core, namespace)
    token = request_token(core, namespace).status.token
    auth = client.AuthenticationV1Api(api_client)

    review = auth.create_token_review(client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token)))
    assert review.kind == "TokenReview"
    assert review.status.authenticated is True
    assert review.status.user.username == f"system:serviceaccount:{namespace}:robot"
    assert "system:authenticated" in review.status.user.groups
    assert review.status.audiences

    bogus = auth.create_token_review(client.V1TokenReview(spec=client.V1TokenReviewSpec(token="not-a-token")))
    assert not bogus.status.authenticated
    assert bogus.status.error

    # A token for another audience does not pass a review for the API server's audience.
    other = request_token(core, namespace, audiences=["https://elsewhere.example"]).status.token
    foreign = auth.create_token_review(client.V1TokenReview(spec=client.V1TokenReviewSpec(token=other)))
    assert not foreign.status.authenticated
    scoped = auth.create_token_review(
        client.V1TokenReview(spec=client.V1TokenReviewSpec(token=other, audiences=["https://elsewhere.example"]))
    )
    assert scoped.status.authenticated is True
    assert scoped.status.audiences == ["https://elsewhere.example"]


def test_token_request_errors(core, namespace):
    body = expect_error(404, "NotFound", request_token, core, namespace, "ghost")
    assert body["message"] == 'serviceaccounts "ghost" not found'

    make_service_account(core, namespace)
    body = expect_error(422, "Invalid", request_token, core, namespace, "robot", 10)
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.expirationSeconds"], body


def test_token_dies_with_its_service_account(core, kube_config, namespace):
    make_service_account(core, namespace)
    token = request_token(core, namespace).status.token
    with token_client(kube_config, token) as api:
        assert client.CoreV1Api(api).get_api_resources().group_version == "v1"
        core.delete_namespaced_service_account("robot", namespace)
        body = wait_for(lambda: _unauthorized(api), timeout=10, what="the token to be rejected")
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def _unauthorized(api):
    try:
        client.CoreV1Api(api).get_api_resources()
    except ApiException as exc:
        if exc.status == 401:
            return json.loads(exc.body)
        raise
    return None


def test_bad_bearer_token_is_401(kube_config):
    with token_client(kube_config, "definitely-not-valid") as api:
        body = expect_error(401, "Unauthorized", client.CoreV1Api(api).get_api_resources)
        assert body["message"] == "Unauthorized"


@pytest.mark.xfail(
    strict=True,
    reason="RBAC authorization is not implemented yet (the API server issue defers it): every "
    "authenticated user may do everything. Strict: this starts failing the suite once RBAC lands.",
)
def test_service_account_needs_rbac(core, api_client, kube_config, namespace):
    make_service_account(core, namespace)
    token = request_token(core, namespace).status.token
    user = f"system:serviceaccount:{namespace}:robot"
    with token_client(kube_config, token) as api:
        sa_core = client.CoreV1Api(api)
        body = expect_error(403, "Forbidden", sa_core.list_namespaced_config_map, namespace)
        assert body["message"] == (
            f'configmaps is forbidden: User "{user}" cannot list resource "configmaps" in API group "" '
            f'in the namespace "{namespace}"'
        )
        assert body["details"] == {"kind": "configmaps"}

        ssar = client.AuthorizationV1Api(api).create_self_subject_access_review(
            client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(namespace=namespace, verb="list", resource="configmaps")))
        )
        assert ssar.status.allowed is False

        rbac = client.RbacAuthorizationV1Api(api_client)
        rbac.create_namespaced_role(namespace, client.V1Role(
            metadata=client.V1ObjectMeta(name="cm-reader"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get", "list"])],
        ))
        rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="robot-reads"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="cm-reader"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="robot", namespace=namespace)],
        ))

        listed = wait_for(lambda: _try_list(sa_core, namespace), timeout=10, what="the RoleBinding to take effect")
        assert listed.kind == "ConfigMapList"
        body = expect_error(
            403, "Forbidden", sa_core.create_namespaced_config_map, namespace,
            client.V1ConfigMap(metadata=client.V1ObjectMeta(name="nope")),
        )
        assert f'User "{user}" cannot create resource "configmaps"' in body["message"]

    sar = client.AuthorizationV1Api(api_client).create_subject_access_review(client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=user, groups=["system:serviceaccounts", "system:authenticated"],
            resource_attributes=client.V1ResourceAttributes(namespace=namespace, verb="get", resource="configmaps"),
        )
    ))
    assert sar.status.allowed is True
    assert sar.status.reason, "upstream RBAC names the binding that allowed it"


def _try_list(sa_core, namespace):
    try:
        return sa_core.list_namespaced_config_map(namespace)
    except ApiException as exc:
        if exc.status == 403:
            return None
        raise


def test_self_subject_access_review_for_admin(api_client, namespace):
    authz = client.AuthorizationV1Api(api_client)
    review = authz.create_self_subject_access_review(client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(namespace=namespace, verb="create", resource="configmaps"))
    ))
    assert review.kind == "SelfSubjectAccessReview"
    assert review.api_version == "authorization.k8s.io/v1"
    assert review.status.allowed is True
    assert review.spec.resource_attributes.resource == "configmaps"

    non_resource = authz.create_self_subject_access_review(client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            non_resource_attributes=client.V1NonResourceAttributes(path="/healthz", verb="get"))
    ))
    assert non_resource.status.allowed is True

    rules = authz.create_self_subject_rules_review(client.V1SelfSubjectRulesReview(
        spec=client.V1SelfSubjectRulesReviewSpec(namespace=namespace)
    ))
    assert any("*" in (r.verbs or []) and "*" in (r.resources or []) for r in rules.status.resource_rules), rules.status

    me = client.AuthenticationV1Api(api_client).create_self_subject_review(client.V1SelfSubjectReview())
    assert me.status.user_info.username
    assert "system:authenticated" in me.status.user_info.groups

    # An invalid review: neither resource nor non-resource attributes.
    body = expect_error(
        422, "Invalid", authz.create_self_subject_access_review,
        client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec()),
    )
    assert "exactly one of nonResourceAttributes or resourceAttributes must be specified" in body["message"], body


def test_version(api_client):
    info = client.VersionApi(api_client).get_code()
    assert info.major == "1"
    assert re.fullmatch(r"\d+\+?", info.minor), info.minor
    assert re.match(r"^v1\.\d+\.\d+", info.git_version), info.git_version
    assert info.git_version.startswith(f"v{info.major}.{info.minor.rstrip('+')}.")
    assert re.fullmatch(r"[a-z0-9]+/[a-z0-9]+", info.platform), info.platform
    assert info.go_version and info.compiler and info.build_date and info.git_commit is not None
    assert info.git_tree_state in ("clean", "dirty", "")


def test_api_versions(api_client):
    core_versions = client.CoreApi(api_client).get_api_versions()
    assert core_versions.kind == "APIVersions"
    assert core_versions.versions == ["v1"]

    groups = client.ApisApi(api_client).get_api_versions()
    assert groups.kind == "APIGroupList"
    by_name = {g.name: g for g in groups.groups}
    for name in ("apps", "batch", "apiextensions.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
                 "rbac.authorization.k8s.io", "coordination.k8s.io", "networking.k8s.io", "storage.k8s.io"):
        assert name in by_name, f"group {name} missing: {sorted(by_name)}"
    assert by_name["apps"].preferred_version.group_version == "apps/v1"
    assert [v.version for v in by_name["apps"].versions] == ["v1"]

    apps_group = client.AppsApi(api_client).get_api_group()
    assert apps_group.name == "apps" and apps_group.preferred_version.version == "v1"

    apps_resources = client.AppsV1Api(api_client).get_api_resources()
    names = {r.name: r for r in apps_resources.resources}
    assert {"deployments", "deployments/scale", "deployments/status", "statefulsets", "daemonsets", "replicasets"} <= set(names)
    assert names["deployments/scale"].group == "autoscaling" and names["deployments/scale"].kind == "Scale"
    assert names["deployments"].categories == ["all"]


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_health_endpoints(api_client, path):
    resp = api_client.call_api(*api_client.param_serialize(method="GET", resource_path=path,
                                                           header_params={"Accept": "*/*"},
                                                           auth_settings=["BearerToken"]))
    resp.read()
    assert resp.status == 200
    assert resp.data == b"ok"
