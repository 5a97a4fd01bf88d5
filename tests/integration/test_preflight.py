"""Bad input fails in preflight, with a message that names the problem and the fix, before
anything changes on the cluster: each case runs the real deploy playbook against the local
cluster and then checks that the target namespace was never created."""

from __future__ import annotations

import hashlib

import pytest
import yaml
from kubernetes import client

from .playbooks import ansible_playbook, extra_vars, kubeconfig_with_context


def values(**chart_values) -> list[str]:
    return extra_vars(inferno_values=chart_values)


def unreachable_kubeconfig(cluster, tmp_path):
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
    path = tmp_path / "unreachable.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def old_helm(cluster, tmp_path):
    """Fault injection: a helm that reports a version older than the roles support."""
    path = tmp_path / "helm"
    path.write_text("#!/bin/sh\necho v3.5.0\n")
    path.chmod(0o755)
    return path


# id, extra arguments, expected text in the output; callables get (cluster, tmp_path).
CASES = [
    ("unknown-environment", ["-e", "inferno_environment=qa"],
     "inferno_preflight_environment must be one of: dev, staging, prod, got: qa"),
    ("missing-kubeconfig", {"INFERNO_KUBECONFIG": "/nonexistent/admin.kubeconfig"},
     "The kubeconfig /nonexistent/admin.kubeconfig for host local-cluster does not exist"),
    ("unreachable-cluster", {"INFERNO_KUBECONFIG": unreachable_kubeconfig},
     "Cannot reach the Kubernetes API of local-cluster"),
    ("missing-storage-class", values(persistence={"storageClass": "fast-ssd"}),
     "StorageClass fast-ssd does not exist on local-cluster (it has: standard)"),
    ("service-monitor-without-crd", values(monitoring={"enabled": True, "serviceMonitor": {"enabled": True}}),
     "monitoring.coreos.com/v1 is not served by local-cluster, but monitoring.serviceMonitor.enabled is true"),
    ("vpa-without-crd", values(vpa={"enabled": True}),
     "autoscaling.k8s.io/v1 is not served by local-cluster, but vpa.enabled is true"),
    ("schema-rejects-type", extra_vars(inferno_set_values=["replicaCount=three"]),
     "replicaCount: Invalid type. Expected: integer, given: string"),
    ("chart-rejects-combination", values(autoscaling={"enabled": True, "minReplicas": 5, "maxReplicas": 2}),
     "autoscaling.minReplicas (5) is greater than autoscaling.maxReplicas (2)"),
    ("missing-values-file", extra_vars(inferno_values_files=["/nonexistent/extra-values.yaml"]),
     "These values files do not exist: /nonexistent/extra-values.yaml"),
    ("malformed-set-override", extra_vars(inferno_set_values=["replicaCount"]),
     "'replicaCount' is not a 'path=value' override"),
    ("helm-missing", ["-e", "inferno_helm_binary=/nonexistent/helm"],
     "helm could not be run as '/nonexistent/helm'"),
    ("helm-too-old", ["-e", "inferno_helm_binary={old_helm}"], "helm 3.5.0 is not supported"),
    ("invalid-namespace", ["-e", "inferno_namespace=Bad_Namespace"], "must be lowercase letters, digits and '-'"),
]


@pytest.mark.parametrize("case_id, arguments, expected", CASES, ids=[case[0] for case in CASES])
def test_bad_input_fails_before_any_change(local_cluster, tmp_path, request, case_id, arguments, expected):
    namespace = "bad-" + hashlib.sha1(case_id.encode()).hexdigest()[:8]
    env, args = {}, ["-i", "inventories/dev", "-e", f"inferno_namespace={namespace}"]
    if isinstance(arguments, dict):
        env = {key: str(value(local_cluster, tmp_path) if callable(value) else value) for key, value in arguments.items()}
    else:
        args += [arg.replace("{old_helm}", str(old_helm(local_cluster, tmp_path))) for arg in arguments]
    run = ansible_playbook("deploy.yml", *args, kubeconfig=local_cluster.kubeconfig, env=env)
    assert run.returncode != 0, run.output
    assert expected in " ".join(run.output.split()), run.output
    assert "PLAY [Deploy to one cluster at a time" not in run.output  # stopped in the checks
    names = [ns.metadata.name for ns in client.CoreV1Api(local_cluster.api).list_namespace().items]
    assert namespace not in names


def test_prod_refuses_a_kubeconfig_without_its_context(local_cluster):
    run = ansible_playbook("deploy.yml", "-i", "inventories/prod", "-e", "inferno_namespace=bad-prod-context",
                           kubeconfig=local_cluster.kubeconfig)
    assert run.returncode != 0
    assert ("has no context 'inferno-prod' (it has: inferno-local). The inventory says prod-cluster is reached "
            "through 'inferno-prod'") in " ".join(run.output.split())
    assert "bad-prod-context" not in [ns.metadata.name for ns in client.CoreV1Api(local_cluster.api).list_namespace().items]


def test_upgrade_refuses_to_install(local_cluster):
    run = ansible_playbook("playbooks/upgrade.yml", "-i", "inventories/dev", "-e", "inferno_namespace=bad-upgrade",
                           kubeconfig=local_cluster.kubeconfig)
    assert run.returncode != 0
    assert "and an upgrade does not install. Use playbooks/deploy.yml" in " ".join(run.output.split())


def test_prod_inventory_deploys_through_its_context(local_cluster, tmp_path):
    """The real prod inventory, with a kubeconfig that has the inferno-prod context."""
    kubeconfig = kubeconfig_with_context(local_cluster.kubeconfig, "inferno-prod", tmp_path / "prod.kubeconfig")
    namespace = "prod-inventory"
    # No Prometheus Operator here: without this, preflight refuses prod's ServiceMonitor.
    no_service_monitor = values(monitoring={"serviceMonitor": {"enabled": False}})
    run = ansible_playbook("deploy.yml", "-i", "inventories/prod", "-e", f"inferno_namespace={namespace}",
                           *no_service_monitor, kubeconfig=kubeconfig)
    assert run.returncode == 0, run.output
    apps = client.AppsV1Api(local_cluster.api)
    assert apps.read_namespaced_deployment("inferno", namespace).status.ready_replicas == 3
    labels = client.CoreV1Api(local_cluster.api).read_namespace(namespace).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    rerun = ansible_playbook("deploy.yml", "-i", "inventories/prod", "-e", f"inferno_namespace={namespace}",
                             *no_service_monitor, kubeconfig=kubeconfig)
    assert rerun.changed() == 0, rerun.output
