"""CustomResourceDefinitions (apiextensions.k8s.io/v1) and custom resources.

Each test makes its own CRD (group `<test>.kedge.test`, kind `Widget`) with a structural
schema, status and scale subresources and additionalPrinterColumns, and waits for it to be
Established. Covers discovery of the new resource, CRUD of custom objects with
CustomObjectsApi, watch, table output, the status and scale subresources, schema validation
(422) and pruning of unknown fields, server-side apply, the unsupported strategic merge patch
(415), and removal from discovery when the CRD is deleted.
"""

import copy

from kubernetes import watch
from kubernetes.client.rest import ApiException

from conftest import (
    assert_delete_status,
    crd_condition,
    expect_error,
    raw_get,
    wait_established,
    wait_for,
    widget,
    widget_crd_body,
)

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def test_crd_is_established_with_accepted_names(apiext, crd_names, cleanup_crds):
    cleanup_crds.append(crd_names["name"])
    created = apiext.create_custom_resource_definition(widget_crd_body(crd_names))
    assert created.kind == "CustomResourceDefinition"
    assert created.api_version == "apiextensions.k8s.io/v1"
    assert created.metadata.name == crd_names["name"]
    version = created.spec.versions[0]
    assert version.subresources.status is not None
    assert version.subresources.scale.spec_replicas_path == ".spec.replicas"
    assert [c.name for c in version.additional_printer_columns] == ["Size", "Color", "Age"]

    crd = wait_established(apiext, crd_names["name"])
    assert crd_condition(crd, "NamesAccepted") == "True"
    accepted = crd.status.accepted_names
    assert accepted.kind == "Widget"
    assert accepted.plural == "widgets"
    assert accepted.singular == "widget"
    assert accepted.list_kind == "WidgetList"
    assert accepted.short_names == ["wdg"]
    assert crd.status.stored_versions == ["v1"]

    listed = apiext.list_custom_resource_definition(field_selector=f"metadata.name={crd_names['name']}")
    assert [c.metadata.name for c in listed.items] == [crd_names["name"]]

    # Defaults upstream fills in.
    assert created.spec.conversion is not None, "spec.conversion is defaulted to {strategy: None}"
    assert created.spec.conversion.strategy == "None"


