"""The chart on the real local cluster: what `helm install` prints and does."""

from __future__ import annotations

from kubernetes import client

from .playbooks import helm


def test_notes_explain_what_the_cluster_cannot_take(local_cluster):
    result = helm(local_cluster, "inferno-prod", "install", "inferno", "./files/helm/inferno", "-f",
                  "files/helm/inferno/values-prod.yaml", "--create-namespace", "--dry-run=server")
    assert result.returncode == 0, result.stderr
    notes = result.stdout[result.stdout.index("NOTES:"):]
    assert "kubectl -n inferno-prod port-forward svc/inferno 8000:8000" in notes
    assert "does not serve\nmonitoring.coreos.com/v1" in notes  # prod asks for a ServiceMonitor; no operator here
    assert "3 replicas share ReadWriteOnce claims" in notes
    assert "kind: ServiceMonitor" not in result.stdout


def test_staging_profile_installs_and_becomes_ready(local_cluster):
    result = helm(local_cluster, "inferno-staging", "install", "inferno", "./files/helm/inferno", "-f",
                  "files/helm/inferno/values-staging.yaml", "--create-namespace", "--wait", "--timeout", "3m")
    assert result.returncode == 0, result.stderr
    apps, core = client.AppsV1Api(local_cluster.api), client.CoreV1Api(local_cluster.api)
    assert apps.read_namespaced_deployment("inferno", "inferno-staging").status.ready_replicas == 2
    external = core.read_namespaced_service("inferno-external", "inferno-staging")
    assert external.spec.type == "NodePort" and external.spec.ports[0].node_port
    claims = core.list_namespaced_persistent_volume_claim("inferno-staging").items
    assert sorted((c.metadata.name, c.status.phase) for c in claims) == [
        ("inferno-cache-pvc", "Bound"), ("inferno-models-pvc", "Bound"), ("inferno-queue-pvc", "Bound")]

    # Uninstalling keeps the claims (helm.sh/resource-policy: keep): no data is lost.
    result = helm(local_cluster, "inferno-staging", "uninstall", "inferno", "--wait")
    assert result.returncode == 0, result.stderr
    assert "These resources were kept due to the resource policy" in result.stdout
    remaining = core.list_namespaced_persistent_volume_claim("inferno-staging").items
    assert len(remaining) == 3
