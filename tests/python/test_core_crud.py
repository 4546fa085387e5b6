"""CRUD of core/v1 ConfigMaps, Secrets and Services through CoreV1Api.

Covers create (the client sends bodies without apiVersion/kind when the model leaves them
unset), read, list with label and field selectors and pagination, replace (and 409 Conflict on
a stale resourceVersion), patch, delete, delete_collection, and the Status bodies of
404 NotFound, 409 AlreadyExists, 400 BadRequest and 422 Invalid.
"""

import base64
import ipaddress

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from conftest import assert_delete_status, expect_error, wait_for

RFC1123_SUBDOMAIN = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def configmap(name, data=None, labels=None):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data=data)


def names(object_list):
    return sorted(item.metadata.name for item in object_list.items)


# --------------------------------------------------------------------------------------------
# ConfigMaps
# --------------------------------------------------------------------------------------------


def test_configmap_create_read_replace_patch_delete(core, namespace):
    body = configmap("cm1", {"k": "v"}, {"app": "demo"})
    assert "apiVersion" not in core.api_client.sanitize_for_serialization(body)

    created = core.create_namespaced_config_map(namespace, body)
    assert created.kind == "ConfigMap"
    assert created.api_version == "v1"
    assert created.metadata.name == "cm1"
    assert created.metadata.namespace == namespace
    assert created.metadata.uid
    assert created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    assert created.metadata.labels == {"app": "demo"}
    assert created.data == {"k": "v"}

    got = core.read_namespaced_config_map("cm1", namespace)
    assert got.kind == "ConfigMap" and got.api_version == "v1"
    assert got.metadata.uid == created.metadata.uid
    assert got.metadata.resource_version == created.metadata.resource_version
    assert got.data == {"k": "v"}

    got.data["k2"] = "v2"
    replaced = core.replace_namespaced_config_map("cm1", namespace, got)
    assert replaced.data == {"k": "v", "k2": "v2"}
    assert replaced.metadata.uid == created.metadata.uid
    assert replaced.metadata.resource_version != created.metadata.resource_version
    assert replaced.metadata.creation_timestamp == created.metadata.creation_timestamp

    # A dict body on a built-in kind is sent as a strategic merge patch: null removes a key.
    patched = core.patch_namespaced_config_map("cm1", namespace, {"data": {"k": None, "k3": "v3"}})
    assert patched.data == {"k2": "v2", "k3": "v3"}
    assert patched.metadata.labels == {"app": "demo"}
    assert patched.metadata.resource_version != replaced.metadata.resource_version

    status = core.delete_namespaced_config_map("cm1", namespace)
    assert_delete_status(status, "cm1", "configmaps", created.metadata.uid)

    body = expect_error(404, "NotFound", core.read_namespaced_config_map, "cm1", namespace)
    assert body["message"] == 'configmaps "cm1" not found'
    assert body["details"] == {"name": "cm1", "kind": "configmaps"}


def test_configmap_replace_with_stale_resource_version_conflicts(core, namespace):
    core.create_namespaced_config_map(namespace, configmap("cm", {"n": "0"}))
    first = core.read_namespaced_config_map("cm", namespace)
    stale = core.read_namespaced_config_map("cm", namespace)

    first.data["n"] = "1"
    core.replace_namespaced_config_map("cm", namespace, first)

    stale.data["n"] = "2"
    body = expect_error(409, "Conflict", core.replace_namespaced_config_map, "cm", namespace, stale)
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "cm": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert body["details"] == {"name": "cm", "kind": "configmaps"}
    assert core.read_namespaced_config_map("cm", namespace).data == {"n": "1"}


def test_configmap_replace_without_resource_version_is_unconditional(core, namespace):
    """ConfigMaps (like most built-in kinds) allow unconditional updates: a PUT whose body
    has no resourceVersion overwrites whatever is stored."""
    created = core.create_namespaced_config_map(namespace, configmap("cm", {"n": "0"}))
    core.patch_namespaced_config_map("cm", namespace, {"data": {"n": "1"}})
    forced = core.replace_namespaced_config_map("cm", namespace, configmap("cm", {"n": "2"}))
    assert forced.data == {"n": "2"}
    assert forced.metadata.uid == created.metadata.uid
    assert forced.metadata.creation_timestamp == created.metadata.creation_timestamp


def test_configmap_already_exists(core, namespace):
    core.create_namespaced_config_map(namespace, configmap("dup", {"a": "1"}))
    body = expect_error(409, "AlreadyExists", core.create_namespaced_config_map, namespace, configmap("dup"))
    assert body["message"] == 'configmaps "dup" already exists'
    assert body["details"] == {"name": "dup", "kind": "configmaps"}
    assert core.read_namespaced_config_map("dup", namespace).data == {"a": "1"}


