# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep secret values out of task output, diffs and logs.

The chart takes its secrets under the top-level ``secrets`` key and renders them into one
Secret; Helm also stores a release's values. Everything we show a user (plans, diffs,
status summaries, error messages) passes through these helpers first.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

MASK = "********"
# The chart's value keys that hold secrets.
SECRET_VALUE_KEYS = ("secrets",)
# The Kubernetes kinds whose data is secret.
SECRET_KINDS = ("Secret",)


def mask_value(value, changed=False):
    """The text shown instead of a secret value; says whether it changed, never what it is."""
    if value in (None, ""):
        return value
    return MASK + " (changed)" if changed else MASK


def mask_values(values, compare_to=None):
    """A copy of Helm values with every leaf under the secret keys masked.

    With ``compare_to`` (the values before a change), a leaf that differs is shown as changed.
    """
    if not isinstance(values, dict):
        return values
    masked = copy.deepcopy(values)
    for key in SECRET_VALUE_KEYS:
        if isinstance(masked.get(key), dict):
            other = (compare_to or {}).get(key) if compare_to is not None else None
            masked[key] = _mask_leaves(masked[key], other, compare_to is not None)
    return masked


def _mask_leaves(tree, other, compare):
    if isinstance(tree, dict):
        other = other if isinstance(other, dict) else {}
        return dict((key, _mask_leaves(value, other.get(key), compare)) for key, value in tree.items())
    if isinstance(tree, list):
        return [_mask_leaves(value, None, compare) for value in tree]
    return mask_value(tree, changed=compare and other != tree)


def mask_object(obj, compare_to=None):
    """A copy of a Kubernetes object with Secret data masked.

    With ``compare_to`` (the object before a change), a value that differs from it is
    shown as changed, so a diff still tells which keys will change without showing them.
    """
    if not isinstance(obj, dict) or obj.get("kind") not in SECRET_KINDS:
        return obj
    masked = copy.deepcopy(obj)
    other = compare_to if isinstance(compare_to, dict) else {}
    for field in ("data", "stringData"):
        if isinstance(masked.get(field), dict):
            other_field = other.get(field) or {}
            masked[field] = dict(
                (key, mask_value(value, changed=compare_to is not None and other_field.get(key) != value))
                for key, value in masked[field].items()
            )
    return masked


def secret_strings(values):
    """Every non-empty string under the secret keys: the texts to scrub from free text."""
    found = []

    def walk(tree):
        if isinstance(tree, dict):
            for value in tree.values():
                walk(value)
        elif isinstance(tree, list):
            for value in tree:
                walk(value)
        elif tree not in (None, "") and not isinstance(tree, bool):
            found.append(str(tree))

    if isinstance(values, dict):
        for key in SECRET_VALUE_KEYS:
            walk(values.get(key))
    return found


def redact_text(text, secrets):
    """``text`` with every occurrence of each secret replaced by the mask."""
    if not text:
        return text
    for secret in sorted(set(secrets or []), key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text
