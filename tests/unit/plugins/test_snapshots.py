"""Pure logic of inferno.ops.pvc_snapshot: names, readiness, classes, error classes, retention."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

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
                              {"metadata": {"name": "c"},
                               "spec": {"volumeSnapshotRef": {"name": "s", "namespace": "ns"}}})


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


def backup_set(created, ready=True, pinned=False, backup_id=None):
    return {"backup_id": backup_id, "created_epoch": created, "ready": ready, "pinned": pinned, "snapshots": []}


def sets_of(**entries):
    return dict((key, dict(entry, backup_id=key)) for key, entry in entries.items())


def test_retention_keeps_the_newest_and_never_the_newest_ready_or_pinned():
    sets = sets_of(b1=backup_set(100), b2=backup_set(200, pinned=True), b3=backup_set(300),
                   b4=backup_set(400), b5=backup_set(500, ready=False))
    delete, kept = logic.choose_prunable(sets, keep_last=1)
    assert sorted(delete) == ["b1", "b3"]
    assert kept == {"b5": "within keep_last/max_age", "b4": "the newest ready backup is never pruned",
                    "b2": "pinned (inferno.ops/pin=true)"}


def test_retention_by_age_and_nothing_without_limits():
    sets = sets_of(old=backup_set(100), mid=backup_set(900), new=backup_set(1000))
    assert logic.choose_prunable(sets, max_age_seconds=500, now=1200)[0] == ["old"]
    assert logic.choose_prunable(sets_of(only=backup_set(1)), keep_last=0, max_age_seconds=1, now=10**9)[0] == []
    assert logic.choose_prunable(sets)[0] == []


# --- backup sets, as inferno.ops.backup_info returns them --------------------------------------------

def snapshot(claim, backup_id, created="2026-11-24T10:00:00Z", ready=True, revision=1, environment="prod",
             pinned=False, size="10Gi", error=None, managed=True):
    labels = logic.snapshot_labels("inferno", claim, backup_id, environment, revision)
    if pinned:
        labels[logic.LABEL_PIN] = "true"
    if not managed:
        del labels[logic.LABEL_MANAGED_BY]
    status = {"readyToUse": ready, "restoreSize": size}
    if error:
        status["error"] = {"message": error}
    return {"metadata": {"name": logic.snapshot_name(claim, backup_id), "namespace": "ns", "labels": labels,
                         "creationTimestamp": created},
            "spec": {"source": {"persistentVolumeClaimName": claim}}, "status": status}


@pytest.mark.parametrize("text, seconds", [
    ("2026-11-24T22:44:51Z", 1795560291), ("2026-11-24T22:44:51.123Z", 1795560291), ("1970-01-01T00:00:00Z", 0),
    ("2026-11-24 22:44:51", None), ("", None), (None, None),
])
def test_api_server_timestamps(text, seconds):
    assert logic.epoch(text) == seconds


def test_selector_of_the_release_and_of_one_backup():
    assert logic.release_selector("inferno") == (
        "app.kubernetes.io/instance=inferno,app.kubernetes.io/managed-by=inferno.ops")
    assert logic.release_selector("inferno", "b1") == (
        "app.kubernetes.io/instance=inferno,app.kubernetes.io/managed-by=inferno.ops,inferno.ops/backup-id=b1")


def test_only_our_labelled_snapshots_form_sets():
    theirs = snapshot("models", "b1", managed=False)
    unlabelled = {"metadata": {"name": "x", "labels": {logic.LABEL_MANAGED_BY: logic.MANAGED_BY}}}
    sets = logic.group_backup_sets([snapshot("models", "b1"), theirs, unlabelled])
    assert list(sets) == ["b1"] and sets["b1"]["snapshots"] == ["models-b1"]


def test_a_set_describes_its_snapshots():
    sets = logic.group_backup_sets([
        snapshot("models", "b1", created="2026-11-24T10:00:05Z", error="exceeded quota: snapshots", ready=False),
        snapshot("cache", "b1", created="2026-11-24T10:00:00Z", pinned=True),
        snapshot("queue", "b1", created="2026-11-24T10:00:09Z", ready=False),
    ])
    assert sets == {"b1": {
        "backup_id": "b1", "chart_revision": 1, "environment": "prod",
        "created": "2026-11-24T10:00:00Z", "created_epoch": 1795514400,
        "ready": False, "ready_count": 1, "total": 3, "pinned": True, "held_by": [],
        "claims": ["cache", "models", "queue"], "snapshots": ["cache-b1", "models-b1", "queue-b1"],
        "not_ready": ["models-b1", "queue-b1"], "errors": {"models-b1": "exceeded quota: snapshots"},
    }}


def test_facts_the_snapshots_of_a_set_disagree_on_are_unknown():
    """A set re-run with another chart revision or without an environment: neither is guessed."""
    entry = logic.group_backup_sets([snapshot("models", "b1", revision=1), snapshot("cache", "b1", revision=2,
                                                                                    environment=None)])["b1"]
    assert (entry["chart_revision"], entry["environment"], entry["ready"]) == (None, None, True)
    assert logic.backup_line(entry).startswith("b1  revision ?  2/2 ready  ")


def test_lines_newest_first():
    sets = logic.group_backup_sets([
        snapshot("models", "old", created="2026-11-20T10:00:00Z"),
        snapshot("models", "new", created="2026-11-22T10:00:00Z", revision=2, pinned=True),
        snapshot("cache", "new", created="2026-11-22T10:00:01Z", revision=2, ready=False),
        snapshot("models", "mid", created="2026-11-21T10:00:00Z"),
    ])
    assert [logic.backup_line(entry) for entry in logic.newest_first(sets)] == [
        "new  revision 2  1/2 ready  2026-11-22T10:00:00Z  cache, models  (pinned)",
        "mid  revision 1  1/1 ready  2026-11-21T10:00:00Z  models",
        "old  revision 1  1/1 ready  2026-11-20T10:00:00Z  models",
    ]


SETS = logic.group_backup_sets([
    snapshot("models", "old-r1", created="2026-11-20T10:00:00Z"),
    snapshot("cache", "old-r1", created="2026-11-20T10:00:01Z"),
    snapshot("models", "mid-r1", created="2026-11-20T12:00:00Z"),
    snapshot("models", "new-r1", created="2026-11-21T10:00:00Z"),
    snapshot("cache", "new-r1", created="2026-11-21T10:00:00Z", ready=False, error="driver timed out"),
    snapshot("models", "r2", created="2026-11-22T10:00:00Z", revision=2),
    snapshot("models", "bad-r3", created="2026-11-23T10:00:00Z", revision=3, ready=False),
])


@pytest.mark.parametrize("backup_id, revision, resolved", [
    ("old-r1", None, "old-r1"),
    ("r2", None, "r2"),
    (None, 1, "mid-r1"),  # new-r1 is newer but not complete
    (None, 2, "r2"),
    (None, None, None),
])
def test_resolve_a_complete_set(backup_id, revision, resolved):
    entry, problems = logic.resolve_backup(SETS, "inferno", "ns", backup_id, revision)
    assert (entry and entry["backup_id"]) == resolved and problems == []


EVERY_SET = "bad-r3 (revision 3), r2 (revision 2), new-r1 (revision 1), mid-r1 (revision 1), old-r1 (revision 1)"


@pytest.mark.parametrize("backup_id, revision, problem", [
    ("nope", None, "There is no backup nope of inferno in ns (its backups, newest first: " + EVERY_SET + ")."),
    ("new-r1", None, "Backup new-r1 of inferno has 2 snapshot(s) in ns, and every one must be readyToUse; not ready: "
                     "cache-new-r1 (driver timed out)."),
    (None, 3, "No complete backup of inferno in ns was taken at chart revision 3: bad-r3 has 0/1 snapshot(s) "
              "readyToUse (not ready: models-bad-r3)."),
    (None, 7, "No backup of inferno in ns was taken at chart revision 7 (its backups, newest first: "
              + EVERY_SET + ")."),
])
def test_nothing_resolves_and_the_problem_says_why(backup_id, revision, problem):
    assert logic.resolve_backup(SETS, "inferno", "ns", backup_id, revision) == (None, [problem])


def test_no_backups_at_all():
    assert logic.resolve_backup({}, "inferno", "ns", "b1") == (
        None, ["There is no backup b1 of inferno in ns (its backups, newest first: none)."])


def claim(name, labels=None, annotations=None, storage_class="standard", access_modes=("ReadWriteMany",)):
    return {"metadata": {"name": name, "labels": labels, "annotations": annotations},
            "spec": {"storageClassName": storage_class, "accessModes": list(access_modes)}}


PLAN_SNAPSHOTS = [snapshot("models", "b1", size="20Gi"), snapshot("cache", "b1", size="5Gi"),
                  snapshot("models", "b0", size="1Gi"), snapshot("models", "b1-other", managed=False)]
HELM_OWNED = {"meta.helm.sh/release-name": "inferno", "meta.helm.sh/release-namespace": "ns",
              "helm.sh/resource-policy": "keep"}
CLAIMS = [claim("models", labels={"app.kubernetes.io/instance": "inferno", "app.kubernetes.io/managed-by": "Helm",
                                  "inferno.ops/restored-from": "models-b0"},
                annotations=dict(HELM_OWNED, **{
                    "pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                    "volume.kubernetes.io/storage-provisioner": "csi",
                    "volume.beta.kubernetes.io/storage-provisioner": "csi",
                    "volume.kubernetes.io/selected-node": "n1",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                    "example.com/owner": "ml-team"}))]


def test_plan_beside_the_originals():
    assert logic.restore_plan(PLAN_SNAPSHOTS, CLAIMS, "inferno", "ns", "b1", "new") == [
        {"snapshot": "cache-b1", "source": "cache", "claim": "cache-restored-b1", "size": "5Gi", "storage_class": None,
         "access_modes": ["ReadWriteOnce"], "annotations": {},
         "labels": {"inferno.ops/restored-for": "inferno", "inferno.ops/restored-from": "cache-b1"}},
        {"snapshot": "models-b1", "source": "models", "claim": "models-restored-b1", "size": "20Gi",
         "storage_class": "standard", "access_modes": ["ReadWriteMany"], "annotations": {},
         "labels": {"inferno.ops/restored-for": "inferno", "inferno.ops/restored-from": "models-b1"}},
    ]


def test_plan_in_place_keeps_the_claims_own_metadata_and_recreates_a_gone_claim_as_helm_would():
    plan = logic.restore_plan(PLAN_SNAPSHOTS, CLAIMS, "inferno", "ns", "b1", "in_place")
    assert plan == [
        {"snapshot": "cache-b1", "source": "cache", "claim": "cache", "size": "5Gi", "storage_class": None,
         "access_modes": ["ReadWriteOnce"], "annotations": HELM_OWNED,
         "labels": {"app.kubernetes.io/instance": "inferno", "app.kubernetes.io/managed-by": "Helm",
                    "inferno.ops/restored-from": "cache-b1"}},
        {"snapshot": "models-b1", "source": "models", "claim": "models", "size": "20Gi", "storage_class": "standard",
         "access_modes": ["ReadWriteMany"], "annotations": dict(HELM_OWNED, **{"example.com/owner": "ml-team"}),
         "labels": {"app.kubernetes.io/instance": "inferno", "app.kubernetes.io/managed-by": "Helm",
                    "inferno.ops/restored-from": "models-b1"}},
    ]
    assert CLAIMS[0]["metadata"]["labels"]["inferno.ops/restored-from"] == "models-b0"  # the input is left alone


def test_plan_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="restore mode 'merge' must be one of new, in_place"):
        logic.restore_plan(PLAN_SNAPSHOTS, CLAIMS, "inferno", "ns", "b1", "merge")


# The API server's rules for object names (RFC 1123 subdomains) and label values.
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LONG_CLAIMS = ["a" * 253, "a" * 238 + "." + "b" * 14, "a.b" * 84 + "c", "x" * 239 + "-" + "y" * 13,
               "c" * 200 + "." + "d" * 52, "models." + "e" * 57]


@pytest.mark.parametrize("claim", LONG_CLAIMS)
@pytest.mark.parametrize("backup_id", ["b1", "r12-20261128010000", "z" * 40])
def test_every_name_and_label_made_from_a_valid_claim_name_is_valid(claim, backup_id):
    """Issue 25, case 10: a valid 253-character claim name gave an invalid snapshot name, and a long
    snapshot name an invalid restored-from label (and, restored beside, an invalid claim name)."""
    assert DNS_SUBDOMAIN.match(claim) and len(claim) <= 253
    taken = snapshot(claim, backup_id)
    names = [taken["metadata"]["name"], logic.imported_content_name("inferno-prod", taken["metadata"]["name"])]
    labels = dict(taken["metadata"]["labels"])
    for mode in logic.RESTORE_MODES:
        for entry in logic.restore_plan([taken], [], "inferno", "ns", backup_id, mode):
            names.append(entry["claim"])
            labels.update(entry["labels"])
    for name in names:
        assert len(name) <= 253 and DNS_SUBDOMAIN.match(name), name
    for key, value in labels.items():
        assert len(value) <= 63 and LABEL_VALUE.match(value), (key, value)
    assert logic.snapshot_name(claim, backup_id) == taken["metadata"]["name"]  # the same name on every run


# --- the pin protection (issue 25, case 1) ---------------------------------------------------------
PIN_PROTECTION = Path(__file__).resolve().parents[3] / "files" / "admission" / "pin-protection.yaml"


def test_the_pin_protection_reads_the_labels_and_mark_this_module_writes():
    """files/admission/pin-protection.yaml repeats names owned here (CEL cannot import them): every name it
    quotes is one of ours, and it quotes each one the check needs."""
    policy = next(item for item in yaml.safe_load(PIN_PROTECTION.read_text())["items"]
                  if item["kind"] == "ValidatingAdmissionPolicy")["spec"]
    expressions = " ".join([condition["expression"] for condition in policy["matchConditions"]] + [
        text for validation in policy["validations"] for text in (validation["expression"],
                                                                  validation["messageExpression"])])
    quoted = set(re.findall(r"'([a-z0-9.-]+/[a-z0-9-]+)'", expressions))
    assert quoted == {logic.LABEL_MANAGED_BY, logic.LABEL_BACKUP_ID, logic.LABEL_PIN, logic.ANNOTATION_PIN_ON_CONTENT,
                      logic.LABEL_INSTANCE}
    assert "'{0}'".format(logic.MANAGED_BY) in expressions
    assert policy["matchConstraints"]["resourceRules"][0]["apiGroups"] == [logic.GROUP]


@pytest.mark.parametrize("snapshot_pin, content_pin, policy, annotations, patch", [
    ("true", "true", logic.RETAIN, {}, "true"),
    ("true", "true", logic.RETAIN, {logic.ANNOTATION_PIN_ON_CONTENT: "true"}, "unchanged"),
    ("true", None, logic.RETAIN, {}, "unchanged"),
    ("true", "true", logic.DELETE, {}, "unchanged"),
    (None, "true", logic.RETAIN, {logic.ANNOTATION_PIN_ON_CONTENT: "true"}, None),
    ("true", None, logic.RETAIN, {logic.ANNOTATION_PIN_ON_CONTENT: "true"}, None),
])
def test_a_snapshot_is_marked_when_its_retained_content_carries_its_pin(
        snapshot_pin, content_pin, policy, annotations, patch):
    labels = {logic.LABEL_PIN: snapshot_pin} if snapshot_pin else {}
    content = {"metadata": {"labels": {logic.LABEL_PIN: content_pin} if content_pin else {}},
               "spec": {"deletionPolicy": policy}}
    expected = None if patch == "unchanged" else {"metadata": {"annotations": {logic.ANNOTATION_PIN_ON_CONTENT: patch}}}
    assert logic.pin_on_content_patch(labels, annotations, content) == expected
    assert logic.pin_on_content_patch(labels, {}, None) is None
