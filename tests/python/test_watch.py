"""List + watch with `kubernetes.watch.Watch`.

Covers the list-then-watch pattern (ADDED, MODIFIED, DELETED in order, both replayed from a
resourceVersion and live), field-selector watches, a watch from a too-old resourceVersion
(410 Expired, in a 200 stream as upstream does) with the client's recovery by relisting,
bookmarks with allowWatchBookmarks (and none without), and a streaming list
(sendInitialEvents).
"""

import json
import threading
import time

from kubernetes import client, watch
from kubernetes.client.rest import ApiException


def cm(name, data=None, labels=None):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data=data or {})


def collect(stream, until, limit=50):
    """Events from `stream` up to and including the first for which `until(event)` holds."""
    events = []
    for event in stream:
        events.append(event)
        if until(event) or len(events) >= limit:
            break
    return events


def test_watch_replays_added_modified_deleted_in_order(core, namespace):
    listed = core.list_namespaced_config_map(namespace, label_selector="watched")
    assert listed.items == []
    rv = listed.metadata.resource_version
    assert rv

    created = core.create_namespaced_config_map(namespace, cm("w1", {"n": "1"}, {"watched": "yes"}))
    modified = core.patch_namespaced_config_map("w1", namespace, {"data": {"n": "2"}})
    core.delete_namespaced_config_map("w1", namespace)

    w = watch.Watch()
    events = collect(
        w.stream(core.list_namespaced_config_map, namespace, label_selector="watched",
                 resource_version=rv, timeout_seconds=5),
        until=lambda e: e["type"] == "DELETED",
    )
    w.stop()

    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    for event in events:
        obj = event["object"]
        assert isinstance(obj, client.V1ConfigMap)
        assert obj.metadata.name == "w1"
        assert obj.metadata.namespace == namespace
        assert event["raw_object"]["kind"] == "ConfigMap"
        assert event["raw_object"]["apiVersion"] == "v1"
    assert events[0]["object"].data == {"n": "1"}
    assert events[0]["object"].metadata.resource_version == created.metadata.resource_version
    assert events[1]["object"].data == {"n": "2"}
    assert events[1]["object"].metadata.resource_version == modified.metadata.resource_version
    assert events[2]["object"].data == {"n": "2"}
    rvs = [int(e["object"].metadata.resource_version) for e in events]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3
    assert w.resource_version == events[2]["object"].metadata.resource_version


def test_watch_sees_live_changes(core, namespace):
    rv = core.list_namespaced_config_map(namespace, field_selector="metadata.name=live").metadata.resource_version

    failures = []

    def writer():
        try:
            time.sleep(0.5)
            core.create_namespaced_config_map(namespace, cm("live", {"v": "a"}))
            core.patch_namespaced_config_map("live", namespace, {"data": {"v": "b"}})
            core.create_namespaced_config_map(namespace, cm("other"))  # filtered out by the field selector
            core.delete_namespaced_config_map("live", namespace)
        except Exception as exc:  # reported by the main thread
            failures.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    w = watch.Watch()
    started = time.monotonic()
    try:
        events = collect(
            w.stream(core.list_namespaced_config_map, namespace, field_selector="metadata.name=live",
                     resource_version=rv, timeout_seconds=15),
            until=lambda e: e["type"] == "DELETED",
        )
    finally:
        w.stop()
        thread.join()
    assert not failures, f"the writes to watch failed: {failures}"
    assert time.monotonic() - started < 14, "events were not delivered before the watch timed out"
    assert [(e["type"], e["object"].data) for e in events] == [
        ("ADDED", {"v": "a"}),
        ("MODIFIED", {"v": "b"}),
        ("DELETED", {"v": "b"}),
    ]


def test_watch_ends_at_timeout_seconds(core, namespace):
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    started = time.monotonic()
    events = list(watch.Watch().stream(core.list_namespaced_config_map, namespace,
                                       field_selector="metadata.name=nothing",
                                       resource_version=rv, timeout_seconds=2))
    elapsed = time.monotonic() - started
    assert events == []
    assert 1.5 <= elapsed < 10, elapsed


