#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pvc_snapshot
short_description: Snapshot a release's PersistentVolumeClaims with CSI VolumeSnapshots, all at once
version_added: 0.1.0
author:
  - Inferno Ops maintainers (@inferno-ops)
description:
  - O(state=present) creates one C(snapshot.storage.k8s.io/v1) VolumeSnapshot per claim, all
    at once, named C(<claim>-<backup_id>). Re-running with the same O(backup_id) changes nothing.
  - Snapshots carry labels that tie them to the release, the environment, the chart revision
    and the backup id; only snapshots with these labels are ever deleted or pruned.
  - With O(wait), a snapshot is done when it is C(readyToUse) and bound to a
    VolumeSnapshotContent whose back-reference points at it.
  - A content the CSI driver has neither cut nor failed 20 seconds into the wait is touched once
    (annotation C(inferno.ops/nudged-at)), because after an API server outage external-snapshotter's
    csi-snapshotter can leave such a content alone until its next full resync, and any update
    makes it try again. So a rerun after an outage completes in seconds, not minutes.
  - Fails fast, with a hint, on what cannot clear by itself - the snapshot API not served, a
    claim not Bound, no default class or several for the volume's driver, a class for another
    driver, a quota - and otherwise reports each snapshot's C(status.error) when it times out.
  - With O(retain) (the default), each ready snapshot's VolumeSnapshotContent is switched to
    C(deletionPolicy=Retain) and labelled with the release, backup id and C(inferno.ops/namespace),
    so the data outlives the namespace and C(helm uninstall). Each snapshot records its source
    claim in the C(inferno.ops/source-claim) annotation, so a restore can recreate the claim anywhere.
  - O(state=absent) deletes snapshots by O(names) or by O(backup_id), with their contents and data.
    Data that another content still points at (a restore into another namespace made it) is kept.
  - O(state=pruned) applies retention to the release's backup sets (O(keep_last), O(max_age));
    the newest ready set and sets with a snapshot labelled C(inferno.ops/pin=true) are kept. Sets
    whose snapshots are gone but whose retained contents remain (the namespace was deleted) count
    as sets too, and pruning one deletes its contents.
  - O(state=pinned) labels every snapshot and retained content of the set O(backup_id) with
    C(inferno.ops/pin=true), so retention keeps it, also after its namespace is deleted;
    O(state=unpinned) removes that label. A snapshot pinned with C(kubectl label) passes its pin
    on to its content at the next O(state=present) or O(state=pruned) of the release in that
    namespace (reported as a change); pin with this module (or C(playbooks/pin_backup.yml)) when the
    namespace may go before then.
  - Once a pinned snapshot's retained content carries the pin, the snapshot is annotated
    C(inferno.ops/pin-on-content=true). The admission policy in C(files/admission/pin-protection.yaml)
    refuses to delete a pinned snapshot without that mark, so a namespace deleted right after a
    C(kubectl label) waits in Terminating until O(state=pinned) (or a prune) carries the pin over.
  - With O(hold), O(state=pinned) and O(state=unpinned) set and clear C(inferno.ops/held-by=<hold>)
    instead; the restore role holds the set it reads, so that a prune running meanwhile keeps it.
  - O(state=imported) brings back a backup in O(release_namespace) from its index, by snapshot
    handle (O(snapshots)), as a pre-provisioned VolumeSnapshotContent (Retain) and a VolumeSnapshot
    per entry. Every handle must be confirmed by the storage before the namespace or any snapshot
    is created; a handle it does not know fails the task, and the contents it made are removed.