def test_configmap_invalid_name_is_422(core, namespace):
    body = expect_error(422, "Invalid", core.create_namespaced_config_map, namespace, configmap("Bad_Name"))
    assert body["message"].startswith(
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": ' + RFC1123_SUBDOMAIN
    ), body["message"]
    details = body["details"]
    assert details["name"] == "Bad_Name"
    assert details["kind"] == "ConfigMap"
    assert len(details["causes"]) == 1, details
    cause = details["causes"][0]
    assert cause["reason"] == "FieldValueInvalid"
    assert cause["field"] == "metadata.name"
    assert cause["message"].startswith('Invalid value: "Bad_Name": ' + RFC1123_SUBDOMAIN), cause


def test_configmap_invalid_data_key_is_422(core, namespace):
    body = expect_error(
        422, "Invalid", core.create_namespaced_config_map, namespace, configmap("badkey", {"not/valid": "x"})
    )
    assert body["details"]["kind"] == "ConfigMap"
    assert [c["field"] for c in body["details"]["causes"]] == ["data[not/valid]"], body


def test_configmap_in_missing_namespace_is_404(core, namespace):
    body = expect_error(
        404, "NotFound", core.create_namespaced_config_map, "py-no-such-namespace", configmap("cm")
    )
    assert body["message"] == 'namespaces "py-no-such-namespace" not found'
    assert body["details"] == {"name": "py-no-such-namespace", "kind": "namespaces"}


def test_name_and_namespace_mismatches_are_400(core, namespace):
    core.create_namespaced_config_map(namespace, configmap("url-name", {"a": "1"}))
    current = core.read_namespaced_config_map("url-name", namespace)
    current.metadata.name = "body-name"
    body = expect_error(400, "BadRequest", core.replace_namespaced_config_map, "url-name", namespace, current)
    assert body["message"] == "the name of the object (body-name) does not match the name on the URL (url-name)"

    other = configmap("cm-other-ns")
    other.metadata.namespace = "kube-system"
    body = expect_error(400, "BadRequest", core.create_namespaced_config_map, namespace, other)
    assert body["message"] == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )


def test_configmap_list_with_label_and_field_selectors(core, namespace):
    core.create_namespaced_config_map(namespace, configmap("a", labels={"app": "demo", "tier": "front"}))
    core.create_namespaced_config_map(namespace, configmap("b", labels={"app": "demo", "tier": "back"}))
    core.create_namespaced_config_map(namespace, configmap("c", labels={"app": "other"}))

    listed = core.list_namespaced_config_map(namespace, label_selector="app")
    assert listed.kind == "ConfigMapList"
    assert listed.api_version == "v1"
    assert listed.metadata.resource_version
    assert names(listed) == ["a", "b", "c"]
    for item in listed.items:
        assert item.metadata.namespace == namespace and item.metadata.resource_version

    def select(**kwargs):
        return names(core.list_namespaced_config_map(namespace, **kwargs))

    assert select(label_selector="app=demo") == ["a", "b"]
    assert select(label_selector="app==demo,tier!=front") == ["b"]
    assert select(label_selector="tier in (front,back)") == ["a", "b"]
    assert select(label_selector="app,tier notin (front)") == ["b", "c"]
    assert select(label_selector="app,!tier") == ["c"]
    assert select(field_selector="metadata.name=b") == ["b"]
    assert select(field_selector="metadata.name==c") == ["c"]
    assert select(label_selector="app", field_selector="metadata.name!=a") == ["b", "c"]
    assert select(label_selector="app=demo", field_selector="metadata.name=c") == []
    assert select(field_selector=f"metadata.namespace={namespace},metadata.name=a") == ["a"]

    # The cluster-wide list honours the same selectors.
    everywhere = core.list_config_map_for_all_namespaces(field_selector="metadata.name=b", label_selector="app=demo")
    assert [(i.metadata.namespace, i.metadata.name) for i in everywhere.items] == [(namespace, "b")]

    body = expect_error(
        400, "BadRequest", core.list_namespaced_config_map, namespace, field_selector="spec.nonsense=x"
    )
    assert 'field label not supported: spec.nonsense' in body["message"], body


def test_configmap_delete_collection_by_label(core, namespace):
    for name, group in [("d1", "drop"), ("d2", "drop"), ("k1", "keep")]:
        core.create_namespaced_config_map(namespace, configmap(name, labels={"group": group}))

    core.delete_collection_namespaced_config_map(namespace, label_selector="group=drop")

    assert names(core.list_namespaced_config_map(namespace, label_selector="group")) == ["k1"]
    expect_error(404, "NotFound", core.read_namespaced_config_map, "d1", namespace)


