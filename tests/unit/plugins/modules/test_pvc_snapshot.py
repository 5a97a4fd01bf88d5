"""inferno.ops.pvc_snapshot run through its main(), on a fake Kubernetes API.

``FakeCluster`` answers the typed API methods the module calls (discovery, claims, volumes,
snapshot classes, snapshots and their contents) from its own objects and records every write,
so the tests assert the bodies sent, what check mode leaves alone, and the error paths.
A created snapshot becomes ready at once, bound to a content that points back at it, unless
the test says otherwise.
"""

from __future__ import annotations

import copy
import itertools
import time
import types

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import MaxRetryError

from ansible_collections.inferno.ops.plugins.module_utils import snapshots as logic
from ansible_collections.inferno.ops.plugins.modules import pvc_snapshot

CLAIMS = ("inferno-cache-pvc", "inferno-models-pvc")
# What each snapshot records of its claim, for a restore where the claim is gone.
RECORDED_CLAIM = ('{"accessModes": ["ReadWriteOnce"], "annotations": {}, "labels": {"app.kubernetes.io/instance": '
                  '"inferno"}, "storage": null, "storageClassName": "standard", "volumeMode": "Filesystem"}')
NOW = logic.epoch("2026-11-24T12:00:00Z")


def matches(labels, selector):
    """Equality-based label selectors (k=v, k), as the API server applies them."""
    for term in filter(None, (selector or "").split(",")):
        key, _sep, value = term.partition("=")
        if key not in labels or (_sep and labels[key] != value):
            return False
    return True


def merge_labels(item, patch):
    """A merge patch's labels and annotations, as the API server applies them: None removes one."""
    for field in ("labels", "annotations"):
        current = item["metadata"].setdefault(field, {})
        for key, value in ((patch.get("metadata") or {}).get(field) or {}).items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value


