# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decide whether a Helm upgrade would change anything, without the helm-diff plugin.

The desired state is what ``helm upgrade --install --dry-run=server`` renders (the chart,
its user-supplied values and the manifest, with the cluster's real capabilities). The
deployed state is the latest release (``helm history`` and ``helm status``). A release
changes when it is missing or not ``deployed``, when the chart name/version or appVersion
differs, when the user-supplied values differ, or when any rendered object differs. That
last comparison is what kubernetes.core.helm's fallback check leaves out: it catches
template edits made without a version bump.

Pure logic only (no helm calls), so it is unit-tested directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

try:
    import yaml

    HAS_YAML = True
except ImportError:  # reported by the module through missing_required_lib
    HAS_YAML = False

from ansible_collections.inferno.ops.plugins.module_utils.redaction import (
    mask_object,
    mask_values,
)

# The oldest helm whose `upgrade --dry-run=server --output json` and `history --output json` this module reads.
MIN_HELM_VERSION = "3.13.0"


def helm_supported(version):
    """Whether helm ``version`` ('v3.17.2', '4.1.4+g...') is MIN_HELM_VERSION or newer."""
    numbers = []
    release = str(version).lstrip("v").split("+", 1)[0].split("-", 1)[0]
    for part in release.split(".")[:3]:
        numbers.append(int(part) if part.isdigit() else 0)
    numbers += [0] * (3 - len(numbers))
    return tuple(numbers) >= tuple(int(part) for part in MIN_HELM_VERSION.split("."))


# The revision marker: explained once, in helm_plan's notes (kubernetes.core.helm without
# helm-diff compares values files only). Plans ignore it.
REVISION_MARKER_PATH = ("global", "infernoOps", "revision")


def revision_marker(revision):
    """The values that mark an upgrade as made for ``revision``."""
    marker = revision
    for key in reversed(REVISION_MARKER_PATH):
        marker = {key: marker}
    return marker


def without_revision_marker(values):
    """The values without the revision marker (and without the maps it leaves empty)."""
    def strip(node, path):
        if not isinstance(node, dict) or path[0] not in node:
            return node
        stripped = dict(node)
        if len(path) == 1:
            del stripped[path[0]]
        else:
            inner = strip(node[path[0]], path[1:])
            if inner == {}:
                del stripped[path[0]]
            else:
                stripped[path[0]] = inner
        return stripped

    return strip(values or {}, REVISION_MARKER_PATH)


def coalesce_values(defaults, overrides):
    """Helm's merge of user values over chart defaults: maps merge, null removes a key."""
    if not isinstance(defaults, dict) or not isinstance(overrides, dict):
        return copy.deepcopy(overrides)
    merged = copy.deepcopy(defaults)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = coalesce_values(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def object_key(obj, default_namespace):
    """How an object is told apart in a manifest: kind, namespace and name."""
    metadata = obj.get("metadata") or {}
    return (
        obj.get("kind", ""),
        metadata.get("namespace") or default_namespace,
        metadata.get("name", ""),
    )


def key_label(key):
    kind, namespace, name = key
    return "{0} {1}/{2}".format(kind, namespace, name)


def split_manifest(manifest, default_namespace):
    """Map each object of a multi-document manifest to its parsed form, by object_key."""
    objects = {}
    for document in yaml.safe_load_all(manifest or ""):
        if isinstance(document, dict) and document.get("kind"):
            objects[object_key(document, default_namespace)] = document
    return objects


def compare_objects(deployed, desired):
    """Sort object keys into what an upgrade would create, update, delete or keep."""
    changes = {"create": [], "update": [], "delete": [], "unchanged": []}
    for key in sorted(set(deployed) | set(desired)):
        if key not in deployed:
            changes["create"].append(key)
        elif key not in desired:
            changes["delete"].append(key)
        elif deployed[key] != desired[key]:
            changes["update"].append(key)
        else:
            changes["unchanged"].append(key)
    return changes


def chart_label(name, version):
    return "{0}-{1}".format(name, version)


def change_reasons(current, desired, changes):
    """Plain-language reasons an upgrade is needed; empty when it would change nothing.

    ``current`` is None when the release is not installed, else a dict with status,
    chart, app_version and values; ``desired`` has chart, app_version and values.
    """
    if current is None:
        return ["the release is not installed yet"]
    reasons = []
    if current["status"] != "deployed":
        reasons.append("the latest revision is '{0}', not 'deployed'".format(current["status"]))
    if current["chart"] != desired["chart"]:
        reasons.append("the chart changes from {0} to {1}".format(current["chart"], desired["chart"]))
    if (current.get("app_version") or "") != (desired.get("app_version") or ""):
        reasons.append(
            "the appVersion changes from {0} to {1}".format(current.get("app_version"), desired.get("app_version"))
        )
    if (current.get("values") or {}) != (desired.get("values") or {}):
        reasons.append("the user-supplied values differ")
    for action, verb in (("create", "created"), ("update", "changed"), ("delete", "removed")):
        if changes[action]:
            reasons.append(
                "{0} object(s) would be {1}: {2}".format(
                    len(changes[action]), verb, ", ".join(key_label(key) for key in changes[action])
                )
            )
    return reasons


def _dump(obj):
    if obj is None:
        return ""
    return yaml.safe_dump(obj, default_flow_style=False, sort_keys=True)


def build_diffs(current, desired, deployed_objects, desired_objects, changes):
    """Ansible diff entries: the values first, then one per changed object; secrets masked."""
    diffs = []
    before_values = mask_values((current or {}).get("values") or {})
    after_values = mask_values(desired.get("values") or {}, compare_to=(current or {}).get("values") or {})
    if current is None or current.get("values") != desired.get("values"):
        diffs.append(
            {
                "before_header": "user-supplied values (deployed)",
                "after_header": "user-supplied values (planned)",
                "before": _dump(before_values) if current is not None else "",
                "after": _dump(after_values),
            }
        )
    for action in ("create", "update", "delete"):
        for key in changes[action]:
            before = deployed_objects.get(key)
            after = desired_objects.get(key)
            diffs.append(
                {
                    "before_header": "{0} (deployed)".format(key_label(key)),
                    "after_header": "{0} (planned)".format(key_label(key)),
                    "before": _dump(mask_object(before)),
                    "after": _dump(mask_object(after, compare_to=before)),
                }
            )
    return diffs


def masked_manifest(objects):
    """The rendered manifest with Secret data masked, as one multi-document YAML text."""
    return "".join("---\n" + _dump(mask_object(objects[key])) for key in sorted(objects))
