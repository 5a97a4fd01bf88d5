# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One readable line per helm revision or backup set, for the status and list playbooks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def format_revision(entry):
    """'3   deployed     inferno-0.8.0    2026-11-24T22:44:51  Upgrade complete'."""
    return "{0:<3} {1:<12} {2:<16} {3:<20} {4}".format(
        entry.get("revision", "?"),
        entry.get("status", "?"),
        entry.get("chart", "?"),
        str(entry.get("updated", ""))[:19],
        entry.get("description", ""),
    )


def backup_sets(snapshots):
    """'<backup id>  revision <n>  <ready>/<total> ready  <created>  <claims>' per backup set, newest first."""
    sets = {}
    for item in snapshots:
        labels = item["metadata"].get("labels") or {}
        entry = sets.setdefault(labels.get("inferno.ops/backup-id", "?"), {
            "revision": labels.get("inferno.ops/chart-revision", "?"), "created": "", "ready": 0, "claims": []})
        entry["created"] = max(entry["created"], item["metadata"].get("creationTimestamp") or "")
        entry["ready"] += 1 if (item.get("status") or {}).get("readyToUse") else 0
        entry["claims"].append(labels.get("inferno.ops/pvc", "?"))
        if labels.get("inferno.ops/pin") == "true":
            entry["pinned"] = True
    lines = []
    for backup_id in sorted(sets, key=lambda key: (sets[key]["created"], key), reverse=True):
        entry = sets[backup_id]
        lines.append("{0}  revision {1}  {2}/{3} ready  {4}  {5}{6}".format(
            backup_id, entry["revision"], entry["ready"], len(entry["claims"]), entry["created"],
            ", ".join(sorted(entry["claims"])), "  (pinned)" if entry.get("pinned") else ""))
    return lines


def newest_ready_backup(snapshots, revision=None):
    """The id of the newest backup set whose snapshots are all readyToUse ('' if none), only
    among sets taken at chart ``revision`` when it is given."""
    sets = {}
    for item in snapshots:
        labels = item["metadata"].get("labels") or {}
        backup_id = labels.get("inferno.ops/backup-id")
        if not backup_id or (revision is not None and labels.get("inferno.ops/chart-revision") != str(revision)):
            continue
        ready, created = sets.get(backup_id, (True, ""))
        sets[backup_id] = (ready and bool((item.get("status") or {}).get("readyToUse")),
                           max(created, item["metadata"].get("creationTimestamp") or ""))
    complete = sorted((created, backup_id) for backup_id, (ready, created) in sets.items() if ready)
    return complete[-1][1] if complete else ""


class FilterModule(object):
    def filters(self):
        return {"format_revision": format_revision, "backup_sets": backup_sets, "newest_ready_backup": newest_ready_backup}
