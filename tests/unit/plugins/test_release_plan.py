"""Pure logic of inferno.ops.helm_plan: merging values, comparing manifests, masking secrets."""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.inferno.ops.plugins.module_utils import release_plan
from ansible_collections.inferno.ops.plugins.module_utils.redaction import (
    MASK, mask_object, mask_values, redact_text, secret_strings)

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: inferno}
spec: {replicas: 1}
"""
SECRET = """
apiVersion: v1
kind: Secret
metadata: {name: inferno-secrets, namespace: prod}
stringData: {OAUTH2_CLIENT_SECRET: hunter2, EMPTY: ""}
"""


def test_coalesce_merges_maps_and_null_removes_a_key():
    defaults = {"a": {"b": 1, "c": 2}, "d": 3, "e": [1]}
    merged = release_plan.coalesce_values(defaults, {"a": {"c": 20}, "d": None, "e": [2]})
    assert merged == {"a": {"b": 1, "c": 20}, "e": [2]}
    assert defaults == {"a": {"b": 1, "c": 2}, "d": 3, "e": [1]}  # not modified


def test_split_manifest_keys_objects_by_kind_namespace_name():
    objects = release_plan.split_manifest("---\n# Source: x\n" + DEPLOYMENT + "---\n" + SECRET, "default")
    assert sorted(objects) == [("Deployment", "default", "inferno"), ("Secret", "prod", "inferno-secrets")]
    assert release_plan.split_manifest("", "default") == {}


@pytest.mark.parametrize("deployed, desired, expected", [
    ({"a": 1}, {"a": 1}, {"create": [], "update": [], "delete": [], "unchanged": ["a"]}),
    ({"a": 1}, {"a": 2}, {"create": [], "update": ["a"], "delete": [], "unchanged": []}),
    ({"a": 1}, {"b": 1}, {"create": ["b"], "update": [], "delete": ["a"], "unchanged": []}),
])
def test_compare_objects(deployed, desired, expected):
    assert release_plan.compare_objects(deployed, desired) == expected


CURRENT = {"status": "deployed", "chart": "inferno-0.8.0", "app_version": "0.8.0", "values": {"x": 1}}
DESIRED = {"chart": "inferno-0.8.0", "app_version": "0.8.0", "values": {"x": 1}}
NO_CHANGES = {"create": [], "update": [], "delete": [], "unchanged": [("Deployment", "ns", "inferno")]}


def test_no_reason_when_chart_values_and_objects_match():
    assert release_plan.change_reasons(CURRENT, DESIRED, NO_CHANGES) == []


@pytest.mark.parametrize("current, desired, changes, reason", [
    (None, DESIRED, NO_CHANGES, "the release is not installed yet"),
    ({**CURRENT, "status": "failed"}, DESIRED, NO_CHANGES, "the latest revision is 'failed', not 'deployed'"),
    (CURRENT, {**DESIRED, "chart": "inferno-0.9.0"}, NO_CHANGES, "the chart changes from inferno-0.8.0 to inferno-0.9.0"),
    (CURRENT, {**DESIRED, "values": {"x": 2}}, NO_CHANGES, "the user-supplied values differ"),
    (CURRENT, DESIRED, {**NO_CHANGES, "update": [("Deployment", "ns", "inferno")]},
     "1 object(s) would be changed: Deployment ns/inferno"),
])
def test_each_difference_is_a_reason(current, desired, changes, reason):
    assert reason in release_plan.change_reasons(current, desired, changes)


def test_diffs_mask_secret_data_and_mark_changed_keys():
    before = release_plan.split_manifest(SECRET, "prod")
    after = release_plan.split_manifest(SECRET.replace("hunter2", "correct-horse"), "prod")
    changes = release_plan.compare_objects(before, after)
    current = {**CURRENT, "values": {"secrets": {"OAUTH2_CLIENT_SECRET": "hunter2"}}}
    desired = {**DESIRED, "values": {"secrets": {"OAUTH2_CLIENT_SECRET": "correct-horse"}}}
    diffs = release_plan.build_diffs(current, desired, before, after, changes)
    text = repr(diffs)
    assert "hunter2" not in text and "correct-horse" not in text
    assert [d["before_header"] for d in diffs] == ["user-supplied values (deployed)",
                                                   "Secret prod/inferno-secrets (deployed)"]
    assert "OAUTH2_CLIENT_SECRET: '********'" in diffs[1]["before"]
    assert "OAUTH2_CLIENT_SECRET: '******** (changed)'" in diffs[1]["after"]
    assert "EMPTY: ''" in diffs[1]["after"]  # an empty value reveals nothing and stays visible


def test_masked_manifest_hides_secret_values():
    objects = release_plan.split_manifest(DEPLOYMENT + "---\n" + SECRET, "prod")
    manifest = release_plan.masked_manifest(objects)
    assert "hunter2" not in manifest and MASK in manifest and "replicas: 1" in manifest


def test_mask_values_only_touches_the_secret_keys():
    values = {"secrets": {"A": "x", "B": ""}, "config": {"A": "x"}}
    assert mask_values(values) == {"secrets": {"A": MASK, "B": ""}, "config": {"A": "x"}}
    assert mask_values(values, compare_to={"secrets": {"A": "y"}})["secrets"]["A"] == MASK + " (changed)"


def test_mask_object_leaves_other_kinds_alone():
    config_map = {"kind": "ConfigMap", "data": {"A": "x"}}
    assert mask_object(config_map) is config_map


def test_redact_text_replaces_longest_secret_first():
    assert redact_text("token abc and abcdef", ["abc", "abcdef"]) == f"token {MASK} and {MASK}"
    assert secret_strings({"secrets": {"A": "x", "B": "", "C": True}, "other": "y"}) == ["x"]


def test_the_revision_marker_is_left_out_of_plans():
    marker = release_plan.revision_marker(4)
    assert marker == {"global": {"infernoOps": {"revision": 4}}}
    deployed = release_plan.coalesce_values({"replicaCount": 2, "global": {"infernoOps": {"chartDigest": "sha256:x"}}},
                                            marker)
    assert release_plan.without_revision_marker(deployed) == {
        "replicaCount": 2, "global": {"infernoOps": {"chartDigest": "sha256:x"}}}
    # Maps the marker alone filled go with it; values without a marker are returned as they are.
    assert release_plan.without_revision_marker(marker) == {}
    assert release_plan.without_revision_marker({"global": {"other": 1}}) == {"global": {"other": 1}}
    assert release_plan.without_revision_marker(None) == {}


def test_redact_text_finds_a_secret_escaped_or_base64_encoded():
    """Issue 25, case 10: a multi-line secret JSON-escaped in an error, or base64-encoded in a
    Secret's data, went through unmasked."""
    key = "-----BEGIN KEY-----\nMIIB\n-----END KEY-----"
    text = 'helm said: {"tls.key": ' + json.dumps(key) + '} and data: ' + base64.b64encode(b"hunter22").decode()
    redacted = redact_text(text, [key, "hunter22"])
    assert "MIIB" not in redacted and base64.b64encode(b"hunter22").decode() not in redacted
    assert redacted == 'helm said: {"tls.key": "' + MASK + '"} and data: ' + MASK
