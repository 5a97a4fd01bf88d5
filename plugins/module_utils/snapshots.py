# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of inferno.ops.pvc_snapshot: names, labels, readiness, error classes, retention.

Unit-tested directly; the module does the API calls.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

GROUP = "snapshot.storage.k8s.io"
VERSION = "v1"
API_VERSION = GROUP + "/" + VERSION
DEFAULT_CLASS_ANNOTATION = "snapshot.storage.kubernetes.io/is-default-class"

# Our labels: only snapshots that carry them are ever listed, pruned or deleted by backup id.
LABEL_BACKUP_ID = "inferno.ops/backup-id"
LABEL_PVC = "inferno.ops/pvc"
LABEL_ENVIRONMENT = "inferno.ops/environment"
LABEL_CHART_REVISION = "inferno.ops/chart-revision"
LABEL_PIN = "inferno.ops/pin"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "inferno.ops"

BACKUP_ID_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
MAX_NAME = 253

# status.error messages that cannot clear by themselves, with what to do about them.
FATAL_ERRORS = (
    (re.compile(r"cannot find default snapshot class|no default VolumeSnapshotClass", re.I),
     "No VolumeSnapshotClass is the default for this volume's CSI driver: annotate one with "
     "snapshot.storage.kubernetes.io/is-default-class=true, or pass snapshot_class."),
    (re.compile(r"\d+ default snapshot classes were found", re.I),
     "Several VolumeSnapshotClasses are the default for this driver: keep the annotation on one, or pass snapshot_class."),
    (re.compile(r"not yet bound|PersistentVolumeClaim \"[^\"]+\" not found", re.I),
     "The claim is not bound to a volume (or is gone): snapshot only Bound claims; check that its pod was scheduled."),
    (re.compile(r"driver .*(mismatch|does not match)|failed to get VolumeSnapshotClass for provisioner", re.I),
     "The snapshot class belongs to another CSI driver than the volume: use a class whose driver is the volume's."),
    (re.compile(r"quota|reaches the configured maximum|maximum number of snapshots|limit exceeded", re.I),
     "The storage backend refuses more snapshots (a quota or maximum): prune old backups (the prune playbook, "
     "or state=pruned) or raise the backend's limit; retrying will not help."),
    (re.compile(r"VolumeSnapshotClass .* not found", re.I),
     "The named snapshot class does not exist: list them with kubectl get volumesnapshotclass."),
)


def validate_backup_id(backup_id):
    """None when valid, else why not."""
    if not backup_id or not BACKUP_ID_PATTERN.match(backup_id):
        return ("backup_id {0!r} must be 1-40 lowercase letters, digits or '-', starting and ending with a letter "
                "or digit (it becomes part of snapshot names and a label value)".format(backup_id))
    return None


def snapshot_name(pvc, backup_id):
    """Deterministic: the same claim and backup id always give the same name (re-runs change nothing)."""
    name = "{0}-{1}".format(pvc, backup_id)
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
    return "{0}-{1}-{2}".format(pvc[: MAX_NAME - len(backup_id) - 12], digest, backup_id)


def snapshot_labels(release, pvc, backup_id, environment=None, chart_revision=None, extra=None):
    labels = dict(extra or {})
    labels.update({
        LABEL_INSTANCE: release,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_BACKUP_ID: backup_id,
        LABEL_PVC: pvc[:63].rstrip("-._"),
    })
    if environment:
        labels[LABEL_ENVIRONMENT] = environment
    if chart_revision is not None:
        labels[LABEL_CHART_REVISION] = str(chart_revision)
    return labels


def snapshot_body(name, namespace, pvc, labels, annotations=None, snapshot_class=None):
    spec = {"source": {"persistentVolumeClaimName": pvc}}
    if snapshot_class:
        spec["volumeSnapshotClassName"] = snapshot_class
    return {
        "apiVersion": API_VERSION,
        "kind": "VolumeSnapshot",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": dict(annotations or {})},
        "spec": spec,
    }


def classify_error(message):
    """The fix hint for an error that cannot clear by itself, or None when retrying may help."""
    for pattern, hint in FATAL_ERRORS:
        if message and pattern.search(message):
            return hint
    return None


