"""inferno.ops.config_export on the local cluster through the real ansible-playbook: clean files,
an index with digests, re-runs that change nothing, check mode, and secrets kept out."""

from __future__ import annotations

import base64
import hashlib
import subprocess

import pytest
import yaml

from .playbooks import KNOWN_SECRET, VENV_BIN, helm, module_task


@pytest.fixture
def release(local_cluster, namespace):
    installed = helm(local_cluster, namespace, "install", "inferno", "files/helm/inferno",
                     "-f", "files/helm/inferno/values-dev.yaml", "--set", f"secrets.OAUTH2_CLIENT_SECRET={KNOWN_SECRET}")
    assert installed.returncode == 0, installed.stderr
    upgraded = helm(local_cluster, namespace, "upgrade", "inferno", "files/helm/inferno", "-f",
                    "files/helm/inferno/values-dev.yaml", "--set", f"secrets.OAUTH2_CLIENT_SECRET={KNOWN_SECRET}",
                    "--set", "replicaCount=2")
    assert upgraded.returncode == 0, upgraded.stderr
    return namespace


def export(local_cluster, namespace, tmp_path, dest, check=False, **options):
    """Run one config_export task; return the run (for its output) and the registered result."""
    connection = {"kubeconfig": str(local_cluster.kubeconfig), "release_name": "inferno",
                  "release_namespace": namespace, "dest": str(dest)}
    return module_task("inferno.ops.config_export", {**connection, **options}, tmp_path, check=check)


def test_export_is_clean_indexed_repeatable_and_redacted(local_cluster, release, tmp_path):
    dest = tmp_path / "export"
    run, result = export(local_cluster, release, tmp_path, dest)
    assert result["changed"] is True and result["revision"] == 2
    assert result["counts"] == {"configmaps": 1, "secrets": 1, "revisions": 2}
    assert result["api_list_calls"] == 2
    files = sorted(str(path.relative_to(dest)) for path in dest.rglob("*") if path.is_file())
    per_revision = [f"helm/revision-{n}/{name}" for n in (1, 2)
                    for name in ("values.yaml", "values-computed.yaml", "manifest.yaml")]
    assert files == sorted(["index.yaml", "configmaps/inferno-config.yaml", "secrets/inferno-secrets.yaml",
                            "helm/history.yaml"] + per_revision)
    index = yaml.safe_load((dest / "index.yaml").read_text())
    assert (index["namespace"], index["release"], index["revision"]) == (release, "inferno", 2)
    for path, digest in index["files"].items():
        assert hashlib.sha256((dest / path).read_bytes()).hexdigest() == digest
    config_map = yaml.safe_load((dest / "configmaps/inferno-config.yaml").read_text())
    assert not {"uid", "resourceVersion", "managedFields", "creationTimestamp"} & set(config_map["metadata"])
    assert config_map["metadata"]["annotations"]["meta.helm.sh/release-name"] == "inferno"  # still Helm's
    live = local_cluster.kubectl_json("-n", release, "get", "configmap", "inferno-config")
    assert config_map["data"] == live["data"]
    secret = yaml.safe_load((dest / "secrets/inferno-secrets.yaml").read_text())
    assert secret["data"]["OAUTH2_CLIENT_SECRET"] == "redacted"
    assert oct((dest / "secrets/inferno-secrets.yaml").stat().st_mode & 0o777) == "0o600"
    assert yaml.safe_load((dest / "helm/revision-2/values.yaml").read_text())["replicaCount"] == 2
    # The known secret is nowhere: not in a file (plain or base64), not in the task output.
    encoded = base64.b64encode(KNOWN_SECRET.encode()).decode()
    for path in dest.rglob("*"):
        if path.is_file():
            assert KNOWN_SECRET not in path.read_text() and encoded not in path.read_text(), path
    assert KNOWN_SECRET not in run.output and encoded not in run.output

    exported_at = index["exported_at"]
    again = export(local_cluster, release, tmp_path, dest)[1]
    assert again["changed"] is False and again["written"] == []
    assert yaml.safe_load((dest / "index.yaml").read_text())["exported_at"] == exported_at