def test_crd_resource_in_discovery(api_client, widget_crd):
    names = widget_crd
    group_version = f"{names['group']}/{names['version']}"

    def served():
        try:
            return raw_get(api_client, f"/apis/{group_version}")
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    status, _, resources = wait_for(served, timeout=10, what="the CRD's group version to be served")
    assert status == 200
    assert resources["kind"] == "APIResourceList"
    assert resources["groupVersion"] == group_version
    by_name = {r["name"]: r for r in resources["resources"]}
    assert set(by_name) == {"widgets", "widgets/status", "widgets/scale"}, by_name
    main = by_name["widgets"]
    assert main["kind"] == "Widget"
    assert main["namespaced"] is True
    assert main["singularName"] == "widget"
    assert main["shortNames"] == ["wdg"]
    assert set(main["verbs"]) == {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
    assert set(by_name["widgets/status"]["verbs"]) == {"get", "patch", "update"}
    scale = by_name["widgets/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert set(scale["verbs"]) == {"get", "patch", "update"}

    _, _, groups = raw_get(api_client, "/apis")
    entry = next(g for g in groups["groups"] if g["name"] == names["group"])
    assert entry["versions"] == [{"groupVersion": group_version, "version": "v1"}]
    assert entry["preferredVersion"] == {"groupVersion": group_version, "version": "v1"}

    _, _, group = raw_get(api_client, f"/apis/{names['group']}")
    assert group["kind"] == "APIGroup" and group["name"] == names["group"]

    _, headers, aggregated = raw_get(api_client, "/apis", accept=AGGREGATED + ",application/json")
    assert headers["Content-Type"] == AGGREGATED
    item = next(i for i in aggregated["items"] if i["metadata"]["name"] == names["group"])
    resource = next(r for r in item["versions"][0]["resources"] if r["resource"] == "widgets")
    assert resource["responseKind"] == {"group": names["group"], "version": "v1", "kind": "Widget"}
    assert resource["scope"] == "Namespaced"
    assert sorted(s["subresource"] for s in resource["subresources"]) == ["scale", "status"]


def test_custom_object_crud(custom, namespace, widget_crd):
    n = widget_crd
    args = (n["group"], n["version"], namespace, n["plural"])

    created = custom.create_namespaced_custom_object(*args, widget(n, "w1", {"size": 3, "color": "red"}, metadata={"name": "w1", "labels": {"team": "a"}}))
    assert created["apiVersion"] == f"{n['group']}/v1"
    assert created["kind"] == "Widget"
    assert created["metadata"]["namespace"] == namespace
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    assert created["metadata"]["generation"] == 1
    assert created["spec"] == {"size": 3, "color": "red"}

    custom.create_namespaced_custom_object(*args, widget(n, "w2", {"size": 5}, metadata={"name": "w2", "labels": {"team": "b"}}))

    got = custom.get_namespaced_custom_object(*args, "w1")
    assert got["metadata"]["uid"] == created["metadata"]["uid"]

    listed = custom.list_namespaced_custom_object(*args)
    assert listed["kind"] == "WidgetList"
    assert listed["apiVersion"] == f"{n['group']}/v1"
    assert listed["metadata"]["resourceVersion"]
    assert sorted(i["metadata"]["name"] for i in listed["items"]) == ["w1", "w2"]
    assert [i["metadata"]["name"] for i in custom.list_namespaced_custom_object(*args, label_selector="team=b")["items"]] == ["w2"]
    assert [i["metadata"]["name"] for i in custom.list_namespaced_custom_object(*args, field_selector="metadata.name=w1")["items"]] == ["w1"]
    everywhere = custom.list_cluster_custom_object(n["group"], n["version"], n["plural"], label_selector="team")
    assert sorted(i["metadata"]["name"] for i in everywhere["items"]) == ["w1", "w2"]

    # CustomObjectsApi sends dict patches as JSON merge patches.
    patched = custom.patch_namespaced_custom_object(*args, "w1", {"spec": {"color": None, "tags": ["x", "y"]}})
    assert patched["spec"] == {"size": 3, "tags": ["x", "y"]}
    assert patched["metadata"]["generation"] == 2

    json_patched = custom.patch_namespaced_custom_object(
        *args, "w1", [{"op": "replace", "path": "/spec/size", "value": 4}], _content_type="application/json-patch+json"
    )
    assert json_patched["spec"]["size"] == 4

    stale = copy.deepcopy(got)
    current = custom.get_namespaced_custom_object(*args, "w1")
    current["spec"]["size"] = 7
    replaced = custom.replace_namespaced_custom_object(*args, "w1", current)
    assert replaced["spec"]["size"] == 7
    assert replaced["metadata"]["generation"] == 4

    stale["spec"]["size"] = 8
    body = expect_error(409, "Conflict", custom.replace_namespaced_custom_object, *args, "w1", stale)
    assert body["message"].startswith(f'Operation cannot be fulfilled on widgets.{n["group"]} "w1": the object has been modified')
    assert body["details"] == {"name": "w1", "group": n["group"], "kind": "widgets"}

    body = expect_error(409, "AlreadyExists", custom.create_namespaced_custom_object, *args, widget(n, "w2"))
    assert body["message"] == f'widgets.{n["group"]} "w2" already exists'

    custom.delete_collection_namespaced_custom_object(*args, label_selector="team=b")
    assert [i["metadata"]["name"] for i in custom.list_namespaced_custom_object(*args)["items"]] == ["w1"]

    deleted = custom.delete_namespaced_custom_object(*args, "w1")
    body = expect_error(404, "NotFound", custom.get_namespaced_custom_object, *args, "w1")
    assert body["message"] == f'widgets.{n["group"]} "w1" not found'
    assert body["details"] == {"name": "w1", "group": n["group"], "kind": "widgets"}
    # Custom resources have no finalizers here, so the delete answers with a Success Status.
    assert_delete_status(deleted, "w1", "widgets", created["metadata"]["uid"], group=n["group"])


def test_custom_object_strategic_merge_patch_is_415(custom, namespace, widget_crd):
    n = widget_crd
    args = (n["group"], n["version"], namespace, n["plural"])
    custom.create_namespaced_custom_object(*args, widget(n, "smp"))
    body = expect_error(
        415, "UnsupportedMediaType", custom.patch_namespaced_custom_object, *args, "smp", {"spec": {"size": 2}},
        _content_type="application/strategic-merge-patch+json",
    )
    assert body["message"].startswith("the body of the request was in an unknown format - accepted media types include:"), body
    assert "application/merge-patch+json" in body["message"]


def test_custom_object_server_side_apply(custom, namespace, widget_crd):
    n = widget_crd
    args = (n["group"], n["version"], namespace, n["plural"])
    body = widget(n, "applied", {"size": 2, "tags": ["a"]})
    # An apply that creates answers 201; the client's spec for custom objects lists only 200,
    # so it returns no data for it.
    _, status, _ = custom.patch_namespaced_custom_object_with_http_info(
        *args, "applied", body, field_manager="tool", _content_type="application/apply-patch+yaml"
    )
    assert status == 201
    created = custom.get_namespaced_custom_object(*args, "applied")
    assert created["spec"] == {"size": 2, "tags": ["a"]}
    assert [(m["manager"], m["operation"]) for m in created["metadata"]["managedFields"]] == [("tool", "Apply")]

    body["spec"] = {"size": 3}
    updated = custom.patch_namespaced_custom_object(
        *args, "applied", body, field_manager="tool", _content_type="application/apply-patch+yaml"
    )
    assert updated["spec"] == {"size": 3}

    conflict = expect_error(
        409, "Conflict", custom.patch_namespaced_custom_object, *args, "applied", widget(n, "applied", {"size": 9}),
        field_manager="other", _content_type="application/apply-patch+yaml",
    )
    assert conflict["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "tool"', "field": ".spec.size"}
    ]


def test_custom_object_status_subresource(custom, namespace, widget_crd):
    n = widget_crd
    args = (n["group"], n["version"], namespace, n["plural"])
    # status in a create is dropped when the status subresource is enabled.
    created = custom.create_namespaced_custom_object(*args, widget(n, "st", {"size": 1}, status={"phase": "Ignored"}))
    assert "status" not in created or created["status"] in ({}, None), created

    # The main resource ignores status changes...
    patched = custom.patch_namespaced_custom_object(*args, "st", {"spec": {"size": 2}, "status": {"phase": "Nope"}})
    assert patched["spec"]["size"] == 2
    assert "phase" not in (patched.get("status") or {})
    assert patched["metadata"]["generation"] == 2

    # ...and the status subresource ignores spec changes and leaves generation alone.
    status = custom.patch_namespaced_custom_object_status(
        *args, "st", {"spec": {"size": 9}, "status": {"phase": "Running", "replicas": 1}}
    )
    assert status["status"] == {"phase": "Running", "replicas": 1}
    assert status["spec"]["size"] == 2
    assert status["metadata"]["generation"] == 2

    current = custom.get_namespaced_custom_object_status(*args, "st")
    assert current["status"]["phase"] == "Running"
    current["status"]["phase"] = "Done"
    replaced = custom.replace_namespaced_custom_object_status(*args, "st", current)
    assert replaced["status"]["phase"] == "Done"
    assert custom.get_namespaced_custom_object(*args, "st")["status"] == {"phase": "Done", "replicas": 1}

    # The status is validated against the schema too.
    body = expect_error(
        422, "Invalid", custom.patch_namespaced_custom_object_status, *args, "st", {"status": {"replicas": "many"}}
    )
    assert [c["field"] for c in body["details"]["causes"]] == ["status.replicas"], body


def test_custom_object_scale_subresource(custom, namespace, widget_crd):
    n = widget_crd
    args = (n["group"], n["version"], namespace, n["plural"])
    custom.create_namespaced_custom_object(*args, widget(n, "sc", {"size": 1, "replicas": 2}))
    custom.patch_namespaced_custom_object_status(*args, "sc", {"status": {"replicas": 1, "selector": "app=sc"}})

    scale = custom.get_namespaced_custom_object_scale(*args, "sc")
    assert scale["kind"] == "Scale"
    assert scale["apiVersion"] == "autoscaling/v1"
    assert scale["metadata"]["name"] == "sc"
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 1, "selector": "app=sc"}

    scaled = custom.patch_namespaced_custom_object_scale(*args, "sc", {"spec": {"replicas": 5}})
    assert scaled["spec"]["replicas"] == 5
    obj = custom.get_namespaced_custom_object(*args, "sc")
    assert obj["spec"]["replicas"] == 5
    assert obj["metadata"]["generation"] == 2

    scale = custom.get_namespaced_custom_object_scale(*args, "sc")
    scale["spec"]["replicas"] = 0
    assert custom.replace_namespaced_custom_object_scale(*args, "sc", scale)["spec"]["replicas"] == 0
    assert custom.get_namespaced_custom_object(*args, "sc")["spec"]["replicas"] == 0


def test_custom_object_schema_validation(custom, namespace, widget_crd):
    n = widget_crd
    args = (n["group"], n["version"], namespace, n["plural"])
    prefix = f'Widget.{n["group"]} "bad" is invalid: '

    body = expect_error(422, "Invalid", custom.create_namespaced_custom_object, *args, widget(n, "bad", {"size": 0}))
    assert body["message"] == prefix + "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1", body
    assert body["details"]["name"] == "bad"
    assert body["details"]["group"] == n["group"]
    assert body["details"]["kind"] == "Widget"
    assert body["details"]["causes"] == [
        {"reason": "FieldValueInvalid", "message": "Invalid value: 0: spec.size in body should be greater than or equal to 1",
         "field": "spec.size"}
    ]

    body = expect_error(422, "Invalid", custom.create_namespaced_custom_object, *args, widget(n, "bad", {"size": 1, "color": "pink"}))
    assert body["details"]["causes"] == [
        {"reason": "FieldValueNotSupported",
         "message": 'Unsupported value: "pink": supported values: "red", "green", "blue"',
         "field": "spec.color"}
    ], body

    body = expect_error(422, "Invalid", custom.create_namespaced_custom_object, *args, widget(n, "bad", {"color": "red"}))
    assert body["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.size"}
    ], body

    body = expect_error(422, "Invalid", custom.create_namespaced_custom_object, *args, widget(n, "bad", {"size": "big"}))
    assert [(c["reason"], c["field"]) for c in body["details"]["causes"]] == [("FieldValueTypeInvalid", "spec.size")], body
    assert 'spec.size in body must be of type integer: "string"' in body["message"], body

    body = expect_error(422, "Invalid", custom.create_namespaced_custom_object, *args, widget(n, "bad", {"size": 1, "tags": [1]}))
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.tags[0]"], body

    # Updates are validated as well.
    custom.create_namespaced_custom_object(*args, widget(n, "good"))
    body = expect_error(422, "Invalid", custom.patch_namespaced_custom_object, *args, "good", {"spec": {"size": 11}})
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.size"], body
    assert "spec.size in body should be less than or equal to 10" in body["message"]
    assert custom.get_namespaced_custom_object(*args, "good")["spec"] == {"size": 3}

    expect_error(404, "NotFound", custom.get_namespaced_custom_object, *args, "bad")


