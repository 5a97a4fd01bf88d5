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

try:
    import yaml

    HAS_YAML = True
    # libyaml's emitter, where PyYAML was built with it, writes the same text about five times faster.
    SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
except ImportError:  # reported by the module
    HAS_YAML = False

from ansible_collections.inferno.ops.plugins.module_utils.redaction import (
    digested,
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
    """A Secret with every data/stringData value replaced by its digest; the keys stay.

    Anything that is not a Secret is returned as it is.
    """
    redacted = replace_secret_data(obj, digested)
    if redacted is obj:
        return obj
    annotations = (redacted.get("metadata") or {}).setdefault("annotations", {})
    annotations["inferno.ops/redacted"] = "values replaced by sha256 digests; export with include_secrets to keep them"
    return redacted


def redact_values(values):
    """Helm values with every leaf under the chart's secret keys, at any depth, replaced by its digest."""
    return replace_secret_values(values, digested)


def redact_manifest(manifest):
    """A rendered manifest with its Secrets' values replaced by digests."""
    documents = [doc for doc in yaml.safe_load_all(manifest or "") if doc]
    return "".join("---\n" + to_yaml(redact_secret(doc) if doc.get("kind") == "Secret" else doc) for doc in documents)


def to_yaml(data):
    return yaml.dump(data, Dumper=SafeDumper, default_flow_style=False, sort_keys=True)


def sha256_text(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def index_document(identity, files, exported_at):
    """The index: where the export came from, when, and a SHA-256 per file."""
    document = dict(identity)
    document["exported_at"] = exported_at
    document["files"] = dict((path, files[path]) for path in sorted(files))
    return document
