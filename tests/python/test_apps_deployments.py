"""CRUD of apps/v1 Deployments through AppsV1Api.

Covers create with upstream defaulting, read, list with selectors, replace with a stale
resourceVersion (409), strategic merge patch of containers by name, the scale subresource,
validation (422), and delete with each propagation policy.
"""

from kubernetes import client
from kubernetes.client.rest import ApiException

from conftest import assert_delete_status, deployment_body, expect_error, gone, wait_for


def replace_on_conflict(read, change, replace, attempts=20):
    """Read, change and replace until no other writer came in between, as client-go's
    RetryOnConflict does: the Deployment controller writes the status meanwhile."""
    for _ in range(attempts):
        obj = read()
        change(obj)
        try:
            return replace(obj)
        except ApiException as e:
            if e.status != 409:
                raise
    raise AssertionError("still conflicting after %d attempts" % attempts)


def test_deployment_create_applies_upstream_defaults(apps, namespace):
    created = apps.create_namespaced_deployment(namespace, deployment_body("web", replicas=2))
    assert created.kind == "Deployment"
    assert created.api_version == "apps/v1"
    assert created.metadata.namespace == namespace
    assert created.metadata.generation == 1
    assert created.metadata.uid and created.metadata.resource_version

    spec = created.spec
    assert spec.replicas == 2
    assert spec.revision_history_limit == 10
    assert spec.progress_deadline_seconds == 600
    assert spec.strategy.type == "RollingUpdate"
    assert spec.strategy.rolling_update.max_surge == "25%"
    assert spec.strategy.rolling_update.max_unavailable == "25%"

    pod = spec.template.spec
    assert pod.restart_policy == "Always"
    assert pod.dns_policy == "ClusterFirst"
    assert pod.termination_grace_period_seconds == 30
    assert pod.scheduler_name == "default-scheduler"
    assert pod.security_context is not None
    c = pod.containers[0]
    assert c.image_pull_policy == "IfNotPresent"
    assert c.termination_message_path == "/dev/termination-log"
    assert c.termination_message_policy == "File"

    got = apps.read_namespaced_deployment("web", namespace)
    assert got.metadata.uid == created.metadata.uid
    assert got.spec.template.spec.containers[0].image == "registry.k8s.io/pause:3.10"


def test_deployment_list_replace_patch_delete(apps, namespace):
    apps.create_namespaced_deployment(namespace, deployment_body("a", labels={"app": "a", "tier": "web"}))
    created = apps.create_namespaced_deployment(namespace, deployment_body("b", labels={"app": "b", "tier": "db"}))

    listed = apps.list_namespaced_deployment(namespace, label_selector="tier=db")
    assert listed.kind == "DeploymentList" and listed.api_version == "apps/v1"
    assert [d.metadata.name for d in listed.items] == ["b"]
    assert [d.metadata.name for d in apps.list_namespaced_deployment(namespace, field_selector="metadata.name=a").items] == ["a"]
    assert sorted(d.metadata.name for d in apps.list_namespaced_deployment(namespace).items) == ["a", "b"]

    stale = apps.read_namespaced_deployment("b", namespace)
    replaced = replace_on_conflict(
        lambda: apps.read_namespaced_deployment("b", namespace),
        lambda d: setattr(d.spec, "replicas", 4),
        lambda d: apps.replace_namespaced_deployment("b", namespace, d),
    )
    assert replaced.spec.replicas == 4
    assert replaced.metadata.generation == 2

    stale.spec.replicas = 5
    body = expect_error(409, "Conflict", apps.replace_namespaced_deployment, "b", namespace, stale)
    assert body["message"].startswith('Operation cannot be fulfilled on deployments.apps "b": the object has been modified')
    assert body["details"] == {"name": "b", "group": "apps", "kind": "deployments"}

    # Strategic merge: containers merge by name, so the list keeps one entry with a new image
    # and the sidecar is added beside it.
    patched = apps.patch_namespaced_deployment(
        "b",
        namespace,
        {
            "metadata": {"labels": {"patched": "yes"}},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "app", "image": "registry.k8s.io/pause:3.9"},
                            {"name": "sidecar", "image": "registry.k8s.io/pause:3.10"},
                        ]
                    }
                }
            },
        },
    )
    images = {c.name: c.image for c in patched.spec.template.spec.containers}
    assert images == {"app": "registry.k8s.io/pause:3.9", "sidecar": "registry.k8s.io/pause:3.10"}
    assert patched.metadata.labels == {"app": "b", "tier": "db", "patched": "yes"}
    assert patched.metadata.generation == 3
    sidecar = next(c for c in patched.spec.template.spec.containers if c.name == "sidecar")
    assert sidecar.image_pull_policy == "IfNotPresent"

    result = apps.delete_namespaced_deployment("b", namespace, propagation_policy="Background")
    assert_delete_status(result, "b", "deployments", created.metadata.uid, group="apps")
    body = expect_error(404, "NotFound", apps.read_namespaced_deployment, "b", namespace)
    assert body["message"] == 'deployments.apps "b" not found'
    assert body["details"] == {"name": "b", "group": "apps", "kind": "deployments"}