class FakeCluster(object):
    def __init__(self):
        self.served = ["v1", "snapshot.storage.k8s.io/v1"]
        self.claims = dict((name, self.claim(name)) for name in CLAIMS)
        self.classes = [{"metadata": {"name": "csi-snap", "annotations": {logic.DEFAULT_CLASS_ANNOTATION: "true"}},
                         "driver": "hostpath.csi.k8s.io"},
                        {"metadata": {"name": "other-snap"}, "driver": "hostpath.csi.k8s.io"}]
        self.snapshots = {}
        self.contents = {}
        self.created = []  # bodies of the creates, in order
        self.deleted = []
        self.conflicts = set()  # names whose create answers 409, as if an earlier run had just made them
        self.refuse_create = []  # the first one is raised by every create
        self.patched = []  # (content name, merge patch), in order
        self.deleted_contents = []
        self.data = set()  # handles whose data the storage holds
        self.unknown_handles = set()  # handles a pre-provisioned content reports an error for
        self.namespaces = {"ns"}
        self.status_on_create = None  # the status a new snapshot gets, instead of ready
        self.uids = itertools.count(1)

    @staticmethod
    def claim(name, phase="Bound"):
        return client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name=name, namespace="ns", labels={"app.kubernetes.io/instance": "inferno"}),
            spec=client.V1PersistentVolumeClaimSpec(volume_name="pv-" + name, storage_class_name="standard"),
            status=client.V1PersistentVolumeClaimStatus(phase=phase))

    def add_snapshot(self, name, labels, created="2026-11-24T10:00:00Z", ready=True, pvc="inferno-models-pvc"):
        uid = "uid-{0}".format(next(self.uids))
        snapshot = {"metadata": {"name": name, "namespace": "ns", "uid": uid, "labels": labels,
                                 "creationTimestamp": created},
                    "spec": {"source": {"persistentVolumeClaimName": pvc}}, "status": {"readyToUse": False}}
        if ready:
            content = "content-" + name
            snapshot["status"] = {"readyToUse": True, "boundVolumeSnapshotContentName": content, "restoreSize": "1Gi"}
            self.contents[content] = {"metadata": {"name": content, "labels": {}, "creationTimestamp": created},
                                      "spec": {"deletionPolicy": "Delete", "driver": "hostpath.csi.k8s.io",
                                               "volumeSnapshotRef": {"name": name, "namespace": "ns", "uid": uid}},
                                      "status": {"readyToUse": True, "snapshotHandle": "snap-" + name}}
            self.data.add("snap-" + name)
        self.snapshots[name] = snapshot
        return snapshot

    def backup(self, backup_id, created, ready=True, pinned=False, release="inferno"):
        for pvc in CLAIMS:
            labels = logic.snapshot_labels(release, pvc, backup_id, "dev", 1)
            if pinned:
                labels[logic.LABEL_PIN] = "true"
            self.add_snapshot(logic.snapshot_name(pvc, backup_id), labels, created, ready, pvc)

    # --- the API methods the module calls ---------------------------------------------------
    def get_api_versions(self):
        groups = []
        for group_version in self.served:
            group, _sep, version = group_version.rpartition("/")
            groups.append(client.V1APIGroup(name=group, versions=[
                client.V1GroupVersionForDiscovery(group_version=group_version, version=version)]))
        return client.V1APIGroupList(groups=groups)

    def read_claim(self, name, namespace):
        if name not in self.claims:
            raise ApiException(status=404, reason="Not Found")
        return self.claims[name]

    def list_claims(self, namespace, label_selector=None):
        return client.V1PersistentVolumeClaimList(items=[
            item for item in self.claims.values() if matches(item.metadata.labels, label_selector)])

    def list_volumes(self):
        return client.V1PersistentVolumeList(items=[client.V1PersistentVolume(
            metadata=client.V1ObjectMeta(name="pv-" + name),
            spec=client.V1PersistentVolumeSpec(csi=client.V1CSIPersistentVolumeSource(
                driver="hostpath.csi.k8s.io", volume_handle=name)))
            for name in self.claims])

    def list_cluster(self, group, version, plural, label_selector=None):
        assert (group, version) == ("snapshot.storage.k8s.io", "v1")
        items = {"volumesnapshotclasses": self.classes, "volumesnapshotcontents": list(self.contents.values())}[plural]
        return {"items": copy.deepcopy([item for item in items
                                        if matches(item["metadata"].get("labels") or {}, label_selector)])}

    def patch_content(self, group, version, plural, name, body):
        self.patched.append((name, copy.deepcopy(body)))
        content = self.contents[name]
        merge_labels(content, body)
        content["spec"].update(body.get("spec") or {})
        return copy.deepcopy(content)

    def patch_snapshot(self, group, version, namespace, plural, name, body):
        self.patched.append((name, copy.deepcopy(body)))
        merge_labels(self.snapshots[name], body)
        return copy.deepcopy(self.snapshots[name])

    def create_content(self, group, version, plural, body):
        self.created.append(copy.deepcopy(body))
        content = copy.deepcopy(body)
        handle = body["spec"]["source"]["snapshotHandle"]
        content["status"] = ({"error": {"message": "can not find snapshot for snapshotID " + handle}}
                             if handle in self.unknown_handles else {"readyToUse": True, "snapshotHandle": handle})
        self.contents[body["metadata"]["name"]] = content
        return body

    def delete_content(self, group, version, plural, name):
        """Deleting a content deletes its data only when its policy is Delete."""
        if name not in self.contents:
            raise ApiException(status=404, reason="Not Found")
        self.deleted_contents.append(name)
        content = self.contents.pop(name)
        if content["spec"].get("deletionPolicy") == "Delete":
            self.data.discard(logic.content_handle(content))

    def create_namespace(self, body):
        self.created.append(copy.deepcopy(body))
        self.namespaces.add(body["metadata"]["name"])

    def list_snapshots(self, group, version, namespace, plural, label_selector=None):
        assert (group, version, namespace, plural) == ("snapshot.storage.k8s.io", "v1", "ns", "volumesnapshots")
        return {"items": [copy.deepcopy(item) for item in self.snapshots.values()
                          if matches(item["metadata"]["labels"], label_selector)]}

    def create_snapshot(self, group, version, namespace, plural, body):
        if self.refuse_create:
            raise self.refuse_create[0]
        name = body["metadata"]["name"]
        self.created.append(copy.deepcopy(body))
        source = body["spec"]["source"]
        if "volumeSnapshotContentName" in source:  # pre-provisioned: bound to that content
            snapshot = self.add_snapshot(name, body["metadata"]["labels"], ready=False, pvc=None)
            snapshot["spec"] = copy.deepcopy(body["spec"])
            snapshot["metadata"]["annotations"] = copy.deepcopy(body["metadata"].get("annotations"))
            snapshot["status"] = {"readyToUse": True, "boundVolumeSnapshotContentName": source["volumeSnapshotContentName"],
                                  "restoreSize": "1Gi"}
            self.contents[source["volumeSnapshotContentName"]]["spec"]["volumeSnapshotRef"]["uid"] = \
                snapshot["metadata"]["uid"]
            return body
        snapshot = self.add_snapshot(name, body["metadata"]["labels"], ready=self.status_on_create is None,
                                     pvc=source["persistentVolumeClaimName"])
        snapshot["metadata"]["annotations"] = copy.deepcopy(body["metadata"].get("annotations"))
        if self.status_on_create:
            snapshot["status"] = copy.deepcopy(self.status_on_create)
        if name in self.conflicts:
            raise ApiException(status=409, reason="AlreadyExists")
        return body

    def delete_snapshot(self, group, version, namespace, plural, name):
        """The snapshot controller deletes a bound content whose policy is Delete, with its data."""
        self.deleted.append(name)
        snapshot = self.snapshots.pop(name, None)
        content = self.contents.get(((snapshot or {}).get("status") or {}).get("boundVolumeSnapshotContentName"))
        if content and content["spec"].get("deletionPolicy") == "Delete":
            self.delete_content(None, None, None, content["metadata"]["name"])


@pytest.fixture
def cluster(monkeypatch):
    fake = FakeCluster()
    monkeypatch.setattr(pvc_snapshot, "api_client", lambda module: client.ApiClient())
    # The module's clock only: now is 2026-11-24T12:00:00Z, and waiting takes no time.
    monkeypatch.setattr(pvc_snapshot, "time", types.SimpleNamespace(
        time=lambda: NOW, monotonic=itertools.count(0, 0.25).__next__, sleep=lambda seconds: None,
        strftime=time.strftime, gmtime=time.gmtime))
    patches = {
        (client.ApisApi, "get_api_versions"): fake.get_api_versions,
        (client.CoreV1Api, "read_namespaced_persistent_volume_claim"): fake.read_claim,
        (client.CoreV1Api, "list_namespaced_persistent_volume_claim"): fake.list_claims,
        (client.CoreV1Api, "list_persistent_volume"): fake.list_volumes,
        (client.CustomObjectsApi, "list_cluster_custom_object"): fake.list_cluster,
        (client.CustomObjectsApi, "list_namespaced_custom_object"): fake.list_snapshots,
        (client.CustomObjectsApi, "create_namespaced_custom_object"): fake.create_snapshot,
        (client.CustomObjectsApi, "delete_namespaced_custom_object"): fake.delete_snapshot,
        (client.CustomObjectsApi, "patch_cluster_custom_object"): fake.patch_content,
        (client.CustomObjectsApi, "patch_namespaced_custom_object"): fake.patch_snapshot,
        (client.CustomObjectsApi, "create_cluster_custom_object"): fake.create_content,
        (client.CustomObjectsApi, "delete_cluster_custom_object"): fake.delete_content,
        (client.CoreV1Api, "create_namespace"): fake.create_namespace,
    }
    for (api, method), answer in patches.items():
        monkeypatch.setattr(api, method, lambda self, *args, _answer=answer, **kwargs: _answer(*args, **kwargs))
    return fake


