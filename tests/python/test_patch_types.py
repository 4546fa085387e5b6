"""The four patch types, as the Python client sends them.

- strategic merge patch: the default for dict bodies on built-in kinds
  (`application/strategic-merge-patch+json`), with patch directives;
- JSON merge patch: `_content_type='application/merge-patch+json'` (lists are replaced);
- JSON patch: a list body (`application/json-patch+json`, RFC 6902), with a failing `test` op;
- server-side apply: `_content_type='application/apply-patch+yaml'` with a field manager,
  creating objects, tracking managedFields, conflicts (409) and `force`.

Also dry-run patches, which must not persist.
"""

from kubernetes import client

from conftest import deployment_body, expect_error

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


def make_deployment(apps, namespace, name):
    body = deployment_body(name)
    body.spec.template.spec.containers = [
        client.V1Container(
            name="app",
            image="registry.k8s.io/pause:3.10",
            env=[client.V1EnvVar(name="A", value="1"), client.V1EnvVar(name="B", value="2")],
            ports=[client.V1ContainerPort(container_port=8080, name="http")],
        ),
        client.V1Container(name="sidecar", image="registry.k8s.io/pause:3.10"),
    ]
    return apps.create_namespaced_deployment(namespace, body)


def containers_of(deployment):
    return {c.name: c for c in deployment.spec.template.spec.containers}


# --------------------------------------------------------------------------------------------
# Strategic merge patch
# --------------------------------------------------------------------------------------------


def test_strategic_merge_patch_merges_lists_by_key(apps, namespace):
    make_deployment(apps, namespace, "smp")
    patched = apps.patch_namespaced_deployment(
        "smp",
        namespace,
        {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}],
             "ports": [{"containerPort": 9090, "name": "metrics"}]},
        ]}}}},
    )
    containers = containers_of(patched)
    assert sorted(containers) == ["app", "sidecar"]
    app = containers["app"]
    assert [(e.name, e.value) for e in app.env] == [("A", "1"), ("B", "two"), ("C", "3")]
    assert sorted(p.container_port for p in app.ports) == [8080, 9090]
    assert app.image == "registry.k8s.io/pause:3.10"


def test_strategic_merge_patch_directives(apps, namespace):
    make_deployment(apps, namespace, "directives")
    # $patch: delete removes one element of a merging list by its key.
    patched = apps.patch_namespaced_deployment(
        "directives", namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}},
    )
    assert sorted(containers_of(patched)) == ["app"]

    # $patch: replace replaces the whole list.
    patched = apps.patch_namespaced_deployment(
        "directives", namespace,
        {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "registry.k8s.io/pause:3.10", "env": [{"name": "Z", "value": "z"}, {"$patch": "replace"}]},
        ]}}}},
    )
    assert [(e.name, e.value) for e in containers_of(patched)["app"].env] == [("Z", "z")]

    # $setElementOrder fixes the order of the merged list.
    patched = apps.patch_namespaced_deployment(
        "directives", namespace,
        {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "$setElementOrder/env": [{"name": "Y"}, {"name": "Z"}], "env": [{"name": "Y", "value": "y"}]},
        ]}}}},
    )
    assert [e.name for e in containers_of(patched)["app"].env] == ["Y", "Z"]

    # $deleteFromPrimitiveList removes values from a list of scalars (finalizers merge).
    apps.patch_namespaced_deployment("directives", namespace, {"metadata": {"finalizers": ["example.com/a", "example.com/b"]}})
    patched = apps.patch_namespaced_deployment(
        "directives", namespace, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"]}}
    )
    assert patched.metadata.finalizers == ["example.com/b"]
    apps.patch_namespaced_deployment("directives", namespace, {"metadata": {"finalizers": None}})


def test_strategic_merge_patch_on_configmap_removes_with_null(core, namespace):
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm", labels={"a": "1", "b": "2"}), data={"x": "1"})
    )
    patched = core.patch_namespaced_config_map("cm", namespace, {"metadata": {"labels": {"a": None, "c": "3"}}, "data": {"y": "2"}})
    assert patched.metadata.labels == {"b": "2", "c": "3"}
    assert patched.data == {"x": "1", "y": "2"}