def test_every_namespace_gets_kube_root_ca_configmap(core, namespace):
    """Upstream's root-ca-cert-publisher puts `kube-root-ca.crt` into each namespace."""

    def published():
        try:
            return core.read_namespaced_config_map("kube-root-ca.crt", namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    cm = wait_for(published, timeout=15, what="configmap kube-root-ca.crt")
    assert cm.data["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------


def test_secret_crud(core, namespace):
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name="creds", labels={"app": "demo"}),
        data={"user": b64("admin"), "password": b64("s3cr3t")},
    )
    created = core.create_namespaced_secret(namespace, body)
    assert created.kind == "Secret" and created.api_version == "v1"
    assert created.type == "Opaque"
    assert created.data == {"user": b64("admin"), "password": b64("s3cr3t")}

    got = core.read_namespaced_secret("creds", namespace)
    assert got.data == created.data
    assert got.metadata.uid == created.metadata.uid

    got.data["password"] = b64("changed")
    replaced = core.replace_namespaced_secret("creds", namespace, got)
    assert replaced.data["password"] == b64("changed")

    patched = core.patch_namespaced_secret("creds", namespace, {"data": {"user": None, "token": b64("t")}})
    assert patched.data == {"password": b64("changed"), "token": b64("t")}

    listed = core.list_namespaced_secret(namespace, field_selector="metadata.name=creds")
    assert listed.kind == "SecretList"
    assert [s.metadata.name for s in listed.items] == ["creds"]
    assert listed.items[0].data == patched.data

    status = core.delete_namespaced_secret("creds", namespace)
    assert_delete_status(status, "creds", "secrets", created.metadata.uid)
    body = expect_error(404, "NotFound", core.read_namespaced_secret, "creds", namespace)
    assert body["message"] == 'secrets "creds" not found'


def test_secret_string_data_is_merged_into_data(core, namespace):
    """stringData is write-only: the server base64-encodes it into data (winning over data
    for the same key) and never returns it."""
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name="sd"),
        data={"user": b64("admin"), "password": b64("old")},
        string_data={"password": "s3cr3t"},
    )
    created = core.create_namespaced_secret(namespace, body)
    assert created.string_data is None
    assert created.data == {"user": b64("admin"), "password": b64("s3cr3t")}

    got = core.read_namespaced_secret("sd", namespace)
    assert got.string_data is None
    got.string_data = {"password": "changed"}
    replaced = core.replace_namespaced_secret("sd", namespace, got)
    assert replaced.string_data is None
    assert replaced.data == {"user": b64("admin"), "password": b64("changed")}

    patched = core.patch_namespaced_secret("sd", namespace, {"stringData": {"extra": "x"}})
    assert patched.string_data is None
    assert patched.data["extra"] == b64("x")


def test_secret_list_pagination(core, namespace):
    for i in range(3):
        core.create_namespaced_secret(namespace, client.V1Secret(metadata=client.V1ObjectMeta(name=f"s{i}")))

    first = core.list_namespaced_secret(namespace, limit=2)
    assert len(first.items) == 2
    assert first.metadata._continue
    assert first.metadata.remaining_item_count == 1
    second = core.list_namespaced_secret(namespace, limit=2, _continue=first.metadata._continue)
    assert len(second.items) == 1
    assert not second.metadata._continue
    assert sorted(s.metadata.name for s in first.items + second.items) == ["s0", "s1", "s2"]


def test_secret_validation_errors(core, namespace):
    tls = client.V1Secret(metadata=client.V1ObjectMeta(name="tls"), type="kubernetes.io/tls", data={})
    body = expect_error(422, "Invalid", core.create_namespaced_secret, namespace, tls)
    fields = sorted(c["field"] for c in body["details"]["causes"])
    assert fields == ["data[tls.crt]", "data[tls.key]"], body
    assert all(c["reason"] == "FieldValueRequired" for c in body["details"]["causes"]), body

    frozen = client.V1Secret(metadata=client.V1ObjectMeta(name="frozen"), immutable=True, data={"a": b64("1")})
    core.create_namespaced_secret(namespace, frozen)
    body = expect_error(
        422, "Invalid", core.patch_namespaced_secret, "frozen", namespace, {"data": {"a": b64("2")}}
    )
    assert body["details"]["causes"][0]["field"] == "data", body
    assert "field is immutable when `immutable` is set" in body["message"], body


# --------------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------------


def service(name, port=80, target=8080, **spec):
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1ServiceSpec(
            selector={"app": name},
            ports=[client.V1ServicePort(name="http", port=port, target_port=target)],
            **spec,
        ),
    )