def module_args(args):
    return dict({"release_name": "inferno", "release_namespace": "ns", "wait_timeout": 5}, **args)


@pytest.fixture
def run(run_module):
    """The module's result; the test fails if the module does."""
    def run_pvc_snapshot(check_mode=False, diff=False, **args):
        return run_module(pvc_snapshot.main, module_args(args), check_mode=check_mode, diff=diff)

    return run_pvc_snapshot


@pytest.fixture
def failure(fail_module):
    """The message of a run that must fail."""
    return lambda **args: fail_module(pvc_snapshot.main, module_args(args))["msg"]


# --- present -----------------------------------------------------------------------------------

def test_one_labelled_snapshot_per_claim_of_the_release(run, cluster):
    result = run(backup_id="b1", environment="prod", chart_revision=12, annotations={"team": "ml"})
    assert result["changed"] is True
    assert [body["metadata"]["name"] for body in cluster.created] == ["inferno-cache-pvc-b1", "inferno-models-pvc-b1"]
    body = cluster.created[1]
    assert body == {
        "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
        "metadata": {"name": "inferno-models-pvc-b1", "namespace": "ns", "annotations": {
            "team": "ml", "inferno.ops/source-claim": RECORDED_CLAIM}, "labels": {
            "app.kubernetes.io/instance": "inferno", "app.kubernetes.io/managed-by": "inferno.ops",
            "inferno.ops/backup-id": "b1", "inferno.ops/pvc": "inferno-models-pvc", "inferno.ops/environment": "prod",
            "inferno.ops/chart-revision": "12"}},
        "spec": {"source": {"persistentVolumeClaimName": "inferno-models-pvc"}},  # the driver's default class
    }
    assert [(item["name"], item["pvc"], item["readyToUse"]) for item in result["snapshots"]] == [
        ("inferno-cache-pvc-b1", "inferno-cache-pvc", True), ("inferno-models-pvc-b1", "inferno-models-pvc", True)]
    assert result["deleted"] == [] and "created_seconds" in result


@pytest.mark.parametrize("args, pvcs", [
    ({"pvcs": ["inferno-models-pvc"]}, ["inferno-models-pvc"]),
    ({"label_selectors": ["app.kubernetes.io/instance=inferno"]}, list(CLAIMS)),
])
def test_the_claims_to_snapshot_can_be_named_or_selected(run, cluster, args, pvcs):
    run(backup_id="b1", snapshot_class="other-snap", **args)
    assert [body["spec"]["source"]["persistentVolumeClaimName"] for body in cluster.created] == pvcs
    assert all(body["spec"]["volumeSnapshotClassName"] == "other-snap" for body in cluster.created)


def test_check_mode_creates_nothing_and_says_what_it_would(run, cluster):
    result = run(check_mode=True, diff=True, backup_id="b1")
    assert cluster.created == []
    assert result["changed"] is True
    assert [(item["name"], item["readyToUse"]) for item in result["snapshots"]] == [
        ("inferno-cache-pvc-b1", False), ("inferno-models-pvc-b1", False)]
    assert result["diff"] == {"before": "\n", "after": "inferno-cache-pvc-b1\ninferno-models-pvc-b1\n"}


def test_a_rerun_of_the_same_backup_changes_nothing(run, cluster):
    cluster.backup("b1", "2026-11-24T10:00:00Z")
    result = run(backup_id="b1")
    assert result["changed"] is False and cluster.created == []
    assert all(item["readyToUse"] for item in result["snapshots"])


def test_a_snapshot_an_earlier_run_made_meanwhile_is_adopted(run, cluster):
    """Create answers 409 AlreadyExists: the snapshot is taken as ours and waited for, not reported as an error."""
    cluster.conflicts = {"inferno-models-pvc-b1"}
    result = run(backup_id="b1")
    assert result["changed"] is True and len(cluster.created) == 2
    assert [item["readyToUse"] for item in result["snapshots"]] == [True, True]


@pytest.mark.parametrize("prepare, message", [
    (lambda cluster: cluster.served.remove("snapshot.storage.k8s.io/v1"), logic.API_NOT_SERVED),
    (lambda cluster: cluster.claims.update({"inferno-models-pvc": FakeCluster.claim("inferno-models-pvc", "Pending")}),
     "PersistentVolumeClaim inferno-models-pvc is Pending, not Bound: a snapshot needs a bound volume."),
    (lambda cluster: cluster.claims.clear(),
     "No PersistentVolumeClaim in ns matches app.kubernetes.io/instance=inferno."),
    (lambda cluster: cluster.classes[0]["metadata"].pop("annotations"),
     "Cannot snapshot inferno-cache-pvc: No VolumeSnapshotClass is the default for driver hostpath.csi.k8s.io"),
])
def test_what_cannot_work_fails_before_any_snapshot(failure, cluster, prepare, message):
    prepare(cluster)
    assert failure(backup_id="b1").startswith(message)
    assert cluster.created == []


