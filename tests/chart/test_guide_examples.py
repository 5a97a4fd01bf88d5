"""Every helm command of the guide that takes values, as written (with our chart path).

`helm install`/`upgrade` become `helm template` with the same flags: the values are
validated and rendered exactly as an install would, without a cluster.
"""

from __future__ import annotations

import re
import shlex

import pytest

from .rendering import REPO, Render, run_helm

GUIDE = REPO.parent / "shared" / "spec" / "helm-guide.md"

# The guide's commands, copied as written; only "helm/inferno" became "files/helm/inferno".
EXAMPLES = {
    "quick-start-dev": "helm install inferno ./files/helm/inferno -f files/helm/inferno/values-dev.yaml",
    "quick-start-staging": "helm install inferno ./files/helm/inferno -f files/helm/inferno/values-staging.yaml "
                           "-n inferno-staging --create-namespace",
    "quick-start-prod": "helm install inferno ./files/helm/inferno -f files/helm/inferno/values-prod.yaml "
                        "-n inferno-prod --create-namespace",
    "upgrade": "helm upgrade inferno ./files/helm/inferno -f files/helm/inferno/values-prod.yaml -n inferno-prod",
    "configuration-hierarchy": "helm install inferno ./files/helm/inferno -f files/helm/inferno/values-prod.yaml "
                               "--set replicaCount=5 --set resources.limits.cpu=4000m",
    "update-single-value": "helm upgrade inferno ./files/helm/inferno -f files/helm/inferno/values-prod.yaml "
                           "--set replicaCount=5",
    "custom-storage-class": "helm install inferno ./files/helm/inferno -f files/helm/inferno/values-prod.yaml "
                            "--set persistence.storageClass=fast-ssd",
    "external-ips": "helm install inferno ./files/helm/inferno -f files/helm/inferno/values-prod.yaml "
                    "--set 'service.external.externalIPs[0]=10.0.0.1' --set 'service.external.externalIPs[1]=10.0.0.2'",
    "oauth2": "helm install inferno ./files/helm/inferno -f files/helm/inferno/values-prod.yaml "
              "--set secrets.OAUTH2_CLIENT_ID=\"your-id\" --set secrets.OAUTH2_CLIENT_SECRET=\"your-secret\" "
              "--set secrets.OAUTH2_PROVIDER_URL=\"https://provider.example.com\"",
    "service-monitor": "helm install inferno ./files/helm/inferno -f files/helm/inferno/values-prod.yaml "
                       "--set monitoring.serviceMonitor.enabled=true",
    "dry-run": "helm install inferno ./files/helm/inferno -f files/helm/inferno/values-prod.yaml --dry-run --debug",
    "view-manifests": "helm template inferno ./files/helm/inferno -f files/helm/inferno/values-prod.yaml",
}

# Flags of install/upgrade that have no meaning for `helm template`.
CLUSTER_ONLY = {"--create-namespace", "--dry-run"}


def as_template(command: str, *extra: str) -> Render:
    words = shlex.split(command)
    assert words[:2] in (["helm", "install"], ["helm", "upgrade"], ["helm", "template"])
    args = ["template"] + [w for w in words[2:] if w not in CLUSTER_ONLY] + list(extra)
    return Render(run_helm(*args).stdout)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_renders(name):
    r = as_template(EXAMPLES[name])
    assert r.get("Deployment")["metadata"]["name"] == "inferno"


def test_set_flags_win_over_the_environment_file():
    r = as_template(EXAMPLES["configuration-hierarchy"])
    assert r.get("Deployment")["spec"]["replicas"] == 5
    assert r.container["resources"]["limits"]["cpu"] == "4000m"
    assert r.container["resources"]["requests"]["cpu"] == "1000m"  # from values-prod.yaml
    assert r.get("HorizontalPodAutoscaler")["spec"]["maxReplicas"] == 20
    assert as_template(EXAMPLES["update-single-value"]).get("Deployment")["spec"]["replicas"] == 5


def test_custom_storage_class():
    r = as_template(EXAMPLES["custom-storage-class"])
    classes = {c["spec"]["storageClassName"] for c in r.all("PersistentVolumeClaim")}
    assert classes == {"fast-ssd"}


def test_external_ips():
    r = as_template(EXAMPLES["external-ips"])
    assert r.get("Service", "inferno-external")["spec"]["externalIPs"] == ["10.0.0.1", "10.0.0.2"]
    assert r.get("Service", "inferno")["spec"].get("externalIPs") is None


def test_oauth2_values_reach_the_secret_and_only_the_secret():
    import base64

    r = as_template(EXAMPLES["oauth2"])
    data = {k: base64.b64decode(v).decode() for k, v in r.get("Secret", "inferno-secrets")["data"].items()}
    assert data["OAUTH2_CLIENT_ID"] == "your-id"
    assert data["OAUTH2_CLIENT_SECRET"] == "your-secret"
    assert data["OAUTH2_PROVIDER_URL"] == "https://provider.example.com"
    everything_else = "\n".join(str(doc) for doc in r.docs if doc["kind"] != "Secret")
    assert "your-secret" not in everything_else


def test_service_monitor_example_with_and_without_the_operator():
    # Without the Prometheus Operator the cluster could not accept a ServiceMonitor: none is rendered.
    assert as_template(EXAMPLES["service-monitor"]).maybe("ServiceMonitor") is None
    served = as_template(EXAMPLES["service-monitor"], "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor")
    assert served.get("ServiceMonitor")["metadata"]["namespace"] == "default"


def test_multiple_values_files(tmp_path):
    custom = tmp_path / "values-prod-custom.yaml"
    custom.write_text("replicaCount: 6\nconfig:\n  logging:\n    INFERNO_LOG_LEVEL: error\n")
    r = Render(run_helm("template", "inferno", "./files/helm/inferno", "-f", "files/helm/inferno/values-prod.yaml",
                        "-f", str(custom)).stdout)
    assert r.get("Deployment")["spec"]["replicas"] == 6
    assert r.env["INFERNO_LOG_LEVEL"] == "error"
    assert r.env["INFERNO_LOG_FORMAT"] == "json"  # untouched keys keep the prod value


def test_guide_port_forward_to_9090_reaches_the_metrics():
    """`kubectl port-forward svc/inferno 9090:9090` needs a Service port 9090 that leads to /metrics."""
    service = as_template(EXAMPLES["quick-start-prod"]).get("Service", "inferno")
    metrics = next(p for p in service["spec"]["ports"] if p["port"] == 9090)
    assert metrics["targetPort"] == "http"


@pytest.mark.skipif(not GUIDE.is_file(), reason="the user's guide (../shared/spec) is not beside this checkout")
def test_every_set_flag_of_the_guide_is_covered():
    guide_sets = set(re.findall(r"--set\s+'?([^\s'=]+)=", GUIDE.read_text()))
    ours = set(re.findall(r"--set\s+'?([^\s'=]+)=", " ".join(EXAMPLES.values())))
    assert guide_sets, "no --set examples found in the guide"
    assert guide_sets <= ours, f"guide examples not tested: {sorted(guide_sets - ours)}"