def test_check_mode_writes_nothing_and_include_secrets_keeps_them_private(local_cluster, release, tmp_path):
    dest = tmp_path / "export"
    preview = export(local_cluster, release, tmp_path, dest, check=True)[1]
    assert preview["changed"] is True and len(preview["written"]) == 9  # and the index
    assert not dest.exists()
    run, result = export(local_cluster, release, tmp_path, dest, include_secrets=True)
    assert result["changed"] is True
    secret = yaml.safe_load((dest / "secrets/inferno-secrets.yaml").read_text())
    assert base64.b64decode(secret["data"]["OAUTH2_CLIENT_SECRET"]).decode() == KNOWN_SECRET
    assert all(oct(path.stat().st_mode & 0o777) == "0o600" for path in dest.rglob("*.yaml") if path.name != "index.yaml")
    assert KNOWN_SECRET not in run.output


def test_include_secrets_can_be_encrypted_with_ansible_vault(local_cluster, release, tmp_path):
    dest, password = tmp_path / "export", tmp_path / "vault-password"
    password.write_text("correct horse battery staple\n")
    run, result = export(local_cluster, release, tmp_path, dest, include_secrets=True, vault_password_file=str(password))
    assert result["changed"] is True, result
    assert "secrets/inferno-secrets.yaml" in result["encrypted"]
    assert {path for path in result["encrypted"] if path.startswith("helm/")} == {
        f"helm/revision-{revision}/{name}" for revision in (1, 2)
        for name in ("values.yaml", "values-computed.yaml", "manifest.yaml")}
    encoded = base64.b64encode(KNOWN_SECRET.encode()).decode()
    for path in dest.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert KNOWN_SECRET not in text and encoded not in text, path
            relative = str(path.relative_to(dest))
            assert text.startswith("$ANSIBLE_VAULT;1.1;AES256\n") == (relative in result["encrypted"]), relative
    assert KNOWN_SECRET not in run.output and encoded not in run.output
    opened = subprocess.run([str(VENV_BIN / "ansible-vault"), "view", "--vault-password-file", str(password),
                             str(dest / "secrets/inferno-secrets.yaml")], capture_output=True, text=True, check=True)
    assert base64.b64decode(yaml.safe_load(opened.stdout)["data"]["OAUTH2_CLIENT_SECRET"]).decode() == KNOWN_SECRET
    index = yaml.safe_load((dest / "index.yaml").read_text())
    assert index["encrypted"] == result["encrypted"]
    # Issue 25, case 6: no digest of the vaulted plaintext, which a dictionary would read back.
    assert index["files"]["secrets/inferno-secrets.yaml"] == "not recorded: the file holds secret values"
    assert hashlib.sha256(opened.stdout.encode()).hexdigest() not in (dest / "index.yaml").read_text()

    before = {path: path.read_bytes() for path in dest.rglob("*.yaml")}
    again = export(local_cluster, release, tmp_path, dest, include_secrets=True, vault_password_file=str(password))[1]
    assert again["changed"] is False and again["written"] == [], again
    assert {path: path.read_bytes() for path in dest.rglob("*.yaml")} == before  # not even re-encrypted
    assert not list(dest.glob(".vault-*"))  # the private work folder is gone

    password.write_text("another password\n")
    wrong = export(local_cluster, release, tmp_path, dest, include_secrets=True, vault_password_file=str(password))[1]
    assert wrong["failed"] is True and "Use the vault password the export was encrypted with" in wrong["msg"]
    needless = export(local_cluster, release, tmp_path, tmp_path / "other", vault_password_file=str(password))[1]
    assert needless["failed"] is True and "exported only with include_secrets=true" in needless["msg"]


def test_export_takes_the_kubeconfig_as_a_dict(local_cluster, release, tmp_path):
    """Both the API part and the helm part of the export connect with an in-memory kubeconfig."""
    kubeconfig = yaml.safe_load(local_cluster.kubeconfig.read_text())
    result = module_task("inferno.ops.config_export", {"kubeconfig": kubeconfig, "release_name": "inferno",
                                                       "release_namespace": release, "dest": str(tmp_path / "export")},
                         tmp_path)[1]
    assert not result.get("failed"), result
    assert result["revision"] == 2 and "helm/revision-2/manifest.yaml" in result["files"]
