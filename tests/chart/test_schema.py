"""Bad input is refused by helm before anything reaches a cluster, with a message that names
the value. values.schema.json catches types, formats and typos; the chart's validation
template catches what depends on two values at once."""

from __future__ import annotations

import pytest

from .rendering import run_helm, template_args

SCHEMA = "values don't meet the specifications of the schema"
CHECKS = "Invalid values for the inferno chart"

CASES = {
    "negative-replicas": (["replicaCount=-1"], SCHEMA, "replicaCount: Must be greater than or equal to 0"),
    "fractional-replicas": (["replicaCount=1.5"], SCHEMA, "replicaCount: Invalid type. Expected: integer"),
    "malformed-size": (["persistence.models.size=lots"], SCHEMA, "persistence.models.size: Does not match pattern"),
    "unknown-log-level": (["config.logging.INFERNO_LOG_LEVEL=loud"], SCHEMA,
                          'config.logging.INFERNO_LOG_LEVEL must be one of the following: "trace", "debug", "info", "warn", "error"'),
    "unknown-log-format": (["config.logging.INFERNO_LOG_FORMAT=xml"], SCHEMA, "config.logging.INFERNO_LOG_FORMAT must be one of"),
    "wrong-service-type": (["service.external.type=ClusterIP"], SCHEMA,
                           'service.external.type must be one of the following: "NodePort", "LoadBalancer"'),
    "unknown-top-level-key": (["replicas=3"], SCHEMA, "Additional property replicas is not allowed"),
    "typo-in-nested-key": (["autoscaling.maxReplica=9"], SCHEMA, "Additional property maxReplica is not allowed"),
    "unknown-environment": (["environment=qa"], SCHEMA, "environment must be one of the following"),
    "bad-pull-policy": (["image.pullPolicy=Sometimes"], SCHEMA, "image.pullPolicy must be one of the following"),
    "malformed-cpu": (["resources.limits.cpu=two"], SCHEMA, "resources.limits.cpu: Does not match pattern"),
    "node-port-out-of-range": (["service.external.nodePort=80"], SCHEMA, "nodePort: Must be greater than or equal to 30000"),
    "bad-env-name-in-secrets": (["secrets.my-key=x"], SCHEMA, "secrets"),
    "bad-cidr": (["networkPolicy.externalSourceCIDRs={everywhere}"], SCHEMA, "externalSourceCIDRs.0: Does not match pattern"),
    "hpa-percentage-over-100": (["autoscaling.targetCPUUtilizationPercentage=150"], SCHEMA,
                                "targetCPUUtilizationPercentage: Must be less than or equal to 100"),
    "min-above-max": (["autoscaling.minReplicas=9", "autoscaling.maxReplicas=4"], CHECKS,
                      "autoscaling.minReplicas (9) is greater than autoscaling.maxReplicas (4): set minReplicas <= maxReplicas."),
    "replicas-outside-hpa-range": (["replicaCount=1"], CHECKS,
                                   "replicaCount (1) is outside autoscaling.minReplicas..maxReplicas (3..20)"),
    "pdb-blocks-every-drain": (["podDisruptionBudget.minAvailable=3"], CHECKS,
                               "podDisruptionBudget.minAvailable (3) must be lower than the smallest replica count (3)"),
    "request-above-limit": (["resources.requests.memory=8Gi"], CHECKS,
                            "resources.requests.memory (8Gi) is greater than resources.limits.memory (4Gi)"),
    "vpa-auto-fights-hpa": (["vpa.enabled=true", "vpa.updateMode=Auto"], CHECKS,
                            "vpa.updateMode=Auto would resize pods while the HPA scales"),
    "derived-variable-set-by-hand": (["config.model.INFERNO_MODELS_DIR=/data"], CHECKS,
                                     "config.model.INFERNO_MODELS_DIR is computed by the chart"),
    "existing-secret-and-values": (["existingSecret=mine", "secrets.OAUTH2_CLIENT_ID=x"], CHECKS,
                                   "existingSecret (mine) and values under secrets.* are both set"),
    "batch-below-context": (["config.model.INFERNO_BATCH_SIZE=32"], CHECKS,
                            "config.model.INFERNO_BATCH_SIZE (32) is below config.model.INFERNO_CONTEXT_SIZE (2048)"),
    "negative-pre-stop-sleep": (["preStopSleepSeconds=-1"], SCHEMA, "preStopSleepSeconds: Must be greater than or equal to 0"),
    "pre-stop-sleep-outlasts-the-grace-period": (["preStopSleepSeconds=60"], CHECKS,
                                                 "preStopSleepSeconds (60) must be shorter than terminationGracePeriodSeconds (60)"),
}


def prod_with(*sets: str) -> list[str]:
    """`helm template` arguments for the prod profile plus one --set per value."""
    args = template_args("prod")
    for value in sets:
        args += ["--set", value]
    return args


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_refused_with_a_clear_message(name):
    sets, kind, message = CASES[name]
    result = run_helm(*prod_with(*sets), check=False)
    assert result.returncode != 0, f"{name} was accepted"
    assert result.stdout == "", "nothing may be rendered for bad input"
    assert kind in result.stderr
    assert message in result.stderr, result.stderr


def test_all_errors_are_reported_at_once():
    stderr = run_helm(*prod_with("replicaCount=1", "resources.requests.cpu=9"), check=False).stderr
    assert "replicaCount (1)" in stderr and "resources.requests.cpu (9)" in stderr


@pytest.mark.parametrize("values", [
    ["replicaCount=0", "autoscaling.enabled=false", "podDisruptionBudget.enabled=false"],
    ["persistence.models.size=1.5Ti"],
    ["resources.requests.cpu=0.5", "resources.limits.cpu=2"],
    ["resources.requests.memory=1500M"],
    ["podDisruptionBudget.minAvailable=50%"],
    ["persistence.storageClass=-"],
])
def test_valid_edge_values_are_accepted(values):
    assert run_helm(*prod_with(*values), check=False).returncode == 0