options:
  state:
    description:
      - C(present) takes the snapshots, C(absent) deletes them, C(pruned) applies retention,
        C(imported) brings back a backup's snapshots by handle, C(pinned) and C(unpinned) set and
        clear the pin (or, with O(hold), the hold) of the set O(backup_id).
    type: str
    choices: [present, absent, pruned, imported, pinned, unpinned]
    default: present
  hold:
    description:
      - With O(state=pinned) or O(state=unpinned), the holder to record in (or clear from) the
        C(inferno.ops/held-by) label instead of setting the user's C(inferno.ops/pin). 1-63
        letters, digits, C(-), C(_) or C(.). O(state=unpinned) clears only this holder's hold.
    type: str
  backup_id:
    description:
      - Identifies one backup set. 1-40 lowercase letters, digits or C(-).
      - Required with O(state=present), O(state=imported), O(state=pinned) and O(state=unpinned);
        with O(state=absent), deletes that set.
    type: str
  snapshots:
    description:
      - With O(state=imported), the backup's snapshots as RV(snapshots) returned them when it was
        taken (the backup role keeps them in C(snapshots.yaml)). Each needs C(name), C(pvc),
        C(handle) and C(driver); C(snapshot_class) and C(source_claim) are used when given.
    type: list
    elements: dict
    default: []
  create_namespace:
    description:
      - With O(state=imported), create O(release_namespace) if it does not exist, once every handle
        has been confirmed.
    type: bool
    default: false
  retain:
    description:
      - Switch each snapshot's content to C(deletionPolicy=Retain) and label it, so that deleting the
        namespace or the release keeps the data. O(state=absent) and O(state=pruned) still delete it.
      - A content can be switched only once its snapshot is ready, so with O(state=present)
        O(retain) needs O(wait); O(retain=true) with O(wait=false) is refused before anything is read.
    type: bool
    default: true
  pvcs:
    description:
      - Names of the claims to snapshot. Default, and with no O(label_selectors), the release's
        claims (label C(app.kubernetes.io/instance=<release_name>)).
    type: list
    elements: str
    default: []
  label_selectors:
    description:
      - Label selectors (C(key=value)) for the claims to snapshot, instead of O(pvcs).
    type: list
    elements: str
    default: []
  names:
    description:
      - With O(state=absent), the snapshots to delete by name (they must carry our labels).
    type: list
    elements: str
    default: []
  snapshot_class:
    description:
      - VolumeSnapshotClass to use. Default, the one default class of each volume's CSI driver.
    type: str
  environment:
    description:
      - Environment recorded in the C(inferno.ops/environment) label.
    type: str
  chart_revision:
    description:
      - Helm revision of the release, recorded in the C(inferno.ops/chart-revision) label.
    type: int
  annotations:
    description:
      - Annotations for every snapshot.
    type: dict
    default: {}
  keep_last:
    description:
      - With O(state=pruned), how many of the newest backup sets to keep; 1 or more.
    type: int
  max_age:
    description:
      - With O(state=pruned), delete sets older than this (C(30d), C(12h), C(45m), or seconds); above 0.
    type: str
  wait:
    description:
      - Wait until every snapshot is ready (O(state=present)) or gone (O(state=absent), O(state=pruned)).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait; above 0.
    type: int
    default: 600
  progress_interval:
    description:
      - With O(wait) and O(state=present) or O(state=imported), seconds between the progress
        lines the task prints while the snapshots become ready; C(0) prints none. Snapshots
        ready within the first O(progress_interval) seconds print nothing extra.
      - 'A line reads "[prod-cluster] waiting for backup r12-20261128 of inferno-prod/inferno (15s of 600s):
        1 of 2 snapshots ready; inferno-models-pvc-r12-20261128: not ready yet".'
      - The lines are printed by the controller side of the task (its action plugin), which
        runs the module as an async job and reads the backup's snapshots with
        M(inferno.ops.backup_info) between polls; the module itself does not use this option.
        With C(async) on the task, no lines are printed.
    type: int
    default: 5
extends_documentation_fragment:
  - inferno.ops.release
  - kubernetes.core.k8s_auth_options
attributes:
  check_mode:
    support: full
    description: Lists what would be created or deleted; changes nothing.
  diff_mode:
    support: full
    description: The release's snapshot names before and after.
requirements:
  - kubernetes >= 24.2.0
  - The external-snapshotter CRDs and controller, and a CSI driver with snapshot support.
seealso:
  - module: inferno.ops.backup_info
"""

EXAMPLES = r"""
- name: Snapshot the production release's volumes before an upgrade
  inferno.ops.pvc_snapshot:
    release_name: inferno
    release_namespace: inferno-prod
    backup_id: pre-upgrade-r12
    environment: prod
    chart_revision: 12
  register: backup

- name: Keep the last 7 backups, none older than 30 days (never the newest ready one)
  inferno.ops.pvc_snapshot:
    release_name: inferno
    release_namespace: inferno-prod
    state: pruned
    keep_last: 7
    max_age: 30d

- name: Delete one backup set
  inferno.ops.pvc_snapshot:
    release_name: inferno
    release_namespace: inferno-prod
    state: absent
    backup_id: pre-upgrade-r11

- name: Keep backup pre-upgrade-r12 whatever retention says, also once its namespace is deleted
  inferno.ops.pvc_snapshot:
    release_name: inferno
    release_namespace: inferno-prod
    state: pinned
    backup_id: pre-upgrade-r12

- name: Bring backup nightly-7 back into a new namespace from its index, by snapshot handle
  inferno.ops.pvc_snapshot:
    release_name: inferno
    release_namespace: inferno-prod-restored
    state: imported
    backup_id: nightly-7
    snapshots: "{{ (lookup('ansible.builtin.file', '/backups/prod/inferno/nightly-7/snapshots.yaml') | from_yaml).entries }}"
    create_namespace: true
"""

RETURN = r"""
snapshots:
  description: One entry per snapshot taken or found (O(state=present)).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: VolumeSnapshot name.
      type: str
    pvc:
      description: Source claim.
      type: str
    readyToUse:
      description: Whether it is ready.
      type: bool
    restoreSize:
      description: Smallest size a claim restored from it must request.
      type: str
    creationTime:
      description: When the storage cut the point-in-time copy.
      type: str
    content:
      description: Bound VolumeSnapshotContent.
      type: str
    handle:
      description: The storage's id of the snapshot (the content's C(status.snapshotHandle)).
      type: str
    driver:
      description: The CSI driver that holds it.
      type: str
    snapshot_class:
      description: The content's VolumeSnapshotClass.
      type: str
    deletion_policy:
      description: The content's deletion policy (C(Retain) with O(retain)).
      type: str
    source_claim:
      description: The source claim's access modes, class, volume mode, requested size, labels and annotations.
      type: dict
    elapsed_seconds:
      description: Seconds from the start of the task until it was ready.
      type: float
    error:
      description: The snapshot's C(status.error.message), if any.
      type: str
