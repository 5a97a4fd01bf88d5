"""The rest of the guide's Template Structure section, checked on real renders."""

from __future__ import annotations

import re

import pytest

from .rendering import CHART, render, run_helm

SELECTOR = {"app.kubernetes.io/name": "inferno", "app.kubernetes.io/instance": "inferno"}


def test_helpers_are_the_guides_nine():
    defined = re.findall(r'define "([^"]+)"', (CHART / "templates" / "_helpers.tpl").read_text())
    assert defined == [
        "inferno.name", "inferno.fullname", "inferno.chart", "inferno.labels", "inferno.selectorLabels",
        "inferno.serviceAccountName", "inferno.image", "inferno.port", "inferno.namespace",
    ]


def test_guide_file_structure_exists():
    for name in ["Chart.yaml", "values.yaml", "values-dev.yaml", "values-staging.yaml", "values-prod.yaml",
                 ".helmignore", "README.md", "values.schema.json"]:
        assert (CHART / name).is_file(), name
    for name in ["NOTES.txt", "_helpers.tpl", "deployment.yaml", "service.yaml", "configmap.yaml", "pvc.yaml",
                 "rbac.yaml", "hpa.yaml", "pdb.yaml", "servicemonitor.yaml"]:
        assert (CHART / "templates" / name).is_file(), name


def test_chart_metadata():
    chart = run_helm("show", "chart", "files/helm/inferno").stdout
    assert "version: 0.8.0" in chart
    assert "appVersion: 0.8.0" in chart
    assert "kubeVersion: '>=1.20.0-0'" in chart


def test_names_labels_and_image(rendered):
    prod = rendered["prod"]
    deployment = prod.get("Deployment", "inferno")
    labels = deployment["metadata"]["labels"]
    assert labels["helm.sh/chart"] == "inferno-0.8.0"
    assert labels["app.kubernetes.io/version"] == "0.8.0"
    assert labels["app.kubernetes.io/managed-by"] == "Helm"
    assert deployment["spec"]["selector"]["matchLabels"] == SELECTOR
    assert prod.container["image"] == "inferno:0.8.0"
    # A release name without "inferno" gets the "release-inferno" form.
    other = render("prod", "--set", "image.registry=ghcr.io/acme", "--set", "image.tag=0.10.6",
                   "--set", "image.digest=sha256:" + "a" * 64)
    assert other.container["image"] == "ghcr.io/acme/inferno:0.10.6@sha256:" + "a" * 64
    named = run_helm("template", "release", "./files/helm/inferno").stdout
    assert "name: release-inferno\n" in named


