"""Pure logic of inferno.ops.pvc_snapshot: names, readiness, classes, error classes, retention."""

from __future__ import annotations

import pytest

from ansible_collections.inferno.ops.plugins.module_utils import snapshots as logic


def test_names_are_deterministic_and_fit():
    assert logic.snapshot_name("inferno-models-pvc", "pre-upgrade-r12") == "inferno-models-pvc-pre-upgrade-r12"
    long_name = logic.snapshot_name("x" * 250, "b1")
    assert len(long_name) <= 253 and long_name.endswith("-b1") and long_name == logic.snapshot_name("x" * 250, "b1")
    assert logic.snapshot_name("x" * 250, "b1") != logic.snapshot_name("x" * 249 + "y", "b1")


@pytest.mark.parametrize("backup_id, valid", [("b1", True), ("pre-upgrade-r12", True), ("a" * 40, True),
                                              ("a" * 41, False), ("Upper", False), ("-x", False), ("", False)])
def test_backup_id_validation(backup_id, valid):
    assert (logic.validate_backup_id(backup_id) is None) == valid


def test_labels_tie_a_snapshot_to_release_environment_revision_and_backup():
    assert logic.snapshot_labels("inferno", "inferno-models-pvc", "b1", "prod", 12) == {
        "app.kubernetes.io/instance": "inferno", "app.kubernetes.io/managed-by": "inferno.ops",
        "inferno.ops/backup-id": "b1", "inferno.ops/pvc": "inferno-models-pvc", "inferno.ops/environment": "prod",
        "inferno.ops/chart-revision": "12"}


SNAPSHOT = {"metadata": {"name": "s", "namespace": "ns", "uid": "u1"},
            "status": {"readyToUse": True, "boundVolumeSnapshotContentName": "c"}}


@pytest.mark.parametrize("content, ready", [
    ({"metadata": {"name": "c"}, "spec": {"volumeSnapshotRef": {"name": "s", "namespace": "ns", "uid": "u1"}}}, True),
    ({"metadata": {"name": "c"}, "spec": {"volumeSnapshotRef": {"name": "s", "namespace": "ns", "uid": "u2"}}}, False),
    ({"metadata": {"name": "c"}, "spec": {"volumeSnapshotRef": {"name": "other", "namespace": "ns"}}}, False),
    ({"metadata": {"name": "d"}, "spec": {"volumeSnapshotRef": {"name": "s", "namespace": "ns", "uid": "u1"}}}, False),
    (None, False),
])
def test_ready_needs_a_content_that_points_back(content, ready):
    assert logic.is_ready(SNAPSHOT, content) is ready


def test_not_ready_to_use_is_not_ready():
    assert not logic.is_ready({**SNAPSHOT, "status": {"readyToUse": False, "boundVolumeSnapshotContentName": "c"}},
                              {"metadata": {"name": "c"}, "spec": {"volumeSnapshotRef": {"name": "s", "namespace": "ns"}}})


@pytest.mark.parametrize("message, fatal", [
    ("Failed to set default snapshot class with error cannot find default snapshot class", True),
    ("2 default snapshot classes were found", True),
    ('the PVC data is not yet bound to a PV, will not attempt to take a snapshot', True),
    ("snapshot count reaches the configured maximum (100)", True),
    ("exceeded quota: snapshots", True),
    ("failed to take snapshot: connection reset by peer", False),
    (None, False),
])
def test_error_classes(message, fatal):
    assert (logic.classify_error(message) is not None) == fatal


CLASSES = [
    {"metadata": {"name": "a", "annotations": {logic.DEFAULT_CLASS_ANNOTATION: "true"}}, "driver": "d1"},
    {"metadata": {"name": "b"}, "driver": "d2"},
    {"metadata": {"name": "c", "annotations": {logic.DEFAULT_CLASS_ANNOTATION: "true"}}, "driver": "d3"},
    {"metadata": {"name": "e", "annotations": {logic.DEFAULT_CLASS_ANNOTATION: "true"}}, "driver": "d3"},
]


@pytest.mark.parametrize("driver, wanted, chosen, why", [
    ("d1", None, "a", None),
    ("d2", None, None, "No VolumeSnapshotClass is the default for driver d2"),
    ("d3", None, None, "2 VolumeSnapshotClasses are the default for driver d3 (c, e)"),
    ("d2", "b", "b", None),
    ("d1", "b", None, "VolumeSnapshotClass b is for driver d2, but the volume's driver is d1"),
    ("d1", "zz", None, "VolumeSnapshotClass zz does not exist"),
])
def test_class_choice(driver, wanted, chosen, why):
    name, reason = logic.class_for_driver(CLASSES, driver, wanted)
    assert name == chosen
    assert (reason is None) if why is None else reason.startswith(why)


@pytest.mark.parametrize("text, seconds", [("30d", 2592000), ("12h", 43200), ("45m", 2700), ("90", 90), (None, None)])
def test_durations(text, seconds):
    assert logic.parse_duration(text) == seconds


def test_bad_duration():
    with pytest.raises(ValueError, match="is not a duration"):
        logic.parse_duration("a week")


def backup_set(created, ready=True, pinned=False):
    return {"created": created, "ready": ready, "pinned": pinned, "names": []}


def test_retention_keeps_the_newest_and_never_the_newest_ready_or_pinned():
    sets = {"b1": backup_set(100), "b2": backup_set(200, pinned=True), "b3": backup_set(300),
            "b4": backup_set(400), "b5": backup_set(500, ready=False)}
    delete, kept = logic.choose_prunable(sets, keep_last=1)
    assert sorted(delete) == ["b1", "b3"]
    assert kept == {"b5": "within keep_last/max_age", "b4": "the newest ready backup is never pruned",
                    "b2": "pinned (inferno.ops/pin=true)"}


def test_retention_by_age_and_nothing_without_limits():
    sets = {"old": backup_set(100), "mid": backup_set(900), "new": backup_set(1000)}
    assert logic.choose_prunable(sets, max_age_seconds=500, now=1200)[0] == ["old"]
    assert logic.choose_prunable({"only": backup_set(1)}, keep_last=0, max_age_seconds=1, now=10**9)[0] == []
    assert logic.choose_prunable(sets)[0] == []


def test_only_our_labelled_snapshots_form_sets():
    ours = {"metadata": {"name": "a-b1", "creationTimestampEpoch": 5,
                         "labels": {logic.LABEL_BACKUP_ID: "b1", logic.LABEL_MANAGED_BY: logic.MANAGED_BY}},
            "status": {"readyToUse": True}}
    theirs = {"metadata": {"name": "x", "labels": {logic.LABEL_BACKUP_ID: "b1"}}}
    assert logic.group_backup_sets([ours, theirs]) == {
        "b1": {"created": 5, "ready": True, "pinned": False, "names": ["a-b1"]}}