@pytest.mark.parametrize("args, message", [
    ({"backup_id": "B1"}, "backup_id 'B1' must be 1-40 lowercase letters"),
    ({"pvcs": ["gone"], "backup_id": "b1"}, "PersistentVolumeClaim gone does not exist in ns."),
    ({}, "state is present but all of the following are missing: backup_id"),
    ({"backup_id": "b1", "pvcs": ["a"], "label_selectors": ["b=c"]},
     "parameters are mutually exclusive: pvcs|label_selectors"),
])
def test_bad_arguments(failure, cluster, args, message):
    assert message in failure(**args)
    assert cluster.created == []


def test_a_refused_create_names_the_fix(failure, cluster):
    refused = ApiException(status=403, reason="Forbidden")
    refused.body = '{"message": "exceeded quota: snapshots, requested: count/volumesnapshots=1"}'
    cluster.refuse_create.append(refused)
    message = failure(backup_id="b1")
    assert message.startswith("Creating VolumeSnapshot inferno-cache-pvc-b1 was refused: exceeded quota: snapshots")
    assert "The storage backend refuses more snapshots (a quota or maximum)" in message


def test_a_snapshot_that_cannot_become_ready_fails_without_waiting_and_deletes_nothing(failure, cluster):
    cluster.status_on_create = {"readyToUse": False, "error": {
        "message": "Failed to check and update snapshot content: the PVC is not yet bound to a PV"}}
    message = failure(backup_id="b1")
    assert message.startswith("VolumeSnapshot inferno-cache-pvc-b1 (claim inferno-cache-pvc) failed: Failed to check")
    assert message.endswith("Nothing was deleted.") and cluster.deleted == []


def test_a_snapshot_still_not_ready_times_out_with_its_state(failure, cluster):
    cluster.status_on_create = {"readyToUse": False}
    message = failure(backup_id="b1", wait_timeout=30)
    assert message == ("Timed out after 30s waiting for 2 snapshot(s): inferno-cache-pvc-b1: no error reported, not "
                       "ready yet; inferno-models-pvc-b1: no error reported, not ready yet")


def test_a_lost_api_server_says_what_was_requested_and_how_to_finish(failure, cluster):
    cluster.backup("b1", "2026-11-24T10:00:00Z")
    del cluster.snapshots["inferno-models-pvc-b1"]
    cluster.refuse_create.append(MaxRetryError(None, "/apis", "connection refused"))
    message = failure(backup_id="b1")
    assert message.startswith("Cannot reach the Kubernetes API in ns: ")
    assert ("Backup b1 was interrupted with 1 snapshot(s) requested (inferno-cache-pvc-b1); nothing was deleted. When "
            "the API server answers again, run the same task with backup_id=b1") in message


# --- absent and pruned -----------------------------------------------------------------------------

@pytest.fixture
def three_backups(cluster):
    """b1 (oldest, pinned), b2, b3 (newest, not ready), another release's b2, and a look-alike without our label."""
    cluster.backup("b1", "2026-11-20T10:00:00Z", pinned=True)
    cluster.backup("b2", "2026-11-21T10:00:00Z")
    cluster.backup("b3", "2026-11-22T10:00:00Z", ready=False)
    cluster.add_snapshot("theirs-b2", logic.snapshot_labels("other", "inferno-models-pvc", "b2"))
    cluster.add_snapshot("lookalike-b2", {"app.kubernetes.io/instance": "inferno", "inferno.ops/backup-id": "b2"})
    return cluster


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_deletes_only_our_snapshots_of_that_backup(run, three_backups, check_mode):
    result = run(check_mode=check_mode, state="absent", backup_id="b2")
    assert result["changed"] is True
    assert result["deleted"] == ["inferno-cache-pvc-b2", "inferno-models-pvc-b2"]
    assert three_backups.deleted == ([] if check_mode else result["deleted"])
    assert {"theirs-b2", "lookalike-b2"} <= set(three_backups.snapshots)


def test_absent_by_name_refuses_a_snapshot_that_is_not_ours(failure, three_backups):
    message = failure(state="absent", names=["inferno-models-pvc-b1", "lookalike-b2"])
    assert message.startswith("Not deleting lookalike-b2: not snapshots of release inferno made by inferno.ops (ours: ")
    assert three_backups.deleted == []


def test_absent_by_name(run, three_backups):
    assert run(state="absent", names=["inferno-models-pvc-b1"])["deleted"] == ["inferno-models-pvc-b1"]
    assert three_backups.deleted == ["inferno-models-pvc-b1"]


def test_absent_needs_a_name_or_a_backup_id(failure, three_backups):
    assert failure(state="absent") == "state=absent needs names or backup_id: nothing is deleted unless named."
    assert three_backups.deleted == []


PINNED = "pinned (inferno.ops/pin=true)"
NEWEST_READY = "the newest ready backup is never pruned"


@pytest.mark.parametrize("args, deleted, kept", [
    ({"keep_last": 1}, ["b2"], {"b1": PINNED, "b3": NEWEST_READY}),
    ({"keep_last": 2}, [], {"b1": PINNED, "b2": "within keep_last/max_age", "b3": NEWEST_READY}),
    ({"max_age": "4d"}, [], {"b1": PINNED, "b2": "within keep_last/max_age", "b3": NEWEST_READY}),
    ({"max_age": "3d"}, ["b2"], {"b1": PINNED, "b3": NEWEST_READY}),
])
def test_prune_keeps_the_newest_ready_and_pinned_sets(run, three_backups, args, deleted, kept):
    """With b3 complete: b3 is the newest ready set, b1 is pinned; b2 (taken 3d 2h ago) goes by count or age."""
    for name in ("inferno-cache-pvc-b3", "inferno-models-pvc-b3"):
        three_backups.snapshots[name]["status"]["readyToUse"] = True
    result = run(state="pruned", **args)
    names = [logic.snapshot_name(pvc, backup_id) for backup_id in deleted for pvc in CLAIMS]
    assert (result["deleted"], result["kept"]) == (sorted(names), kept)
    assert three_backups.deleted == names