def is_ready(snapshot, content):
    """Ready means readyToUse, bound to a content, and that content points back at this snapshot."""
    status = snapshot.get("status") or {}
    if not status.get("readyToUse") or not status.get("boundVolumeSnapshotContentName") or not content:
        return False
    if content["metadata"]["name"] != status["boundVolumeSnapshotContentName"]:
        return False
    ref = (content.get("spec") or {}).get("volumeSnapshotRef") or {}
    meta = snapshot["metadata"]
    return (ref.get("name") == meta["name"] and ref.get("namespace") == meta["namespace"]
            and ref.get("uid", meta.get("uid")) == meta.get("uid"))


def class_for_driver(classes, driver, wanted=None):
    """(class name, None) or (None, why not): the named class must be the driver's; else its one default."""
    if wanted:
        for item in classes:
            if item["metadata"]["name"] == wanted:
                if driver and item.get("driver") != driver:
                    return None, ("VolumeSnapshotClass {0} is for driver {1}, but the volume's driver is {2}: use a class "
                                  "for {2}.".format(wanted, item.get("driver"), driver))
                return wanted, None
        return None, "VolumeSnapshotClass {0} does not exist (there are: {1}).".format(
            wanted, ", ".join(item["metadata"]["name"] for item in classes) or "none")
    defaults = [item["metadata"]["name"] for item in classes
                if (item["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
                and (driver is None or item.get("driver") == driver)]
    if not defaults:
        return None, ("No VolumeSnapshotClass is the default for driver {0}: annotate one with "
                      "{1}=true, or pass snapshot_class.".format(driver, DEFAULT_CLASS_ANNOTATION))
    if len(defaults) > 1:
        return None, ("{0} VolumeSnapshotClasses are the default for driver {1} ({2}): keep the annotation on one, "
                      "or pass snapshot_class.".format(len(defaults), driver, ", ".join(sorted(defaults))))
    return defaults[0], None


def parse_duration(text):
    """'30d', '12h', '45m', '90s' or a number of seconds, as seconds."""
    if text is None or text == "":
        return None
    match = re.match(r"^\s*(\d+)\s*([smhdw]?)\s*$", str(text))
    if not match:
        raise ValueError("max_age {0!r} is not a duration such as 30d, 12h, 45m or 3600".format(text))
    factor = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return int(match.group(1)) * factor


def group_backup_sets(snapshots):
    """Our snapshots grouped by backup id: {id: {created, ready, pinned, names}} (created = earliest, epoch s)."""
    sets = {}
    for item in snapshots:
        labels = item["metadata"].get("labels") or {}
        backup_id = labels.get(LABEL_BACKUP_ID)
        if not backup_id or labels.get(LABEL_MANAGED_BY) != MANAGED_BY:
            continue
        entry = sets.setdefault(backup_id, {"created": None, "ready": True, "pinned": False, "names": []})
        created = item["metadata"].get("creationTimestampEpoch")
        if created is not None and (entry["created"] is None or created < entry["created"]):
            entry["created"] = created
        entry["ready"] = entry["ready"] and bool((item.get("status") or {}).get("readyToUse"))
        entry["pinned"] = entry["pinned"] or labels.get(LABEL_PIN) == "true"
        entry["names"].append(item["metadata"]["name"])
    return sets


def choose_prunable(sets, keep_last=None, max_age_seconds=None, now=None):
    """Which backup sets retention deletes, and why each other set is kept.

    A set goes when it is beyond the newest ``keep_last`` or older than ``max_age_seconds``;
    but the newest fully ready set and pinned sets are always kept.
    """
    ordered = sorted(sets, key=lambda key: (sets[key]["created"] or 0, key), reverse=True)
    newest_ready = next((key for key in ordered if sets[key]["ready"]), None)
    delete, kept = [], {}
    for position, key in enumerate(ordered):
        entry = sets[key]
        too_many = keep_last is not None and position >= keep_last
        too_old = (max_age_seconds is not None and now is not None and entry["created"] is not None
                   and now - entry["created"] > max_age_seconds)
        if key == newest_ready:
            kept[key] = "the newest ready backup is never pruned"
        elif entry["pinned"]:
            kept[key] = "pinned ({0}=true)".format(LABEL_PIN)
        elif too_many or too_old:
            delete.append(key)
        else:
            kept[key] = "within keep_last/max_age"
    return delete, kept