def test_deployment_scale_subresource(apps, namespace):
    apps.create_namespaced_deployment(namespace, deployment_body("scaled", labels={"app": "scaled"}))

    scale = apps.read_namespaced_deployment_scale("scaled", namespace)
    assert scale.kind == "Scale"
    assert scale.api_version == "autoscaling/v1"
    assert scale.metadata.name == "scaled"
    assert scale.spec.replicas == 1
    assert scale.status.selector == "app=scaled"

    scaled = apps.patch_namespaced_deployment_scale("scaled", namespace, {"spec": {"replicas": 3}})
    assert scaled.kind == "Scale" and scaled.spec.replicas == 3
    assert apps.read_namespaced_deployment("scaled", namespace).spec.replicas == 3

    replaced = replace_on_conflict(
        lambda: apps.read_namespaced_deployment_scale("scaled", namespace),
        lambda scale: setattr(scale.spec, "replicas", 0),
        lambda scale: apps.replace_namespaced_deployment_scale("scaled", namespace, scale),
    )
    assert replaced.spec.replicas == 0
    deployment = apps.read_namespaced_deployment("scaled", namespace)
    assert deployment.spec.replicas == 0
    assert deployment.metadata.generation == 3

    body = expect_error(
        422, "Invalid", apps.patch_namespaced_deployment_scale, "scaled", namespace, {"spec": {"replicas": -1}}
    )
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.replicas"], body


def test_deployment_validation_is_422(apps, namespace):
    mismatched = deployment_body("mismatch", labels={"app": "x"})
    mismatched.spec.template.metadata.labels = {"app": "other"}
    body = expect_error(422, "Invalid", apps.create_namespaced_deployment, namespace, mismatched)
    assert body["details"]["name"] == "mismatch"
    assert body["details"]["group"] == "apps"
    assert body["details"]["kind"] == "Deployment"
    assert "spec.template.metadata.labels" in [c["field"] for c in body["details"]["causes"]], body
    assert body["message"].startswith('Deployment.apps "mismatch" is invalid: '), body

    no_containers = deployment_body("empty")
    no_containers.spec.template.spec.containers = []
    body = expect_error(422, "Invalid", apps.create_namespaced_deployment, namespace, no_containers)
    assert "spec.template.spec.containers" in [c["field"] for c in body["details"]["causes"]], body

    body = expect_error(404, "NotFound", apps.read_namespaced_deployment, "mismatch", namespace)


def test_deployment_selector_is_immutable(apps, namespace):
    apps.create_namespaced_deployment(namespace, deployment_body("fixed", labels={"app": "fixed"}))
    body = expect_error(
        422,
        "Invalid",
        apps.patch_namespaced_deployment,
        "fixed",
        namespace,
        {"spec": {"selector": {"matchLabels": {"app": "fixed", "extra": "x"}},
                  "template": {"metadata": {"labels": {"extra": "x"}}}}},
    )
    assert "spec.selector" in [c["field"] for c in body["details"]["causes"]], body
    assert "field is immutable" in body["message"], body


def test_delete_with_foreground_propagation(apps, namespace):
    """Foreground deletion marks the owner (deletionTimestamp, finalizer foregroundDeletion);
    the garbage collector removes the finalizer once no dependents block it."""
    created = apps.create_namespaced_deployment(namespace, deployment_body("fg"))
    result = apps.delete_namespaced_deployment(
        "fg", namespace, body=client.V1DeleteOptions(propagation_policy="Foreground")
    )
    assert isinstance(result, dict), result
    if result.get("kind") == "Deployment":
        # Still present while the garbage collector works: marked for deletion.
        assert result["metadata"]["deletionTimestamp"]
        assert "foregroundDeletion" in result["metadata"]["finalizers"]
    else:
        assert_delete_status(result, "fg", "deployments", created.metadata.uid, group="apps")
    wait_for(lambda: gone(apps.read_namespaced_deployment, "fg", namespace), timeout=20,
             what="the deployment to be removed by the garbage collector")


def test_delete_with_orphan_propagation(apps, namespace):
    created = apps.create_namespaced_deployment(namespace, deployment_body("orph"))
    result = apps.delete_namespaced_deployment("orph", namespace, propagation_policy="Orphan")
    assert isinstance(result, dict), result
    if result.get("kind") == "Deployment":
        assert result["metadata"]["deletionTimestamp"]
        assert "orphan" in result["metadata"]["finalizers"]
    else:
        assert_delete_status(result, "orph", "deployments", created.metadata.uid, group="apps")
    wait_for(lambda: gone(apps.read_namespaced_deployment, "orph", namespace), timeout=20,
             what="the deployment to be removed by the garbage collector")


def test_delete_with_preconditions(apps, namespace):
    created = apps.create_namespaced_deployment(namespace, deployment_body("pre"))
    body = expect_error(
        409,
        "Conflict",
        apps.delete_namespaced_deployment,
        "pre",
        namespace,
        body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="00000000-0000-0000-0000-000000000000")),
    )
    assert "Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000" in body["message"], body
    result = apps.delete_namespaced_deployment(
        "pre", namespace, body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=created.metadata.uid))
    )
    assert_delete_status(result, "pre", "deployments", created.metadata.uid, group="apps")


def test_deployment_delete_collection(apps, namespace):
    for name, group in [("x1", "drop"), ("x2", "drop"), ("y1", "keep")]:
        apps.create_namespaced_deployment(namespace, deployment_body(name, labels={"app": name, "group": group}))
    apps.delete_collection_namespaced_deployment(namespace, label_selector="group=drop")
    remaining = apps.list_namespaced_deployment(namespace)
    assert [d.metadata.name for d in remaining.items] == ["y1"]
    try:
        apps.read_namespaced_deployment("x1", namespace)
        raise AssertionError("x1 still exists")
    except ApiException as exc:
        assert exc.status == 404