def test_prune_never_deletes_the_newest_ready_set_when_newer_ones_are_incomplete(run, three_backups):
    result = run(state="pruned", max_age="1h", check_mode=True)
    assert result["kept"] == {"b1": PINNED, "b2": NEWEST_READY}
    assert result["deleted"] == ["inferno-cache-pvc-b3", "inferno-models-pvc-b3"]
    assert three_backups.deleted == []  # check mode


def test_prune_needs_a_rule(failure, three_backups):
    assert failure(state="pruned") == "state=pruned needs keep_last or max_age."
    assert three_backups.deleted == []


@pytest.mark.parametrize("args, message", [
    ({"state": "pruned", "keep_last": -1}, "keep_last must be 1 or more (how many of the newest backup sets to keep), got -1"),
    ({"state": "pruned", "keep_last": 0}, "keep_last must be 1 or more (how many of the newest backup sets to keep), got 0"),
    ({"state": "pruned", "max_age": "0d"}, "max_age must be above 0 (sets older than it are deleted), got '0d'"),
    ({"state": "pruned", "max_age": "a week"}, "max_age 'a week' is not a duration such as 30d, 12h, 45m or 3600"),
    ({"state": "pruned", "keep_last": 3, "wait_timeout": 0}, "wait_timeout must be a number of seconds above 0, got 0"),
    ({"state": "absent", "backup_id": "b2", "wait_timeout": -5}, "wait_timeout must be a number of seconds above 0, got -5"),
    ({"backup_id": "b4", "wait_timeout": 0}, "wait_timeout must be a number of seconds above 0, got 0"),
])
def test_out_of_bounds_options_are_refused_before_anything_is_read(failure, three_backups, monkeypatch, args, message):
    def no_client(module):
        raise AssertionError("the cluster was reached")

    monkeypatch.setattr(pvc_snapshot, "Snapshotter", no_client)
    assert failure(**args) == message + ". Nothing was read or changed."
    assert three_backups.deleted == [] and three_backups.created == []


# --- retained contents ---------------------------------------------------------------------------
def test_a_ready_snapshot_s_content_is_retained_and_labelled_with_its_namespace(run, cluster):
    result = run(backup_id="b1", environment="prod", chart_revision=12)
    assert [name for name, _patch in cluster.patched] == ["content-inferno-cache-pvc-b1", "content-inferno-models-pvc-b1"]
    assert cluster.patched[1][1] == {"spec": {"deletionPolicy": "Retain"}, "metadata": {"labels": {
        "app.kubernetes.io/instance": "inferno", "app.kubernetes.io/managed-by": "inferno.ops",
        "inferno.ops/backup-id": "b1", "inferno.ops/pvc": "inferno-models-pvc", "inferno.ops/environment": "prod",
        "inferno.ops/chart-revision": "12", "inferno.ops/namespace": "ns"}}}
    entry = result["snapshots"][1]
    assert (entry["handle"], entry["driver"], entry["deletion_policy"]) == (
        "snap-inferno-models-pvc-b1", "hostpath.csi.k8s.io", "Retain")
    assert entry["source_claim"]["storageClassName"] == "standard"
    assert run(backup_id="b1")["changed"] is False and len(cluster.patched) == 2  # retained already


def test_retain_false_leaves_the_class_s_policy(run, cluster):
    result = run(backup_id="b1", retain=False)
    assert cluster.patched == [] and {item["deletion_policy"] for item in result["snapshots"]} == {"Delete"}


def test_absent_deletes_the_retained_contents_and_their_data(run, cluster):
    run(backup_id="b1")
    assert len(cluster.data) == 2
    result = run(state="absent", backup_id="b1")
    assert result["deleted_contents"] == ["content-inferno-cache-pvc-b1", "content-inferno-models-pvc-b1"]
    assert cluster.contents == {} and cluster.data == set() and result["kept_data"] == []


def test_data_another_content_points_at_is_kept(run, cluster):
    """A restore into another namespace made a content for the same handle: only our object goes."""
    run(backup_id="b1")
    cluster.contents["inferno-other-ns-copy"] = {"metadata": {"name": "inferno-other-ns-copy", "labels": {}},
                                                 "spec": {"deletionPolicy": "Retain"},
                                                 "status": {"snapshotHandle": "snap-inferno-models-pvc-b1"}}
    result = run(state="absent", backup_id="b1")
    assert result["kept_data"] == ["snap-inferno-models-pvc-b1"]
    assert cluster.data == {"snap-inferno-models-pvc-b1"} and set(cluster.contents) == {"inferno-other-ns-copy"}


def test_a_set_whose_namespace_was_deleted_is_pruned_with_its_contents(run, cluster):
    """The snapshots went with their namespace; the retained contents still count as backups and are pruned."""
    cluster.backup("old", "2026-11-20T10:00:00Z")
    cluster.backup("new", "2026-11-23T10:00:00Z")
    run(backup_id="old")
    run(backup_id="new")
    cluster.snapshots.clear()  # kubectl delete namespace: the contents are Retain
    result = run(state="pruned", keep_last=1)
    assert result["kept"] == {"new": "the newest ready backup is never pruned"}
    assert result["deleted_contents"] == ["content-inferno-cache-pvc-old", "content-inferno-models-pvc-old"]
    assert sorted(cluster.contents) == ["content-inferno-cache-pvc-new", "content-inferno-models-pvc-new"]
    assert cluster.data == {"snap-inferno-cache-pvc-new", "snap-inferno-models-pvc-new"}


