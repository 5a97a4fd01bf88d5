# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of inferno.ops.config_export: cleaning objects, redacting Secrets, the index.

Unit-tested directly; the module does the API and helm calls and writes the files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import os

try:
    import yaml

    HAS_YAML = True
    # libyaml's emitter, where PyYAML was built with it, writes the same text about five times faster.
    SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
except ImportError:  # reported by the module
    HAS_YAML = False

from ansible_collections.inferno.ops.plugins.module_utils.redaction import (
    redacted,
    replace_secret_data,
    replace_secret_values,
)

# What kubectl-neat drops: fields the server owns, which a re-apply must not carry.
SERVER_METADATA = ("uid", "resourceVersion", "managedFields", "creationTimestamp", "generation", "selfLink",
                   "deletionTimestamp", "deletionGracePeriodSeconds")
SERVER_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision")
SERVER_SPEC_FIELDS = ("clusterIP", "clusterIPs")


def clean_object(obj):
    """A copy without status and server-owned metadata; Helm's ownership labels and annotations stay."""
    cleaned = copy.deepcopy(obj)
    cleaned.pop("status", None)
    metadata = cleaned.get("metadata") or {}
    for field in SERVER_METADATA:
        metadata.pop(field, None)
    annotations = metadata.get("annotations") or {}
    for key in SERVER_ANNOTATIONS:
        annotations.pop(key, None)
    if not annotations:
        metadata.pop("annotations", None)
    spec = cleaned.get("spec")
    if isinstance(spec, dict):
        for field in SERVER_SPEC_FIELDS:
            spec.pop(field, None)
    return cleaned


def redact_secret(obj):
    """A Secret with every data/stringData value replaced by ``redacted``; the keys stay.

    Anything that is not a Secret is returned as it is.
    """
    replaced = replace_secret_data(obj, redacted)
    if replaced is obj:
        return obj
    annotations = (replaced.get("metadata") or {}).setdefault("annotations", {})
    annotations["inferno.ops/redacted"] = "values replaced by 'redacted'; export with include_secrets to keep them"
    return replaced


def redact_values(values):
    """Helm values with every leaf under the chart's secret keys, at any depth, replaced by ``redacted``."""
    return replace_secret_values(values, redacted)


def redact_manifest(manifest):
    """A rendered manifest with its Secrets' values replaced by ``redacted``."""
    documents = [doc for doc in yaml.safe_load_all(manifest or "") if doc]
    return "".join("---\n" + to_yaml(redact_secret(doc) if doc.get("kind") == "Secret" else doc) for doc in documents)


def to_yaml(data):
    return yaml.dump(data, Dumper=SafeDumper, default_flow_style=False, sort_keys=True)


# What the index records instead of a digest for a file that holds secret values (include_secrets).
NO_DIGEST = "not recorded: the file holds secret values"


def sha256_text(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# What a restore may apply from an export, by the folder the file is in: only these, whatever else a
# bucket writer puts there.
RESTORABLE = {"configmaps": ("v1", "ConfigMap"), "secrets": ("v1", "Secret")}


def not_restorable(relative, document):
    """Why the export file ``relative`` (its parsed ``document``) must not be applied; None when it may be."""
    folder = relative.split("/", 1)[0] if "/" in relative else ""
    if folder not in RESTORABLE:
        return "{0} is not under {1}".format(relative, " or ".join(name + "/" for name in sorted(RESTORABLE)))
    api_version, kind = RESTORABLE[folder]
    if not isinstance(document, dict):
        return "{0} is not a Kubernetes object".format(relative)
    if document.get("apiVersion") != api_version or document.get("kind") != kind:
        return "{0} is {1} {2}, not {3} {4}".format(relative, document.get("apiVersion") or "(no apiVersion)",
                                                    document.get("kind") or "(no kind)", api_version, kind)
    if not isinstance(document.get("metadata"), dict) or not document["metadata"].get("name"):
        return "{0} has no metadata.name".format(relative)
    return None


def inside(folder, relative):
    """The path of ``relative`` under ``folder`` when it stays inside it (links resolved), else None."""
    if not isinstance(relative, str) or not relative or os.path.isabs(relative):
        return None
    root = os.path.realpath(folder)
    target = os.path.realpath(os.path.join(root, relative))
    return target if target.startswith(root + os.sep) else None


def index_document(identity, files, exported_at):
    """The index: where the export came from, when, and a SHA-256 per file."""
    document = dict(identity)
    document["exported_at"] = exported_at
    document["files"] = dict((path, files[path]) for path in sorted(files))
    return document
