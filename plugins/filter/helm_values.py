# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that shape Helm values for the roles and keep secrets out of what they print."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.inferno.ops.plugins.module_utils.redaction import (
    mask_values,
    redact_text,
)

SET_VALUE_TYPES = ("raw", "string", "json", "file")


def helm_set_values(overrides):
    """Turn --set style overrides into kubernetes.core.helm's set_values list.

    Each item is either "path=value" (as after --set) or a dict with ``value`` and an
    optional ``value_type`` (raw, string, json, file).
    """
    if overrides in (None, ""):
        return []
    if not isinstance(overrides, (list, tuple)):
        raise AnsibleFilterError(
            "inferno_set_values must be a list such as ['image.tag=0.8.1'], got {0}".format(type(overrides).__name__)
        )
    normalized = []
    for item in overrides:
        if isinstance(item, dict):
            value = item.get("value")
            value_type = item.get("value_type", "raw")
        else:
            value, value_type = item, "raw"
        if not isinstance(value, str) or "=" not in value or value.startswith("="):
            raise AnsibleFilterError(
                "inferno_set_values: {0!r} is not a 'path=value' override; write it as after helm's --set, "
                "e.g. 'replicaCount=2' or 'image.tag=0.8.1'".format(to_text(value))
            )
        if value_type not in SET_VALUE_TYPES:
            raise AnsibleFilterError(
                "inferno_set_values: value_type {0!r} for {1!r} must be one of {2}".format(
                    value_type, value, ", ".join(SET_VALUE_TYPES)
                )
            )
        normalized.append({"value": value, "value_type": value_type})
    return normalized


def non_empty_secrets(secrets):
    """The secrets that have a value; empty ones stay out of the release."""
    if not secrets:
        return {}
    if not isinstance(secrets, dict):
        raise AnsibleFilterError("inferno_secrets must be a mapping of chart secret keys to values")
    return dict((key, value) for key, value in secrets.items() if value not in (None, ""))


def redact_secrets(text, secrets):
    """``text`` with every value of the ``secrets`` mapping masked."""
    values = (secrets or {}).values() if isinstance(secrets, dict) else (secrets or [])
    return redact_text(to_text(text), [to_text(value) for value in values if value not in (None, "")])


def mask_secret_values(values):
    """Helm values with the chart's secrets masked (for status summaries and exports)."""
    return mask_values(values)


class FilterModule(object):
    def filters(self):
        return {
            "helm_set_values": helm_set_values,
            "non_empty_secrets": non_empty_secrets,
            "redact_secrets": redact_secrets,
            "mask_secret_values": mask_secret_values,
        }
