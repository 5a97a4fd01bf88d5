# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup label contract and the pure logic built on it, unit-tested directly.

Names, labels, readiness, error classes and retention for inferno.ops.pvc_snapshot; backup
sets, their summary lines, resolving a set and the restore plan for inferno.ops.backup_info.
The modules do the API calls; no role or playbook spells these labels itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import hashlib
import json
import re
import time

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
# Set by a task that reads a backup set (a restore) for as long as it reads it: retention keeps a
# held set as it keeps a pinned one. Its value names the holder.
LABEL_HELD_BY = "inferno.ops/held-by"
# The labels a snapshot passes on to its content, so they hold after the namespace is deleted.
KEEP_LABELS = (LABEL_PIN, LABEL_HELD_BY)
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "inferno.ops"
# On claims a restore creates: the snapshot each comes from, and (beside the originals) the release it
# was restored for, without the release's own instance label so later backups leave it out.
LABEL_RESTORED_FROM = "inferno.ops/restored-from"
LABEL_RESTORED_FOR = "inferno.ops/restored-for"
# On the VolumeSnapshotContents of our snapshots: the namespace the snapshot was taken in, so that
# contents kept after their namespace is deleted can still be listed and pruned.
LABEL_NAMESPACE = "inferno.ops/namespace"
# On our snapshots: the claim each was taken from (access modes, class, size, labels, annotations),
# so a restore can recreate it where the original is gone, even in another namespace or cluster.
ANNOTATION_SOURCE_CLAIM = "inferno.ops/source-claim"
# On a content a backup touched because the CSI driver had not cut it yet (pvc_snapshot's nudge).
ANNOTATION_NUDGED = "inferno.ops/nudged-at"
# On a pinned snapshot whose retained content carries the pin too, so deleting the snapshot (with its
# namespace) keeps the pin. files/admission/pin-protection.yaml refuses to delete a pinned snapshot without it.
ANNOTATION_PIN_ON_CONTENT = "inferno.ops/pin-on-content"
RETAIN = "Retain"
DELETE = "Delete"

API_NOT_SERVED = ("The cluster does not serve {0}: install the external-snapshotter CRDs and snapshot controller, "
                  "and a CSI driver with snapshot support.".format(API_VERSION))

RESTORE_MODES = ("new", "in_place")
# A claim gone since the backup is recreated as the chart would have made it: owned by the release.
HELM_MANAGED_BY = "Helm"
# Annotations the control plane or kubectl wrote on the original claim; a new claim gets its own.
NOT_RESTORED_ANNOTATIONS = re.compile(r"^(pv|volume|volume\.beta|kubectl)\.kubernetes\.io/")

BACKUP_ID_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
MAX_NAME = 253