def test_custom_object_unknown_fields_are_pruned(custom, namespace, widget_crd):
    n = widget_crd
    args = (n["group"], n["version"], namespace, n["plural"])
    body = widget(n, "pruned", {"size": 2, "unknown": "dropped", "labels": {"a": "b"}, "free": {"anything": {"goes": 1}}})
    body["topLevelUnknown"] = {"x": 1}
    created = custom.create_namespaced_custom_object(*args, body)
    assert created["spec"] == {"size": 2, "labels": {"a": "b"}, "free": {"anything": {"goes": 1}}}
    assert "topLevelUnknown" not in created
    stored = custom.get_namespaced_custom_object(*args, "pruned")
    assert stored["spec"] == created["spec"]
    assert "topLevelUnknown" not in stored

    patched = custom.patch_namespaced_custom_object(*args, "pruned", {"spec": {"alsoUnknown": True, "size": 3}})
    assert patched["spec"] == {"size": 3, "labels": {"a": "b"}, "free": {"anything": {"goes": 1}}}

    # fieldValidation=Strict turns pruning into an error.
    strict = widget(n, "strict", {"size": 2, "unknown": "x"})
    body = expect_error(400, "BadRequest", custom.create_namespaced_custom_object, *args, strict, field_validation="Strict")
    assert 'unknown field "spec.unknown"' in body["message"], body


