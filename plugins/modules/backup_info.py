#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: backup_info
short_description: A release's backup sets, the one to restore, and the claims a restore creates
version_added: 0.1.0
author:
  - Inferno Ops maintainers (@inferno-ops)
description:
  - Reads the release's VolumeSnapshots made by M(inferno.ops.pvc_snapshot) (labels
    C(app.kubernetes.io/instance=<release_name>) and C(app.kubernetes.io/managed-by=inferno.ops))
    and groups them by their C(inferno.ops/backup-id) label into backup sets, newest first.
  - A set is complete when every one of its snapshots is C(readyToUse); only a complete set is
    ever resolved for a restore.
  - With O(backup_id), resolves that set; with O(chart_revision), the newest complete set whose
    snapshots carry C(inferno.ops/chart-revision=<chart_revision>). When none resolves, RV(backup)
    is null and RV(problems) says why.
  - With O(restore_mode), also returns the restore plan, one claim per snapshot, and fails, with
    what to do, when no complete set resolves.
  - With O(restore_mode=in_place), also fails, naming each claim, when a claim could not be made
    from its snapshot once the live one is deleted - its StorageClass is missing or provisioned
    by another driver than the one that holds the snapshot, or it would ask for less than the
    snapshot's C(restoreSize) - so the restore stops before it deletes anything.
  - Fails with a clear message when the cluster does not serve C(snapshot.storage.k8s.io/v1).
  - Reads only.
