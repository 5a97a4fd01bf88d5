"""inferno.ops.config_export's main() with the Kubernetes API and helm mocked.

The API client's list calls (CoreV1Api.list_namespaced_config_map / _secret) and
kubernetes.core's helm runner (AnsibleHelmModule.run_helm_command) are patched; everything
else, argument parsing, redaction and the files written, is the module's own code. The
run against a real cluster is in tests/integration/test_config_export.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import types

import pytest
import yaml
from ansible_collections.kubernetes.core.plugins.module_utils.helm import AnsibleHelmModule
from kubernetes import client

from ansible_collections.inferno.ops.plugins.module_utils import backup_archive as archive
from ansible_collections.inferno.ops.plugins.modules import config_export

HELM = "/opt/helm/bin/helm"
NAMESPACE = "inferno-prod"
SECRET = "s3cr3t-oauth2-unit"
NESTED_SECRET = "nested-db-password-unit"
ENCODED = base64.b64encode(SECRET.encode()).decode()
VALUES = {"replicaCount": 2, "secrets": {"OAUTH2_CLIENT_SECRET": SECRET, "database": {"password": NESTED_SECRET}}}
MANIFEST = f"""---
apiVersion: v1
kind: Secret
metadata: {{name: inferno-secrets}}
data: {{OAUTH2_CLIENT_SECRET: {ENCODED}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: inferno-config}}
data: {{RUST_LOG: info}}
"""
HISTORY = [
    {"revision": 1, "status": "superseded", "chart": "inferno-0.1.0", "app_version": "0.10.3",
     "updated": "2026-11-26T10:00:00Z", "description": "Install complete"},
    {"revision": 2, "status": "deployed", "chart": "inferno-0.1.0", "app_version": "0.10.3",
     "updated": "2026-11-27T10:00:00Z", "description": "Upgrade complete"},
]


def metadata(name, **labels):
    return client.V1ObjectMeta(name=name, namespace=NAMESPACE, uid=f"uid-{name}", resource_version="42",
                               labels={"app.kubernetes.io/instance": "inferno", **labels},
                               annotations={"meta.helm.sh/release-name": "inferno"})


def served(page):
    """The raw response the module reads (it asks for _preload_content=False): the page as JSON."""
    return types.SimpleNamespace(data=json.dumps(client.ApiClient().sanitize_for_serialization(page)).encode())


class Cluster:
    """The API's list calls and helm's answers, recording what was asked."""

    def __init__(self, history=None, helm_error=None):
        self.history = HISTORY if history is None else history
        self.helm_error = helm_error
        self.helm_calls = []
        self.list_calls = []
        # Two pages of ConfigMaps, to show the continue token is followed.
        self.config_map_pages = [
            client.V1ConfigMapList(items=[client.V1ConfigMap(metadata=metadata("inferno-config"),
                                                             data={"RUST_LOG": "info"})],
                                   metadata=client.V1ListMeta(_continue="page-2")),
            client.V1ConfigMapList(items=[client.V1ConfigMap(metadata=metadata("inferno-extra"), data={"A": "1"})],
                                   metadata=client.V1ListMeta()),
        ]
        self.secrets = client.V1SecretList(
            items=[client.V1Secret(metadata=metadata("inferno-secrets"), type="Opaque",
                                   data={"OAUTH2_CLIENT_SECRET": ENCODED})],
            metadata=client.V1ListMeta())

    def list_config_maps(self, namespace, **kwargs):
        self.list_calls.append(("configmaps", namespace, kwargs))
        return served(self.config_map_pages[0 if kwargs.get("_continue") is None else 1])

    def list_secrets(self, namespace, **kwargs):
        self.list_calls.append(("secrets", namespace, kwargs))
        return served(self.secrets)

    def run_helm_command(self, command, fails_on_error=True, data=None):
        self.helm_calls.append(list(command))
        if self.helm_error:
            return 1, "", self.helm_error
        verb = command[1:3]
        if verb[0] == "history":
            return (0, json.dumps(self.history), "") if self.history else (1, "", "Error: release: not found")
        if verb == ["get", "values"]:
            computed = dict(VALUES, image={"tag": "0.10.3"}) if "--all" in command else VALUES
            return 0, json.dumps(computed), ""
        if verb == ["get", "manifest"]:
            return 0, MANIFEST, ""
        raise AssertionError(f"unexpected helm command {command}")


@pytest.fixture
def cluster(monkeypatch):
    fake = Cluster()
    # Bound methods set on the class stay bound to `fake`: they do not receive the API object.
    monkeypatch.setattr(client.CoreV1Api, "list_namespaced_config_map", fake.list_config_maps)
    monkeypatch.setattr(client.CoreV1Api, "list_namespaced_secret", fake.list_secrets)
    monkeypatch.setattr(AnsibleHelmModule, "run_helm_command", fake.run_helm_command)
    configuration = client.Configuration()
    configuration.host = "https://cluster.test:6443"
    monkeypatch.setattr(config_export, "api_client", lambda module: client.ApiClient(configuration))
    return fake


def module_args(dest, options):
    return {"release_name": "inferno", "release_namespace": NAMESPACE, "dest": str(dest), "binary_path": HELM,
            **options}


@pytest.fixture
def run(run_module):
    """The module's result for an export to ``dest``; the test fails if the module does."""
    def run_export(dest, check=False, diff=False, **options):
        return run_module(config_export.main, module_args(dest, options), check_mode=check, diff=diff)

    return run_export