def test_patch_missing_object_is_404(core, namespace):
    body = expect_error(404, "NotFound", core.patch_namespaced_config_map, "absent", namespace, {"data": {"a": "b"}})
    assert body["message"] == 'configmaps "absent" not found'
    expect_error(404, "NotFound", core.patch_namespaced_config_map, "absent", namespace,
                 {"data": {"a": "b"}}, _content_type=MERGE)


# --------------------------------------------------------------------------------------------
# JSON merge patch
# --------------------------------------------------------------------------------------------


def test_merge_patch_replaces_lists(apps, namespace):
    make_deployment(apps, namespace, "merge")
    patched = apps.patch_namespaced_deployment(
        "merge",
        namespace,
        {"metadata": {"labels": {"extra": "yes"}},
         "spec": {"template": {"spec": {"containers": [{"name": "only", "image": "registry.k8s.io/pause:3.9"}]}}}},
        _content_type=MERGE,
    )
    containers = containers_of(patched)
    assert sorted(containers) == ["only"]
    assert containers["only"].image == "registry.k8s.io/pause:3.9"
    # The replaced list is defaulted again.
    assert containers["only"].image_pull_policy == "IfNotPresent"
    assert patched.metadata.labels == {"app": "merge", "extra": "yes"}

    removed = apps.patch_namespaced_deployment("merge", namespace, {"metadata": {"labels": {"extra": None}}}, _content_type=MERGE)
    assert removed.metadata.labels == {"app": "merge"}


def test_merge_patch_with_resource_version_precondition(core, namespace):
    created = core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="mp"), data={"a": "1"}))
    core.patch_namespaced_config_map("mp", namespace, {"data": {"a": "2"}}, _content_type=MERGE)
    body = expect_error(
        409, "Conflict", core.patch_namespaced_config_map, "mp", namespace,
        {"metadata": {"resourceVersion": created.metadata.resource_version}, "data": {"a": "3"}},
        _content_type=MERGE,
    )
    assert body["message"].startswith('Operation cannot be fulfilled on configmaps "mp"'), body
    assert core.read_namespaced_config_map("mp", namespace).data == {"a": "2"}


# --------------------------------------------------------------------------------------------
# JSON patch
# --------------------------------------------------------------------------------------------


def test_json_patch_operations(core, namespace):
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="jp", labels={"l": "1"}), data={"old": "x", "keep": "k"})
    )
    patched = core.patch_namespaced_config_map(
        "jp",
        namespace,
        [
            {"op": "test", "path": "/data/keep", "value": "k"},
            {"op": "add", "path": "/data/new", "value": "n"},
            {"op": "remove", "path": "/data/old"},
            {"op": "replace", "path": "/metadata/labels/l", "value": "2"},
            {"op": "copy", "from": "/data/keep", "path": "/data/copied"},
            {"op": "move", "from": "/data/copied", "path": "/data/moved"},
        ],
    )
    assert patched.data == {"keep": "k", "new": "n", "moved": "k"}
    assert patched.metadata.labels == {"l": "2"}


def test_json_patch_failed_test_op_is_422_and_changes_nothing(core, namespace):
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="jpt"), data={"a": "1"}))
    expect_error(
        422, "Invalid", core.patch_namespaced_config_map, "jpt", namespace,
        [{"op": "replace", "path": "/data/a", "value": "2"}, {"op": "test", "path": "/data/a", "value": "1"}],
    )
    expect_error(
        422, "Invalid", core.patch_namespaced_config_map, "jpt", namespace,
        [{"op": "remove", "path": "/data/missing"}],
    )
    assert core.read_namespaced_config_map("jpt", namespace).data == {"a": "1"}


