"""`kubernetes.utils.create_from_yaml` with multi-document YAML.

The helper maps each document's apiVersion/kind to a generated API class and calls its
`create_namespaced_*` method (or, with `apply=True`, server-side apply through the dynamic
client). Covers a namespace-scoped ConfigMap + Deployment + Service file, documents that name
their own namespace, a `List` document, and the FailToCreateError raised on conflicts.
"""

import json
import textwrap

import pytest
from kubernetes import client, utils

MANIFEST = textwrap.dedent(
    """\
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: web-config
      labels: {app: web}
    data:
      greeting: hello
      port: "8080"
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      labels: {app: web}
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: web
            image: registry.k8s.io/pause:3.10
            ports:
            - containerPort: 8080
            envFrom:
            - configMapRef: {name: web-config}
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: web
      labels: {app: web}
    spec:
      selector: {app: web}
      ports:
      - name: http
        port: 80
        targetPort: 8080
    """
)


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "web.yaml"
    path.write_text(MANIFEST)
    return str(path)


def test_create_from_multi_document_yaml(api_client, namespace, manifest):
    created = utils.create_from_yaml(api_client, yaml_file=manifest, namespace=namespace)

    # One list per document, each holding the created object as a client model.
    assert [len(objects) for objects in created] == [1, 1, 1]
    configmap, deployment, service = (objects[0] for objects in created)
    assert isinstance(configmap, client.V1ConfigMap)
    assert isinstance(deployment, client.V1Deployment)
    assert isinstance(service, client.V1Service)
    assert configmap.metadata.namespace == deployment.metadata.namespace == service.metadata.namespace == namespace
    assert configmap.data == {"greeting": "hello", "port": "8080"}
    assert deployment.spec.replicas == 2
    assert deployment.spec.template.spec.containers[0].env_from[0].config_map_ref.name == "web-config"
    assert service.spec.ports[0].port == 80 and service.spec.ports[0].target_port == 8080

    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    assert core.read_namespaced_config_map("web-config", namespace).metadata.uid == configmap.metadata.uid
    assert apps.read_namespaced_deployment("web", namespace).metadata.uid == deployment.metadata.uid
    assert core.read_namespaced_service("web", namespace).metadata.uid == service.metadata.uid
    assert [d.metadata.name for d in apps.list_namespaced_deployment(namespace, label_selector="app=web").items] == ["web"]


def test_create_from_yaml_twice_reports_every_conflict(api_client, namespace, manifest):
    utils.create_from_yaml(api_client, yaml_file=manifest, namespace=namespace)
    with pytest.raises(utils.FailToCreateError) as info:
        utils.create_from_yaml(api_client, yaml_file=manifest, namespace=namespace)
    failures = info.value.api_exceptions
    assert [e.status for e in failures] == [409, 409, 409]
    assert [e.reason for e in failures] == ["Conflict", "Conflict", "Conflict"]
    bodies = [json.loads(e.body) for e in failures]
    assert [b["reason"] for b in bodies] == ["AlreadyExists"] * 3
    assert [b["message"] for b in bodies] == [
        'configmaps "web-config" already exists',
        'deployments.apps "web" already exists',
        'services "web" already exists',
    ]


def test_create_from_yaml_objects_with_own_namespace_and_list(api_client, namespace):
    objects = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMapList",
            "items": [
                {"metadata": {"name": "from-list-a"}, "data": {"i": "a"}},
                {"metadata": {"name": "from-list-b"}, "data": {"i": "b"}},
            ],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "explicit-ns", "namespace": namespace},
            "stringData": {"k": "v"},
        },
    ]
    created = utils.create_from_yaml(api_client, yaml_objects=objects, namespace=namespace)
    assert [[o.metadata.name for o in group] for group in created] == [["from-list-a", "from-list-b"], ["explicit-ns"]]
    core = client.CoreV1Api(api_client)
    assert core.read_namespaced_config_map("from-list-b", namespace).data == {"i": "b"}
    assert core.read_namespaced_secret("explicit-ns", namespace).data == {"k": "dg=="}


def test_create_from_yaml_with_server_side_apply(api_client, namespace, manifest):
    created = utils.create_from_yaml(api_client, yaml_file=manifest, namespace=namespace, apply=True)
    assert [len(objects) for objects in created] == [1, 1, 1]
    kinds = [objects[0].kind for objects in created]
    assert kinds == ["ConfigMap", "Deployment", "Service"]
    for objects in created:
        managers = [(m.manager, m.operation) for m in objects[0].metadata.managedFields]
        assert ("python-client", "Apply") in managers, managers

    # Applying the same file again is a no-op, not a conflict.
    again = utils.create_from_yaml(api_client, yaml_file=manifest, namespace=namespace, apply=True)
    assert [objects[0].metadata.uid for objects in again] == [objects[0].metadata.uid for objects in created]
    deployment = client.AppsV1Api(api_client).read_namespaced_deployment("web", namespace)
    assert deployment.metadata.generation == 1