# --- pins and holds (issue 25, case 1) -------------------------------------------------------------
def retained_backups(cluster, run, pinned=()):
    """old, middle and new, each taken (so retained and labelled); the ones in ``pinned`` pinned when taken."""
    for backup_id, created in (("old", "2026-11-20T10:00:00Z"), ("middle", "2026-11-21T10:00:00Z"),
                               ("new", "2026-11-23T10:00:00Z")):
        cluster.backup(backup_id, created, pinned=backup_id in pinned)
        run(backup_id=backup_id)


def contents_of(cluster, backup_id):
    return sorted(name for name, item in cluster.contents.items()
                  if item["metadata"]["labels"].get(logic.LABEL_BACKUP_ID) == backup_id)


def test_a_pinned_set_stays_pinned_after_its_namespace_is_deleted(run, cluster):
    """The case of issue 25: the oldest of three sets pinned, the namespace deleted, keep_last=1."""
    retained_backups(cluster, run, pinned=("old",))
    assert {cluster.contents[name]["metadata"]["labels"].get(logic.LABEL_PIN)
            for name in contents_of(cluster, "old")} == {"true"}
    cluster.snapshots.clear()  # kubectl delete namespace: the contents are Retain
    result = run(state="pruned", keep_last=1)
    assert result["kept"] == {"old": PINNED, "new": NEWEST_READY}
    assert result["deleted_contents"] == contents_of_deleted("middle")
    assert contents_of(cluster, "old") == ["content-inferno-cache-pvc-old", "content-inferno-models-pvc-old"]
    assert {"snap-inferno-cache-pvc-old", "snap-inferno-models-pvc-old"} <= cluster.data


def contents_of_deleted(backup_id):
    return ["content-{0}".format(logic.snapshot_name(pvc, backup_id)) for pvc in CLAIMS]


def test_a_pin_set_with_kubectl_later_reaches_the_contents_at_the_next_prune(run, cluster):
    retained_backups(cluster, run)
    for pvc in CLAIMS:  # kubectl label volumesnapshot ... inferno.ops/pin=true
        cluster.snapshots[logic.snapshot_name(pvc, "old")]["metadata"]["labels"][logic.LABEL_PIN] = "true"
    relabelled = run(state="pruned", keep_last=3)
    assert (relabelled["deleted"], relabelled["changed"]) == ([], True)  # the contents took the pin
    assert run(state="pruned", keep_last=3)["changed"] is False
    cluster.snapshots.clear()
    result = run(state="pruned", keep_last=1)
    assert result["kept"] == {"old": PINNED, "new": NEWEST_READY}
    assert result["deleted_contents"] == contents_of_deleted("middle")


def marks(cluster, backup_id):
    """The pin-on-content mark of each snapshot of the set (files/admission/pin-protection.yaml reads it)."""
    return dict((name, (item["metadata"].get("annotations") or {}).get(logic.ANNOTATION_PIN_ON_CONTENT))
                for name, item in sorted(cluster.snapshots.items())
                if item["metadata"]["labels"].get(logic.LABEL_BACKUP_ID) == backup_id)


def test_a_kubectl_pin_is_marked_carried_only_once_the_contents_have_it(run, cluster):
    """Until the mark is there, the admission policy keeps the namespace from deleting the pinned snapshots."""
    retained_backups(cluster, run)
    for pvc in CLAIMS:
        cluster.snapshots[logic.snapshot_name(pvc, "old")]["metadata"]["labels"][logic.LABEL_PIN] = "true"
    assert set(marks(cluster, "old").values()) == {None}
    preview = run(state="pruned", keep_last=3, check_mode=True)
    assert preview["changed"] is True and set(marks(cluster, "old").values()) == {None}
    run(state="pruned", keep_last=3)
    assert set(marks(cluster, "old").values()) == {"true"}
    assert set(marks(cluster, "middle").values()) == {None}
    # Unpinned by hand: the next prune unpins the contents and takes the mark away.
    for pvc in CLAIMS:
        del cluster.snapshots[logic.snapshot_name(pvc, "old")]["metadata"]["labels"][logic.LABEL_PIN]
    run(state="pruned", keep_last=3)
    assert set(marks(cluster, "old").values()) == {None}
    assert [name for name in contents_of(cluster, "old")
            if cluster.contents[name]["metadata"]["labels"].get(logic.LABEL_PIN)] == []


def test_pinning_marks_the_snapshots_after_their_contents_and_unpinning_unmarks_them_first(run, cluster):
    retained_backups(cluster, run)
    del cluster.patched[:]
    run(state="pinned", backup_id="old")
    snapshot_names = [logic.snapshot_name(pvc, "old") for pvc in CLAIMS]
    assert [name for name, _patch in cluster.patched] == contents_of(cluster, "old") + snapshot_names
    assert set(marks(cluster, "old").values()) == {"true"}
    del cluster.patched[:]
    run(state="unpinned", backup_id="old")
    assert [name for name, _patch in cluster.patched] == list(reversed(contents_of(cluster, "old") + snapshot_names))
    assert set(marks(cluster, "old").values()) == {None}
    # A hold is no pin: it never marks a snapshot.
    run(state="pinned", backup_id="old", hold="restore")
    assert set(marks(cluster, "old").values()) == {None}


