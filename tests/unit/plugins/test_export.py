"""Pure logic of inferno.ops.config_export: kubectl-neat cleaning, redaction, the index."""

from __future__ import annotations

from ansible_collections.inferno.ops.plugins.module_utils import export

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


def test_redacted_secrets_keep_keys_and_tell_equal_values_apart_without_showing_them():
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"A": "c2VjcmV0", "B": "c2VjcmV0", "C": "b3RoZXI="}}
    redacted = export.redact_secret(secret)
    assert sorted(redacted["data"]) == ["A", "B", "C"]
    assert redacted["data"]["A"] == redacted["data"]["B"] != redacted["data"]["C"]
    assert "c2VjcmV0" not in str(redacted) and redacted["data"]["A"].startswith("sha256:")
    assert "include_secrets" in redacted["metadata"]["annotations"]["inferno.ops/redacted"]


def test_redacted_values_and_manifests():
    values = {"secrets": {"OAUTH2_CLIENT_SECRET": "hunter2", "EMPTY": ""}, "replicaCount": 2}
    assert export.redact_values(values) == {"secrets": {"OAUTH2_CLIENT_SECRET": export.digest("hunter2"), "EMPTY": ""},
                                            "replicaCount": 2}
    manifest = "---\nkind: Secret\nmetadata: {name: s}\nstringData: {K: hunter2}\n---\nkind: ConfigMap\nmetadata: {name: c}\n"
    redacted = export.redact_manifest(manifest)
    assert "hunter2" not in redacted and "kind: ConfigMap" in redacted


def test_index_lists_files_in_order_with_their_digests():
    index = export.index_document({"release": "inferno"}, {"b.yaml": "2", "a.yaml": "1"}, "2026-11-25T00:00:00Z")
    assert list(index["files"]) == ["a.yaml", "b.yaml"] and index["exported_at"] == "2026-11-25T00:00:00Z"
    assert export.sha256_text("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