@pytest.fixture
def fail(fail_module):
    """The result of an export to ``dest`` that must fail, msg included."""
    return lambda dest, **options: fail_module(config_export.main, module_args(dest, options))


def written_files(dest):
    return {str(path.relative_to(dest)): path for path in sorted(dest.rglob("*")) if path.is_file()}


def helm_argv(*args):
    return [HELM, *args, "--namespace", NAMESPACE]


def test_helm_reads_history_then_values_and_manifest_of_the_current_and_previous_revision(run, cluster, tmp_path):
    result = run(tmp_path / "export")
    assert not result.get("failed"), result
    assert cluster.helm_calls == [helm_argv("history", "inferno", "--max", "256", "--output", "json")] + [
        argv
        for revision in ("1", "2")
        for argv in (helm_argv("get", "values", "inferno", "--revision", revision, "--output", "json"),
                     helm_argv("get", "values", "inferno", "--revision", revision, "--all", "--output", "json"),
                     helm_argv("get", "manifest", "inferno", "--revision", revision))
    ]
    assert result["revision"] == 2
    assert result["counts"] == {"configmaps": 2, "secrets": 1, "revisions": 2}


@pytest.mark.parametrize("label_selectors, selector", [
    ([], "app.kubernetes.io/instance=inferno"),
    (["app=inferno", "tier=api"], "app=inferno,tier=api"),
])
def test_the_api_is_listed_by_label_page_by_page(run, cluster, tmp_path, label_selectors, selector):
    result = run(tmp_path / "export", label_selectors=label_selectors)
    asked = {"label_selector": selector, "limit": config_export.PAGE, "_preload_content": False}
    assert cluster.list_calls == [
        ("configmaps", NAMESPACE, {**asked, "_continue": None}),
        ("configmaps", NAMESPACE, {**asked, "_continue": "page-2"}),
        ("secrets", NAMESPACE, {**asked, "_continue": None}),
    ]
    assert result["api_list_calls"] == 3


def test_check_mode_reports_the_files_and_writes_nothing(run, cluster, tmp_path):
    dest = tmp_path / "export"
    result = run(dest, check=True, diff=True)
    assert result["changed"] is True
    assert "index.yaml" not in result["written"] and "helm/revision-2/manifest.yaml" in result["written"]
    assert result["diff"]["before"] == "" and "secrets/inferno-secrets.yaml " in result["diff"]["after"]
    assert SECRET not in json.dumps(result)
    assert not dest.exists()


