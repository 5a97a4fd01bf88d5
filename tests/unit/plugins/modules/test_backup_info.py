"""inferno.ops.backup_info run through its main(), on a fake Kubernetes API.

The typed API methods the module calls are patched: they answer from the objects a test puts
in ``FakeApi`` and record every request, so the tests assert what was asked and what came back.
"""

from __future__ import annotations

import copy

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import MaxRetryError

from ansible_collections.inferno.ops.plugins.module_utils import snapshots as logic
from ansible_collections.inferno.ops.plugins.modules import backup_info

SELECTOR = "app.kubernetes.io/instance=inferno,app.kubernetes.io/managed-by=inferno.ops"


def matches(labels, selector):
    """Equality-based label selectors (k=v, k), as the API server applies them."""
    for term in filter(None, (selector or "").split(",")):
        key, _sep, value = term.partition("=")
        if key not in labels or (_sep and labels[key] != value):
            return False
    return True


class FakeApi(object):
    def __init__(self):
        self.snapshots = []
        self.claims = []
        self.contents = []
        self.classes = {"fast": "csi.example.com"}
        self.requests = []
        self.errors = []  # the first one is raised by every request

    def list_snapshots(self, group, version, namespace, plural, label_selector=None):
        self.requests.append(("list", plural, namespace, label_selector))
        if self.errors:
            raise self.errors[0]
        assert (group, version) == ("snapshot.storage.k8s.io", "v1")
        items = [item for item in self.snapshots if matches(item["metadata"].get("labels") or {}, label_selector)]
        return {"items": copy.deepcopy(items)}

    def list_contents(self, group, version, plural, label_selector=None):
        self.requests.append(("list", plural))
        return {"items": copy.deepcopy(self.contents)}

    def list_classes(self):
        self.requests.append(("list", "storageclasses"))
        return client.V1StorageClassList(items=[client.V1StorageClass(
            metadata=client.V1ObjectMeta(name=name), provisioner=provisioner) for name, provisioner in self.classes.items()])

    def list_claims(self, namespace, label_selector=None):
        self.requests.append(("list", "persistentvolumeclaims", namespace, label_selector))
        claims = [item for item in self.claims if matches(item.metadata.labels or {}, label_selector)]
        return client.V1PersistentVolumeClaimList(items=claims)


@pytest.fixture
def api(monkeypatch):
    fake = FakeApi()
    monkeypatch.setattr(backup_info, "api_client", lambda module: client.ApiClient())
    monkeypatch.setattr(client.CustomObjectsApi, "list_namespaced_custom_object",
                        lambda self, *args, **kwargs: fake.list_snapshots(*args, **kwargs))
    monkeypatch.setattr(client.CoreV1Api, "list_namespaced_persistent_volume_claim",
                        lambda self, *args, **kwargs: fake.list_claims(*args, **kwargs))
    monkeypatch.setattr(client.CustomObjectsApi, "list_cluster_custom_object",
                        lambda self, *args, **kwargs: fake.list_contents(*args, **kwargs))
    monkeypatch.setattr(client.StorageV1Api, "list_storage_class", lambda self: fake.list_classes())
    return fake


def module_args(args):
    """The module's arguments: the release, and ``args`` (an argument given as None is left out)."""
    args = dict({"release_name": "inferno", "release_namespace": "ns"}, **args)
    return dict((key, value) for key, value in args.items() if value is not None)


@pytest.fixture
def run(run_module):
    """The module's result; the test fails if the module does."""
    return lambda check_mode=False, **args: run_module(backup_info.main, module_args(args), check_mode=check_mode)


@pytest.fixture
def fail(fail_module):
    """The result of a run that must fail, msg included."""
    return lambda **args: fail_module(backup_info.main, module_args(args))


def snapshot(claim, backup_id, created, ready=True, revision=1, size="10Gi", error=None, release="inferno"):
    status = {"readyToUse": ready, "restoreSize": size}
    if error:
        status["error"] = {"message": error}
    return {"metadata": {"name": "{0}-{1}".format(claim, backup_id), "namespace": "ns", "creationTimestamp": created,
                         "labels": logic.snapshot_labels(release, claim, backup_id, "prod", revision)},
            "spec": {"source": {"persistentVolumeClaimName": claim}}, "status": status}


def claim(name, labels, annotations=None, storage_class="fast", access_modes=("ReadWriteMany",)):
    return client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name=name, namespace="ns", labels=labels, annotations=annotations),
        spec=client.V1PersistentVolumeClaimSpec(storage_class_name=storage_class, access_modes=list(access_modes)),
        status=client.V1PersistentVolumeClaimStatus(phase="Bound"))


RELEASE_LABELS = {"app.kubernetes.io/instance": "inferno", "app.kubernetes.io/managed-by": "Helm"}
HELM_ANNOTATIONS = {"meta.helm.sh/release-name": "inferno", "meta.helm.sh/release-namespace": "ns",
                    "helm.sh/resource-policy": "keep"}