def test_json_patch_on_deployment_list_index(apps, namespace):
    make_deployment(apps, namespace, "jpd")
    patched = apps.patch_namespaced_deployment(
        "jpd",
        namespace,
        [
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "registry.k8s.io/pause:3.9"},
            {"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "C", "value": "3"}},
        ],
    )
    assert patched.spec.replicas == 3
    assert containers_of(patched)["sidecar"].image == "registry.k8s.io/pause:3.9"
    assert [e.name for e in containers_of(patched)["app"].env] == ["A", "B", "C"]
    assert patched.metadata.generation == 2


# --------------------------------------------------------------------------------------------
# Server-side apply
# --------------------------------------------------------------------------------------------


def applied_cm(name, data, labels=None):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    if labels:
        body["metadata"]["labels"] = labels
    return body


def managers(obj):
    return {(m.manager, m.operation) for m in obj.metadata.managed_fields or []}


def test_server_side_apply_creates_and_updates(core, namespace):
    created, status, _ = core.patch_namespaced_config_map_with_http_info(
        "ssa", namespace, applied_cm("ssa", {"a": "1", "b": "2"}), field_manager="alice", _content_type=APPLY
    )
    assert status == 201, "an apply that creates answers 201 Created"
    assert created.metadata.name == "ssa" and created.metadata.uid
    assert created.data == {"a": "1", "b": "2"}
    entry = next(m for m in created.metadata.managed_fields if m.manager == "alice")
    assert entry.operation == "Apply"
    assert entry.api_version == "v1"
    assert entry.fields_type == "FieldsV1"
    assert entry.fields_v1 == {"f:data": {"f:a": {}, "f:b": {}}}

    # Re-applying without b removes b: alice owned it and no longer applies it.
    updated, status, _ = core.patch_namespaced_config_map_with_http_info(
        "ssa", namespace, applied_cm("ssa", {"a": "1"}, {"team": "x"}), field_manager="alice", _content_type=APPLY
    )
    assert status == 200
    assert updated.data == {"a": "1"}
    assert updated.metadata.labels == {"team": "x"}
    assert updated.metadata.uid == created.metadata.uid

    # An Update by another manager is recorded as such.
    after_update = core.patch_namespaced_config_map("ssa", namespace, {"data": {"c": "3"}}, field_manager="bob")
    assert ("alice", "Apply") in managers(after_update)
    assert ("bob", "Update") in managers(after_update)


def test_server_side_apply_conflict_and_force(core, namespace):
    core.patch_namespaced_config_map("owned", namespace, applied_cm("owned", {"k": "alice"}), field_manager="alice", _content_type=APPLY)

    body = expect_error(
        409, "Conflict", core.patch_namespaced_config_map, "owned", namespace,
        applied_cm("owned", {"k": "bob"}), field_manager="bob", _content_type=APPLY,
    )
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "alice": .data.k', body
    assert body["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "alice"', "field": ".data.k"}
    ], body
    assert core.read_namespaced_config_map("owned", namespace).data == {"k": "alice"}

    # Applying the same value is no conflict: both become owners.
    shared = core.patch_namespaced_config_map("owned", namespace, applied_cm("owned", {"k": "alice"}),
                                              field_manager="carol", _content_type=APPLY)
    assert {("alice", "Apply"), ("carol", "Apply")} <= managers(shared)

    forced = core.patch_namespaced_config_map(
        "owned", namespace, applied_cm("owned", {"k": "bob"}), field_manager="bob", force=True, _content_type=APPLY
    )
    assert forced.data == {"k": "bob"}
    owners = {m.manager: m.fields_v1 for m in forced.metadata.managed_fields}
    assert owners["bob"] == {"f:data": {"f:k": {}}}
    assert "alice" not in owners and "carol" not in owners, owners


def test_server_side_apply_requires_field_manager(core, namespace):
    body = expect_error(422, "Invalid", core.patch_namespaced_config_map, "nofm", namespace,
                        applied_cm("nofm", {"a": "1"}), _content_type=APPLY)
    assert body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    ), body
    assert body["details"] == {
        "group": "meta.k8s.io",
        "kind": "PatchOptions",
        "causes": [{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch",
                    "field": "fieldManager"}],
    }, body
    expect_error(404, "NotFound", core.read_namespaced_config_map, "nofm", namespace)


