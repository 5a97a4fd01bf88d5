# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep secret values out of task output, diffs, exports and logs.

The chart takes its secrets under the top-level ``secrets`` key and renders them into one
Secret; Helm also stores a release's values. Everything we show a user (plans, diffs,
status summaries, error messages) or write to disk passes through these helpers first.

One walker, ``replace_leaves``, visits every leaf under the secret keys (however deeply
nested in maps and lists) and hands it to a replacement function. Two replacement
functions exist: ``masked`` (what a plan or a status shows) and ``redacted`` (what an
export writes). Neither keeps any digest of a value: an unsalted digest of a short secret
is read back with a dictionary.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import json

MASK = "********"
# What an export writes instead of a secret value.
REDACTED = "redacted"
# The chart's value keys that hold secrets.
SECRET_VALUE_KEYS = ("secrets",)
# The Kubernetes kinds whose data is secret, and the fields of theirs that hold it.
SECRET_KINDS = ("Secret",)
SECRET_DATA_FIELDS = ("data", "stringData")


class _NotCompared(object):
    """Stands for "there is no earlier value to compare with" (None is a real earlier value)."""

    def __repr__(self):
        return "NOT_COMPARED"


NOT_COMPARED = _NotCompared()


# --- the replacement functions: (leaf, the leaf at the same place before) -> what to show --

def mask_value(value, changed=False):
    """The text shown instead of a secret value; says whether it changed, never what it is."""
    if value in (None, ""):
        return value
    return MASK + " (changed)" if changed else MASK


def masked(value, before=NOT_COMPARED):
    """Replacement function: the mask, marked "(changed)" when compared and different."""
    return mask_value(value, changed=before is not NOT_COMPARED and before != value)


def redacted(value, before=NOT_COMPARED):
    """Replacement function: REDACTED, which says a value was set and nothing else; an empty value stays."""
    if value in (None, ""):
        return value
    return REDACTED


# --- the walker ----------------------------------------------------------------------

def replace_leaves(tree, replace, before=NOT_COMPARED):
    """A copy of ``tree`` with every leaf replaced by ``replace(leaf, before_leaf)``.

    Maps and lists are walked to any depth. ``before`` is the same tree before a change, or
    NOT_COMPARED; each leaf gets the leaf at the same place in it (a map key or a list
    index), or None when that place did not exist.
    """
    compared = before is not NOT_COMPARED
    if isinstance(tree, dict):
        others = before if isinstance(before, dict) else {}
        return dict((key, replace_leaves(value, replace, others.get(key) if compared else NOT_COMPARED))
                    for key, value in tree.items())
    if isinstance(tree, (list, tuple)):
        others = before if isinstance(before, (list, tuple)) else ()
        return [replace_leaves(value, replace,
                               (others[index] if index < len(others) else None) if compared else NOT_COMPARED)
                for index, value in enumerate(tree)]
    return replace(tree, before)


def replace_secret_values(values, replace, compare_to=NOT_COMPARED):
    """A copy of Helm ``values`` with every leaf under the secret keys replaced (see replace_leaves)."""
    if not isinstance(values, dict):
        return values
    replaced = copy.deepcopy(values)
    compared = compare_to is not NOT_COMPARED
    earlier = compare_to if isinstance(compare_to, dict) else {}
    for key in SECRET_VALUE_KEYS:
        if key in replaced:
            replaced[key] = replace_leaves(replaced[key], replace, earlier.get(key) if compared else NOT_COMPARED)
    return replaced


def replace_secret_data(obj, replace, compare_to=NOT_COMPARED):
    """A copy of a Secret with every data/stringData value replaced; any other object is returned as is."""
    if not isinstance(obj, dict) or obj.get("kind") not in SECRET_KINDS:
        return obj
    replaced = copy.deepcopy(obj)
    compared = compare_to is not NOT_COMPARED
    earlier = compare_to if isinstance(compare_to, dict) else {}
    for field in SECRET_DATA_FIELDS:
        if isinstance(replaced.get(field), dict):
            replaced[field] = replace_leaves(replaced[field], replace, earlier.get(field) if compared else NOT_COMPARED)
    return replaced


# --- what the modules, module_utils and filters call ----------------------------------------

def mask_values(values, compare_to=None):
    """A copy of Helm values with every leaf under the secret keys masked.

    With ``compare_to`` (the values before a change), a leaf that differs is shown as changed.
    """
    return replace_secret_values(values, masked, NOT_COMPARED if compare_to is None else compare_to)


def mask_object(obj, compare_to=None):
    """A copy of a Kubernetes object with Secret data masked.

    With ``compare_to`` (the object before a change), a value that differs from it is
    shown as changed, so a diff still tells which keys will change without showing them.
    """
    return replace_secret_data(obj, masked, NOT_COMPARED if compare_to is None else compare_to)


def secret_strings(values):
    """Every non-empty string under the secret keys: the texts to scrub from free text."""
    found = []

    def collect(value, before):
        if value not in (None, "") and not isinstance(value, bool):
            found.append(str(value))
        return value

    replace_secret_values(values, collect)
    return found


def secret_forms(secret):
    """The ways a secret shows up in text: as it is, JSON-escaped (a multi-line secret in JSON or a
    double-quoted YAML string), and base64-encoded (a Secret's data)."""
    text = str(secret)
    return {text, json.dumps(text)[1:-1], base64.b64encode(text.encode("utf-8")).decode("ascii")}


def _scrubbed_forms(secrets):
    """Every form of every non-empty secret, longest first (so a secret inside another goes last)."""
    forms = set()
    for secret in secrets or []:
        if secret not in (None, ""):
            forms |= secret_forms(secret)
    return sorted(forms, key=len, reverse=True)


def _masked_forms(text, forms):
    for form in forms:
        text = text.replace(form, MASK)
    return text


def redact_text(text, secrets):
    """``text`` with every occurrence of each secret (in each of its forms) replaced by the mask."""
    if not text:
        return text
    return _masked_forms(text, _scrubbed_forms(secrets))


def redact_tree(tree, secrets):
    """A copy of a result (maps, lists, strings, numbers) with each secret masked in every string value.

    Walking the structure, rather than its JSON text, keeps numbers and the JSON itself intact
    whatever the secret is: a secret "1" or "\"" used to turn the result's JSON text into
    something json.loads refused or read wrong. A short secret still masks every place it occurs
    in a string. Keys stay as they are: they are the result's field names, which callers read.
    """
    forms = _scrubbed_forms(secrets)
    return replace_leaves(tree, lambda leaf, _before: _masked_forms(leaf, forms) if isinstance(leaf, str) else leaf)