@pytest.fixture
def backups(api):
    """r1 (complete, revision 1), r2 (complete, revision 2), half (revision 2, one snapshot not ready)."""
    api.snapshots = [
        snapshot("models", "r1", "2026-11-20T10:00:00Z", size="20Gi"),
        snapshot("cache", "r1", "2026-11-20T10:00:01Z", size="5Gi"),
        snapshot("models", "r2", "2026-11-22T10:00:00Z", revision=2),
        snapshot("cache", "r2", "2026-11-22T10:00:00Z", revision=2),
        snapshot("models", "half", "2026-11-23T10:00:00Z", revision=2),
        snapshot("cache", "half", "2026-11-23T10:00:00Z", revision=2, ready=False, error="snapshot timed out"),
        snapshot("models", "other", "2026-11-24T10:00:00Z", release="other"),  # another release's
    ]
    for item in api.snapshots:  # each ready one bound to its content, on the driver of class "fast"
        if item["status"]["readyToUse"]:
            item["status"]["boundVolumeSnapshotContentName"] = "content-" + item["metadata"]["name"]
            api.contents.append({"metadata": {"name": "content-" + item["metadata"]["name"]},
                                 "spec": {"driver": "csi.example.com"}})
    api.claims = [
        claim("models", RELEASE_LABELS, dict(HELM_ANNOTATIONS, **{"pv.kubernetes.io/bind-completed": "yes"})),
        claim("unrelated", {"app": "x"}),
    ]
    return api


@pytest.mark.parametrize("check_mode", [False, True])
def test_lists_the_release_s_sets_newest_first_and_reads_nothing_else(run, backups, check_mode):
    result = run(check_mode=check_mode)
    assert result["changed"] is False
    assert [entry["backup_id"] for entry in result["backup_sets"]] == ["half", "r2", "r1"]
    assert result["lines"] == [
        "half  revision 2  1/2 ready  2026-11-23T10:00:00Z  cache, models",
        "r2  revision 2  2/2 ready  2026-11-22T10:00:00Z  cache, models",
        "r1  revision 1  2/2 ready  2026-11-20T10:00:00Z  cache, models",
    ]
    assert result["backup_sets"][0]["not_ready"] == ["cache-half"]
    assert result["backup_sets"][0]["errors"] == {"cache-half": "snapshot timed out"}
    assert result["backup_sets"][2]["created_epoch"] == 1795168800
    assert (result["backup"], result["problems"], result["plan"]) == (None, [], [])
    assert backups.requests == [("list", "volumesnapshots", "ns", SELECTOR)]


@pytest.mark.parametrize("args, resolved", [
    ({"backup_id": "r1"}, "r1"),
    ({"backup_id": "r2"}, "r2"),
    ({"chart_revision": 2}, "r2"),  # half is newer, but not complete
    ({"chart_revision": "1"}, "r1"),
])
def test_resolves_a_complete_set_by_id_or_revision(run, backups, args, resolved):
    result = run(**args)
    assert result["backup"]["backup_id"] == resolved and result["backup"]["ready"] is True
    assert result["backup"] in result["backup_sets"] and result["problems"] == []


@pytest.mark.parametrize("args, problem", [
    ({"backup_id": "nope"}, "There is no backup nope of inferno in ns (its backups, newest first: half (revision 2), "
                            "r2 (revision 2), r1 (revision 1))."),
    ({"backup_id": "half"}, "Backup half of inferno has 2 snapshot(s) in ns, and every one must be readyToUse; "
                            "not ready: cache-half (snapshot timed out)."),
    ({"chart_revision": 3}, "No backup of inferno in ns was taken at chart revision 3 (its backups, newest first: "
                            "half (revision 2), r2 (revision 2), r1 (revision 1))."),
])
def test_an_unresolved_set_is_no_failure_without_restore_mode(run, backups, args, problem):
    result = run(**args)
    assert (result["backup"], result["problems"], result["plan"]) == (None, [problem], [])


def test_plan_beside_the_originals(run, backups):
    result = run(backup_id="r1", restore_mode="new")
    assert result["plan"] == [
        {"snapshot": "cache-r1", "source": "cache", "claim": "cache-restored-r1", "size": "5Gi", "storage_class": None,
         "access_modes": ["ReadWriteOnce"], "annotations": {},
         "labels": {"inferno.ops/restored-for": "inferno", "inferno.ops/restored-from": "cache-r1"}},
        {"snapshot": "models-r1", "source": "models", "claim": "models-restored-r1", "size": "20Gi",
         "storage_class": "fast", "access_modes": ["ReadWriteMany"], "annotations": {},
         "labels": {"inferno.ops/restored-for": "inferno", "inferno.ops/restored-from": "models-r1"}},
    ]
    assert backups.requests[-1] == ("list", "persistentvolumeclaims", "ns", "app.kubernetes.io/instance=inferno")


