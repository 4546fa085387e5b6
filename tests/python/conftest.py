"""Shared fixtures and helpers for kedge's Python-client suite.

The suite drives a freshly started, empty kedge server with the official, unmodified PyPI
`kubernetes` client. `tests/python_client.rs` starts the server and runs
`python3 -m pytest -q -p no:cacheprovider tests/python` with KUBECONFIG pointing at it.

Every test gets its own namespace `py-<testname>` (the `namespace` fixture), created before and
deleted after the test, so tests do not depend on each other or on their order. Cluster-scoped
objects a test makes (CustomResourceDefinitions) are named after the test as well and removed
by the fixture that made them.

The assertions follow upstream Kubernetes behaviour (kube-apiserver 1.35): a failing test is a
difference between kedge and upstream, not a reason to relax the test.

Test modules import the plain helpers below with `from conftest import ...`.
"""

import hashlib
import json
import re
import time

import pytest
from kubernetes import client, config, dynamic
from kubernetes.client.rest import ApiException

# --------------------------------------------------------------------------------------------
# Plain helpers
# --------------------------------------------------------------------------------------------


def k8s_name(text, prefix="", limit=63):
    """`text` (a test name) made into a DNS-1123 label: `test_` dropped, lower case, `-` for
    anything else, at most `limit` characters (a short hash keeps truncated names distinct)."""
    text = re.sub(r"^test_", "", text)
    name = prefix + re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(name) > limit:
        digest = hashlib.sha1(name.encode()).hexdigest()[:5]
        name = name[: limit - 6].rstrip("-") + "-" + digest
    return name


def body_of(exc):
    """The JSON body of an ApiException (a Status), as a dict."""
    assert exc.body, f"the error carries no body: {exc!r}"
    return json.loads(exc.body)


def expect_error(status, reason, call, *args, **kwargs):
    """Calls `call`, asserts it raises an ApiException with HTTP `status` whose body is a
    `v1 Status` with `code` `status` and `reason` `reason`; returns that body."""
    with pytest.raises(ApiException) as info:
        call(*args, **kwargs)
    exc = info.value
    assert exc.status == status, f"expected HTTP {status}, got {exc.status}: {exc.body}"
    body = body_of(exc)
    assert body.get("kind") == "Status", body
    assert body.get("apiVersion") == "v1", body
    assert body.get("status") == "Failure", body
    assert body.get("code") == status, body
    assert body.get("reason") == reason, body
    return body


def assert_delete_status(result, name, resource, uid, group=None):
    """Asserts `result` (the dict a delete call returns) is upstream's answer to a delete that
    removed the object at once: a `Success` Status whose details name the object, its group,
    its resource (in `kind`, as upstream does) and its uid."""
    assert isinstance(result, dict), result
    assert result.get("kind") == "Status", result
    assert result.get("apiVersion") == "v1", result
    assert result.get("status") == "Success", result
    details = result.get("details") or {}
    assert details.get("name") == name, result
    assert details.get("kind") == resource, result
    assert details.get("uid") == uid, result
    assert details.get("group") == group, result


def wait_for(predicate, timeout=20.0, interval=0.2, what="condition"):
    """Polls `predicate` until it returns something truthy; returns that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def gone(read, *args):
    """True once `read(*args)` answers 404."""
    try:
        read(*args)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def raw_get(api_client, path, accept="application/json", query=None):
    """GET `path` with the given Accept; returns (status, headers, parsed JSON body), or raises
    ApiException for a non-2xx answer."""
    resp = api_client.call_api(
        *api_client.param_serialize(
            method="GET",
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params={"Accept": accept},
            auth_settings=["BearerToken"],
        )
    )
    resp.read()
    if not 200 <= resp.status <= 299:
        raise ApiException(http_resp=resp)
    return resp.status, resp.getheaders(), json.loads(resp.data)


def deployment_body(name, labels=None, replicas=1, image="registry.k8s.io/pause:3.10"):
    """A minimal apps/v1 Deployment as a client model (apiVersion/kind left unset, as the
    client's own examples do)."""
    labels = labels or {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="app", image=image)]),
            ),
        ),
    )


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kube_config():
    """The client Configuration loaded from KUBECONFIG (also made the default)."""
    config.load_kube_config()
    return client.Configuration.get_default_copy()


@pytest.fixture
def api_client(kube_config):
    with client.ApiClient(kube_config) as api:
        yield api


@pytest.fixture
def core(api_client):
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client):
    return client.AppsV1Api(api_client)


