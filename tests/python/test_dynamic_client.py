"""The dynamic client (`kubernetes.dynamic.DynamicClient`) and discovery.

The dynamic client finds resources through legacy discovery (`/api`, `/apis`, then each
group version), caches what it found in a file and re-discovers when a lookup misses. Covers
`resources.get(api_version=..., kind=...)` for built-in and custom kinds, create/get/list/
patch/replace/delete, watch, subresources, server-side apply, the discovery cache (served
from the file without requests, invalidated when a new CRD appears or one goes away), and
that aggregated discovery (`apidiscovery.k8s.io` v2 and v2beta1) agrees with legacy discovery.
"""

import json

import pytest
from kubernetes import dynamic
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

from conftest import expect_error, raw_get, wait_established, wait_for, widget, widget_crd_body

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
TEST_GROUPS = ".kedge.test"


def cm(name, data, labels=None):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    if labels:
        body["metadata"]["labels"] = labels
    return body


def test_dynamic_discovery_of_builtin_kinds(dyn):
    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    assert configmaps.name == "configmaps"
    assert configmaps.namespaced is True
    assert configmaps.group_version == "v1"
    assert "cm" in configmaps.short_names
    assert {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"} <= set(configmaps.verbs)

    namespaces = dyn.resources.get(api_version="v1", kind="Namespace")
    assert namespaces.namespaced is False

    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.name == "deployments" and deployments.group == "apps"
    assert "deploy" in deployments.short_names
    assert set(deployments.subresources) >= {"scale", "status"}
    assert deployments.subresources["scale"].kind == "Scale"

    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    assert crds.namespaced is False and crds.name == "customresourcedefinitions"

    # By name and short name too.
    assert dyn.resources.get(api_version="v1", name="configmaps").kind == "ConfigMap"
    assert dyn.resources.get(short_names=["deploy"]).kind == "Deployment"

    assert dyn.version["kubernetes"]["gitVersion"].startswith("v1.")
    assert {"apps", "apiextensions.k8s.io", "authentication.k8s.io"} <= set(dyn.resources.api_groups)

    with pytest.raises(ResourceNotFoundError):
        dyn.resources.get(api_version="v1", kind="NoSuchKind")


def test_dynamic_configmap_lifecycle(dyn, namespace):
    api = dyn.resources.get(api_version="v1", kind="ConfigMap")
    created = api.create(body=cm("dyn", {"a": "1"}, {"via": "dynamic"}), namespace=namespace)
    assert created.kind == "ConfigMap"
    assert created.metadata.name == "dyn"
    assert created.metadata.namespace == namespace
    assert created.data.a == "1"

    got = api.get(name="dyn", namespace=namespace)
    assert got.metadata.uid == created.metadata.uid

    listed = api.get(namespace=namespace, label_selector="via=dynamic")
    assert listed.kind == "ConfigMapList"
    assert [i.metadata.name for i in listed.items] == ["dyn"]

    patched = api.patch(body={"data": {"b": "2"}}, name="dyn", namespace=namespace)
    assert patched.data.to_dict() == {"a": "1", "b": "2"}

    merged = api.patch(body={"data": {"a": None}}, name="dyn", namespace=namespace,
                       content_type="application/merge-patch+json")
    assert merged.data.to_dict() == {"b": "2"}

    body = merged.to_dict()
    body["data"] = {"c": "3"}
    replaced = api.replace(body=body, namespace=namespace)
    assert replaced.data.to_dict() == {"c": "3"}

    # A stale resourceVersion conflicts.
    body["data"] = {"d": "4"}
    with pytest.raises(dynamic.exceptions.ConflictError) as info:
        api.replace(body=body, namespace=namespace)
    assert json.loads(info.value.body)["reason"] == "Conflict"

    deleted = api.delete(name="dyn", namespace=namespace)
    assert deleted.status == "Success"
    with pytest.raises(NotFoundError) as info:
        api.get(name="dyn", namespace=namespace)
    assert info.value.status == 404
    assert json.loads(info.value.body)["message"] == 'configmaps "dyn" not found'


def test_dynamic_watch(dyn, namespace):
    api = dyn.resources.get(api_version="v1", kind="ConfigMap")
    rv = api.get(namespace=namespace, label_selector="watched").metadata.resourceVersion
    api.create(body=cm("dw", {"n": "1"}, {"watched": "y"}), namespace=namespace)
    api.patch(body={"data": {"n": "2"}}, name="dw", namespace=namespace)
    api.delete(name="dw", namespace=namespace)
    events = []
    for event in api.watch(namespace=namespace, label_selector="watched", resource_version=rv, timeout=5):
        events.append((event["type"], event["object"].metadata.name, event["object"].data.n))
        if event["type"] == "DELETED":
            break
    assert events == [("ADDED", "dw", "1"), ("MODIFIED", "dw", "2"), ("DELETED", "dw", "2")]


def test_dynamic_server_side_apply(dyn, namespace):
    api = dyn.resources.get(api_version="v1", kind="ConfigMap")
    created = api.server_side_apply(body=cm("applied", {"k": "v1"}), namespace=namespace, field_manager="dyn-a")
    assert created.data.k == "v1"
    assert [(m.manager, m.operation) for m in created.metadata.managedFields] == [("dyn-a", "Apply")]

    updated = api.server_side_apply(body=cm("applied", {"k": "v2", "x": "y"}), namespace=namespace, field_manager="dyn-a")
    assert updated.data.to_dict() == {"k": "v2", "x": "y"}

    with pytest.raises(dynamic.exceptions.ConflictError) as info:
        api.server_side_apply(body=cm("applied", {"k": "other"}), namespace=namespace, field_manager="dyn-b")
    body = json.loads(info.value.body)
    assert body["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "dyn-a"', "field": ".data.k"}
    ]

    forced = api.server_side_apply(body=cm("applied", {"k": "other"}), namespace=namespace,
                                   field_manager="dyn-b", force_conflicts=True)
    assert forced.data.k == "other"
    owners = {m.manager: m.fieldsV1.to_dict() for m in forced.metadata.managedFields}
    assert owners == {"dyn-a": {"f:data": {"f:x": {}}}, "dyn-b": {"f:data": {"f:k": {}}}}


def test_dynamic_deployment_scale_subresource(dyn, namespace):
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(
        namespace=namespace,
        body={
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "dd"},
            "spec": {
                "selector": {"matchLabels": {"app": "dd"}},
                "template": {"metadata": {"labels": {"app": "dd"}},
                             "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}},
            },
        },
    )
    scale = deployments.scale.get(name="dd", namespace=namespace)
    assert scale.kind == "Scale" and scale.apiVersion == "autoscaling/v1"
    assert scale.spec.replicas == 1
    deployments.scale.patch(name="dd", namespace=namespace, body={"spec": {"replicas": 4}},
                            content_type="application/merge-patch+json")
    assert deployments.get(name="dd", namespace=namespace).spec.replicas == 4


def test_dynamic_custom_resource(dyn, namespace, widget_crd):
    n = widget_crd
    widgets = dyn.resources.get(api_version=f"{n['group']}/{n['version']}", kind="Widget")
    assert widgets.name == "widgets"
    assert widgets.namespaced is True
    assert widgets.short_names == ["wdg"]
    assert set(widgets.subresources) == {"status", "scale"}

    created = widgets.create(body=widget(n, "dw", {"size": 2, "replicas": 1}), namespace=namespace)
    assert created.kind == "Widget"
    assert created.spec.size == 2

    got = widgets.get(name="dw", namespace=namespace)
    assert got.metadata.uid == created.metadata.uid
    assert [i.metadata.name for i in widgets.get(namespace=namespace).items] == ["dw"]

    # Custom resources take merge patches (not strategic merge).
    patched = widgets.patch(body={"spec": {"color": "blue"}}, name="dw", namespace=namespace,
                            content_type="application/merge-patch+json")
    assert patched.spec.color == "blue"
    with pytest.raises(dynamic.exceptions.DynamicApiError) as info:
        widgets.patch(body={"spec": {"color": "red"}}, name="dw", namespace=namespace)
    assert info.value.status == 415

    applied = widgets.server_side_apply(body=widget(n, "dw", {"size": 5}), namespace=namespace,
                                        field_manager="dyn", force_conflicts=True)
    assert applied.spec.size == 5

    status = widgets.status.patch(body={"status": {"phase": "Ready", "replicas": 1, "selector": "app=dw"}},
                                  name="dw", namespace=namespace, content_type="application/merge-patch+json")
    assert status.status.phase == "Ready"

    scale = widgets.scale.get(name="dw", namespace=namespace)
    assert (scale.kind, scale.spec.replicas, scale.status.replicas) == ("Scale", 1, 1)

    with pytest.raises(dynamic.exceptions.UnprocessibleEntityError) as info:
        widgets.create(body=widget(n, "invalid", {"size": 100}), namespace=namespace)
    assert json.loads(info.value.body)["reason"] == "Invalid"

    widgets.delete(name="dw", namespace=namespace)
    with pytest.raises(NotFoundError):
        widgets.get(name="dw", namespace=namespace)


def test_discovery_cache_is_reused_and_refreshed(api_client, apiext, crd_names, cleanup_crds, tmp_path):
    cache = tmp_path / "cache.json"
    first = dynamic.DynamicClient(api_client, cache_file=str(cache))
    assert first.resources.get(api_version="v1", kind="ConfigMap").name == "configmaps"
    assert first.resources.get(api_version="apps/v1", kind="Deployment").name == "deployments"
    saved = json.loads(cache.read_text())
    assert "apps" in saved["resources"]["apis"]
    assert saved["version"]["kubernetes"]["gitVersion"].startswith("v1.")

    # A second client answers from the cache file without asking the server.
    requests = []
    real_call = api_client.call_api

    def counting(method, url, *args, **kwargs):
        requests.append((method, url))
        return real_call(method, url, *args, **kwargs)

    api_client.call_api = counting
    try:
        second = dynamic.DynamicClient(api_client, cache_file=str(cache))
        assert second.resources.get(api_version="v1", kind="ConfigMap").name == "configmaps"
        assert second.resources.get(api_version="apps/v1", kind="Deployment").name == "deployments"
        assert requests == [], requests

        # A CRD made after the cache was written: the miss invalidates the cache and
        # discovery runs again.
        cleanup_crds.append(crd_names["name"])
        apiext.create_custom_resource_definition(widget_crd_body(crd_names))
        wait_established(apiext, crd_names["name"])
        requests.clear()
        widgets = second.resources.get(api_version=f"{crd_names['group']}/v1", kind="Widget")
        assert widgets.name == "widgets"
        paths = [url.split("?")[0].split("://", 1)[1].split("/", 1)[1] for _, url in requests]
        assert "apis" in paths and f"apis/{crd_names['group']}/v1" in paths, paths
    finally:
        api_client.call_api = real_call

    # Once the CRD is gone, a fresh lookup misses.
    apiext.delete_custom_resource_definition(crd_names["name"])

    def vanished():
        try:
            dynamic.DynamicClient(api_client, cache_file=str(tmp_path / "fresh.json")).resources.get(
                api_version=f"{crd_names['group']}/v1", kind="Widget")
            return False
        except ResourceNotFoundError:
            return True

    wait_for(vanished, timeout=30, what="Widget to leave discovery")


@pytest.mark.parametrize("accept", [AGGREGATED_V2, AGGREGATED_V2BETA1])
def test_aggregated_discovery_matches_legacy(api_client, accept):
    for path in ("/api", "/apis"):
        status, headers, aggregated = raw_get(api_client, path, accept=accept + ",application/json")
        assert status == 200
        assert headers["Content-Type"] == accept, headers
        assert aggregated["kind"] == "APIGroupDiscoveryList"
        assert aggregated["apiVersion"] == ("apidiscovery.k8s.io/v2" if "v=v2;" in accept else "apidiscovery.k8s.io/v2beta1")

        if path == "/api":
            assert len(aggregated["items"]) == 1
            assert aggregated["items"][0]["metadata"].get("name", "") == ""
            legacy_versions = [("", "v1")]
        else:
            _, _, groups = raw_get(api_client, "/apis")
            legacy_versions = [(g["name"], v["version"]) for g in groups["groups"] for v in g["versions"]
                               if not g["name"].endswith(TEST_GROUPS)]
            assert [i["metadata"]["name"] for i in aggregated["items"] if not i["metadata"]["name"].endswith(TEST_GROUPS)] == [
                g["name"] for g in groups["groups"] if not g["name"].endswith(TEST_GROUPS)]

        seen = []
        for item in aggregated["items"]:
            group = item["metadata"].get("name", "")
            if group.endswith(TEST_GROUPS):
                continue  # CRDs of other tests may be on their way out
            for version in item["versions"]:
                seen.append((group, version["version"]))
                gv = f"{group}/{version['version']}" if group else version["version"]
                _, _, legacy = raw_get(api_client, f"/apis/{gv}" if group else f"/api/{gv}")
                expected = {
                    r["name"]: (r["kind"], r["namespaced"], sorted(r["verbs"]))
                    for r in legacy["resources"] if "/" not in r["name"]
                }
                got = {
                    r["resource"]: (r["responseKind"]["kind"], r["scope"] == "Namespaced", sorted(r["verbs"]))
                    for r in version["resources"]
                }
                assert got == expected, gv
                legacy_subresources = sorted(r["name"] for r in legacy["resources"] if "/" in r["name"])
                aggregated_subresources = sorted(
                    f"{r['resource']}/{s['subresource']}" for r in version["resources"] for s in r.get("subresources", [])
                )
                assert aggregated_subresources == legacy_subresources, gv
        assert sorted(seen) == sorted(legacy_versions)


def test_legacy_discovery_documents(api_client):
    _, _, versions = raw_get(api_client, "/api")
    assert versions["kind"] == "APIVersions"
    assert versions["versions"] == ["v1"]
    assert versions["serverAddressByClientCIDRs"]

    _, _, groups = raw_get(api_client, "/apis")
    assert groups["kind"] == "APIGroupList" and groups["apiVersion"] == "v1"
    for group in groups["groups"]:
        assert group["preferredVersion"] in group["versions"], group
        _, _, single = raw_get(api_client, f"/apis/{group['name']}")
        assert single["kind"] == "APIGroup"
        assert single["preferredVersion"] == group["preferredVersion"]

    _, _, core = raw_get(api_client, "/api/v1")
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    names = {r["name"]: r for r in core["resources"]}
    assert {"configmaps", "secrets", "services", "namespaces", "pods", "pods/log", "serviceaccounts/token"} <= set(names)
    assert names["serviceaccounts/token"]["group"] == "authentication.k8s.io"
    assert names["serviceaccounts/token"]["kind"] == "TokenRequest"
    assert names["serviceaccounts/token"]["verbs"] == ["create"]
    assert names["configmaps"]["shortNames"] == ["cm"]

    expect_error(404, "NotFound", raw_get, api_client, "/apis/no.such.group/v1")
