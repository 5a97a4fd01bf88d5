"""Bad input fails in preflight, with a message that names the problem and the fix, before
anything changes on the cluster: each case runs the real deploy playbook against the local
cluster and then checks that the target namespace was never created."""

from __future__ import annotations

import hashlib
import re

import pytest
import yaml
from kubernetes import client

from .kube import delete_namespace, eventually
from .playbooks import ansible_playbook, extra_vars, kubeconfig_with_context


def values(**chart_values) -> list[str]:
    return extra_vars(inferno_values=chart_values)


def unreachable_kubeconfig(cluster, tmp_path):
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
    path = tmp_path / "unreachable.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def expired_token_kubeconfig(cluster, tmp_path):
    """A kubeconfig whose user is a bearer token the API server does not accept (as an expired one)."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": "expired.token.value"}
    path = tmp_path / "expired.kubeconfig"
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
     "server https://127.0.0.1:9): connection refused at 127.0.0.1:9. Check that the cluster is up"),
    ("expired-token", {"INFERNO_KUBECONFIG": expired_token_kubeconfig},
     "The Kubernetes API refused the credentials while reading what the cluster offers (401 Unauthorized): the token or "
     "client certificate has expired or is not valid. Get fresh credentials"),
    # Connecting with a host and a token (no kubeconfig): the URL and the CA file are checked first.
    ("host-is-not-a-url", ["-e", "inferno_k8s_host=127.0.0.1:6443", "-e", "inferno_k8s_api_key=t0ken"],
     "inferno_k8s_host (or K8S_AUTH_HOST) for host local-cluster is '127.0.0.1:6443', which is not an API server URL: "
     "give it as https://<address>:<port>"),
    ("missing-ca-file", ["-e", "inferno_k8s_host=https://127.0.0.1:9", "-e", "inferno_k8s_ca_cert=/nonexistent/ca.crt"],
     "The CA file /nonexistent/ca.crt given in inferno_k8s_ca_cert for host local-cluster does not exist"),
    ("missing-storage-class", values(persistence={"storageClass": "fast-ssd"}),
     "StorageClass fast-ssd does not exist on local-cluster (it has: local-path, standard)"),
    ("service-monitor-forced-without-crd",
     values(monitoring={"enabled": True, "serviceMonitor": {"enabled": True, "forceRender": True}}),
     'no matches for kind "ServiceMonitor" in version "monitoring.coreos.com/v1"'),  # helm's words, in the render
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
    # The schema accepts any string, but the tag becomes the app.kubernetes.io/version label: the
    # API server's dry run refuses it (in a namespace that does not exist yet, too).
    ("tag-is-not-a-label-value", values(image={"tag": "0.8 .0"}),
     'metadata.labels: Invalid value: "0.8 .0"'),
    ("tag-is-not-a-label-value-named", values(image={"tag": "0.8 .0"}), "(that value comes from image.tag)"),
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


def test_prod_inventory_deploys_through_its_context_and_backs_up_before_upgrading(local_cluster, tmp_path):
    """The real prod inventory, with a kubeconfig that has the inferno-prod context. An
    upgrade of the installed release is preceded by a backup tagged with the revision it
    replaces, unless inferno_backup_before_upgrade=false."""
    kubeconfig = kubeconfig_with_context(local_cluster.kubeconfig, "inferno-prod", tmp_path / "prod.kubeconfig")
    namespace = "prod-inventory"
    common = ["-i", "inventories/prod", "-e", f"inferno_namespace={namespace}", "-e", f"inferno_backup_root={tmp_path}"]
    # No Prometheus Operator here: prod's ServiceMonitor is left out, and the run says so.
    run = ansible_playbook("deploy.yml", *common, kubeconfig=kubeconfig)
    assert run.returncode == 0, run.output
    assert ("No ServiceMonitor will be made on prod-cluster: monitoring.serviceMonitor.enabled is true, but the "
            "cluster does not serve monitoring.coreos.com/v1") in " ".join(run.output.split()), run.output
    assert backup_sets(local_cluster, namespace) == {}  # a first install has nothing to back up
    apps = client.AppsV1Api(local_cluster.api)
    assert apps.read_namespaced_deployment("inferno", namespace).status.ready_replicas == 3
    labels = client.CoreV1Api(local_cluster.api).read_namespace(namespace).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    rerun = ansible_playbook("deploy.yml", *common, kubeconfig=kubeconfig)
    assert rerun.changed() == 0, rerun.output
    assert backup_sets(local_cluster, namespace) == {}  # nothing to upgrade, so nothing backed up

    upgrade_values = values(podAnnotations={"rollout": "2"})
    preview = ansible_playbook("deploy.yml", *common, *upgrade_values, "--check", kubeconfig=kubeconfig)
    assert preview.returncode == 0, preview.output
    assert re.search(r"Backup pre-upgrade-r1-\d{14} of inferno \(revision 1\) would snapshot", preview.output), preview.output
    assert backup_sets(local_cluster, namespace) == {} and not (tmp_path / "prod").exists()
    upgrade = ansible_playbook("deploy.yml", *common, *upgrade_values, kubeconfig=kubeconfig)
    assert upgrade.returncode == 0, upgrade.output
    sets = backup_sets(local_cluster, namespace)
    assert len(sets) == 1, sets
    backup_id, taken = next(iter(sets.items()))
    assert re.fullmatch(r"pre-upgrade-r1-\d{14}", backup_id)
    claims = client.CoreV1Api(local_cluster.api).list_namespaced_persistent_volume_claim(
        namespace, label_selector="app.kubernetes.io/instance=inferno").items
    assert sorted(item["spec"]["source"]["persistentVolumeClaimName"] for item in taken) == sorted(
        claim.metadata.name for claim in claims)
    assert all(item["metadata"]["labels"]["inferno.ops/chart-revision"] == "1" and item["status"]["readyToUse"]
               for item in taken)
    assert (tmp_path / "prod" / "inferno" / backup_id / "config" / "index.yaml").is_file()
    # The backup came before the upgrade, which made revision 2.
    assert upgrade.output.index(f"Snapshot every claim at once, backup {backup_id}") < upgrade.output.index(
        "Install or upgrade the release to revision 2")

    unguarded = ansible_playbook("deploy.yml", *common, *values(podAnnotations={"rollout": "3"}),
                                 "-e", "inferno_backup_before_upgrade=false", kubeconfig=kubeconfig)
    assert unguarded.returncode == 0, unguarded.output
    assert "Install or upgrade the release to revision 3" in unguarded.output
    assert list(backup_sets(local_cluster, namespace)) == [backup_id]


def backup_sets(cluster, namespace) -> dict[str, list[dict]]:
    """The namespace's VolumeSnapshots made by inferno.ops, by backup id."""
    items = client.CustomObjectsApi(cluster.api).list_namespaced_custom_object(
        "snapshot.storage.k8s.io", "v1", namespace, "volumesnapshots",
        label_selector="app.kubernetes.io/managed-by=inferno.ops")["items"]
    sets: dict[str, list[dict]] = {}
    for item in items:
        sets.setdefault(item["metadata"]["labels"]["inferno.ops/backup-id"], []).append(item)
    return sets