def test_force_is_only_for_apply_patches(core, namespace):
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="forced")))
    for content_type in (None, MERGE):
        kwargs = {"_content_type": content_type} if content_type else {}
        body = expect_error(422, "Invalid", core.patch_namespaced_config_map, "forced", namespace,
                            {"data": {"a": "1"}}, force=True, **kwargs)
        assert body["message"] == (
            'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch'
        ), body
    assert core.read_namespaced_config_map("forced", namespace).data is None


def test_server_side_apply_deployment_and_conflict_with_update_manager(apps, namespace):
    applied = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ssa-deploy", "labels": {"app": "ssa-deploy"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "ssa-deploy"}},
            "template": {
                "metadata": {"labels": {"app": "ssa-deploy"}},
                "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
            },
        },
    }
    created = apps.patch_namespaced_deployment("ssa-deploy", namespace, applied, field_manager="deployer", _content_type=APPLY)
    assert created.spec.replicas == 2
    assert created.spec.revision_history_limit == 10  # defaulted as on create

    apps.patch_namespaced_deployment_scale("ssa-deploy", namespace, {"spec": {"replicas": 5}}, field_manager="autoscaler")

    body = expect_error(409, "Conflict", apps.patch_namespaced_deployment, "ssa-deploy", namespace, applied,
                        field_manager="deployer", _content_type=APPLY)
    cause = body["details"]["causes"][0]
    assert cause["reason"] == "FieldManagerConflict"
    assert cause["field"] == ".spec.replicas"
    assert cause["message"] == 'conflict with "autoscaler" with subresource "scale" using apps/v1', cause

    # Dropping replicas from the applied configuration leaves the autoscaler's value alone.
    del applied["spec"]["replicas"]
    again = apps.patch_namespaced_deployment("ssa-deploy", namespace, applied, field_manager="deployer", _content_type=APPLY)
    assert again.spec.replicas == 5


# --------------------------------------------------------------------------------------------
# Dry run
# --------------------------------------------------------------------------------------------


def test_dry_run_does_not_persist(core, namespace):
    dry, status, _ = core.create_namespaced_config_map_with_http_info(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dry"), data={"a": "1"}), dry_run="All"
    )
    assert status == 201
    assert dry.metadata.name == "dry" and dry.data == {"a": "1"}
    expect_error(404, "NotFound", core.read_namespaced_config_map, "dry", namespace)

    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dry"), data={"a": "1"}))
    for kwargs in ({}, {"_content_type": MERGE}):
        preview = core.patch_namespaced_config_map("dry", namespace, {"data": {"a": "2"}}, dry_run="All", **kwargs)
        assert preview.data == {"a": "2"}
    preview = core.patch_namespaced_config_map("dry", namespace, applied_cm("dry", {"a": "3"}), dry_run="All",
                                               field_manager="m", force=True, _content_type=APPLY)
    assert preview.data == {"a": "3"}
    assert core.read_namespaced_config_map("dry", namespace).data == {"a": "1"}

    core.delete_namespaced_config_map("dry", namespace, dry_run="All")
    assert core.read_namespaced_config_map("dry", namespace).data == {"a": "1"}


def test_unknown_dry_run_value_is_422(core, namespace):
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dry"), data={"a": "1"}))
    for content_type in (None, MERGE):
        kwargs = {"_content_type": content_type} if content_type else {}
        body = expect_error(422, "Invalid", core.patch_namespaced_config_map, "dry", namespace,
                            {"data": {"a": "4"}}, dry_run="Bogus", **kwargs)
        assert body["details"]["kind"] == "PatchOptions", body
        assert [(c["reason"], c["field"]) for c in body["details"]["causes"]] == [("FieldValueNotSupported", "dryRun")], body
        assert core.read_namespaced_config_map("dry", namespace).data == {"a": "1"}