def test_secret_values_are_redacted_by_default_everywhere_they_are_written(run, cluster, tmp_path):
    dest = tmp_path / "export"
    result = run(dest)
    files = written_files(dest)
    assert set(result["written"]) | {"index.yaml"} == set(files)
    leaks = [name for name, path in files.items() for text in (SECRET, ENCODED, NESTED_SECRET)
             if text in path.read_text()]
    assert leaks == []
    assert SECRET not in json.dumps(result) and ENCODED not in json.dumps(result)
    values = yaml.safe_load(files["helm/revision-2/values.yaml"].read_text())
    assert values["secrets"]["database"]["password"] == "redacted"  # nested values too
    secret = yaml.safe_load(files["secrets/inferno-secrets.yaml"].read_text())
    assert secret["data"]["OAUTH2_CLIENT_SECRET"] == "redacted"
    assert "uid" not in secret["metadata"] and secret["kind"] == "Secret"
    assert oct(files["configmaps/inferno-config.yaml"].stat().st_mode & 0o777) == "0o644"
    # The index names the Secrets a restore must leave out: the restore role reads it.
    assert result["redacted"] == ["secrets/inferno-secrets.yaml"]
    assert yaml.safe_load(files["index.yaml"].read_text())["redacted"] == ["secrets/inferno-secrets.yaml"]


def test_include_secrets_writes_the_real_values_in_private_files(run, cluster, tmp_path):
    dest = tmp_path / "export"
    result = run(dest, include_secrets=True)
    files = written_files(dest)
    assert result["redacted"] == [] and yaml.safe_load(files["index.yaml"].read_text())["redacted"] == []
    assert NESTED_SECRET in files["helm/revision-2/values.yaml"].read_text()
    assert ENCODED in files["secrets/inferno-secrets.yaml"].read_text()
    assert all(oct(path.stat().st_mode & 0o777) == "0o600" for name, path in files.items() if name != "index.yaml")
    # Issue 25, case 6: the index (0644, uploaded) held an unsalted SHA-256 of each secret file.
    index = yaml.safe_load(files["index.yaml"].read_text())
    secret_files = ["helm/revision-1/manifest.yaml", "helm/revision-1/values-computed.yaml",
                    "helm/revision-1/values.yaml", "helm/revision-2/manifest.yaml",
                    "helm/revision-2/values-computed.yaml", "helm/revision-2/values.yaml", "secrets/inferno-secrets.yaml"]
    assert sorted(name for name, digest in index["files"].items()
                  if digest == "not recorded: the file holds secret values") == secret_files
    assert result["files"] == index["files"]
    for name in secret_files:
        assert hashlib.sha256(files[name].read_bytes()).hexdigest() not in files["index.yaml"].read_text()


def test_an_unchanged_export_is_not_rewritten(run, cluster, tmp_path):
    dest = tmp_path / "export"
    first = run(dest)
    before = {name: (path.stat().st_mtime_ns, path.stat().st_ino) for name, path in written_files(dest).items()}
    index = (dest / "index.yaml").read_text()
    second = run(dest)
    assert first["changed"] is True and second["changed"] is False
    assert second["written"] == [] and second["files"] == first["files"]
    assert {name: (path.stat().st_mtime_ns, path.stat().st_ino) for name, path in written_files(dest).items()} == before
    assert (dest / "index.yaml").read_text() == index


def test_a_crafted_index_cannot_make_the_export_delete_outside_its_folder(run, cluster, tmp_path):
    """Issue 25, case 5: an index.yaml from a bucket listed ../../ paths, and the export deleted them."""
    dest = tmp_path / "backups" / "b1" / "config"
    run(dest)
    victims = [tmp_path / "victim.txt", tmp_path / "backups" / "b1" / "snapshots.yaml"]
    for victim in victims:
        victim.write_text("keep me\n")
    (dest / "configmaps" / "gone.yaml").write_text("kind: ConfigMap\n")
    (dest / "secrets" / "linked.yaml").symlink_to(victims[0])
    index = yaml.safe_load((dest / "index.yaml").read_text())
    index["files"].update({"../../../victim.txt": "0" * 64, "../snapshots.yaml": "0" * 64, str(victims[0]): "0" * 64,
                           "configmaps/gone.yaml": "0" * 64, "secrets/linked.yaml": "0" * 64})
    (dest / "index.yaml").write_text(yaml.safe_dump(index))
    result = run(dest)
    assert result["removed"] == ["configmaps/gone.yaml"]
    assert all(victim.read_text() == "keep me\n" for victim in victims)
    assert not (dest / "configmaps" / "gone.yaml").exists()