# The Prometheus Operator's API, as its CRD defines it (the schema left open): what the chart
# checks for, and what the API server then accepts a ServiceMonitor through.
SERVICE_MONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
             "names": {"kind": "ServiceMonitor", "listKind": "ServiceMonitorList", "plural": "servicemonitors",
                       "singular": "servicemonitor"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}


def test_prod_makes_its_service_monitor_where_the_operator_s_api_is_served(local_cluster, tmp_path):
    extensions = client.ApiextensionsV1Api(local_cluster.api)
    custom = client.CustomObjectsApi(local_cluster.api)
    kubeconfig = kubeconfig_with_context(local_cluster.kubeconfig, "inferno-prod", tmp_path / "prod.kubeconfig")
    namespace = "prod-service-monitor"
    extensions.create_custom_resource_definition(SERVICE_MONITOR_CRD)
    try:
        eventually(lambda: "monitoring.coreos.com/v1" in local_cluster.run_kubectl("api-versions").stdout,
                   what="monitoring.coreos.com/v1 served")
        run = ansible_playbook("deploy.yml", "-i", "inventories/prod", "-e", f"inferno_namespace={namespace}",
                               "-e", f"inferno_backups_dir={tmp_path}", kubeconfig=kubeconfig)
        assert run.returncode == 0, run.output
        assert "No ServiceMonitor will be made" not in run.output
        monitors = custom.list_namespaced_custom_object("monitoring.coreos.com", "v1", namespace, "servicemonitors")
        assert [item["metadata"]["name"] for item in monitors["items"]] == ["inferno"]
    finally:
        delete_namespace(local_cluster, namespace)
        extensions.delete_custom_resource_definition(SERVICE_MONITOR_CRD["metadata"]["name"])
        eventually(lambda: "monitoring.coreos.com/v1" not in local_cluster.run_kubectl("api-versions").stdout,
                   what="monitoring.coreos.com/v1 no longer served")