def test_watch_from_too_old_resource_version_is_410_and_client_recovers(core, namespace):
    # The wire format: a 200 watch stream whose only event is an ERROR carrying a 410 Status.
    resp = core.list_namespaced_config_map(namespace, watch=True, resource_version="1", timeout_seconds=5,
                                           _preload_content=False)
    try:
        assert resp.status == 200
        assert resp.headers.get("Content-Type", "").startswith("application/json")
        first = json.loads(resp.data.decode().splitlines()[0])
    finally:
        resp.release_conn()
    assert first["type"] == "ERROR", first
    status = first["object"]
    assert status["kind"] == "Status" and status["apiVersion"] == "v1"
    assert status["status"] == "Failure"
    assert status["code"] == 410
    assert status["reason"] == "Expired"
    assert status["message"].startswith("too old resource version: 1 ("), status

    # The client (37.x) turns that ERROR event into ApiException(410) when timeout_seconds is
    # given (it retries only when no timeout was given).
    w = watch.Watch()
    try:
        for _ in w.stream(core.list_namespaced_config_map, namespace, resource_version="1", timeout_seconds=5):
            raise AssertionError("a watch from resourceVersion 1 delivered an event")
        raise AssertionError("a watch from resourceVersion 1 ended without an error")
    except ApiException as exc:
        assert exc.status == 410
        assert exc.reason.startswith("Expired: too old resource version: 1"), exc.reason

    # Without timeout_seconds the client retries once from the same resourceVersion, gets
    # 410 again and raises it.
    try:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, namespace, resource_version="1",
                                      _request_timeout=10):
            raise AssertionError("a watch from resourceVersion 1 delivered an event")
        raise AssertionError("a watch from resourceVersion 1 ended without an error")
    except ApiException as exc:
        assert exc.status == 410

    # Recovery, as an informer does it: on 410, relist and watch from the list's
    # resourceVersion.
    core.create_namespaced_config_map(namespace, cm("before-relist", labels={"phase": "before"}))
    rv, expired, seen = "1", 0, []
    for _ in range(3):
        try:
            for event in watch.Watch().stream(core.list_namespaced_config_map, namespace, label_selector="phase",
                                              resource_version=rv, timeout_seconds=5):
                seen.append((event["type"], event["object"].metadata.name))
                if event["object"].metadata.name == "after-relist":
                    break
            break
        except ApiException as exc:
            assert exc.status == 410
            expired += 1
            relisted = core.list_namespaced_config_map(namespace, label_selector="phase")
            assert [i.metadata.name for i in relisted.items] == ["before-relist"]
            rv = relisted.metadata.resource_version
            core.create_namespaced_config_map(namespace, cm("after-relist", labels={"phase": "after"}))
    assert expired == 1
    assert seen == [("ADDED", "after-relist")]


def test_watch_bookmarks_when_allowed(core, namespace):
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, cm("bm"))

    w = watch.Watch()
    events = collect(
        w.stream(core.list_namespaced_config_map, namespace, field_selector="metadata.name=bm",
                 resource_version=rv, allow_watch_bookmarks=True, timeout_seconds=6),
        until=lambda e: e["type"] == "BOOKMARK",
    )
    w.stop()
    types = [e["type"] for e in events]
    assert types[0] == "ADDED", types
    assert types[-1] == "BOOKMARK", f"no BOOKMARK before the watch ended: {types}"
    bookmark = events[-1]["raw_object"]
    assert bookmark["kind"] == "ConfigMap" and bookmark["apiVersion"] == "v1", bookmark
    bookmark_rv = bookmark["metadata"]["resourceVersion"]
    assert int(bookmark_rv) >= int(events[0]["object"].metadata.resource_version)
    # The client tracks the bookmark's resourceVersion for its next watch.
    assert w.resource_version == bookmark_rv


def test_no_bookmarks_unless_requested(core, namespace):
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    events = list(watch.Watch().stream(core.list_namespaced_config_map, namespace,
                                       resource_version=rv, timeout_seconds=4))
    assert [e for e in events if e["type"] == "BOOKMARK"] == []


def test_streaming_list_with_send_initial_events(core, namespace):
    for name in ("s1", "s2"):
        core.create_namespaced_config_map(namespace, cm(name, labels={"stream": "yes"}))
    w = watch.Watch()
    events = collect(
        w.stream(core.list_namespaced_config_map, namespace, label_selector="stream",
                 send_initial_events=True, resource_version_match="NotOlderThan", resource_version="",
                 allow_watch_bookmarks=True, timeout_seconds=5),
        until=lambda e: e["type"] == "BOOKMARK",
    )
    w.stop()
    assert sorted((e["type"], e["object"].metadata.name) for e in events[:-1]) == [("ADDED", "s1"), ("ADDED", "s2")]
    bookmark = events[-1]
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["raw_object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