@pytest.fixture
def custom(api_client):
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def apiext(api_client):
    return client.ApiextensionsV1Api(api_client)


@pytest.fixture
def dyn(api_client, tmp_path):
    """A DynamicClient with a discovery cache file private to the test."""
    return dynamic.DynamicClient(api_client, cache_file=str(tmp_path / "discovery-cache.json"))


@pytest.fixture
def namespace(request, core):
    """A namespace `py-<testname>` for this test alone, deleted afterwards."""
    name = k8s_name(request.node.name, prefix="py-")
    created = core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"kedge.test/suite": "python"}))
    )
    assert created.metadata.name == name
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture
def crd_names(request):
    """Names for a CustomResourceDefinition private to this test:
    group `<test>.kedge.test`, kind `Widget`, plural `widgets`."""
    group = k8s_name(request.node.name, limit=40) + ".kedge.test"
    return {
        "group": group,
        "version": "v1",
        "kind": "Widget",
        "list_kind": "WidgetList",
        "plural": "widgets",
        "singular": "widget",
        "short": "wdg",
        "name": f"widgets.{group}",
    }


@pytest.fixture
def cleanup_crds(apiext):
    """Collects CRD names to delete at the end of the test. Waits (briefly) for them to be
    gone so that their groups do not linger in the discovery other tests read; whether
    deletion works is asserted by a test of its own, not here."""
    names = []
    yield names
    for name in names:
        try:
            apiext.delete_custom_resource_definition(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
    deadline = time.monotonic() + 20
    while names and time.monotonic() < deadline:
        if all(gone(apiext.read_custom_resource_definition, name) for name in names):
            break
        time.sleep(0.2)


# --------------------------------------------------------------------------------------------
# CustomResourceDefinitions
# --------------------------------------------------------------------------------------------


def widget_crd_body(names, scope="Namespaced"):
    """A CustomResourceDefinition (apiextensions.k8s.io/v1) for `Widget` with a structural
    schema (bounds, an enum, a required field), status and scale subresources and
    additionalPrinterColumns."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": names["name"]},
        "spec": {
            "group": names["group"],
            "scope": scope,
            "names": {
                "plural": names["plural"],
                "singular": names["singular"],
                "kind": names["kind"],
                "listKind": names["list_kind"],
                "shortNames": [names["short"]],
            },
            "versions": [
                {
                    "name": names["version"],
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {
                                        "size": {"type": "integer", "minimum": 1, "maximum": 10},
                                        "color": {"type": "string", "enum": ["red", "green", "blue"]},
                                        "replicas": {"type": "integer", "minimum": 0},
                                        "tags": {"type": "array", "items": {"type": "string"}},
                                        "labels": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                    },
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {
                                        "phase": {"type": "string"},
                                        "replicas": {"type": "integer"},
                                        "selector": {"type": "string"},
                                    },
                                },
                            },
                        }
                    },
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": [
                        {"name": "Size", "type": "integer", "jsonPath": ".spec.size", "description": "how big"},
                        {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                }
            ],
        },
    }


def crd_condition(crd, kind):
    """The status of condition `kind` of a CRD model, or None."""
    for condition in (crd.status.conditions or []) if crd.status else []:
        if condition.type == kind:
            return condition.status
    return None


_never_established = []


def wait_established(apiext, name):
    """Waits for the CRD's Established condition to be True and returns the CRD.

    Upstream establishes a CRD within a few seconds. Once one CRD of the run has failed to
    become Established, later waits are short so that a server without CRD support fails
    every CRD test quickly instead of slowly."""

    def established():
        crd = apiext.read_custom_resource_definition(name)
        return crd if crd_condition(crd, "Established") == "True" else None

    timeout = 5 if _never_established else 20
    try:
        return wait_for(established, timeout=timeout, what=f"CRD {name} to be Established")
    except AssertionError:
        _never_established.append(name)
        raise


@pytest.fixture
def widget_crd(apiext, crd_names, cleanup_crds):
    """The test's Widget CRD, created, Established, and deleted after the test."""
    cleanup_crds.append(crd_names["name"])
    apiext.create_custom_resource_definition(widget_crd_body(crd_names))
    wait_established(apiext, crd_names["name"])
    return crd_names


def widget(names, name, spec=None, **extra):
    """A Widget custom object as a dict."""
    body = {
        "apiVersion": f"{names['group']}/{names['version']}",
        "kind": names["kind"],
        "metadata": {"name": name},
        "spec": spec if spec is not None else {"size": 3},
    }
    body.update(extra)
    return body
