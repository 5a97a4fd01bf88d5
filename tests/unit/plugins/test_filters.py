"""The roles' filters: --set overrides, secrets, and the status summary lines."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.inferno.ops.plugins.filter import helm_values, release_history


def test_set_values_accepts_strings_and_dicts():
    assert helm_values.helm_set_values(["image.tag=0.8.1", {"value": "a={}", "value_type": "json"}]) == [
        {"value": "image.tag=0.8.1", "value_type": "raw"}, {"value": "a={}", "value_type": "json"}]
    assert helm_values.helm_set_values(None) == []


@pytest.mark.parametrize("overrides, message", [
    ("replicaCount=2", "must be a list"),
    (["replicaCount"], "'replicaCount' is not a 'path=value' override"),
    (["=2"], "is not a 'path=value' override"),
    ([{"value": "a=1", "value_type": "yaml"}], "value_type 'yaml' for 'a=1' must be one of raw, string, json, file"),
])
def test_set_values_refuses_malformed_overrides(overrides, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(")):
        helm_values.helm_set_values(overrides)


def test_secrets_without_a_value_are_left_out_and_redacted_from_text():
    secrets = {"A": "s3cr3t", "B": "", "C": None}
    assert helm_values.non_empty_secrets(secrets) == {"A": "s3cr3t"}
    assert helm_values.redact_secrets("helm said s3cr3t", secrets) == "helm said ********"


def test_history_line():
    line = release_history.format_revision({"revision": 3, "status": "failed", "chart": "inferno-0.8.0",
                                            "updated": "2026-11-24T22:44:51.4Z", "description": "Upgrade failed"})
    assert line.split() == ["3", "failed", "inferno-0.8.0", "2026-11-24T22:44:51", "Upgrade", "failed"]


def test_backup_lines_are_no_filter_any_more():
    """backup_sets and newest_ready_backup moved into inferno.ops.backup_info (its lines and backup)."""
    assert release_history.FilterModule().filters() == {"format_revision": release_history.format_revision}
