"""Pure logic of inferno.ops.config_export: kubectl-neat cleaning, redaction, the index.

Also the secret walker that redaction (masks) and export (the word 'redacted') share.
"""

from __future__ import annotations

import hashlib

import pytest

from ansible_collections.inferno.ops.plugins.module_utils import export, redaction
from ansible_collections.inferno.ops.plugins.module_utils.redaction import MASK, REDACTED

LIVE = {
    "apiVersion": "v1", "kind": "ConfigMap",
    "metadata": {"name": "c", "namespace": "ns", "uid": "u", "resourceVersion": "7", "generation": 1,
                 "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{}],
                 "labels": {"app.kubernetes.io/managed-by": "Helm"},
                 "annotations": {"meta.helm.sh/release-name": "inferno",
                                 "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
    "data": {"A": "1"}, "status": {"x": 1},
}


def test_clean_object_drops_what_the_server_owns_and_keeps_helm_ownership():
    cleaned = export.clean_object(LIVE)
    assert cleaned == {"apiVersion": "v1", "kind": "ConfigMap", "data": {"A": "1"},
                       "metadata": {"name": "c", "namespace": "ns", "labels": {"app.kubernetes.io/managed-by": "Helm"},
                                    "annotations": {"meta.helm.sh/release-name": "inferno"}}}
    assert "uid" in LIVE["metadata"]  # the input is not modified
    service = export.clean_object({"kind": "Service", "metadata": {"name": "s"},
                                   "spec": {"clusterIP": "10.0.0.1", "ports": []}})
    assert service["spec"] == {"ports": []}


def test_redacted_secrets_keep_keys_and_nothing_derived_from_their_values():
    """Issue 25, case 6: a redacted value was an unsalted SHA-256 cut to 16 hex characters, and a
    small dictionary read it back. Now no digest of any kind is kept."""
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"A": "c2VjcmV0", "B": "c2VjcmV0", "C": "b3RoZXI="}}
    redacted = export.redact_secret(secret)
    assert redacted["data"] == {"A": REDACTED, "B": REDACTED, "C": REDACTED}
    text = export.to_yaml(redacted)
    for value in ("c2VjcmV0", "b3RoZXI=", "other"):
        full = hashlib.sha256(value.encode()).hexdigest()
        assert value not in text and full[:8] not in text
    assert "include_secrets" in redacted["metadata"]["annotations"]["inferno.ops/redacted"]


def test_redacted_values_and_manifests():
    values = {"secrets": {"OAUTH2_CLIENT_SECRET": "hunter2", "EMPTY": ""}, "replicaCount": 2}
    assert export.redact_values(values) == {"secrets": {"OAUTH2_CLIENT_SECRET": REDACTED, "EMPTY": ""},
                                            "replicaCount": 2}
    manifest = "---\nkind: Secret\nmetadata: {name: s}\nstringData: {K: hunter2}\n---\nkind: ConfigMap\nmetadata: {name: c}\n"
    redacted = export.redact_manifest(manifest)
    assert "hunter2" not in redacted and "kind: ConfigMap" in redacted


def test_index_lists_files_in_order_with_their_digests():
    index = export.index_document({"release": "inferno"}, {"b.yaml": "2", "a.yaml": "1"}, "2026-11-25T00:00:00Z")
    assert list(index["files"]) == ["a.yaml", "b.yaml"] and index["exported_at"] == "2026-11-25T00:00:00Z"
    assert export.sha256_text("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# --- the one walker: nested secrets, masked and redacted alike --------------------------------

NESTED = {
    "secrets": {
        "TOP": "hunter2",
        "database": {"password": "s3cr3t", "port": 5432, "empty": "", "tls": {"key": "-----BEGIN KEY-----"}},
        "apiKeys": ["key-one", {"name": "ci", "token": "key-two"}],
        "enabled": True,
    },
    "config": {"password": "not-under-the-secret-key"},
}
NESTED_SECRETS = ["hunter2", "s3cr3t", "5432", "-----BEGIN KEY-----", "key-one", "ci", "key-two"]


def test_redaction_reaches_nested_maps_and_lists_and_keeps_their_shape():
    redacted = export.redact_values(NESTED)
    assert redacted == {
        "secrets": {
            "TOP": REDACTED,
            "database": {"password": REDACTED, "port": REDACTED, "empty": "",
                         "tls": {"key": REDACTED}},
            "apiKeys": [REDACTED, {"name": REDACTED, "token": REDACTED}],
            "enabled": REDACTED,
        },
        "config": {"password": "not-under-the-secret-key"},
    }
    assert NESTED["secrets"]["database"]["password"] == "s3cr3t"  # the input is not modified
    written = export.to_yaml(redacted)
    assert not [secret for secret in NESTED_SECRETS if secret in written]


def test_masks_and_redaction_walk_the_same_leaves():
    masked = redaction.mask_values(NESTED)
    digested = export.redact_values(NESTED)

    def leaves(tree, path=()):
        if isinstance(tree, dict):
            return [leaf for key in tree for leaf in leaves(tree[key], path + (key,))]
        if isinstance(tree, list):
            return [leaf for index, value in enumerate(tree) for leaf in leaves(value, path + (index,))]
        return [path]

    assert leaves(masked) == leaves(digested) == leaves(NESTED)
    assert masked["secrets"]["database"] == {"password": MASK, "port": MASK, "empty": "", "tls": {"key": MASK}}
    assert masked["secrets"]["apiKeys"] == [MASK, {"name": MASK, "token": MASK}]
    assert redaction.secret_strings(NESTED) == NESTED_SECRETS


def test_masked_comparison_marks_only_the_nested_leaves_that_changed():
    before = {"secrets": {"database": {"password": "old", "user": "app"}, "apiKeys": ["key-one", "key-two"]}}
    after = {"secrets": {"database": {"password": "new", "user": "app"}, "apiKeys": ["key-one", "key-three", "k4"]}}
    masked = redaction.mask_values(after, compare_to=before)["secrets"]
    changed = MASK + " (changed)"
    assert masked["database"] == {"password": changed, "user": MASK}
    assert masked["apiKeys"] == [MASK, changed, changed]  # compared by position; a new item is a change
    assert redaction.mask_values(after, compare_to={})["secrets"]["database"]["user"] == changed


@pytest.mark.parametrize("replace, expected", [
    (redaction.masked, {"A": MASK, "B": ""}),
    (redaction.redacted, {"A": REDACTED, "B": ""}),
])
def test_secret_objects_go_through_the_same_replacement(replace, expected):
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"A": "c2VjcmV0", "B": ""}, "type": "Opaque"}
    replaced = redaction.replace_secret_data(secret, replace)
    assert replaced["data"] == expected and replaced["type"] == "Opaque"
    assert secret["data"]["A"] == "c2VjcmV0"
    assert redaction.mask_object(secret)["data"] == {"A": MASK, "B": ""}
    assert export.redact_secret(secret)["data"] == {"A": REDACTED, "B": ""}


def test_objects_that_are_not_secrets_pass_through_redaction_untouched():
    config_map = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"A": "x"}}
    assert export.redact_secret(config_map) is config_map and "annotations" not in config_map["metadata"]
    assert export.redact_values("not a map") == "not a map"