def test_a_changed_object_rewrites_only_its_file(run, cluster, tmp_path):
    dest = tmp_path / "export"
    run(dest)
    cluster.config_map_pages[1].items[0].data = {"A": "2"}
    result = run(dest)
    assert result["changed"] is True and result["written"] == ["configmaps/inferno-extra.yaml"]


@pytest.mark.parametrize("history, helm_error, message", [
    ([], None, "Release 'inferno' is not installed in namespace 'inferno-prod'"),
    (None, "Error: Kubernetes cluster unreachable", "Kubernetes cluster unreachable"),
])
def test_helm_failures_are_reported_and_nothing_is_written(fail, cluster, tmp_path, history, helm_error, message):
    cluster.history = HISTORY if history is None else history
    cluster.helm_error = helm_error
    dest = tmp_path / "export"
    assert message in fail(dest)["msg"]
    assert not dest.exists()


@pytest.mark.parametrize("options, message", [
    ({"vault_password_file": "/dev/null"}, "exported only with include_secrets=true"),
    ({"include_secrets": True, "vault_id": "prod"}, "give vault_password_file too"),
])
def test_vault_options_are_checked_before_anything_is_read(fail, cluster, tmp_path, options, message):
    assert message in fail(tmp_path / "export", **options)["msg"]
    assert cluster.helm_calls == [] and cluster.list_calls == []


def test_release_name_and_dest_are_required(fail_module, cluster, tmp_path):
    message = fail_module(config_export.main, {"release_namespace": NAMESPACE})["msg"]
    assert "missing required arguments" in message
    assert "dest" in message and "release_name" in message
    assert os.listdir(tmp_path) == []


def test_vault_plaintext_is_staged_outside_the_folder_that_is_uploaded(run, cluster, tmp_path, monkeypatch):
    """Issue 25, case 7: config_export staged the plaintext in dest/.vault-*, which a SIGKILL left
    behind and the next upload put into backup.tar. Now it is staged in the module's private
    temporary folder; a leftover .vault-* folder in dest is removed, and never uploaded."""
    dest = tmp_path / "backups" / "b1" / "config"
    leftover = dest / ".vault-killed"
    leftover.mkdir(parents=True)
    (leftover / "0").write_text(ENCODED)
    staged = []

    def fake_vault(self, action, paths):
        for path in paths:
            staged.append((path, oct(os.stat(os.path.dirname(path)).st_mode & 0o777)))
            with open(path) as handle:
                text = handle.read()
            sealed = config_export.VAULT_HEADER + text[::-1] if action == "encrypt" else \
                text[len(config_export.VAULT_HEADER):][::-1]
            with open(path, "w") as handle:
                handle.write(sealed)

    monkeypatch.setattr(config_export.Exporter, "vault", fake_vault)
    password = tmp_path / "password"
    password.write_text("p\n")
    result = run(dest, include_secrets=True, vault_password_file=str(password))
    assert result["encrypted"] and staged
    assert not [path for path, _mode in staged if os.path.realpath(path).startswith(str(tmp_path))]
    assert {mode for _path, mode in staged} == {"0o700"}
    assert not leftover.exists()
    assert not [path for path in dest.rglob("*") if path.is_file() and ENCODED in path.read_text()]
    assert archive.folder_files(str(tmp_path / "backups" / "b1")) == sorted(
        ["config/" + name for name in result["files"]] + ["config/index.yaml"])


def test_staging_leftovers_are_never_uploaded(tmp_path):
    folder = tmp_path / "b1"
    for name in ("config/.vault-x/0", "config/index.yaml", ".incoming-y/a", "snapshots.yaml", ".replaced-z/old/b"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")
    assert archive.folder_files(str(folder)) == ["config/index.yaml", "snapshots.yaml"]