def test_a_pin_whose_content_is_not_retained_is_never_marked(run, cluster):
    """Without retain the content goes with the snapshot: the pin cannot outlive the namespace."""
    cluster.backup("b1", "2026-11-20T10:00:00Z", pinned=True)
    run(backup_id="b1", retain=False)
    assert set(marks(cluster, "b1").values()) == {None}
    assert run(state="pinned", backup_id="b1")["changed"] is False
    assert set(marks(cluster, "b1").values()) == {None}


def test_unpinning_a_snapshot_with_kubectl_unpins_its_contents_too(run, cluster):
    retained_backups(cluster, run, pinned=("old",))
    for pvc in CLAIMS:
        del cluster.snapshots[logic.snapshot_name(pvc, "old")]["metadata"]["labels"][logic.LABEL_PIN]
    run(state="pruned", keep_last=3)
    cluster.snapshots.clear()
    assert run(state="pruned", keep_last=1)["deleted_contents"] == sorted(
        contents_of_deleted("middle") + contents_of_deleted("old"))


@pytest.mark.parametrize("check_mode", [False, True])
def test_pinning_labels_the_set_s_snapshots_and_contents(run, cluster, check_mode):
    retained_backups(cluster, run)
    result = run(state="pinned", backup_id="old", check_mode=check_mode, diff=True)
    names = sorted([logic.snapshot_name(pvc, "old") for pvc in CLAIMS] + contents_of_deleted("old"))
    assert (result["changed"], result["labelled"]) == (True, names)
    assert "inferno-models-pvc-old inferno.ops/pin=true" in result["diff"]["after"]
    pinned = sorted(name for name, item in list(cluster.snapshots.items()) + list(cluster.contents.items())
                    if item["metadata"]["labels"].get(logic.LABEL_PIN) == "true")
    assert pinned == ([] if check_mode else names)
    if not check_mode:
        assert run(state="pinned", backup_id="old")["changed"] is False
        cluster.snapshots.clear()
        assert run(state="pruned", keep_last=1)["kept"]["old"] == PINNED


def test_pinning_reaches_a_set_whose_namespace_was_deleted_and_unpinning_releases_it(run, cluster):
    retained_backups(cluster, run)
    cluster.snapshots.clear()
    assert run(state="pinned", backup_id="middle")["labelled"] == contents_of_deleted("middle")
    assert run(state="pruned", keep_last=1)["kept"] == {"middle": PINNED, "new": NEWEST_READY}
    assert run(state="unpinned", backup_id="middle")["labelled"] == contents_of_deleted("middle")
    assert run(state="pruned", keep_last=1)["deleted_contents"] == contents_of_deleted("middle")


def test_pinning_a_backup_that_does_not_exist_fails_and_names_the_ones_that_do(failure, run, cluster):
    retained_backups(cluster, run)
    assert failure(state="pinned", backup_id="nope") == (
        "There is no backup nope of inferno in ns, neither snapshots nor retained contents (its backups: middle, new, "
        "old). Nothing was changed.")


def test_a_set_a_restore_holds_is_kept_by_a_prune_meanwhile(run, cluster):
    retained_backups(cluster, run)
    run(state="pinned", backup_id="middle", hold="restore")
    result = run(state="pruned", keep_last=1)
    assert result["kept"]["middle"] == "held by restore (inferno.ops/held-by): it is being read"
    assert result["deleted"] == [logic.snapshot_name(pvc, "old") for pvc in CLAIMS]
    # Another holder's release leaves this hold alone; the holder's own release ends it.
    assert run(state="unpinned", backup_id="middle", hold="other")["changed"] is False
    assert run(state="unpinned", backup_id="middle", hold="restore")["changed"] is True
    assert run(state="pruned", keep_last=1)["deleted"] == [logic.snapshot_name(pvc, "middle") for pvc in CLAIMS]


def test_a_hold_survives_the_namespace(run, cluster):
    retained_backups(cluster, run)
    run(state="pinned", backup_id="middle", hold="restore")
    cluster.snapshots.clear()
    assert run(state="pruned", keep_last=1)["kept"]["middle"].startswith("held by restore")


@pytest.mark.parametrize("args, message", [
    ({"state": "pinned", "backup_id": "Pre_Upgrade"}, "backup_id 'Pre_Upgrade' must be 1-40 lowercase letters"),
    ({"state": "pinned", "backup_id": "b1", "hold": "a restore"}, "hold 'a restore' must be 1-63 letters"),
])
def test_a_bad_pin_is_refused_before_anything_is_read(failure, cluster, monkeypatch, args, message):
    monkeypatch.setattr(pvc_snapshot, "Snapshotter", None)
    assert failure(**args).startswith(message)


# --- retain without wait (issue 25, case 4) -------------------------------------------------------
def test_retain_without_wait_is_refused_before_anything_is_read(failure, cluster, monkeypatch):
    monkeypatch.setattr(pvc_snapshot, "Snapshotter", None)
    message = failure(backup_id="b1", wait=False)
    assert message.startswith("retain needs wait: a snapshot's content is switched to Retain when the snapshot is ready")
    assert message.endswith("or retain=false to keep the class's deletion policy. Nothing was read or changed.")
    assert cluster.created == []


def test_without_retain_a_backup_need_not_wait(run, cluster):
    cluster.status_on_create = {"readyToUse": False}
    result = run(backup_id="b1", wait=False, retain=False)
    assert [item["readyToUse"] for item in result["snapshots"]] == [False, False] and cluster.patched == []