def test_strategy_and_grace_period(rendered):
    for env, render_of in rendered.items():
        spec = render_of.get("Deployment")["spec"]
        assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
        grace = spec["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace == (60 if env == "prod" else 30)


def test_a_stopping_pod_keeps_serving_until_it_has_left_the_endpoints():
    """The preStop sleep action (Kubernetes 1.30+): no hook on older clusters, none when set to 0."""
    assert render("prod", "--kube-version", "1.30.0").container["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert "lifecycle" not in render("prod", "--kube-version", "1.29.9").container
    assert "lifecycle" not in render("prod", "--kube-version", "1.34.0", "--set", "preStopSleepSeconds=0").container


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_probes_match_the_guide(rendered, env):
    container = rendered[env].container
    startup, readiness, liveness = (container[f"{kind}Probe"] for kind in ("startup", "readiness", "liveness"))
    for probe in (startup, readiness, liveness):
        # Inferno answers /health on its API port; it has no /ready.
        assert probe["httpGet"] == {"path": "/health", "port": "http"}
    assert (startup["initialDelaySeconds"], startup["failureThreshold"]) == (5, 15)
    assert startup["periodSeconds"] * startup["failureThreshold"] == 30
    assert (readiness["initialDelaySeconds"], readiness["periodSeconds"]) == (10, 10)
    assert (liveness["initialDelaySeconds"], liveness["periodSeconds"]) == (30, 30)


def test_container_runs_inferno_on_the_api_port(rendered):
    container = rendered["prod"].container
    assert container["command"] == ["inferno"]
    assert container["args"] == ["serve", "--bind", "0.0.0.0:8000"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert [source.get("configMapRef", source.get("secretRef"))["name"] for source in container["envFrom"]] == [
        "inferno-config", "inferno-secrets"]
    assert {var["name"] for var in container["env"]} >= {"POD_NAME", "POD_NAMESPACE", "POD_IP"}


def test_limits_per_environment(rendered):
    limits = {env: r.container["resources"]["limits"] for env, r in rendered.items()}
    assert limits == {
        "dev": {"cpu": "1000m", "memory": "2Gi"},
        "staging": {"cpu": "1500m", "memory": "3Gi"},
        "prod": {"cpu": "2000m", "memory": "4Gi"},
    }


def test_security_context(rendered):
    for render_of in rendered.values():
        pod = render_of.pod_spec["securityContext"]
        assert (pod["runAsNonRoot"], pod["runAsUser"], pod["fsGroup"]) == (True, 1000, 1000)
        container = render_of.container["securityContext"]
        assert container["allowPrivilegeEscalation"] is False
        assert container["capabilities"] == {"drop": ["ALL"]}
        assert container["runAsUser"] == 1000
        assert render_of.pod_spec["serviceAccountName"] == "inferno"


def test_anti_affinity_spreads_across_nodes(rendered):
    rule = rendered["prod"].pod_spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert rule == [{"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                        "labelSelector": {"matchLabels": SELECTOR}}}]
    hard = render("prod", "--set", "podAntiAffinity.type=hard").pod_spec["affinity"]["podAntiAffinity"]
    assert list(hard) == ["requiredDuringSchedulingIgnoredDuringExecution"]


def test_mounts_for_models_cache_queue_config_and_writable_paths(rendered):
    prod = rendered["prod"]
    mounts = {m["name"]: m["mountPath"] for m in prod.container["volumeMounts"]}
    assert mounts == {
        "home": "/home/inferno", "tmp": "/tmp", "queue": "/home/inferno/.inferno",
        "models": "/home/inferno/.inferno/models", "cache": "/home/inferno/.inferno/cache",
        "config": "/home/inferno/.inferno/config",
    }
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in prod.pod_spec["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {"models": "inferno-models-pvc", "cache": "inferno-cache-pvc", "queue": "inferno-queue-pvc"}
    # The app's directories are set explicitly and follow the mounts.
    env = prod.env
    assert (env["HOME"], env["INFERNO_MODELS_DIR"], env["INFERNO_CACHE_DIR"]) == (
        "/home/inferno", "/home/inferno/.inferno/models", "/home/inferno/.inferno/cache")
    assert env["INFERNO_AUTO_CHECK_UPDATES"] == "false"
    moved = render("prod", "--set", "persistence.models.path=/data/models")
    assert moved.env["INFERNO_MODELS_DIR"] == "/data/models"
    assert {"name": "models", "mountPath": "/data/models"} in moved.container["volumeMounts"]


def test_without_persistence_the_volumes_are_empty_dirs():
    no_pvc = render("prod", "--set", "persistence.enabled=false")
    assert no_pvc.all("PersistentVolumeClaim") == []
    volumes = {v["name"]: v for v in no_pvc.pod_spec["volumes"]}
    assert all("emptyDir" in volumes[name] for name in ("models", "cache", "queue"))


def test_three_services(rendered):
    prod = rendered["prod"]
    internal = prod.get("Service", "inferno")["spec"]
    assert internal["type"] == "ClusterIP"
    assert [(p["name"], p["port"], p["targetPort"]) for p in internal["ports"]] == [("http", 8000, "http"), ("metrics", 9090, "http")]
    assert prod.get("Service", "inferno-headless")["spec"]["clusterIP"] == "None"
    external = {env: r.maybe("Service", "inferno-external") for env, r in rendered.items()}
    assert external["dev"] is None
    assert external["staging"]["spec"]["type"] == "NodePort"
    assert external["prod"]["spec"]["type"] == "LoadBalancer"
    for env in ("staging", "prod"):
        assert [(p["port"], p["targetPort"]) for p in external[env]["spec"]["ports"]] == [(80, "http")]
        assert external[env]["spec"]["selector"] == SELECTOR


def test_configmap_and_secret(rendered):
    prod = rendered["prod"]
    data = prod.env
    assert len(data) >= 50
    for group in ("INFERNO_LOG_LEVEL", "INFERNO_BIND_ADDRESS", "INFERNO_CONTEXT_SIZE", "INFERNO_QUEUE_MAX_PENDING",
                  "INFERNO_CACHE_STRATEGY", "INFERNO_TOKEN_BATCH_SIZE", "INFERNO_ENV", "INFERNO_METRICS_ENABLED"):
        assert group in data
    assert all(isinstance(value, str) for value in data.values())
    # Inferno's own config sections carry the settings the flat variables cannot reach.
    assert data["INFERNO_SERVER"] == '{bind_address="0.0.0.0",port=8000,request_timeout_seconds=300}'
    secret = prod.get("Secret", "inferno-secrets")
    assert set(secret["data"]) == {"INFERNO_AUTH_SECRET_KEY", "INFERNO_SENTRY_DSN",
                                   "OAUTH2_CLIENT_ID", "OAUTH2_CLIENT_SECRET", "OAUTH2_PROVIDER_URL"}
    assert not set(secret["data"]) & set(data), "a secret must never land in the ConfigMap"


def test_config_or_secret_change_rolls_the_pods():
    def checksum(*args):
        return render("prod", *args).get("Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    base = checksum()
    assert checksum("--set", "config.cache.INFERNO_CACHE_TTL=60") != base
    assert checksum("--set", "secrets.OAUTH2_CLIENT_ID=new") != base
    assert checksum("--set", "replicaCount=4") == base


def test_pvcs(rendered):
    sizes = {env: {c["metadata"]["name"]: c["spec"]["resources"]["requests"]["storage"] for c in r.all("PersistentVolumeClaim")}
             for env, r in rendered.items()}
    assert sizes == {
        "dev": {"inferno-models-pvc": "20Gi", "inferno-cache-pvc": "10Gi", "inferno-queue-pvc": "10Gi"},
        "staging": {"inferno-models-pvc": "200Gi", "inferno-cache-pvc": "100Gi", "inferno-queue-pvc": "10Gi"},
        "prod": {"inferno-models-pvc": "500Gi", "inferno-cache-pvc": "200Gi", "inferno-queue-pvc": "10Gi"},
    }
    for render_of in rendered.values():
        for claim in render_of.all("PersistentVolumeClaim"):
            assert claim["spec"]["storageClassName"] == "standard"
            assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
            # Uninstalling the release never deletes data.
            assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_existing_claim_is_used_instead_of_a_new_one():
    r = render("prod", "--set", "persistence.models.existingClaim=models-from-snapshot")
    assert r.maybe("PersistentVolumeClaim", "inferno-models-pvc") is None
    claims = [v["persistentVolumeClaim"]["claimName"] for v in r.pod_spec["volumes"] if "persistentVolumeClaim" in v]
    assert "models-from-snapshot" in claims


def test_rbac_is_minimal(rendered):
    prod = rendered["prod"]
    assert prod.get("ServiceAccount", "inferno")["automountServiceAccountToken"] is False
    rules = prod.get("Role", "inferno")["rules"]
    granted = {(tuple(r["resources"]), tuple(r["verbs"])) for r in rules}
    assert granted == {(("configmaps",), ("get", "watch")), (("secrets",), ("get", "watch")),
                       (("pods",), ("get", "list", "watch")), (("events",), ("create", "patch"))}
    secret_rule = next(r for r in rules if r["resources"] == ["secrets"])
    assert secret_rule["resourceNames"] == ["inferno-secrets"]
    binding = prod.get("RoleBinding", "inferno")
    assert binding["roleRef"]["name"] == "inferno"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "inferno", "namespace": "inferno-prod"}]


def test_network_policy_rules(rendered):
    for env in ("staging", "prod"):
        spec = rendered[env].get("NetworkPolicy")["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        ingress_namespaces = [peer["namespaceSelector"]["matchLabels"] for rule in spec["ingress"]
                              for peer in rule["from"] if "namespaceSelector" in peer]
        assert {"kubernetes.io/metadata.name": "ingress-nginx"} in ingress_namespaces
        egress_ports = [(p["port"], p["protocol"]) for rule in spec["egress"] for p in rule.get("ports", [])]
        assert egress_ports == [(53, "UDP"), (53, "TCP"), (443, "TCP")]
        # HTTPS egress must reach outside the cluster, which a namespaceSelector never matches.
        https = spec["egress"][1]["to"]
        assert https == [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
        assert spec["egress"][2]["to"][0].keys() == {"podSelector"}


def test_network_policy_follows_load_balancer_source_ranges():
    r = render("prod", "--set", "service.external.loadBalancerSourceRanges={203.0.113.0/24}")
    cidrs = [peer["ipBlock"]["cidr"] for rule in r.get("NetworkPolicy")["spec"]["ingress"]
             for peer in rule["from"] if "ipBlock" in peer]
    assert cidrs == ["203.0.113.0/24"]
    assert r.get("Service", "inferno-external")["spec"]["loadBalancerSourceRanges"] == ["203.0.113.0/24"]


def test_hpa_thresholds_and_behaviour(rendered):
    for env in ("staging", "prod"):
        hpa = rendered[env].get("HorizontalPodAutoscaler")
        assert hpa["apiVersion"] == "autoscaling/v2"
        targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["spec"]["metrics"]}
        assert targets == {"cpu": 70, "memory": 80}
        behavior = hpa["spec"]["behavior"]
        assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "inferno"}
    staging_up = rendered["staging"].get("HorizontalPodAutoscaler")["spec"]["behavior"]["scaleUp"]["policies"]
    assert staging_up == [{"type": "Pods", "value": 1, "periodSeconds": 30}]


def test_old_clusters_get_the_api_versions_they_serve():
    old = render("prod", "--kube-version", "1.20.0")
    assert old.get("HorizontalPodAutoscaler")["apiVersion"] == "autoscaling/v2beta2"
    assert old.get("PodDisruptionBudget")["apiVersion"] == "policy/v1beta1"
    assert render("prod", "--kube-version", "1.22.0").get("PodDisruptionBudget")["apiVersion"] == "policy/v1"


def test_too_old_cluster_is_refused():
    result = run_helm(*["template", "inferno", "./files/helm/inferno", "--kube-version", "1.19.0"], check=False)
    assert result.returncode != 0
    assert "kubeVersion" in result.stderr and ">=1.20.0-0" in result.stderr


def test_vpa_renders_only_where_served_or_forced():
    assert render("prod", "--set", "vpa.enabled=true").maybe("VerticalPodAutoscaler") is None
    served = render("prod", "--set", "vpa.enabled=true", "--api-versions", "autoscaling.k8s.io/v1/VerticalPodAutoscaler")
    vpa = served.get("VerticalPodAutoscaler")
    policy = vpa["spec"]["resourcePolicy"]["containerPolicies"][0]
    assert policy["minAllowed"] == {"cpu": "500m", "memory": "1Gi"}
    assert policy["maxAllowed"] == {"cpu": "4", "memory": "8Gi"}
    assert vpa["spec"]["updatePolicy"]["updateMode"] == "Off"
    forced = render("prod", "--set", "vpa.enabled=true", "--set", "vpa.forceRender=true")
    assert forced.maybe("VerticalPodAutoscaler") is not None
    assert render("prod", "--api-versions", "autoscaling.k8s.io/v1/VerticalPodAutoscaler").maybe("VerticalPodAutoscaler") is None


def test_service_monitor_renders_only_where_served_or_forced(rendered):
    assert rendered["prod"].maybe("ServiceMonitor") is None
    served = render("prod", "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor")
    monitor = served.get("ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"] == {**SELECTOR, "app.kubernetes.io/component": "api"}
    endpoint = monitor["spec"]["endpoints"][0]
    assert (endpoint["port"], endpoint["path"], endpoint["interval"]) == ("metrics", "/metrics", "15s")
    assert all("sourceLabels" in r and "targetLabel" in r for r in endpoint["relabelings"])
    # The selector matches the internal Service only, so each pod is scraped once.
    matching = [s["metadata"]["name"] for s in served.all("Service")
                if all(s["metadata"]["labels"].get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())]
    assert matching == ["inferno"]
    assert render("prod", "--set", "monitoring.serviceMonitor.forceRender=true").maybe("ServiceMonitor") is not None
    # Metrics off (dev) means no ServiceMonitor even when asked and served.
    assert render("dev", "--set", "monitoring.serviceMonitor.enabled=true",
                  "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor").maybe("ServiceMonitor") is None


def test_existing_secret_replaces_the_chart_secret():
    r = render("prod", "--set", "existingSecret=inferno-external-secrets")
    assert r.all("Secret") == []
    assert r.container["envFrom"][1] == {"secretRef": {"name": "inferno-external-secrets"}}
    assert next(rule for rule in r.get("Role")["rules"] if rule["resources"] == ["secrets"])["resourceNames"] == [
        "inferno-external-secrets"]


def test_namespace_override():
    r = render("staging", "--set", "namespaceOverride=elsewhere")
    assert {doc["metadata"]["namespace"] for doc in r.docs} == {"elsewhere"}