options:
  backup_id:
    description:
      - The backup set to resolve.
    type: str
  chart_revision:
    description:
      - Resolve the newest complete backup set taken at this Helm revision of the release.
      - Mutually exclusive with O(backup_id).
    type: int
  restore_mode:
    description:
      - Plan a restore of the resolved set, as the P(inferno.ops.restore#role) role does it.
      - C(new) creates C(<claim>-restored-<backup_id>) beside each original, labelled
        C(inferno.ops/restored-for=<release_name>) and without the release's own labels.
      - C(in_place) recreates each claim under its own name with its labels and annotations (less
        the C(pv.kubernetes.io/), C(volume.kubernetes.io/), C(volume.beta.kubernetes.io/) and
        C(kubectl.kubernetes.io/) ones); a claim gone since the backup gets the labels and
        annotations Helm gives the release's claims.
      - Needs O(backup_id) or O(chart_revision).
    type: str
    choices: [new, in_place]
extends_documentation_fragment:
  - inferno.ops.release
  - kubernetes.core.k8s_auth_options
  - inferno.ops.read_only
requirements:
  - The external-snapshotter CRDs (C(snapshot.storage.k8s.io/v1))
seealso:
  - module: inferno.ops.pvc_snapshot
"""

EXAMPLES = r"""
- name: List the production release's backups
  inferno.ops.backup_info:
    release_name: inferno
    release_namespace: inferno-prod
  register: backups

- name: Show one line per backup set, newest first
  ansible.builtin.debug:
    msg: "{{ backups.lines }}"

- name: Find the newest complete backup taken at revision 12
  inferno.ops.backup_info:
    release_name: inferno
    release_namespace: inferno-prod
    chart_revision: 12
  register: at_r12

- name: Say why there is none
  ansible.builtin.assert:
    that: at_r12.backup is not none
    fail_msg: "{{ at_r12.problems | join(' ') }}"

- name: Plan restoring backup nightly-2026-11-24 beside the original claims
  inferno.ops.backup_info:
    release_name: inferno
    release_namespace: inferno-prod
    backup_id: nightly-2026-11-24
    restore_mode: new
  register: restore

- name: Create each planned claim from its snapshot
  kubernetes.core.k8s:
    definition:
      apiVersion: v1
      kind: PersistentVolumeClaim
      metadata:
        name: "{{ item.claim }}"
        namespace: inferno-prod
        labels: "{{ item.labels }}"
        annotations: "{{ item.annotations }}"
      spec:
        accessModes: "{{ item.access_modes }}"
        storageClassName: "{{ item.storage_class | default(omit, true) }}"
        resources:
          requests:
            storage: "{{ item.size }}"
        dataSource:
          apiGroup: snapshot.storage.k8s.io
          kind: VolumeSnapshot
          name: "{{ item.snapshot }}"
  loop: "{{ restore.plan }}"
"""

RETURN = r"""
backup_sets:
  description: Every backup set of the release, newest first (by its first snapshot's creation).
  returned: always
  type: list
  elements: dict
  contains:
    backup_id:
      description: The set's C(inferno.ops/backup-id).
      type: str
      sample: pre-upgrade-r12-20261124t224451
    chart_revision:
      description: Helm revision the set was taken at (C(inferno.ops/chart-revision)); null if unknown.
      type: int
      sample: 12
    environment:
      description: Environment the set was taken in (C(inferno.ops/environment)); null if unknown.
      type: str
      sample: prod
    created:
      description: When the set's first snapshot was created (RFC 3339).
      type: str
      sample: "2026-11-24T22:44:51Z"
    created_epoch:
      description: RV(backup_sets[].created) in seconds since the epoch.
      type: int
      sample: 1795560291
    ready:
      description: Whether the set is complete (every snapshot C(readyToUse)).
      type: bool
    ready_count:
      description: How many of its snapshots are C(readyToUse).
      type: int
    total:
      description: How many snapshots the set has.
      type: int
    pinned:
      description: Whether a snapshot of the set carries C(inferno.ops/pin=true) (retention keeps it).
      type: bool
    held_by:
      description: The holders named by C(inferno.ops/held-by) on its snapshots, sorted (a restore reading the set);
        retention keeps a held set.
      type: list
      elements: str
    claims:
      description: The claims the snapshots were taken from, sorted.
      type: list
      elements: str
    snapshots:
      description: The VolumeSnapshot names, sorted.
      type: list
      elements: str
    not_ready:
      description: The VolumeSnapshots not yet C(readyToUse), sorted.
      type: list
      elements: str
    errors:
      description: The C(status.error.message) of each snapshot not ready that reports one.
      type: dict
lines:
  description: One readable line per set, in the order of RV(backup_sets).
  returned: always
  type: list
  elements: str
  sample: ["nightly-2  revision 3  3/3 ready  2026-11-24T22:44:51Z  inferno-cache-pvc, inferno-models-pvc  (pinned)"]
backup:
  description:
    - The resolved set (an element of RV(backup_sets)), or null when none resolves or none was asked for.
  returned: always
  type: dict
problems:
  description: Why no set resolves for O(backup_id) or O(chart_revision); empty when one does or none was asked for.
  returned: always
  type: list
  elements: str
  sample:
    - There is no backup nightly-9 of inferno in inferno-prod (its backups, newest first: nightly-2 (revision 3)).
plan:
  description: With O(restore_mode), the claims to create, one per snapshot of RV(backup), by snapshot name; else empty.
  returned: always
  type: list
  elements: dict
  contains:
    snapshot:
      description: The VolumeSnapshot to restore from (the claim's C(dataSource)).
      type: str
    source:
      description: The claim the snapshot was taken from.
      type: str
    claim:
      description:
        - The claim to create.
        - RV(plan[].source) with O(restore_mode=in_place), else C(<source>-restored-<backup_id>).
      type: str
    size:
      description: The snapshot's C(status.restoreSize), the least the claim must request.
      type: str
    storage_class:
      description: The source claim's storage class; null when the source is gone or names none.
      type: str
    access_modes:
      description: The source claim's access modes (C(ReadWriteOnce) when the source is gone).
      type: list
      elements: str
    labels:
      description: The claim's labels, C(inferno.ops/restored-from=<snapshot>) included.
      type: dict
    annotations:
      description: The claim's annotations (none with O(restore_mode=new)).
      type: dict
"""

from ansible_collections.inferno.ops.plugins.module_utils import snapshots as logic
from ansible_collections.inferno.ops.plugins.module_utils.args_common import K8S_CONNECTION, RELEASE, argument_spec
from ansible_collections.inferno.ops.plugins.module_utils.kube_client import (
    ApiException,
    api_client,
    client,
    k8s_module,
    reported_api_errors,
)

try:
    from kubernetes.utils.quantity import parse_quantity
except ImportError:  # reported by the module
    parse_quantity = None

# Added to the problems when a restore cannot be planned.
RESTORE_ADVICE = ("Pick a complete backup (playbooks/list_backups.yml lists them), or finish this one by running the "
                  "backup again with the same id.")


class BackupReader(object):
    def __init__(self, module):
        self.module = module
        self.api = api_client(module)
        self.release = module.params["release_name"]
        self.namespace = module.params["release_namespace"]

    def snapshots(self):
        """The release's snapshots made by inferno.ops; a 404 means the snapshot API is not served."""
        try:
            return client.CustomObjectsApi(self.api).list_namespaced_custom_object(
                logic.GROUP, logic.VERSION, self.namespace, "volumesnapshots",
                label_selector=logic.release_selector(self.release))["items"]
        except ApiException as error:
            if error.status == 404:
                self.module.fail_json(msg=logic.API_NOT_SERVED)
            raise

    def contents(self):
        return logic.contents_by_name(client.CustomObjectsApi(self.api))

    def classes(self):
        """Every StorageClass, by name, as the API returns them."""
        return dict((item.metadata.name, self.api.sanitize_for_serialization(item))
                    for item in client.StorageV1Api(self.api).list_storage_class().items)

    def claims(self):
        """The release's claims, as the API returns them (camelCase keys)."""
        items = client.CoreV1Api(self.api).list_namespaced_persistent_volume_claim(
            self.namespace, label_selector="{0}={1}".format(logic.LABEL_INSTANCE, self.release)).items
        return [self.api.sanitize_for_serialization(item) for item in items]


def main():
    module = k8s_module(
        argument_spec(
            K8S_CONNECTION, RELEASE,
            backup_id=dict(type="str"),
            chart_revision=dict(type="int"),
            restore_mode=dict(type="str", choices=list(logic.RESTORE_MODES)),
        ),
        mutually_exclusive=[("backup_id", "chart_revision")],
    )
    params = module.params
    if params["restore_mode"] and not params["backup_id"] and params["chart_revision"] is None:
        module.fail_json(msg="restore_mode={0} needs the backup to plan: pass backup_id or chart_revision.".format(
            params["restore_mode"]))
    reader = BackupReader(module)
    with reported_api_errors(module, " in {0}".format(reader.namespace)):
        snapshots = reader.snapshots()
        sets = logic.group_backup_sets(snapshots)
        backup, problems = logic.resolve_backup(sets, reader.release, reader.namespace, params["backup_id"],
                                                params["chart_revision"])
        result = dict(
            changed=False,
            backup_sets=logic.newest_first(sets),
            lines=[logic.backup_line(entry) for entry in logic.newest_first(sets)],
            backup=backup,
            problems=problems,
            plan=[],
        )
        if params["restore_mode"]:
            if backup is None:
                module.fail_json(msg="{0} {1}".format(" ".join(problems), RESTORE_ADVICE), **result)
            result["plan"] = logic.restore_plan(snapshots, reader.claims(), reader.release, reader.namespace,
                                                backup["backup_id"], params["restore_mode"])
            if params["restore_mode"] == "in_place":
                # Checked before the restore deletes a live claim: after that it is too late.
                mismatched = logic.in_place_problems(result["plan"], snapshots, reader.contents(), reader.classes(),
                                                     parse_quantity)
                if mismatched:
                    module.fail_json(msg="Backup {0} cannot be restored in place into {1}: {2}. Nothing was changed."
                                     .format(backup["backup_id"], reader.namespace, "; ".join(mismatched)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
