"""The deploy, upgrade, rollback, status, template and uninstall playbooks on the local cluster,
run with the real ansible-playbook from the repository root, with helm 3 and helm 4."""

from __future__ import annotations

import hashlib
import re

import pytest
from kubernetes import client

from .playbooks import HELM4, KNOWN_SECRET, ansible_playbook, deployed_manifest, extra_vars, history

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


@pytest.mark.parametrize("helm_binary", HELMS)
def test_release_lifecycle(local_cluster, playbook_namespace, helm_binary):
    """Install, no-op rerun, check/diff, upgrade, failed upgrade, rollback to N, status, uninstall."""
    ns = playbook_namespace
    common = ["-i", "inventories/dev", "-e", f"inferno_namespace={ns}"]
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
    assert len(history(local_cluster, ns)) == 1
    assert replicas(deployed_manifest(local_cluster, ns)) == 1

    upgraded = run("deploy.yml", *extra_vars(inferno_values={"replicaCount": 2}))
    assert upgraded.returncode == 0, upgraded.output
    assert [r["revision"] for r in history(local_cluster, ns)] == [1, 2]

    # A value the schema accepts but the API server rejects: helm rolls back by itself.
    rejected = run("deploy.yml", *extra_vars(inferno_values={"replicaCount": 2, "podAnnotations": {"bad key!": "x"}}))
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

    status = run("playbooks/status.yml")
    assert status.returncode == 0, status.output
    for line in (r"1\s+superseded\s+inferno-0\.8\.0 .* Install complete", r"3\s+failed .* Upgrade \"inferno\" failed",
                 r"5\s+deployed\s+inferno-0\.8\.0 .* Rollback to 1", r"Deployment inferno: 1/1 ready",
                 r"PersistentVolumeClaim inferno-models-pvc: Bound 20Gi class standard"):
        assert re.search(line, status.output), (line, status.output)
    assert "OAUTH2_CLIENT_SECRET: '********'" in status.output

    refused = run("playbooks/uninstall.yml")
    assert refused.returncode != 0
    assert "-e inferno_lifecycle_uninstall_confirm=inferno" in refused.output
    assert history(local_cluster, ns)

    uninstalled = run("playbooks/uninstall.yml", "-e", "inferno_lifecycle_uninstall_confirm=inferno")
    assert uninstalled.returncode == 0, uninstalled.output
    assert history(local_cluster, ns) == []
    claims = client.CoreV1Api(local_cluster.api).list_namespaced_persistent_volume_claim(ns).items
    assert sorted(c.metadata.name for c in claims) == ["inferno-cache-pvc", "inferno-models-pvc", "inferno-queue-pvc"]

    for run_ in (first, rerun, checked, upgraded, rejected, rolled_back, status, refused, uninstalled):
        assert KNOWN_SECRET not in run_.output