def test_service_crud(core, namespace):
    created = core.create_namespaced_service(namespace, service("web"))
    assert created.kind == "Service" and created.api_version == "v1"
    assert len(created.spec.ports) == 1
    assert created.spec.ports[0].protocol == "TCP"
    assert created.spec.ports[0].port == 80
    assert created.spec.ports[0].target_port == 8080

    got = core.read_namespaced_service("web", namespace)
    assert got.metadata.uid == created.metadata.uid
    assert got.spec.cluster_ip == created.spec.cluster_ip

    listed = core.list_namespaced_service(namespace, label_selector="app=web")
    assert listed.kind == "ServiceList"
    assert [s.metadata.name for s in listed.items] == ["web"]

    # ServiceSpec.ports merge by port in a strategic merge patch; targetPort defaults to port.
    patched = core.patch_namespaced_service(
        "web", namespace, {"spec": {"ports": [{"name": "metrics", "port": 9090}]}}
    )
    assert sorted(p.port for p in patched.spec.ports) == [80, 9090]
    assert patched.spec.cluster_ip == created.spec.cluster_ip
    metrics = next(p for p in patched.spec.ports if p.port == 9090)
    assert metrics.target_port == 9090 and metrics.protocol == "TCP"

    patched.spec.ports = [p for p in patched.spec.ports if p.port == 80]
    replaced = core.replace_namespaced_service("web", namespace, patched)
    assert [p.port for p in replaced.spec.ports] == [80]
    assert replaced.spec.cluster_ip == created.spec.cluster_ip

    # Services are one of the kinds whose delete answers with the deleted object, not a Status.
    deleted = core.delete_namespaced_service("web", namespace)
    assert isinstance(deleted, client.V1Service), deleted
    assert deleted.kind == "Service"
    assert deleted.metadata.name == "web" and deleted.metadata.uid == created.metadata.uid
    expect_error(404, "NotFound", core.read_namespaced_service, "web", namespace)


def test_service_defaults_and_cluster_ip_allocation(core, namespace):
    spec = core.create_namespaced_service(namespace, service("alloc")).spec
    assert spec.type == "ClusterIP"
    assert spec.session_affinity == "None"
    assert spec.internal_traffic_policy == "Cluster"
    assert spec.ip_families == ["IPv4"]
    assert spec.ip_family_policy == "SingleStack"
    assert spec.cluster_ip is not None, "a ClusterIP service gets an address allocated"
    assert ipaddress.ip_address(spec.cluster_ip).version == 4
    assert spec.cluster_ips == [spec.cluster_ip]

    other = core.create_namespaced_service(namespace, service("alloc2")).spec
    assert other.cluster_ip != spec.cluster_ip

    # clusterIP is immutable once set.
    body = expect_error(
        422, "Invalid", core.patch_namespaced_service, "alloc", namespace, {"spec": {"clusterIP": "None"}}
    )
    fields = [c["field"] for c in body["details"]["causes"]]
    assert "spec.clusterIPs[0]" in fields or "spec.clusterIP" in fields, body


def test_service_nodeport_allocation(core, namespace):
    nodeport = core.create_namespaced_service(namespace, service("np", type="NodePort"))
    assert nodeport.spec.type == "NodePort"
    assert nodeport.spec.external_traffic_policy == "Cluster"
    assert nodeport.spec.ports[0].node_port is not None, "a NodePort service gets a port allocated"
    assert 30000 <= nodeport.spec.ports[0].node_port <= 32767


def test_headless_service(core, namespace):
    headless = core.create_namespaced_service(namespace, service("hl", cluster_ip="None"))
    assert headless.spec.cluster_ip == "None"
    assert headless.spec.cluster_ips == ["None"]
    assert headless.spec.type == "ClusterIP"


def test_service_invalid_port_is_422(core, namespace):
    body = expect_error(422, "Invalid", core.create_namespaced_service, namespace, service("bad", port=0))
    assert body["details"]["kind"] == "Service"
    assert "spec.ports[0].port" in [c["field"] for c in body["details"]["causes"]], body


@pytest.mark.parametrize("kind", ["configmap", "secret"])
def test_create_without_apiversion_and_kind_is_defaulted_from_url(api_client, namespace, kind):
    """The client posts plain dicts as they are: the server fills apiVersion/kind from the URL."""
    core = client.CoreV1Api(api_client)
    body = {"metadata": {"name": f"raw-{kind}"}, "data": {"a": b64("x")}}
    if kind == "configmap":
        created = core.create_namespaced_config_map(namespace, body)
        assert created.kind == "ConfigMap"
    else:
        created = core.create_namespaced_secret(namespace, body)
        assert created.kind == "Secret"
    assert created.api_version == "v1"
    assert created.metadata.name == f"raw-{kind}"