# status.error messages that cannot clear by themselves, with what to do about them.
FATAL_ERRORS = (
    (re.compile(r"cannot find default snapshot class|no default VolumeSnapshotClass", re.I),
     "No VolumeSnapshotClass is the default for this volume's CSI driver: annotate one with "
     "snapshot.storage.kubernetes.io/is-default-class=true, or pass snapshot_class."),
    (re.compile(r"\d+ default snapshot classes were found", re.I),
     "Several VolumeSnapshotClasses are the default for this driver: keep the annotation on one, or pass "
     "snapshot_class."),
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


LABEL_VALUE_PATTERN = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def validate_holder(holder):
    """None when ``holder`` can be the value of the held-by label, else why not."""
    if not LABEL_VALUE_PATTERN.match(holder or ""):
        return ("hold {0!r} must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or "
                "digit (it becomes the value of the {1} label)".format(holder, LABEL_HELD_BY))
    return None


BACKUP_ID_BOUND = ("1-40 lowercase letters, digits or '-', starting and ending with a letter or digit (it becomes "
                   "part of snapshot names, a label value and a folder name)")


def validate_backup_id(backup_id):
    """None when valid, else why not."""
    if not isinstance(backup_id, str) or not BACKUP_ID_PATTERN.match(backup_id):
        return "backup_id {0!r} must be {1}".format(backup_id, BACKUP_ID_BOUND)
    return None


def suggested_backup_id(text):
    """A valid id close to ``text`` (lowercased, other characters as '-'), or None when nothing is left of it."""
    candidate = re.sub(r"[^a-z0-9]+", "-", str(text or "").lower()).strip("-")[:40].strip("-")
    return candidate if BACKUP_ID_PATTERN.match(candidate) else None


MAX_LABEL_VALUE = 63


def _digest(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def fitted_name(prefix, suffix):
    """``prefix + suffix`` when it is a valid object name's length; else the prefix cut, a digest of
    the whole, then the suffix, within 253 characters. Deterministic, so re-runs give the same name.

    A cut never ends in '.': a name part cannot end there (RFC 1123), though it may end in '-'
    (the digest follows it).
    """
    name = prefix + suffix
    if len(name) <= MAX_NAME:
        return name
    return "{0}-{1}{2}".format(prefix[: MAX_NAME - len(suffix) - 11].rstrip("."), _digest(name), suffix)


def label_value(text):
    """``text`` as a label value: itself when it is short enough, else cut and ended by a digest of the whole."""
    if len(text) <= MAX_LABEL_VALUE:
        return text
    return "{0}-{1}".format(text[: MAX_LABEL_VALUE - 11].rstrip("-_."), _digest(text))


def snapshot_name(pvc, backup_id):
    """Deterministic: the same claim and backup id always give the same name (re-runs change nothing)."""
    return fitted_name(pvc, "-" + backup_id)


def release_selector(release, backup_id=None):
    """The label selector of the release's snapshots made by inferno.ops (of one backup set with ``backup_id``)."""
    selector = "{0}={1},{2}={3}".format(LABEL_INSTANCE, release, LABEL_MANAGED_BY, MANAGED_BY)
    if backup_id:
        selector += ",{0}={1}".format(LABEL_BACKUP_ID, backup_id)
    return selector


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


def source_claim_record(claim):
    """What a restore needs to recreate ``claim`` (an API dict): its spec's essentials and its own metadata."""
    metadata, spec = claim.get("metadata") or {}, claim.get("spec") or {}
    return {
        "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
        "storageClassName": spec.get("storageClassName"),
        "volumeMode": spec.get("volumeMode") or "Filesystem",
        "storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage"),
        "labels": dict(metadata.get("labels") or {}),
        "annotations": dict((key, value) for key, value in (metadata.get("annotations") or {}).items()
                            if not NOT_RESTORED_ANNOTATIONS.match(key)),
    }


def recorded_source_claim(snapshot):
    """The source claim record a snapshot carries in its annotation (empty when it has none)."""
    text = ((snapshot.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_SOURCE_CLAIM)
    try:
        record = json.loads(text) if text else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def content_labels(snapshot_labels, namespace):
    """Labels for a snapshot's content: ours from the snapshot, and the namespace it belongs to."""
    labels = dict((key, value) for key, value in snapshot_labels.items()
                  if key in (LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_BACKUP_ID, LABEL_PVC, LABEL_ENVIRONMENT,
                             LABEL_CHART_REVISION) + KEEP_LABELS)
    labels[LABEL_NAMESPACE] = namespace
    return labels


def keep_labels_patch(current, wanted):
    """The merge patch that gives an object the pin and hold of ``wanted`` (labels); None when it has them.

    A label ``wanted`` lacks is removed (None in a merge patch), so unpinning a snapshot unpins its content.
    """
    labels = dict((key, wanted.get(key)) for key in KEEP_LABELS if (current or {}).get(key) != wanted.get(key))
    return {"metadata": {"labels": labels}} if labels else None


def contents_by_name(custom):
    """Every VolumeSnapshotContent, by name, from a CustomObjectsApi: one list rather than one read per snapshot."""
    items = custom.list_cluster_custom_object(GROUP, VERSION, "volumesnapshotcontents")["items"]
    return dict((item["metadata"]["name"], item) for item in items)


def with_labels(item, labels):
    """A copy of ``item`` with a merge patch of ``labels`` applied (None removes a label), as the API server does."""
    merged = dict(item["metadata"].get("labels") or {})
    for key, value in labels.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return dict(item, metadata=dict(item["metadata"], labels=merged))


def keep_label_change(labels, label, value, pin):
    """The merge patch of ``labels`` (a dict of one label, or {}) that pins (sets ``label`` to ``value``) or unpins.

    Unpinning removes the user's pin whatever its value, but a hold only when it is ``value``'s (another
    holder's hold stays).
    """
    current = (labels or {}).get(label)
    if pin:
        return {label: value} if current != value else {}
    return {label: None} if current is not None and (label == LABEL_PIN or current == value) else {}


def pin_on_content_patch(snapshot_labels, snapshot_annotations, content):
    """The merge patch that marks (or unmarks) a snapshot's pin as carried by ``content``; None when the mark is right.

    The labels and ``content`` are as they will be once the caller's label patches have landed; the pin is
    carried when both are pinned and the content is Retain (``content`` None: there is none).
    """
    carried = content is not None and (snapshot_labels or {}).get(LABEL_PIN) == "true" and (
        (content["metadata"].get("labels") or {}).get(LABEL_PIN) == "true") and (
        (content.get("spec") or {}).get("deletionPolicy") == RETAIN)
    wanted = "true" if carried else None
    if (snapshot_annotations or {}).get(ANNOTATION_PIN_ON_CONTENT) == wanted:
        return None
    return {"metadata": {"annotations": {ANNOTATION_PIN_ON_CONTENT: wanted}}}


def retain_patch(content, labels):
    """The merge patch that makes a content Retain and labels it as ours; None when it already is."""
    current = content["metadata"].get("labels") or {}
    if (content.get("spec") or {}).get("deletionPolicy") == RETAIN and all(
            current.get(key) == value for key, value in labels.items()):
        return None
    return {"metadata": {"labels": labels}, "spec": {"deletionPolicy": RETAIN}}


def content_selector(release, namespace, backup_id=None):
    """The label selector of the contents of the release's snapshots taken in ``namespace``."""
    return release_selector(release, backup_id) + ",{0}={1}".format(LABEL_NAMESPACE, namespace)


def shared_handles(doomed, contents):
    """Handles of ``doomed`` contents that some other content (not doomed) also points at.

    A restore into another namespace makes new contents for the same handles; deleting the data
    under one of them would break the other, so such data is kept.
    """
    names = set(item["metadata"]["name"] for item in doomed)
    others = set(content_handle(item) for item in contents if item["metadata"]["name"] not in names)
    return set(content_handle(item) for item in doomed) & (others - {None})


def content_handle(content):
    return ((content.get("status") or {}).get("snapshotHandle")
            or ((content.get("spec") or {}).get("source") or {}).get("snapshotHandle"))


def imported_content_name(namespace, snapshot):
    """The name of the pre-provisioned content a restore makes for ``snapshot`` in ``namespace``."""
    return fitted_name("inferno-{0}-{1}".format(namespace, snapshot), "")


def imported_bodies(entry, namespace, labels):
    """(content, snapshot) bodies that bring back one snapshot of an index in ``namespace``, by handle."""
    content_name = imported_content_name(namespace, entry["name"])
    content = {
        "apiVersion": API_VERSION,
        "kind": "VolumeSnapshotContent",
        "metadata": {"name": content_name, "labels": content_labels(labels, namespace)},
        "spec": {
            "deletionPolicy": RETAIN,
            "driver": entry["driver"],
            "source": {"snapshotHandle": entry["handle"]},
            "sourceVolumeMode": (entry.get("source_claim") or {}).get("volumeMode") or "Filesystem",
            "volumeSnapshotRef": {"name": entry["name"], "namespace": namespace},
        },
    }
    if entry.get("snapshot_class"):
        content["spec"]["volumeSnapshotClassName"] = entry["snapshot_class"]
    annotations = {ANNOTATION_SOURCE_CLAIM: json.dumps(entry.get("source_claim") or {}, sort_keys=True)}
    snapshot = snapshot_body(entry["name"], namespace, entry["pvc"], labels, annotations)
    snapshot["spec"] = {"source": {"volumeSnapshotContentName": content_name}}
    return content, snapshot


def index_problems(entries):
    """What makes a backup's snapshot index unusable for a restore by handle."""
    problems = []
    if not entries:
        problems.append("the backup's index lists no snapshots")
    for entry in entries:
        missing = [key for key in ("name", "pvc", "handle", "driver") if not entry.get(key)]
        if missing:
            problems.append("snapshot {0} in the index has no {1} (take a new backup: this one predates "
                            "handles in the index)".format(entry.get("name", "?"), ", ".join(missing)))
    return problems


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


def stalled(content):
    """Whether the CSI driver has neither cut a content nor reported an error on it yet."""
    status = content.get("status") or {}
    return not status.get("readyToUse") and not (status.get("error") or {}).get("message") \
        and not status.get("snapshotHandle")


def class_for_driver(classes, driver, wanted=None):
    """(class name, None) or (None, why not): the named class must be the driver's; else its one default."""
    if wanted:
        for item in classes:
            if item["metadata"]["name"] == wanted:
                if driver and item.get("driver") != driver:
                    return None, ("VolumeSnapshotClass {0} is for driver {1}, but the volume's driver is {2}: use a "
                                  "class for {2}.".format(wanted, item.get("driver"), driver))
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


def option_problems(keep_last=None, max_age=None, wait_timeout=None, state="present", retain=True, wait=True):
    """What is wrong with the retention and timing options, checked before anything is read or deleted."""
    problems = []
    if state == "present" and retain and not wait:
        # A content exists, and can be switched to Retain, only once its snapshot is ready: a task
        # that does not wait would leave every content with the class's policy, usually Delete.
        problems.append("retain needs wait: a snapshot's content is switched to Retain when the snapshot is ready, and "
                        "with wait=false the task ends before that, so deleting the namespace would delete the data. "
                        "Set wait=true (the default), or retain=false to keep the class's deletion policy")
    if keep_last is not None and keep_last < 1:
        problems.append("keep_last must be 1 or more (how many of the newest backup sets to keep), got {0}".format(
            keep_last))
    try:
        seconds = parse_duration(max_age)
        if seconds is not None and seconds <= 0:
            problems.append("max_age must be above 0 (sets older than it are deleted), got {0!r}".format(max_age))
    except ValueError as error:
        problems.append(str(error))
    if wait_timeout is not None and wait_timeout <= 0:
        problems.append("wait_timeout must be a number of seconds above 0, got {0}".format(wait_timeout))
    return problems


def epoch(timestamp):
    """Seconds since the epoch of a timestamp as the API server writes it (RFC 3339, UTC), or None."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$", timestamp or "")
    if not match:
        return None
    return calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))


def source_claim(snapshot):
    """The claim a snapshot was taken from (the pvc label keeps only 63 characters of its name)."""
    source = (snapshot.get("spec") or {}).get("source") or {}
    return source.get("persistentVolumeClaimName") or (snapshot["metadata"].get("labels") or {}).get(LABEL_PVC)


def _agreed(values):
    """The one value all snapshots of a set carry; None when missing or when they differ."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def _describe_set(backup_id, items):
    labels = [item["metadata"].get("labels") or {} for item in items]
    revision = _agreed(label.get(LABEL_CHART_REVISION) for label in labels)
    created = [item["metadata"].get("creationTimestamp") for item in items]
    stamps = sorted((epoch(text), text) for text in created if epoch(text) is not None)
    not_ready, errors = [], {}
    for item in items:
        status = item.get("status") or {}
        if not status.get("readyToUse"):
            not_ready.append(item["metadata"]["name"])
            if (status.get("error") or {}).get("message"):
                errors[item["metadata"]["name"]] = status["error"]["message"]
    return {
        "backup_id": backup_id,
        "chart_revision": int(revision) if revision and revision.isdigit() else None,
        "environment": _agreed(label.get(LABEL_ENVIRONMENT) for label in labels),
        "created": stamps[0][1] if stamps else None,
        "created_epoch": stamps[0][0] if stamps else None,
        "ready": not not_ready,
        "ready_count": len(items) - len(not_ready),
        "total": len(items),
        "pinned": any(label.get(LABEL_PIN) == "true" for label in labels),
        "held_by": sorted(set(label[LABEL_HELD_BY] for label in labels if label.get(LABEL_HELD_BY))),
        "claims": sorted(set(claim for claim in (source_claim(item) for item in items) if claim)),
        "snapshots": sorted(item["metadata"]["name"] for item in items),
        "not_ready": sorted(not_ready),
        "errors": errors,
    }


def _ours(item, backup_id=None):
    labels = item["metadata"].get("labels") or {}
    return (bool(labels.get(LABEL_BACKUP_ID)) and labels.get(LABEL_MANAGED_BY) == MANAGED_BY
            and backup_id in (None, labels[LABEL_BACKUP_ID]))


def group_backup_sets(snapshots):
    """Our snapshots (managed by inferno.ops, with a backup id) grouped by backup id: {id: set}.

    A set is complete (``ready``) when every one of its snapshots is readyToUse; it was created
    when its first snapshot was; it is pinned when any of its snapshots is.
    """
    grouped = {}
    for item in snapshots:
        if _ours(item):
            grouped.setdefault(item["metadata"]["labels"][LABEL_BACKUP_ID], []).append(item)
    return dict((backup_id, _describe_set(backup_id, items)) for backup_id, items in grouped.items())


def newest_first(sets):
    """The sets as a list, newest first (then by id, so the order is stable)."""
    return sorted(sets.values(), key=lambda entry: (entry["created_epoch"] or 0, entry["backup_id"]), reverse=True)


def _revision(entry):
    return "?" if entry["chart_revision"] is None else entry["chart_revision"]


def backup_line(entry):
    """'<id>  revision <n>  <ready>/<total> ready  <created>  <claims>[  (pinned)][  (held by <holder>)]'."""
    return "{0}  revision {1}  {2}/{3} ready  {4}  {5}{6}{7}".format(
        entry["backup_id"], _revision(entry), entry["ready_count"], entry["total"], entry["created"] or "?",
        ", ".join(entry["claims"]), "  (pinned)" if entry["pinned"] else "",
        "  (held by {0})".format(", ".join(entry["held_by"])) if entry.get("held_by") else "")


def _listed(sets):
    """'<id> (revision <n>), ...' newest first, or 'none'."""
    return ", ".join("{0} (revision {1})".format(entry["backup_id"], _revision(entry))
                     for entry in newest_first(sets)) or "none"


def resolve_backup(sets, release, namespace, backup_id=None, chart_revision=None):
    """(the set, or None; why none) for ``backup_id``, or else the newest set taken at ``chart_revision``.

    Only a complete set resolves: one with a snapshot not readyToUse cannot be restored. With
    neither ``backup_id`` nor ``chart_revision`` nothing is asked, so nothing resolves and nothing is wrong.
    """
    if backup_id:
        entry = sets.get(backup_id)
        if entry is None:
            return None, ["There is no backup {0} of {1} in {2} (its backups, newest first: {3}).".format(
                backup_id, release, namespace, _listed(sets))]
        if not entry["ready"]:
            return None, ["Backup {0} of {1} has {2} snapshot(s) in {3}, and every one must be readyToUse; not ready: "
                          "{4}.".format(backup_id, release, entry["total"], namespace, _not_ready(entry))]
        return entry, []
    if chart_revision is None:
        return None, []
    taken = [entry for entry in newest_first(sets) if entry["chart_revision"] == chart_revision]
    complete = [entry for entry in taken if entry["ready"]]
    if complete:
        return complete[0], []
    if taken:
        return None, ["No complete backup of {0} in {1} was taken at chart revision {2}: {3}.".format(
            release, namespace, chart_revision, "; ".join(
                "{0} has {1}/{2} snapshot(s) readyToUse (not ready: {3})".format(
                    entry["backup_id"], entry["ready_count"], entry["total"], _not_ready(entry)) for entry in taken))]
    return None, ["No backup of {0} in {1} was taken at chart revision {2} (its backups, newest first: {3}).".format(
        release, namespace, chart_revision, _listed(sets))]


def _not_ready(entry):
    return ", ".join("{0} ({1})".format(name, entry["errors"][name]) if name in entry["errors"] else name
                     for name in entry["not_ready"])


def helm_labels(release):
    return {LABEL_INSTANCE: release, LABEL_MANAGED_BY: HELM_MANAGED_BY}


def helm_annotations(release, namespace):
    return {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": namespace,
            "helm.sh/resource-policy": "keep"}


def restore_plan(snapshots, claims, release, namespace, backup_id, mode):
    """One claim to create per snapshot of ``backup_id``, in snapshot name order.

    ``claims`` are the release's claims as the API returns them. With ``new``, each claim is
    ``<source>-restored-<id>``, labelled as restored for the release but not as one of its own
    (so later backups of the release leave it out). With ``in_place``, the source claim is
    recreated under its own name with its labels and annotations, less those the control plane
    or kubectl wrote; a claim gone since the backup gets the ones Helm would have given it.
    Every claim is labelled with the snapshot it comes from, and takes the source's class and
    access modes at the snapshot's restoreSize.
    """
    if mode not in RESTORE_MODES:
        raise ValueError("restore mode {0!r} must be one of {1}".format(mode, ", ".join(RESTORE_MODES)))
    originals = dict((claim["metadata"]["name"], claim) for claim in claims)
    plan = []
    ours = sorted((item for item in snapshots if _ours(item, backup_id)), key=lambda item: item["metadata"]["name"])
    for snapshot in ours:
        source = source_claim(snapshot)
        recorded = recorded_source_claim(snapshot)
        original = originals.get(source) or {"metadata": {"labels": recorded.get("labels"),
                                                          "annotations": recorded.get("annotations")},
                                             "spec": recorded}
        metadata, spec = original.get("metadata") or {}, original.get("spec") or {}
        if mode == "in_place":
            claim = source
            labels = dict(metadata.get("labels") or helm_labels(release))
            annotations = dict((key, value) for key, value in
                               (metadata.get("annotations") or helm_annotations(release, namespace)).items()
                               if not NOT_RESTORED_ANNOTATIONS.match(key))
            if "meta.helm.sh/release-namespace" in annotations:  # restored into another namespace
                annotations["meta.helm.sh/release-namespace"] = namespace
        else:
            claim = fitted_name(source, "-restored-" + backup_id)
            labels = {LABEL_RESTORED_FOR: release}
            annotations = {}
        labels[LABEL_RESTORED_FROM] = label_value(snapshot["metadata"]["name"])
        plan.append(dict(
            snapshot=snapshot["metadata"]["name"],
            source=source,
            claim=claim,
            # What the claim asked for (the chart's size, so a later helm upgrade changes nothing), else
            # the smallest size the snapshot restores into.
            size=recorded.get("storage") or (snapshot.get("status") or {}).get("restoreSize"),
            storage_class=spec.get("storageClassName"),
            access_modes=list(spec.get("accessModes") or ["ReadWriteOnce"]),
            labels=labels,
            annotations=annotations,
        ))
    return plan


def in_place_problems(plan, snapshots, contents, classes, parse_size):
    """What would make an in-place restore of ``plan`` fail once the live claims are deleted.

    Each claim is made by its StorageClass's provisioner from its snapshot, so the snapshot's
    content must be of that driver, and the claim must ask for at least the snapshot's
    restoreSize. ``contents`` and ``classes`` are by name; ``parse_size`` reads a quantity
    ("10Gi") as a number.
    """
    by_name = dict((item["metadata"]["name"], item) for item in snapshots)
    problems = []
    for entry in plan:
        snapshot = by_name.get(entry["snapshot"]) or {}
        status = snapshot.get("status") or {}
        content = contents.get(status.get("boundVolumeSnapshotContentName") or "")
        if content is None:
            problems.append("snapshot {0} is bound to no VolumeSnapshotContent".format(entry["snapshot"]))
            continue
        driver = (content.get("spec") or {}).get("driver")
        storage_class = classes.get(entry["storage_class"] or "")
        if entry["storage_class"] and storage_class is None:
            problems.append("claim {0} would use StorageClass {1}, which does not exist".format(
                entry["claim"], entry["storage_class"]))
        elif storage_class is not None and storage_class.get("provisioner") != driver:
            problems.append("claim {0} would be provisioned by {1} (StorageClass {2}), but snapshot {3} is held by "
                            "driver {4}".format(entry["claim"], storage_class.get("provisioner"), entry["storage_class"],
                                                entry["snapshot"], driver))
        restore_size = status.get("restoreSize")
        if not entry["size"]:
            problems.append("claim {0} has no size to ask for".format(entry["claim"]))
        elif restore_size and parse_size(entry["size"]) < parse_size(restore_size):
            problems.append("claim {0} would ask for {1}, less than snapshot {2}'s restoreSize {3}".format(
                entry["claim"], entry["size"], entry["snapshot"], restore_size))
    return problems


def choose_prunable(sets, keep_last=None, max_age_seconds=None, now=None):
    """Which backup sets retention deletes, and why each other set is kept.

    A set goes when it is beyond the newest ``keep_last`` or older than ``max_age_seconds``;
    but the newest fully ready set, pinned sets and held sets (a restore is reading them) are always kept.
    """
    ordered = [entry["backup_id"] for entry in newest_first(sets)]
    newest_ready = next((key for key in ordered if sets[key]["ready"]), None)
    delete, kept = [], {}
    for position, key in enumerate(ordered):
        entry = sets[key]
        too_many = keep_last is not None and position >= keep_last
        too_old = (max_age_seconds is not None and now is not None and entry["created_epoch"] is not None
                   and now - entry["created_epoch"] > max_age_seconds)
        if key == newest_ready:
            kept[key] = "the newest ready backup is never pruned"
        elif entry["pinned"]:
            kept[key] = "pinned ({0}=true)".format(LABEL_PIN)
        elif entry.get("held_by"):
            kept[key] = "held by {0} ({1}): it is being read".format(", ".join(entry["held_by"]), LABEL_HELD_BY)
        elif too_many or too_old:
            delete.append(key)
        else:
            kept[key] = "within keep_last/max_age"
    return delete, kept