def test_custom_object_watch_and_table(api_client, custom, namespace, widget_crd):
    n = widget_crd
    args = (n["group"], n["version"], namespace, n["plural"])
    rv = custom.list_namespaced_custom_object(*args)["metadata"]["resourceVersion"]
    custom.create_namespaced_custom_object(*args, widget(n, "tw", {"size": 4, "color": "green"}))
    custom.patch_namespaced_custom_object(*args, "tw", {"spec": {"size": 5}})
    custom.delete_namespaced_custom_object(*args, "tw")

    events = []
    for event in watch.Watch().stream(custom.list_namespaced_custom_object, *args, resource_version=rv, timeout_seconds=5):
        events.append((event["type"], event["object"]["metadata"]["name"], event["object"]["spec"]["size"]))
        if event["type"] == "DELETED":
            break
    assert events == [("ADDED", "tw", 4), ("MODIFIED", "tw", 5), ("DELETED", "tw", 5)]

    custom.create_namespaced_custom_object(*args, widget(n, "row", {"size": 6, "color": "blue"}))
    status, _, table = raw_get(
        api_client, f"/apis/{n['group']}/{n['version']}/namespaces/{namespace}/{n['plural']}", accept=TABLE
    )
    assert status == 200
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    columns = [(c["name"], c["type"], c.get("priority", 0)) for c in table["columnDefinitions"]]
    assert columns == [("Name", "string", 0), ("Size", "integer", 0), ("Color", "string", 1), ("Age", "date", 0)]
    assert table["columnDefinitions"][0]["format"] == "name"
    assert table["columnDefinitions"][1]["description"] == "how big"
    assert len(table["rows"]) == 1
    assert table["rows"][0]["cells"][:3] == ["row", 6, "blue"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_crd_validation_errors(apiext, crd_names):
    bad = widget_crd_body(crd_names)
    bad["metadata"]["name"] = "wrong-name." + crd_names["group"]
    body = expect_error(422, "Invalid", apiext.create_custom_resource_definition, bad)
    assert body["details"]["kind"] == "CustomResourceDefinition"
    assert body["details"]["group"] == "apiextensions.k8s.io"
    assert "metadata.name" in [c["field"] for c in body["details"]["causes"]], body
    assert 'must be spec.names.plural+"."+spec.group' in body["message"], body

    nonstructural = widget_crd_body(crd_names)
    del nonstructural["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"]["type"]
    body = expect_error(422, "Invalid", apiext.create_custom_resource_definition, nonstructural)
    assert any(c["field"].startswith("spec.validation.openAPIV3Schema") or
               c["field"].startswith("spec.versions[0].schema.openAPIV3Schema")
               for c in body["details"]["causes"]), body
    expect_error(404, "NotFound", apiext.read_custom_resource_definition, crd_names["name"])


def test_deleting_crd_removes_resource_and_objects(api_client, apiext, custom, namespace, widget_crd):
    n = widget_crd
    args = (n["group"], n["version"], namespace, n["plural"])
    custom.create_namespaced_custom_object(*args, widget(n, "doomed"))
    wait_for(lambda: _served(api_client, n), timeout=10, what="the CRD's group version to be served")

    apiext.delete_custom_resource_definition(n["name"])

    wait_for(lambda: not _served(api_client, n), timeout=30, what="the group version to leave discovery")
    _, _, groups = raw_get(api_client, "/apis")
    assert n["group"] not in [g["name"] for g in groups["groups"]]
    wait_for(lambda: _crd_gone(apiext, n["name"]), timeout=30, what="the CRD to be removed")
    body = expect_error(404, "NotFound", custom.list_namespaced_custom_object, *args)
    assert body["message"] == "the server could not find the requested resource", body

    # Re-creating the CRD does not resurrect the old objects.
    apiext.create_custom_resource_definition(widget_crd_body(n))
    wait_established(apiext, n["name"])
    assert wait_for(lambda: _list_or_none(custom, args), timeout=10, what="the re-created resource to be served")["items"] == []


def _served(api_client, n):
    try:
        raw_get(api_client, f"/apis/{n['group']}/{n['version']}")
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


def _crd_gone(apiext, name):
    try:
        apiext.read_custom_resource_definition(name)
        return False
    except ApiException as exc:
        return exc.status == 404


def _list_or_none(custom, args):
    try:
        return custom.list_namespaced_custom_object(*args)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_cluster_scoped_custom_resource(custom, apiext, crd_names, cleanup_crds):
    cleanup_crds.append(crd_names["name"])
    apiext.create_custom_resource_definition(widget_crd_body(crd_names, scope="Cluster"))
    wait_established(apiext, crd_names["name"])
    g, v, p = crd_names["group"], crd_names["version"], crd_names["plural"]
    created = custom.create_cluster_custom_object(g, v, p, widget(crd_names, "global"))
    assert "namespace" not in created["metadata"]
    assert custom.get_cluster_custom_object(g, v, p, "global")["metadata"]["uid"] == created["metadata"]["uid"]
    assert [i["metadata"]["name"] for i in custom.list_cluster_custom_object(g, v, p)["items"]] == ["global"]
    patched = custom.patch_cluster_custom_object(g, v, p, "global", {"spec": {"size": 9}})
    assert patched["spec"]["size"] == 9
    custom.delete_cluster_custom_object(g, v, p, "global")
    expect_error(404, "NotFound", custom.get_cluster_custom_object, g, v, p, "global")
