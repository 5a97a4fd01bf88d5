"""The deploy, upgrade, rollback, status, template and uninstall playbooks on the local cluster,
run with the real ansible-playbook from the repository root, with helm 3 and helm 4."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from .kube import delete_namespace, forget_backups
from .playbooks import (HELM4, KNOWN_SECRET, ON_SIMULATED_NODES, REPO, VENV_BIN, ansible_playbook, deployed_manifest,
                        extra_vars, history)

HELMS = [pytest.param(None, id="helm3"),
         pytest.param(str(HELM4), id="helm4", marks=pytest.mark.skipif(not HELM4.exists(), reason="make setup installs helm 4"))]


def fresh_namespace(request, prefix: str) -> str:
    """A namespace name no test has used; the playbook creates it."""
    return f"{prefix}-{hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8]}"


def replicas(manifest: list[dict]) -> int:
    return next(doc for doc in manifest if doc["kind"] == "Deployment")["spec"]["replicas"]


@pytest.fixture
def playbook_namespace(local_cluster, request):
    name = fresh_namespace(request, "pb")
    yield name
    core = client.CoreV1Api(local_cluster.api)
    try:
        core.delete_namespace(name)
    except client.ApiException as error:
        if error.status != 404:
            raise
    forget_backups(local_cluster, name)


@pytest.mark.parametrize("helm_binary", HELMS)
def test_release_lifecycle(local_cluster, playbook_namespace, helm_binary, tmp_path):
    """Install, no-op rerun, check/diff, upgrade, failed upgrade, rollback to N, status, uninstall."""
    ns = playbook_namespace
    common = ["-i", "inventories/dev", *ON_SIMULATED_NODES, "-e", f"inferno_namespace={ns}"]
    if helm_binary:
        common += ["-e", f"inferno_helm_binary={helm_binary}"]

    def run(playbook: str, *args: str, env: dict | None = None):
        return ansible_playbook(playbook, *common, *args, kubeconfig=local_cluster.kubeconfig, env=env)

    first = run("deploy.yml")
    assert first.returncode == 0, first.output
    assert [(r["revision"], r["status"]) for r in history(local_cluster, ns)] == [(1, "deployed")]
    labels = client.CoreV1Api(local_cluster.api).read_namespace(ns).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"  # the dev inventory's choice
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"

    rerun = run("deploy.yml")
    assert rerun.returncode == 0, rerun.output
    assert rerun.changed() == 0, rerun.output

    # --check --diff after a values change: shows it, changes nothing, masks the secret.
    checked = run("deploy.yml", "--check", "--diff", *extra_vars(inferno_values={"replicaCount": 2}),
                  env={"OAUTH2_CLIENT_SECRET": KNOWN_SECRET + "-rotated"})
    assert checked.returncode == 0, checked.output
    assert "-  replicas: 1\n+  replicas: 2" in checked.output
    assert "+  OAUTH2_CLIENT_SECRET: '******** (changed)'" in checked.output
    assert "] waiting for " not in checked.output  # check mode runs helm once, without progress lines
    assert len(history(local_cluster, ns)) == 1
    assert replicas(deployed_manifest(local_cluster, ns)) == 1

    upgraded = run("deploy.yml", *extra_vars(inferno_values={"replicaCount": 2}))
    assert upgraded.returncode == 0, upgraded.output
    assert [r["revision"] for r in history(local_cluster, ns)] == [1, 2]

    # A value the schema accepts but the API server rejects: preflight's dry run on the API
    # server refuses it before anything changes, naming the object and the value.
    bad_annotation = extra_vars(inferno_values={"replicaCount": 2, "podAnnotations": {"bad key!": "x"}})
    refused_early = run("deploy.yml", *bad_annotation)
    assert refused_early.returncode != 0
    assert "The API server refuses 1 rendered object(s), so nothing was changed" in refused_early.output
    assert "Deployment " + ns + "/inferno" in refused_early.output and "bad key!" in refused_early.output
    assert "PLAY [Deploy to one cluster at a time" not in refused_early.output
    assert [r["revision"] for r in history(local_cluster, ns)] == [1, 2]

    # Without the dry run (inferno_server_dry_run=false), helm applies it, fails, and rolls back by itself.
    rejected = run("deploy.yml", *bad_annotation, "-e", "inferno_server_dry_run=false")
    assert rejected.returncode != 0
    assert "It was rolled back automatically: the release is at revision 4 (Rollback to 2)" in rejected.output
    assert "Invalid value: \"bad key!\"" in rejected.output
    revisions = history(local_cluster, ns)
    assert [(r["revision"], r["status"]) for r in revisions][-2:] == [(3, "failed"), (4, "deployed")]
    assert deployed_manifest(local_cluster, ns) == deployed_manifest(local_cluster, ns, revision=2)

    rolled_back = run("playbooks/rollback.yml", "-e", "inferno_lifecycle_rollback_revision=1")
    assert rolled_back.returncode == 0, rolled_back.output
    latest = history(local_cluster, ns)[-1]
    assert (latest["revision"], latest["status"], latest["description"]) == (5, "deployed", "Rollback to 1")
    assert replicas(deployed_manifest(local_cluster, ns)) == 1

    # Rolling back to what already runs changes nothing; check mode shows a rollback's diff.
    again = run("playbooks/rollback.yml", "-e", "inferno_lifecycle_rollback_revision=1")
    assert again.returncode == 0 and again.changed() == 0, again.output
    assert "already runs what revision 1 ran; nothing to roll back" in " ".join(again.output.split())
    preview = run("playbooks/rollback.yml", "--check", "--diff", "-e", "inferno_lifecycle_rollback_revision=2")
    assert preview.returncode == 0, preview.output
    assert "-  replicas: 1\n+  replicas: 2" in preview.output
    missing = run("playbooks/rollback.yml", "-e", "inferno_lifecycle_rollback_revision=99")
    assert missing.returncode != 0
    assert "Revision 99 is not in the history of inferno (kept revisions: 1, 2, 3, 4, 5;" in " ".join(missing.output.split())
    assert len(history(local_cluster, ns)) == 5

    rendered = tmp_path / "rendered.yaml"
    template = run("playbooks/template.yml", *extra_vars(inferno_values={"replicaCount": 3},
                                                         inferno_template_dest=str(rendered)))
    assert template.returncode == 0, template.output
    assert "-  replicas: 1\n+  replicas: 3" in template.output
    assert "replicas: 3" in rendered.read_text() and oct(rendered.stat().st_mode & 0o777) == "0o600"
    assert KNOWN_SECRET not in rendered.read_text() and "OAUTH2_CLIENT_SECRET: '********'" in rendered.read_text()
    assert len(history(local_cluster, ns)) == 5

    status = run("playbooks/status.yml")
    assert status.returncode == 0, status.output
    for line in (r"1\s+superseded\s+inferno-0\.8\.0 .* Install complete", r"3\s+failed .* Upgrade \"inferno\" failed",
                 r"5\s+deployed\s+inferno-0\.8\.0 .* Rollback to 1", r"Deployment inferno: 1/1 ready",
                 r"PersistentVolumeClaim inferno-models-pvc: Bound 20Gi class standard", r"health: healthy"):
        assert re.search(line, status.output), (line, status.output)
    assert "OAUTH2_CLIENT_SECRET: '********'" in status.output

    would = run("playbooks/uninstall.yml", "--check", "-e", "inferno_lifecycle_uninstall_confirm=inferno")
    assert would.returncode == 0 and "Would uninstall release inferno (revision 5" in " ".join(would.output.split())
    assert history(local_cluster, ns)

    refused = run("playbooks/uninstall.yml")
    assert refused.returncode != 0
    assert "-e inferno_lifecycle_uninstall_confirm=inferno" in refused.output
    assert history(local_cluster, ns)

    uninstalled = run("playbooks/uninstall.yml", "-e", "inferno_lifecycle_uninstall_confirm=inferno")
    assert uninstalled.returncode == 0, uninstalled.output
    assert history(local_cluster, ns) == []
    claims = client.CoreV1Api(local_cluster.api).list_namespaced_persistent_volume_claim(ns).items
    assert sorted(c.metadata.name for c in claims) == ["inferno-cache-pvc", "inferno-models-pvc", "inferno-queue-pvc"]

    for run_ in (first, rerun, checked, upgraded, refused_early, rejected, rolled_back, again, preview, template,
                 status, would, refused, uninstalled):
        assert KNOWN_SECRET not in run_.output


def test_several_clusters_roll_one_at_a_time_and_stop_at_the_first_failure(local_cluster, tmp_path, request):
    """An inventory with three 'clusters' (here three namespaces of one cluster): the second
    fails at deploy time, so the first is deployed and the third is never touched."""
    inventory = tmp_path / "inventory"
    shutil.copytree(REPO / "inventories" / "dev", inventory)
    names = {host: fresh_namespace(request, host) for host in ("first", "second", "third")}
    hosts = {host: {"inferno_kubeconfig": str(local_cluster.kubeconfig), "inferno_context": "inferno-local",
                    "inferno_namespace": namespace} for host, namespace in names.items()}
    # Valid for the chart's schema, refused by the API server. Preflight's dry run would refuse it
    # before any change; without the dry run only the install finds out.
    hosts["second"]["inferno_values"] = {"podAnnotations": {"bad key!": "x"}}
    hosts["second"]["inferno_server_dry_run"] = False
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    try:
        run = ansible_playbook("deploy.yml", "-i", str(inventory))
        assert run.returncode != 0
        recap = run.recap()
        assert recap["first"]["failed"] == 0 and recap["second"]["failed"] == 1
        assert "PLAY [Deploy to one cluster at a time" in run.output
        assert [r["status"] for r in history(local_cluster, names["first"])] == ["deployed"]
        assert history(local_cluster, names["second"]) == []  # the failed install was removed (atomic)
        assert "The failed install was removed (atomic)" in run.output
        assert history(local_cluster, names["third"]) == []
        core = client.CoreV1Api(local_cluster.api)
        assert names["third"] not in [item.metadata.name for item in core.list_namespace().items]
    finally:
        core = client.CoreV1Api(local_cluster.api)
        for namespace in names.values():
            try:
                core.delete_namespace(namespace)
            except client.ApiException as error:
                if error.status != 404:
                    raise
            forget_backups(local_cluster, namespace)


def test_secrets_from_ansible_vault_reach_the_release_and_no_output(local_cluster, tmp_path, request):
    """The prod way: an encrypted group_vars file beside the inventory, a vault password file."""
    inventory = tmp_path / "inventory"
    shutil.copytree(REPO / "inventories" / "dev", inventory)
    password = tmp_path / "vault-password"
    password.write_text("correct horse battery staple\n")
    vault_secret = "vault-only-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    plain = inventory / "group_vars" / "all" / "vault.yml"
    plain.write_text(yaml.safe_dump({"vault_inferno_oauth2_client_secret": vault_secret}))
    encrypted = subprocess.run([str(VENV_BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(password),
                                str(plain)], capture_output=True, text=True, check=False)
    assert encrypted.returncode == 0, encrypted.stderr
    assert vault_secret not in plain.read_text()
    namespace = fresh_namespace(request, "vault")
    try:
        run = ansible_playbook("deploy.yml", "-i", str(inventory), *ON_SIMULATED_NODES, "--vault-password-file",
                               str(password), "--diff", "-v", "-e", f"inferno_namespace={namespace}",
                               kubeconfig=local_cluster.kubeconfig)
        assert run.returncode == 0, run.output
        assert vault_secret not in run.output and KNOWN_SECRET not in run.output
        secret = client.CoreV1Api(local_cluster.api).read_namespaced_secret("inferno-secrets", namespace)
        assert base64.b64decode(secret.data["OAUTH2_CLIENT_SECRET"]).decode() == vault_secret
    finally:
        delete_namespace(local_cluster, namespace)


def files_holding(text: str) -> list[str]:
    """Every regular file where a module's temporary file would be, whose bytes hold ``text``: directly
    in the temporary folder (/tmp), and anywhere under Ansible's and the deploy role's folders there
    and in ~/.ansible/tmp. (Not all of /tmp: the clusters' etcd holds the release's Secret.)"""
    shared = Path(tempfile.gettempdir())
    candidates = [path for path in shared.iterdir() if path.is_file()]
    for root in [*shared.glob("ansible*"), *shared.glob("inferno-deploy-*"), Path.home() / ".ansible" / "tmp"]:
        candidates += list(root.rglob("*")) if root.is_dir() else []
    found = []
    for path in candidates:
        try:
            if path.is_file() and not path.is_symlink() and text.encode() in path.read_bytes():
                found.append(str(path))
        except OSError:
            continue  # gone meanwhile, or a socket
    return found


def test_a_helm_job_killed_mid_upgrade_leaves_no_secret_on_disk(local_cluster, playbook_namespace):
    """Issue 25, case 7: kubernetes.core.helm writes the release's values, secrets included, to a
    file in /tmp and removes it when it ends. SIGKILLed while helm waits, it could not: the file
    stayed. Now its TMPDIR is a private folder that the role removes."""
    secret = "killed-" + secrets.token_hex(8)  # new each run: no file of an earlier run holds it
    # Pods that can never be scheduled, so helm is still waiting when its job is killed.
    values = {"nodeSelector": {"inferno.ops/no-such-node": "true"}}
    arguments = ["deploy.yml", "-i", "inventories/dev", *ON_SIMULATED_NODES, "-e", f"inferno_namespace={playbook_namespace}",
                 "-e", "inferno_deploy_timeout=180s", "-e", "inferno_deploy_atomic=false",
                 *extra_vars(inferno_values=values, inferno_secrets={"OAUTH2_CLIENT_SECRET": secret})]
    killed = []

    def kill_the_helm_job():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for pid in subprocess.run(["pgrep", "-f", "AnsiballZ_helm.py"], capture_output=True, text=True,
                                      check=False).stdout.split():
                # The module's process, once the helm binary it runs is its child: the values file
                # exists then. (async_wrapper's process, the module's parent, is left alone.)
                if subprocess.run(["pgrep", "-P", pid, "-x", "helm"], capture_output=True, check=False).returncode == 0:
                    os.kill(int(pid), signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.2)

    with ThreadPoolExecutor(1) as pool:
        killer = pool.submit(kill_the_helm_job)
        run = ansible_playbook(*arguments, kubeconfig=local_cluster.kubeconfig, timeout=600)
        killer.result()
    subprocess.run(["pkill", "-f", f"upgrade.*{playbook_namespace}"], check=False)  # helm, orphaned by the kill
    assert killed, run.output
    assert run.returncode != 0, run.output
    assert secret not in run.output
    # async_wrapper, Ansible's own, removes the job's folder (the module and its arguments) a few
    # seconds after the job ends; nothing else may hold the secret.
    deadline, leftovers = time.monotonic() + 60, files_holding(secret)
    while leftovers and time.monotonic() < deadline:
        time.sleep(2)
        leftovers = files_holding(secret)
    assert leftovers == [], leftovers
