"""The guide's Environment Comparison table, row by row, against real renders.

| Aspect         | Development  | Staging         | Production          |
| Namespace      | default      | inferno-staging | inferno-prod        |
| Replicas       | 1            | 2               | 3 (autoscales to 20)|
| CPU Request    | 100m         | 500m            | 1000m               |
| Memory Request | 512Mi        | 1Gi             | 2Gi                 |
| Logging        | debug/pretty | info/json       | warn/json           |
| HPA            | Disabled     | Enabled (2-5)   | Enabled (3-20)      |
| Models Storage | 20Gi         | 200Gi           | 500Gi               |
| NetworkPolicy  | Disabled     | Enabled         | Strict              |
| PDB            | Disabled     | Enabled (1)     | Enabled (2)         |
| Profiling      | Enabled      | Enabled         | Disabled            |
| Metrics        | Disabled     | Enabled         | Enabled             |
"""

from __future__ import annotations

import pytest

TABLE = {
    "dev": dict(namespace="default", replicas=1, cpu="100m", memory="512Mi", logging=("debug", "pretty"),
                hpa=None, models="20Gi", network_policy="disabled", pdb=None, profiling=True, metrics=False),
    "staging": dict(namespace="inferno-staging", replicas=2, cpu="500m", memory="1Gi", logging=("info", "json"),
                    hpa=(2, 5), models="200Gi", network_policy="enabled", pdb=1, profiling=True, metrics=True),
    "prod": dict(namespace="inferno-prod", replicas=3, cpu="1000m", memory="2Gi", logging=("warn", "json"),
                 hpa=(3, 20), models="500Gi", network_policy="strict", pdb=2, profiling=False, metrics=True),
}


@pytest.fixture
def row(environment):
    return TABLE[environment]


@pytest.fixture
def render_of(rendered, environment):
    return rendered[environment]


def test_namespace(render_of, row):
    namespaces = {doc["metadata"]["namespace"] for doc in render_of.docs}
    assert namespaces == {row["namespace"]}


def test_replicas(render_of, row):
    assert render_of.get("Deployment")["spec"]["replicas"] == row["replicas"]


def test_cpu_and_memory_requests(render_of, row):
    requests = render_of.container["resources"]["requests"]
    assert requests == {"cpu": row["cpu"], "memory": row["memory"]}


def test_logging(render_of, row):
    level, log_format = row["logging"]
    assert render_of.env["INFERNO_LOG_LEVEL"] == level
    assert render_of.env["INFERNO_LOG_FORMAT"] == log_format
    # The level reaches RUST_LOG too (Inferno 0.10.3 then adds inferno=info: chart README, Logging).
    assert render_of.env["RUST_LOG"] == level
    # Inferno colours its log even when stdout is no terminal; pods log plain text.
    assert render_of.env["NO_COLOR"] == "1"


def test_hpa(render_of, row):
    hpa = render_of.maybe("HorizontalPodAutoscaler")
    if row["hpa"] is None:
        assert hpa is None
        return
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == row["hpa"]
    assert hpa["spec"]["minReplicas"] <= row["replicas"] <= hpa["spec"]["maxReplicas"]


def test_models_storage(render_of, row):
    claim = render_of.get("PersistentVolumeClaim", "inferno-models-pvc")
    assert claim["spec"]["resources"]["requests"]["storage"] == row["models"]


def test_network_policy(render_of, row):
    policy = render_of.maybe("NetworkPolicy")
    if row["network_policy"] == "disabled":
        assert policy is None
        return
    pod_sources = [peer["podSelector"] for rule in policy["spec"]["ingress"] for peer in rule["from"] if "podSelector" in peer]
    if row["network_policy"] == "strict":
        # Strict: pods of the same namespace get in only if they belong to this release.
        assert pod_sources == [{"matchLabels": {"app.kubernetes.io/name": "inferno", "app.kubernetes.io/instance": "inferno"}}]
    else:
        assert pod_sources == [{}]


def test_pdb(render_of, row):
    pdb = render_of.maybe("PodDisruptionBudget")
    if row["pdb"] is None:
        assert pdb is None
    else:
        assert pdb["spec"]["minAvailable"] == row["pdb"]


def test_profiling(render_of, row):
    assert render_of.env["INFERNO_PROFILING_ENABLED"] == str(row["profiling"]).lower()


def test_metrics(render_of, row):
    assert render_of.env["INFERNO_METRICS_ENABLED"] == str(row["metrics"]).lower()
    annotations = render_of.get("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert ("prometheus.io/scrape" in annotations) is row["metrics"]
    if row["metrics"]:
        # Inferno serves /metrics on its API port; nothing listens on 9090 in the pod.
        assert annotations["prometheus.io/port"] == "8000"
        assert annotations["prometheus.io/path"] == "/metrics"


def test_environment_label_on_every_object(render_of, environment):
    expected = {"dev": "development", "staging": "staging", "prod": "production"}[environment]
    for doc in render_of.docs:
        assert doc["metadata"]["labels"]["environment"] == expected, doc["metadata"]["name"]
    assert render_of.env["INFERNO_ENV"] == expected


def test_only_expected_kinds(render_of, environment):
    """A plain cluster (no Prometheus Operator, no VPA) gets only objects it can accept."""
    expected = {
        "dev": ["ConfigMap", "Deployment", "PersistentVolumeClaim", "PersistentVolumeClaim", "PersistentVolumeClaim",
                "Role", "RoleBinding", "Secret", "Service", "Service", "ServiceAccount"],
        "staging": ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PersistentVolumeClaim",
                    "PersistentVolumeClaim", "PersistentVolumeClaim", "PodDisruptionBudget", "Role", "RoleBinding",
                    "Secret", "Service", "Service", "Service", "ServiceAccount"],
    }
    expected["prod"] = expected["staging"]
    assert render_of.kinds() == expected[environment]