deleted:
  description: Snapshots deleted (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
deleted_contents:
  description: VolumeSnapshotContents deleted with the snapshots (O(state=absent), O(state=pruned)).
  returned: when O(state=absent) or O(state=pruned)
  type: list
  elements: str
kept_data:
  description: Handles whose data was kept because another content still points at them.
  returned: when O(state=absent) or O(state=pruned)
  type: list
  elements: str
labelled:
  description: Snapshots and contents whose pin or hold was set or cleared (O(state=pinned), O(state=unpinned)).
  returned: when O(state=pinned) or O(state=unpinned)
  type: list
  elements: str
created_contents:
  description: Pre-provisioned contents made (O(state=imported)).
  returned: when O(state=imported)
  type: list
  elements: str
kept:
  description: With O(state=pruned), each kept backup set and why.
  returned: always
  type: dict
created_seconds:
  description: Seconds from the start of the task until every snapshot had been requested.
  returned: when O(state=present) and not in check mode
  type: float
"""

import json
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.inferno.ops.plugins.module_utils import snapshots as logic
from ansible_collections.inferno.ops.plugins.module_utils.args_common import K8S_CONNECTION, RELEASE, argument_spec
from ansible_collections.inferno.ops.plugins.module_utils.kube_client import (
    ApiException,
    api_client,
    api_error_text,
    client,
    k8s_module,
    reported_api_errors,
)


# Creates in flight at once: the snapshots' points in time stay close even for many claims.
CREATE_CONCURRENCY = 10
# Seconds after which a bound content that the CSI driver has neither cut nor failed is touched
# once, so that a sidecar that gave up on it after an API server outage tries again (nudge).
NUDGE_AFTER = 20


class Snapshotter(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.api = api_client(module)
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.namespace = self.params["release_namespace"]
        self.release = self.params["release_name"]
        self.started = time.monotonic()
        # Snapshots of this backup known to exist (found or created), for the message when the API goes away.
        self.requested = []

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, **kwargs)

    # --- reading -----------------------------------------------------------------
    def require_snapshot_api(self):
        groups = client.ApisApi(self.api).get_api_versions().groups or []
        served = [version.group_version for group in groups for version in group.versions or []]
        if logic.API_VERSION not in served:
            self.fail(logic.API_NOT_SERVED)

    def our_snapshots(self, backup_id=None):
        items = self.custom.list_namespaced_custom_object(
            logic.GROUP, logic.VERSION, self.namespace, "volumesnapshots",
            label_selector=logic.release_selector(self.release, backup_id))["items"]
        return dict((item["metadata"]["name"], item) for item in items)

    def claims(self):
        if self.params["pvcs"]:
            found = []
            for name in self.params["pvcs"]:
                try:
                    found.append(self.core.read_namespaced_persistent_volume_claim(name, self.namespace))
                except ApiException as error:
                    if error.status == 404:
                        self.fail("PersistentVolumeClaim {0} does not exist in {1}.".format(name, self.namespace))
                    raise
            return found
        selectors = self.params["label_selectors"] or ["{0}={1}".format(logic.LABEL_INSTANCE, self.release)]
        found = self.core.list_namespaced_persistent_volume_claim(
            self.namespace, label_selector=",".join(selectors)).items
        if not found:
            self.fail("No PersistentVolumeClaim in {0} matches {1}.".format(self.namespace, ",".join(selectors)))
        return sorted(found, key=lambda claim: claim.metadata.name)

    def volume_drivers(self, claims):
        """Each claim's CSI driver, from its volume (one list of volumes, not one read per claim)."""
        for claim in claims:
            if claim.status.phase != "Bound" or not claim.spec.volume_name:
                self.fail("PersistentVolumeClaim {0} is {1}, not Bound: a snapshot needs a bound volume. Check that "
                          "its pod was scheduled (WaitForFirstConsumer classes bind only then).".format(
                              claim.metadata.name, claim.status.phase))
        volumes = dict((volume.metadata.name, volume) for volume in self.core.list_persistent_volume().items)
        provisioners = {}
        drivers = {}
        for claim in claims:
            volume = volumes.get(claim.spec.volume_name)
            if volume is not None and volume.spec.csi is not None:
                drivers[claim.metadata.name] = volume.spec.csi.driver
            elif claim.spec.storage_class_name:
                name = claim.spec.storage_class_name
                if name not in provisioners:
                    provisioners[name] = client.StorageV1Api(self.api).read_storage_class(name).provisioner
                drivers[claim.metadata.name] = provisioners[name]
            else:
                drivers[claim.metadata.name] = None
        return drivers

    def contents(self):
        return logic.contents_by_name(self.custom)

    # --- present -----------------------------------------------------------------
    def present(self):
        backup_id = self.params["backup_id"]
        problem = logic.validate_backup_id(backup_id)
        if problem:
            self.fail(problem)
        self.require_snapshot_api()
        claims = self.claims()
        classes = self.custom.list_cluster_custom_object(logic.GROUP, logic.VERSION, "volumesnapshotclasses")["items"]
        existing = self.our_snapshots(backup_id)
        drivers = self.volume_drivers(claims)
        wanted = []
        for claim in claims:
            class_name, why = logic.class_for_driver(classes, drivers[claim.metadata.name],
                                                     self.params["snapshot_class"])
            if why:
                self.fail("Cannot snapshot {0}: {1}".format(claim.metadata.name, why))
            name = logic.snapshot_name(claim.metadata.name, backup_id)
            labels = logic.snapshot_labels(self.release, claim.metadata.name, backup_id, self.params["environment"],
                                           self.params["chart_revision"])
            annotations = dict(self.params["annotations"])
            annotations[logic.ANNOTATION_SOURCE_CLAIM] = json.dumps(
                logic.source_claim_record(self.api.sanitize_for_serialization(claim)), sort_keys=True)
            body = logic.snapshot_body(name, self.namespace, claim.metadata.name, labels, annotations,
                                       self.params["snapshot_class"] and class_name)
            wanted.append((name, claim.metadata.name, body))
        to_create = [item for item in wanted if item[0] not in existing]
        self.requested = sorted(existing)
        result = dict(changed=bool(to_create), deleted=[], kept={})
        if self.module._diff:
            result["diff"] = dict(before="\n".join(sorted(existing)) + "\n",
                                  after="\n".join(sorted(name for name, _pvc, _body in wanted)) + "\n")
        if self.module.check_mode:
            result["snapshots"] = [dict(name=name, pvc=pvc, readyToUse=name in existing and bool(
                (existing[name].get("status") or {}).get("readyToUse"))) for name, pvc, _body in wanted]
            return result
        self.create_all([body for _name, _pvc, body in to_create])
        result["created_seconds"] = round(time.monotonic() - self.started, 2)
        result["snapshots"] = self.wait_ready([(name, pvc) for name, pvc, _body in wanted])
        if self.params["retain"] and self.sync_kept_labels(self.our_snapshots()):
            result["changed"] = True
        return result

    def create_one(self, body):
        """Create one VolumeSnapshot; returns (name, the exception or None). 409 means an earlier run made it."""
        try:
            self.custom.create_namespaced_custom_object(logic.GROUP, logic.VERSION, self.namespace, "volumesnapshots",
                                                        body)
        except ApiException as error:
            if error.status != 409:  # 409: created by an earlier, interrupted run of the same backup id
                return body["metadata"]["name"], error
        except Exception as error:  # pylint: disable=broad-except  # re-raised after the others are counted
            return body["metadata"]["name"], error
        return body["metadata"]["name"], None

    def create_all(self, bodies):
        """Every create at once, CREATE_CONCURRENCY in flight, without waiting between claims."""
        if not bodies:
            return
        pool = ThreadPoolExecutor(max_workers=min(CREATE_CONCURRENCY, len(bodies)))
        try:
            outcomes = list(pool.map(self.create_one, bodies))
        finally:
            pool.shutdown()
        self.requested = sorted(set(self.requested) | set(name for name, error in outcomes if error is None))
        for name, error in outcomes:
            if isinstance(error, ApiException):
                hint = logic.classify_error(api_error_text(error))
                self.fail("Creating VolumeSnapshot {0} was refused: {1}{2}".format(
                    name, api_error_text(error), " " + hint if hint else ""))
        for _name, error in outcomes:
            if error is not None:
                raise error  # unreachable API and the like: reported with how to finish the backup

    def nudge(self, content):
        """Touch a content the CSI sidecar may have stopped working on, so that it looks at it again.

        external-snapshotter's csi-snapshotter, when its request to mark a content as being cut
        fails (the API server went away: "failed to add VolumeSnapshotBeingCreated annotation"),
        can leave the content alone until its next full resync, minutes later. Any update of the
        content makes it try again; this one records when the backup asked.
        """
        self.tolerating(404, self.custom.patch_cluster_custom_object, logic.GROUP, logic.VERSION,
                        "volumesnapshotcontents", content["metadata"]["name"],
                        {"metadata": {"annotations": {logic.ANNOTATION_NUDGED: time.strftime(
                            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time()))}}})

    def wait_ready(self, wanted):
        done = {}
        nudged = set()
        deadline = self.started + self.params["wait_timeout"]
        while True:
            current = self.our_snapshots(self.params["backup_id"])
            contents = self.contents() if any(
                (item.get("status") or {}).get("boundVolumeSnapshotContentName") for item in current.values()) else {}
            for name, pvc in wanted:
                if name in done:
                    continue
                snapshot = current.get(name)
                status = (snapshot or {}).get("status") or {}
                message = (status.get("error") or {}).get("message")
                hint = logic.classify_error(message)
                if hint:
                    self.fail("VolumeSnapshot {0} (claim {1}) failed: {2}. {3} Nothing was deleted.".format(
                        name, pvc, message, hint), snapshots=self.describe(wanted, current, done, contents))
                content = contents.get(status.get("boundVolumeSnapshotContentName"))
                if snapshot and logic.is_ready(snapshot, content):
                    self.retain(snapshot, content)
                    done[name] = round(time.monotonic() - self.started, 1)
                elif (content and name not in nudged and logic.stalled(content)
                      and time.monotonic() - self.started >= NUDGE_AFTER):
                    self.nudge(content)
                    nudged.add(name)
            if len(done) == len(wanted) or not self.params["wait"]:
                return self.describe(wanted, current, done, contents)
            if time.monotonic() >= deadline:
                described = self.describe(wanted, current, done, contents)
                waiting = ["{0}: {1}".format(item["name"], item.get("error") or "no error reported, not ready yet")
                           for item in described if item["name"] not in done]
                self.fail("Timed out after {0}s waiting for {1} snapshot(s): {2}".format(
                    self.params["wait_timeout"], len(waiting), "; ".join(waiting)), snapshots=described)
            # Poll fast while snapshots usually finish, then back off.
            time.sleep(0.5 if time.monotonic() - self.started < 10 else 3)

    def resume_hint(self):
        """What an interrupted run leaves behind, and how to finish it (for a lost API server)."""
        if self.params["state"] != "present" or not self.params["backup_id"]:
            return ""
        return ("Backup {0} was interrupted with {1} snapshot(s) requested ({2}); nothing was deleted. When the API "
                "server answers again, run the same task with backup_id={0}: it keeps those and completes the "
                "backup.".format(self.params["backup_id"], len(self.requested), ", ".join(self.requested) or "none"))

    def retain(self, snapshot, content):
        """Make a ready snapshot's content Retain and label it as ours, so its data outlives the namespace."""
        if not self.params["retain"]:
            return
        labels = logic.content_labels(snapshot["metadata"].get("labels") or {}, self.namespace)
        patch = logic.retain_patch(content, labels)
        if patch:
            updated = self.custom.patch_cluster_custom_object(
                logic.GROUP, logic.VERSION, "volumesnapshotcontents", content["metadata"]["name"], patch)
            content.update(updated)

    def describe(self, wanted, current, done, contents=None):
        described = []
        for name, pvc in wanted:
            snapshot = current.get(name) or {}
            status = snapshot.get("status") or {}
            content = (contents or {}).get(status.get("boundVolumeSnapshotContentName")) or {}
            described.append(dict(
                name=name, pvc=pvc, readyToUse=bool(status.get("readyToUse")), restoreSize=status.get("restoreSize"),
                creationTime=status.get("creationTime"), content=status.get("boundVolumeSnapshotContentName"),
                handle=logic.content_handle(content) if content else None,
                driver=(content.get("spec") or {}).get("driver"),
                snapshot_class=(content.get("spec") or {}).get("volumeSnapshotClassName"),
                deletion_policy=(content.get("spec") or {}).get("deletionPolicy"),
                source_claim=logic.recorded_source_claim(snapshot) or None,
                elapsed_seconds=done.get(name), error=(status.get("error") or {}).get("message")))
        return described

    # --- imported -------------------------------------------------------------------
    def imported(self):
        """Bring back a backup's snapshots by handle, as pre-provisioned contents and snapshots.

        Every handle is checked (its content must become ready) before the namespace or any
        snapshot is created; contents this run made for a bad handle are deleted again, data kept.
        """
        backup_id, entries = self.params["backup_id"], self.params["snapshots"]
        problems = ([logic.validate_backup_id(backup_id)] if logic.validate_backup_id(backup_id) else []) + \
            logic.index_problems(entries)
        if problems:
            self.fail("Cannot import backup {0}: {1}. Nothing was changed.".format(backup_id, "; ".join(problems)))
        self.require_snapshot_api()
        bodies = [logic.imported_bodies(entry, self.namespace, logic.snapshot_labels(
            self.release, entry["pvc"], backup_id, self.params["environment"], self.params["chart_revision"]))
            for entry in entries]
        contents, existing = self.contents(), self.our_snapshots(backup_id)
        for content, _snapshot in bodies:
            found = contents.get(content["metadata"]["name"])
            if found and logic.content_handle(found) != content["spec"]["source"]["snapshotHandle"]:
                self.fail("VolumeSnapshotContent {0} exists with handle {1}, not {2}: delete it, or restore into "
                          "another namespace. Nothing was changed.".format(
                              content["metadata"]["name"], logic.content_handle(found),
                              content["spec"]["source"]["snapshotHandle"]))
        new_contents = [content for content, _snapshot in bodies if content["metadata"]["name"] not in contents]
        new_snapshots = [snapshot for _content, snapshot in bodies if snapshot["metadata"]["name"] not in existing]
        result = dict(changed=bool(new_contents or new_snapshots), deleted=[], kept={},
                      created_contents=sorted(content["metadata"]["name"] for content in new_contents))
        if self.module._diff:
            result["diff"] = dict(before="\n".join(sorted(existing)) + "\n",
                                  after="\n".join(sorted(entry["name"] for entry in entries)) + "\n")
        if self.module.check_mode:
            result["snapshots"] = [dict(name=entry["name"], pvc=entry["pvc"], handle=entry["handle"],
                                        readyToUse=entry["name"] in existing) for entry in entries]
            return result
        for content in new_contents:
            self.tolerating(409, self.custom.create_cluster_custom_object, logic.GROUP, logic.VERSION,
                            "volumesnapshotcontents", content)
        self.wait_handles([content for content, _snapshot in bodies], new_contents)
        if self.params["create_namespace"]:
            self.tolerating(409, self.core.create_namespace, {"metadata": {"name": self.namespace}})
        for snapshot in new_snapshots:
            self.tolerating(409, self.custom.create_namespaced_custom_object, logic.GROUP, logic.VERSION,
                            self.namespace, "volumesnapshots", snapshot)
        self.requested = sorted(entry["name"] for entry in entries)
        result["snapshots"] = self.wait_ready([(entry["name"], entry["pvc"]) for entry in entries])
        return result

    def wait_handles(self, wanted, created):
        """Wait until the storage confirms each handle; a handle it does not know fails the task."""
        deadline = self.started + self.params["wait_timeout"]
        names = [content["metadata"]["name"] for content in wanted]
        while True:
            current = self.contents()
            failed = dict((name, ((current.get(name) or {}).get("status") or {}).get("error") or {}) for name in names)
            failed = dict((name, error.get("message")) for name, error in failed.items() if error.get("message"))
            ready = [name for name in names if ((current.get(name) or {}).get("status") or {}).get("readyToUse")]
            if failed or (time.monotonic() >= deadline and len(ready) < len(names)):
                for content in created:  # Retain: deleting our new object leaves the storage as it was
                    self.tolerating(404, self.custom.delete_cluster_custom_object, logic.GROUP, logic.VERSION,
                                    "volumesnapshotcontents", content["metadata"]["name"])
                handles = dict((content["metadata"]["name"], content["spec"]["source"]["snapshotHandle"])
                               for content in wanted)
                detail = "; ".join("handle {0}: {1}".format(handles[name], message) for name, message in
                                   sorted(failed.items())) or "not confirmed within {0}s: {1}".format(
                    self.params["wait_timeout"], ", ".join(handles[name] for name in names if name not in ready))
                self.fail("The storage does not have every snapshot of backup {0} ({1}). Check the backup id, and "
                          "that this cluster's CSI driver {2} reaches the storage the backup was taken on. Nothing "
                          "was changed.".format(self.params["backup_id"], detail,
                                                wanted[0]["spec"]["driver"] if wanted else "?"))
            if len(ready) == len(names):
                return
            time.sleep(0.5)

    # --- absent and pruned --------------------------------------------------------------
    def our_contents(self, backup_id=None):
        """The contents of the release's snapshots taken in this namespace (labelled when they were retained)."""
        items = self.custom.list_cluster_custom_object(
            logic.GROUP, logic.VERSION, "volumesnapshotcontents",
            label_selector=logic.content_selector(self.release, self.namespace, backup_id))["items"]
        return dict((item["metadata"]["name"], item) for item in items)

    def orphaned_contents(self, snapshots):
        """Our contents whose snapshot is gone (its namespace was deleted, or the release uninstalled)."""
        return dict((name, item) for name, item in self.our_contents().items()
                    if ((item.get("spec") or {}).get("volumeSnapshotRef") or {}).get("name") not in snapshots)

    def delete(self, names, kept=None, content_names=()):
        """Delete snapshots by name, their contents and the data (unless another content shares the data).

        Contents are Retain, so deleting a snapshot alone would keep its data: each doomed content
        is switched to Delete first, and what is left once the snapshots are gone is deleted too.
        """
        snapshots = self.our_snapshots()
        bound = [(snapshots[name].get("status") or {}).get("boundVolumeSnapshotContentName")
                 for name in names if name in snapshots]
        everything = self.contents()
        doomed = [everything[name] for name in sorted(set(bound) | set(content_names)) if name in everything]
        keep_data = logic.shared_handles(doomed, everything.values())
        result = dict(changed=bool(names or doomed), deleted=sorted(names),
                      deleted_contents=sorted(item["metadata"]["name"] for item in doomed),
                      kept_data=sorted(keep_data), snapshots=[], kept=kept or {})
        if self.module._diff:
            before = sorted(snapshots) + sorted(self.our_contents())
            gone = set(names) | set(result["deleted_contents"])
            result["diff"] = dict(before="\n".join(before) + "\n",
                                  after="\n".join(name for name in before if name not in gone) + "\n")
        if self.module.check_mode:
            return result
        for content in doomed:
            policy = logic.RETAIN if logic.content_handle(content) in keep_data else logic.DELETE
            if (content.get("spec") or {}).get("deletionPolicy") != policy:
                self.custom.patch_cluster_custom_object(logic.GROUP, logic.VERSION, "volumesnapshotcontents",
                                                        content["metadata"]["name"], {"spec": {"deletionPolicy": policy}})
        for name in names:
            self.tolerating(404, self.custom.delete_namespaced_custom_object, logic.GROUP, logic.VERSION, self.namespace,
                            "volumesnapshots", name)
        self.wait_gone("snapshots", lambda: set(names) & set(self.our_snapshots()))
        # Contents still there: Retain ones (shared data), orphans, or bound ones the controller has not got to.
        for content in doomed:
            self.tolerating(404, self.custom.delete_cluster_custom_object, logic.GROUP, logic.VERSION,
                            "volumesnapshotcontents", content["metadata"]["name"])
        self.wait_gone("snapshot contents", lambda: set(result["deleted_contents"]) & set(self.contents()))
        return result

    @staticmethod
    def tolerating(status, call, *args):
        """call(*args), where an answer of ``status`` (404: gone already, 409: made by an earlier run) is fine."""
        try:
            call(*args)
        except ApiException as error:
            if error.status != status:
                raise

    def wait_gone(self, what, remaining):
        deadline = self.started + self.params["wait_timeout"]
        while self.params["wait"] and remaining():
            if time.monotonic() >= deadline:
                self.fail("Timed out waiting for {0} to go: {1}".format(what, ", ".join(sorted(remaining()))))
            time.sleep(1)

    def absent(self):
        ours = self.our_snapshots()
        if self.params["names"]:
            foreign = [name for name in self.params["names"] if name not in ours]
            if foreign:
                self.fail("Not deleting {0}: not snapshots of release {1} made by inferno.ops (ours: {2}).".format(
                    ", ".join(foreign), self.release, ", ".join(sorted(ours)) or "none"))
            return self.delete(list(self.params["names"]))
        if not self.params["backup_id"]:
            self.fail("state=absent needs names or backup_id: nothing is deleted unless named.")
        backup_id = self.params["backup_id"]
        return self.delete(sorted(self.our_snapshots(backup_id)), content_names=sorted(self.our_contents(backup_id)))

    def pruned(self):
        if self.params["keep_last"] is None and not self.params["max_age"]:
            self.fail("state=pruned needs keep_last or max_age.")
        try:
            max_age = logic.parse_duration(self.params["max_age"])
        except ValueError as error:
            self.fail(str(error))
        snapshots = self.our_snapshots()
        relabelled = self.sync_kept_labels(snapshots)
        orphans = self.orphaned_contents(snapshots)
        # A set whose snapshots are gone (namespace deleted) is still a backup: its contents keep the data.
        sets = logic.group_backup_sets(list(snapshots.values()) + list(orphans.values()))
        delete_ids, kept = logic.choose_prunable(sets, self.params["keep_last"], max_age, time.time())
        doomed = set(name for backup_id in delete_ids for name in sets[backup_id]["snapshots"])
        result = self.delete(sorted(doomed & set(snapshots)), kept, content_names=sorted(doomed & set(orphans)))
        result["changed"] = result["changed"] or bool(relabelled)
        return result

    # --- pinned and unpinned ---------------------------------------------------------------
    def pin_label(self):
        """(label, value) this task sets or clears: the user's pin, or the hold of a named holder."""
        holder = self.params["hold"]
        return (logic.LABEL_HELD_BY, holder) if holder else (logic.LABEL_PIN, "true")

    def sync_kept_labels(self, snapshots):
        """Give each labelled content of ``snapshots`` their pin and hold, so both hold once the namespace is gone,
        then mark each pinned snapshot whose content now carries its pin; returns the contents relabelled and the
        snapshots marked (or, in check mode, that would be).

        A snapshot pinned with kubectl since it was taken passes its pin on here (at the next backup
        or prune of the release in this namespace).
        """
        contents = self.our_contents()
        changed = []
        for snapshot in snapshots.values():
            content = contents.get((snapshot.get("status") or {}).get("boundVolumeSnapshotContentName"))
            if content is None:
                continue
            labels = snapshot["metadata"].get("labels") or {}
            patch = logic.keep_labels_patch(content["metadata"].get("labels"), labels)
            if patch:
                changed.append(content["metadata"]["name"])
                if not self.module.check_mode:
                    self.custom.patch_cluster_custom_object(logic.GROUP, logic.VERSION, "volumesnapshotcontents",
                                                            content["metadata"]["name"], patch)
                content = logic.with_labels(content, patch["metadata"]["labels"])  # check mode reports the mark too
            mark = logic.pin_on_content_patch(labels, snapshot["metadata"].get("annotations"), content)
            if mark:
                changed.append(snapshot["metadata"]["name"])
                if not self.module.check_mode:
                    self.tolerating(404, self.custom.patch_namespaced_custom_object, logic.GROUP, logic.VERSION,
                                    self.namespace, "volumesnapshots", snapshot["metadata"]["name"], mark)
        return changed

    def pinned(self):
        return self.set_pin(True)

    def unpinned(self):
        return self.set_pin(False)

    def set_pin(self, pin):
        """Label (or unlabel) every snapshot and content of one backup set, so retention keeps (or may delete) it."""
        backup_id = self.params["backup_id"]
        label, value = self.pin_label()
        snapshots, contents = self.our_snapshots(backup_id), self.our_contents(backup_id)
        if not snapshots and not contents and not (self.params["hold"] and not pin):
            self.fail("There is no backup {0} of {1} in {2}, neither snapshots nor retained contents (its backups: "
                      "{3}). Nothing was changed.".format(backup_id, self.release, self.namespace, ", ".join(sorted(
                          logic.group_backup_sets(list(self.our_snapshots().values()) + list(
                              self.our_contents().values())))) or "none"))
        changes, contents_after = [], {}
        for name, content in sorted(contents.items()):
            labels = logic.keep_label_change(content["metadata"].get("labels"), label, value, pin)
            contents_after[name] = logic.with_labels(content, labels)
            if labels:
                changes.append(("volumesnapshotcontents", name, {"metadata": {"labels": labels}}))
        labelled = [name for _plural, name, _patch in changes]
        for name, snapshot in sorted(snapshots.items()):
            labels = logic.keep_label_change(snapshot["metadata"].get("labels"), label, value, pin)
            patch = {"metadata": {"labels": labels}} if labels else {"metadata": {}}
            if labels:
                labelled.append(name)
            # The mark that lets the snapshot go with its namespace (files/admission/pin-protection.yaml).
            mark = logic.pin_on_content_patch(
                logic.with_labels(snapshot, labels)["metadata"]["labels"], snapshot["metadata"].get("annotations"),
                contents_after.get((snapshot.get("status") or {}).get("boundVolumeSnapshotContentName")))
            if mark:
                patch["metadata"]["annotations"] = mark["metadata"]["annotations"]
            if patch["metadata"]:
                changes.append(("volumesnapshots", name, patch))
        if not pin:  # the snapshots lose their pin (and mark) before their contents, so a mark never outlives a pin
            changes.reverse()
        result = dict(changed=bool(changes), deleted=[], kept={}, snapshots=[], labelled=sorted(labelled))
        if self.module._diff:
            labels = [(name, (item["metadata"].get("labels") or {}).get(label))
                      for items in (snapshots, contents) for name, item in sorted(items.items())]
            result["diff"] = dict(
                before="".join("{0} {1}={2}\n".format(name, label, current) for name, current in labels),
                after="".join("{0} {1}={2}\n".format(name, label, value if pin else None) for name, _current in labels))
        if self.module.check_mode:
            return result
        for plural, name, patch in changes:
            if plural == "volumesnapshots":
                self.tolerating(404, self.custom.patch_namespaced_custom_object, logic.GROUP, logic.VERSION,
                                self.namespace, plural, name, patch)
            else:
                self.tolerating(404, self.custom.patch_cluster_custom_object, logic.GROUP, logic.VERSION, plural,
                                name, patch)
        return result