# --- imported ------------------------------------------------------------------------------------
def index_entries(handles=("snap-a", "snap-b")):
    return [{"name": logic.snapshot_name(pvc, "b1"), "pvc": pvc, "handle": handle, "driver": "hostpath.csi.k8s.io",
             "snapshot_class": "csi-snap", "source_claim": {"storageClassName": "standard", "volumeMode": "Filesystem"}}
            for pvc, handle in zip(CLAIMS, handles, strict=True)]


def test_import_brings_the_snapshots_back_by_handle_and_makes_the_namespace(run, cluster):
    cluster.namespaces.discard("ns")
    result = run(state="imported", backup_id="b1", snapshots=index_entries(), create_namespace=True)
    kinds = [body.get("kind", "Namespace") for body in cluster.created]
    assert kinds == ["VolumeSnapshotContent", "VolumeSnapshotContent", "Namespace", "VolumeSnapshot", "VolumeSnapshot"]
    content = cluster.created[0]
    assert content["spec"] == {"deletionPolicy": "Retain", "driver": "hostpath.csi.k8s.io",
                               "source": {"snapshotHandle": "snap-a"}, "sourceVolumeMode": "Filesystem",
                               "volumeSnapshotClassName": "csi-snap",
                               "volumeSnapshotRef": {"name": "inferno-cache-pvc-b1", "namespace": "ns"}}
    assert cluster.created[3]["spec"] == {"source": {"volumeSnapshotContentName": "inferno-ns-inferno-cache-pvc-b1"}}
    assert [(item["name"], item["readyToUse"], item["handle"]) for item in result["snapshots"]] == [
        ("inferno-cache-pvc-b1", True, "snap-a"), ("inferno-models-pvc-b1", True, "snap-b")]
    assert "ns" in cluster.namespaces
    assert run(state="imported", backup_id="b1", snapshots=index_entries())["changed"] is False


def test_an_unknown_handle_fails_and_leaves_nothing_behind(failure, cluster):
    cluster.unknown_handles = {"snap-b"}
    cluster.namespaces.discard("ns")
    message = failure(state="imported", backup_id="b1", snapshots=index_entries(), create_namespace=True)
    assert message.startswith("The storage does not have every snapshot of backup b1 (handle snap-b: can not find "
                              "snapshot for snapshotID snap-b).")
    assert message.endswith("Nothing was changed.")
    assert cluster.contents == {} and cluster.snapshots == {} and "ns" not in cluster.namespaces


def test_an_index_without_handles_is_refused_before_anything(failure, cluster):
    entries = index_entries()
    del entries[0]["handle"]
    message = failure(state="imported", backup_id="b1", snapshots=entries)
    assert "snapshot inferno-cache-pvc-b1 in the index has no handle" in message
    assert cluster.created == []


# --- a content the CSI sidecar stopped working on --------------------------------------------------
def stalled_backup(cluster, backup_id="outage"):
    """The backup's snapshots bound to contents that the sidecar has not cut (no status), as after
    an API server outage in the middle of its work."""
    for pvc in CLAIMS:
        name = logic.snapshot_name(pvc, backup_id)
        snapshot = cluster.add_snapshot(name, logic.snapshot_labels("inferno", pvc, backup_id), ready=False, pvc=pvc)
        snapshot["status"] = {"readyToUse": False, "boundVolumeSnapshotContentName": "content-" + name}
        cluster.contents["content-" + name] = {
            "metadata": {"name": "content-" + name, "labels": {}},
            "spec": {"deletionPolicy": "Delete", "driver": "hostpath.csi.k8s.io",
                     "volumeSnapshotRef": {"name": name, "namespace": "ns", "uid": snapshot["metadata"]["uid"]}}}


def test_a_content_the_sidecar_stopped_working_on_is_nudged_once(run, cluster, monkeypatch):
    """A rerun after an outage: any update of a content makes csi-snapshotter look at it again.
    Here the fake sidecar cuts a content only once it is touched."""
    stalled_backup(cluster)
    patch_content = cluster.patch_content

    def sidecar_wakes_up(group, version, plural, name, body):
        if logic.ANNOTATION_NUDGED in ((body.get("metadata") or {}).get("annotations") or {}):
            content = cluster.contents[name]
            content["status"] = {"readyToUse": True, "snapshotHandle": "snap-" + name}
            cluster.snapshots[content["spec"]["volumeSnapshotRef"]["name"]]["status"]["readyToUse"] = True
        return patch_content(group, version, plural, name, body)

    monkeypatch.setattr(cluster, "patch_content", sidecar_wakes_up)
    monkeypatch.setattr(client.CustomObjectsApi, "patch_cluster_custom_object",
                        lambda self, *args, **kwargs: sidecar_wakes_up(*args, **kwargs))
    result = run(backup_id="outage", wait_timeout=120)
    assert [item["readyToUse"] for item in result["snapshots"]] == [True, True]
    nudges = [name for name, body in cluster.patched
              if logic.ANNOTATION_NUDGED in ((body.get("metadata") or {}).get("annotations") or {})]
    assert sorted(nudges) == sorted("content-" + logic.snapshot_name(pvc, "outage") for pvc in CLAIMS)
    assert all(item["elapsed_seconds"] >= pvc_snapshot.NUDGE_AFTER for item in result["snapshots"])


def test_a_content_is_nudged_only_once_and_the_timeout_still_says_what_waits(failure, cluster):
    stalled_backup(cluster)
    message = failure(backup_id="outage", wait_timeout=60)
    assert message.startswith("Timed out after 60s waiting for 2 snapshot(s)")
    nudges = [name for name, body in cluster.patched
              if logic.ANNOTATION_NUDGED in ((body.get("metadata") or {}).get("annotations") or {})]
    assert len(nudges) == 2