def test_plan_in_place_of_the_newest_complete_set_of_a_revision(run, backups):
    """models keeps its labels and Helm annotations (less pv.kubernetes.io/); cache is gone: Helm's are used."""
    result = run(chart_revision=2, restore_mode="in_place")
    assert result["backup"]["backup_id"] == "r2"
    assert result["plan"] == [
        {"snapshot": "cache-r2", "source": "cache", "claim": "cache", "size": "10Gi", "storage_class": None,
         "access_modes": ["ReadWriteOnce"], "annotations": HELM_ANNOTATIONS,
         "labels": dict(RELEASE_LABELS, **{"inferno.ops/restored-from": "cache-r2"})},
        {"snapshot": "models-r2", "source": "models", "claim": "models", "size": "10Gi", "storage_class": "fast",
         "access_modes": ["ReadWriteMany"], "annotations": HELM_ANNOTATIONS,
         "labels": dict(RELEASE_LABELS, **{"inferno.ops/restored-from": "models-r2"})},
    ]


@pytest.mark.parametrize("args, message", [
    ({"backup_id": "half", "restore_mode": "in_place"},
     "Backup half of inferno has 2 snapshot(s) in ns, and every one must be readyToUse; not ready: cache-half "
     "(snapshot timed out). Pick a complete backup (playbooks/list_backups.yml lists them), or finish this one by "
     "running the backup again with the same id."),
    ({"backup_id": "nope", "restore_mode": "new"}, "There is no backup nope of inferno in ns"),
    ({"chart_revision": 3, "restore_mode": "new"}, "No backup of inferno in ns was taken at chart revision 3"),
])
def test_an_incomplete_or_missing_set_is_not_planned(fail, backups, args, message):
    failed = fail(**args)
    assert failed["msg"].startswith(message)
    assert failed["plan"] == []
    assert [request[1] for request in backups.requests] == ["volumesnapshots"]  # the claims were not even read


@pytest.mark.parametrize("args, message", [
    ({"restore_mode": "new"}, "restore_mode=new needs the backup to plan: pass backup_id or chart_revision."),
    ({"backup_id": "r1", "chart_revision": 1}, "parameters are mutually exclusive: backup_id|chart_revision"),
    ({"backup_id": "r1", "restore_mode": "merge"}, "value of restore_mode must be one of: new, in_place, got: merge"),
    ({"release_namespace": None}, "missing required arguments: release_namespace"),
])
def test_bad_arguments_are_refused_before_any_request(fail, api, args, message):
    assert message in fail(**args)["msg"]
    assert api.requests == []


@pytest.mark.parametrize("error, message", [
    (ApiException(status=404, reason="Not Found"), logic.API_NOT_SERVED),
    (ApiException(status=403, reason="Forbidden"), "The Kubernetes API refused a request in ns: (403)"),
    (MaxRetryError(None, "/apis", "connection refused"), "Cannot reach the Kubernetes API in ns: "),
])
def test_api_errors_fail_with_a_clear_message(fail, api, error, message):
    api.errors.append(error)
    assert fail()["msg"].startswith(message)


def test_the_api_not_served_names_what_to_install():
    assert logic.API_NOT_SERVED == (
        "The cluster does not serve snapshot.storage.k8s.io/v1: install the external-snapshotter CRDs and snapshot "
        "controller, and a CSI driver with snapshot support.")


# --- in place: what would fail once the live claims are deleted (issue 25, case 3) ------------------
@pytest.mark.parametrize("change, problem", [
    (lambda api: api.classes.update(fast="other.csi.example.com"),
     "claim models would be provisioned by other.csi.example.com (StorageClass fast), but snapshot models-r2 is held "
     "by driver csi.example.com"),
    (lambda api: api.classes.clear(), "claim models would use StorageClass fast, which does not exist"),
    (lambda api: (api.snapshots[2]["status"].update(restoreSize="11Gi"), api.snapshots[2]["metadata"].update(
        annotations={logic.ANNOTATION_SOURCE_CLAIM: '{"storage": "10Gi", "storageClassName": "fast"}'})),
     "claim models would ask for 10Gi, less than snapshot models-r2's restoreSize 11Gi"),
    (lambda api: api.snapshots[2]["status"].pop("boundVolumeSnapshotContentName"),
     "snapshot models-r2 is bound to no VolumeSnapshotContent"),
])
def test_an_in_place_restore_that_could_not_make_its_claims_is_refused_first(fail, backups, change, problem):
    change(backups)
    failed = fail(backup_id="r2", restore_mode="in_place")
    assert failed["msg"] == "Backup r2 cannot be restored in place into ns: {0}. Nothing was changed.".format(problem)
    assert [entry["claim"] for entry in failed["plan"]] == ["cache", "models"]


def test_the_checks_pass_for_a_matching_set_and_a_restore_beside_reads_no_more(run, backups):
    assert len(run(backup_id="r2", restore_mode="in_place")["plan"]) == 2
    backups.requests.clear()
    run(backup_id="r2", restore_mode="new")
    assert ("list", "storageclasses") not in backups.requests