def main():
    module = k8s_module(
        argument_spec(
            K8S_CONNECTION, RELEASE,
            state=dict(type="str", default="present",
                       choices=["present", "absent", "pruned", "imported", "pinned", "unpinned"]),
            hold=dict(type="str"),
            snapshots=dict(type="list", elements="dict", default=[]),
            create_namespace=dict(type="bool", default=False),
            retain=dict(type="bool", default=True),
            backup_id=dict(type="str"),
            pvcs=dict(type="list", elements="str", default=[]),
            label_selectors=dict(type="list", elements="str", default=[]),
            names=dict(type="list", elements="str", default=[]),
            snapshot_class=dict(type="str"),
            environment=dict(type="str"),
            chart_revision=dict(type="int"),
            annotations=dict(type="dict", default={}),
            keep_last=dict(type="int"),
            max_age=dict(type="str"),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=600),
            progress_interval=dict(type="int", default=5),
        ),
        required_if=[("state", "present", ["backup_id"]), ("state", "imported", ["backup_id", "snapshots"]),
                     ("state", "pinned", ["backup_id"]), ("state", "unpinned", ["backup_id"])],
        mutually_exclusive=[("pvcs", "label_selectors")],
    )
    if module.params["state"] in ("pinned", "unpinned"):
        why = logic.validate_backup_id(module.params["backup_id"]) or (
            module.params["hold"] is not None and logic.validate_holder(module.params["hold"]))
        if why:
            module.fail_json(msg="{0}. Nothing was read or changed.".format(why))
    problems = logic.option_problems(module.params["keep_last"], module.params["max_age"], module.params["wait_timeout"],
                                     module.params["state"], module.params["retain"], module.params["wait"])
    if problems:
        module.fail_json(msg="{0}. Nothing was read or changed.".format("; ".join(problems)))
    snapshotter = Snapshotter(module)
    with reported_api_errors(module, " in {0}".format(snapshotter.namespace), snapshotter.resume_hint):
        result = getattr(snapshotter, module.params["state"])()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
