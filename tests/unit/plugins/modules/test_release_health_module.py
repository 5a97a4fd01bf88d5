"""inferno.ops.release_health run through its main(), on a fake dynamic client and a fake clock.

The module lists the release's objects with ``kube_client.get_json``; ``fake_dynamic`` (from
conftest.py) serves the lists a test puts in it and records each request. The module's clock
is a ``Clock`` whose sleep moves time on and lets the rollout progress, so waiting takes no
time. helm (for ``deployed_revision``) is kubernetes.core's runner, patched. The health rules
themselves are tested directly in tests/unit/plugins/test_release_health.py.
"""

from __future__ import annotations

import json
import types

import pytest
from ansible_collections.kubernetes.core.plugins.module_utils.helm import AnsibleHelmModule

from ansible_collections.inferno.ops.plugins.modules import release_health as release_health_module

HELM = "/opt/helm/bin/helm"
NAMESPACE = "inferno-prod"
SELECTOR = "app.kubernetes.io/instance=inferno"
HISTORY_ARGV = [HELM, "history", "inferno", "--max", "1", "--output", "json", "--namespace", NAMESPACE]


def path(group_version, resource):
    prefix = "/api/v1" if group_version == "v1" else "/apis/" + group_version
    return "{0}/namespaces/{1}/{2}".format(prefix, NAMESPACE, resource)


DEPLOYMENTS = path("apps/v1", "deployments")
SERVICES = path("v1", "services")
SLICES = path("discovery.k8s.io/v1", "endpointslices")
PODS = path("v1", "pods")
CLAIMS = path("v1", "persistentvolumeclaims")
AUTOSCALERS = path("autoscaling/v2", "horizontalpodautoscalers")
BUDGETS = path("policy/v1", "poddisruptionbudgets")
QUICK_READS = [DEPLOYMENTS, SERVICES, SLICES]
# Read once, after the last rollout read; the rollout lists are not read again.
FULL_READS = [PODS, CLAIMS, AUTOSCALERS, BUDGETS]


def meta(name, **fields):
    return dict({"name": name, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/instance": "inferno"}}, **fields)


def serve_release(dynamic, ready=3):
    """The release's objects as the API lists them, with ``ready`` of its 3 replicas ready."""
    dynamic.documents.update({
        DEPLOYMENTS: {"kind": "DeploymentList", "items": [{
            "metadata": meta("inferno", generation=4), "spec": {"replicas": 3},
            "status": {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": ready,
                       "availableReplicas": ready}}]},
        SERVICES: {"kind": "ServiceList", "items": [
            {"metadata": meta("inferno"), "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10",
                                                   "ports": [{"port": 8000}], "selector": {"app": "inferno"}}},
            {"metadata": meta("inferno-external"), "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.11",
                                                            "ports": [{"port": 443}]}},  # endpoints by hand
        ]},
        # Not selected by label: the module matches slices to Services by owner.
        SLICES: {"kind": "EndpointSliceList", "items": [
            {"metadata": {"name": "inferno-abcde", "ownerReferences": [{"kind": "Service", "name": "inferno"}]},
             "endpoints": [{"conditions": {"ready": index < ready}} for index in range(3)]},
            {"metadata": {"name": "other-fghij", "ownerReferences": [{"kind": "Service", "name": "other"}]},
             "endpoints": [{"conditions": {"ready": True}}]},
        ]},
        PODS: {"kind": "PodList", "items": [
            {"metadata": meta("inferno-{0}".format(index)), "spec": {"nodeName": "node-{0}".format(index)},
             "status": {"phase": "Running", "containerStatuses": [{"ready": index < ready}]}}
            for index in range(3)]},
        CLAIMS: {"kind": "PersistentVolumeClaimList", "items": [
            {"metadata": meta("inferno-models-pvc"), "spec": {"storageClassName": "standard"},
             "status": {"phase": "Bound", "capacity": {"storage": "500Gi"}}}]},
        AUTOSCALERS: {"kind": "HorizontalPodAutoscalerList", "items": [
            {"metadata": meta("inferno"), "spec": {"minReplicas": 3, "maxReplicas": 6},
             "status": {"currentReplicas": 3}}]},
        BUDGETS: {"kind": "PodDisruptionBudgetList", "items": [
            {"metadata": meta("inferno"), "spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 1}}]},
    })


HEALTHY_SUMMARY = [
    "Deployment inferno: 3/3 ready, 3 up to date, 3 available",
    "Pod inferno-0: Running, 1/1 containers ready, node node-0",
    "Pod inferno-1: Running, 1/1 containers ready, node node-1",
    "Pod inferno-2: Running, 1/1 containers ready, node node-2",
    "Service inferno: ClusterIP 10.96.0.10 ports 8000, 3 ready endpoint(s)",
    "Service inferno-external: ClusterIP 10.96.0.11 ports 443, 0 ready endpoint(s)",
    "PersistentVolumeClaim inferno-models-pvc: Bound 500Gi class standard",
    "HorizontalPodAutoscaler inferno: 3-6 replicas, now 3",
    "PodDisruptionBudget inferno: minAvailable 2, 1 disruption(s) allowed",
]
HEALTHY_PODS = [{"name": "inferno-{0}".format(index), "ready": True, "state": "Running"} for index in range(3)]
COUNTS = {"Deployment": 1, "Pod": 3, "Service": 2, "PersistentVolumeClaim": 1, "HorizontalPodAutoscaler": 1,
          "PodDisruptionBudget": 1}
NOT_READY = ["Deployment inferno: 0/3 replicas ready",
             "Service inferno: no ready endpoint (no pod that matches its selector is ready)"]


class Clock(object):
    """The module's time: sleeping moves it on, and calls what the test planned for that moment."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []
        self.on_sleep = {}  # number of sleeps so far -> what happens then

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
        if len(self.sleeps) in self.on_sleep:
            self.on_sleep[len(self.sleeps)]()


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(release_health_module, "time", types.SimpleNamespace(monotonic=fake.monotonic,
                                                                             sleep=fake.sleep))
    return fake


@pytest.fixture
def dynamic(fake_dynamic, monkeypatch, clock):
    serve_release(fake_dynamic)
    monkeypatch.setattr(release_health_module, "dynamic_client", fake_dynamic.built_for)
    return fake_dynamic


class FakeHelm(object):
    def __init__(self):
        self.latest = {"revision": 7, "status": "deployed", "chart": "inferno-0.2.0", "app_version": "0.11.0",
                       "updated": "2026-11-27T10:00:00Z", "description": "Upgrade complete"}
        self.error = None
        self.calls = []

    def run_helm_command(self, command, fails_on_error=True, data=None):
        self.calls.append(list(command))
        if self.error:
            return 1, "", self.error
        if self.latest is None:
            return 1, "", "Error: release: not found"
        return 0, json.dumps([self.latest]), ""


@pytest.fixture
def helm(monkeypatch):
    fake = FakeHelm()
    monkeypatch.setattr(AnsibleHelmModule, "run_helm_command", fake.run_helm_command)
    return fake


def module_args(args):
    args = dict({"release_name": "inferno", "release_namespace": NAMESPACE, "binary_path": HELM}, **args)
    return dict((key, value) for key, value in args.items() if value is not None)


@pytest.fixture
def run(run_module, helm):
    return lambda check_mode=False, **args: run_module(release_health_module.main, module_args(args),
                                                       check_mode=check_mode)


@pytest.fixture
def fail(fail_module, helm):
    return lambda **args: fail_module(release_health_module.main, module_args(args))


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_healthy_release(run, dynamic, clock, helm, check_mode):
    result = run(check_mode=check_mode)
    assert result == {"changed": False, "healthy": True, "problems": [], "summary": HEALTHY_SUMMARY,
                      "counts": COUNTS, "pods": HEALTHY_PODS, "release": None, "waited_seconds": 0.0}
    assert helm.calls == [] and clock.sleeps == []


def test_the_release_s_objects_are_listed_by_its_label_and_slices_by_owner(run, dynamic):
    run()
    selected = {"label_selector": SELECTOR}
    assert dynamic.requests == [(DEPLOYMENTS, selected), (SERVICES, selected), (SLICES, {}), (PODS, selected),
                                (CLAIMS, selected), (AUTOSCALERS, selected), (BUDGETS, selected)]


def test_without_wait_an_unhealthy_release_is_reported_at_once(run, dynamic, clock):
    serve_release(dynamic, ready=0)
    result = run()
    assert (result["healthy"], result["problems"], result["waited_seconds"]) == (False, NOT_READY, 0.0)
    assert "Deployment inferno: 0/3 ready, 3 up to date, 0 available" in result["summary"]
    assert result["pods"][0] == {"name": "inferno-0", "ready": False, "state": "Running, not ready"}
    assert clock.sleeps == [] and dynamic.paths() == QUICK_READS + FULL_READS


def test_no_deployment_is_a_problem(run, dynamic):
    dynamic.documents[DEPLOYMENTS] = {"items": []}
    result = run()
    assert result["healthy"] is False and result["problems"] == ["no Deployment carries the release's label"]


def test_with_wait_it_polls_until_the_rollout_is_complete(run, dynamic, clock):
    serve_release(dynamic, ready=0)
    clock.on_sleep[1] = lambda: serve_release(dynamic, ready=2)
    clock.on_sleep[3] = lambda: serve_release(dynamic, ready=3)
    result = run(wait=True, wait_timeout=60)
    assert (result["healthy"], result["problems"], result["summary"]) == (True, [], HEALTHY_SUMMARY)
    assert clock.sleeps == [release_health_module.POLL_SECONDS] * 3
    assert result["waited_seconds"] == 3.0
    assert dynamic.paths() == QUICK_READS * 4 + FULL_READS  # four polls, then everything once


def test_with_wait_it_gives_up_at_the_timeout_without_failing(run, dynamic, clock):
    serve_release(dynamic, ready=0)
    result = run(wait=True, wait_timeout=5)
    assert (result["healthy"], result["problems"], result["waited_seconds"]) == (False, NOT_READY, 5.0)
    assert clock.sleeps == [1.0] * 5 and dynamic.paths().count(DEPLOYMENTS) == 6


def test_with_wait_a_healthy_release_is_not_polled(run, dynamic, clock):
    assert run(wait=True)["healthy"] is True
    assert clock.sleeps == []


@pytest.mark.parametrize("wait_timeout", [0, -30])
def test_a_wait_timeout_that_is_not_above_0_is_refused(fail, dynamic, helm, wait_timeout):
    failed = fail(wait=True, wait_timeout=wait_timeout, deployed_revision=0)
    assert failed["msg"] == "wait_timeout must be a number of seconds above 0, got {0}.".format(wait_timeout)
    assert dynamic.requests == [] and helm.calls == []


# --- deployed_revision: what helm says --------------------------------------------------------

RELEASE = {"revision": 7, "status": "deployed", "chart": "inferno-0.2.0", "app_version": "0.11.0",
           "updated": "2026-11-27T10:00:00Z", "description": "Upgrade complete"}


@pytest.mark.parametrize("deployed_revision", [0, 7])
def test_a_release_deployed_at_the_expected_revision(run, dynamic, helm, deployed_revision):
    result = run(deployed_revision=deployed_revision)
    assert (result["healthy"], result["problems"], result["release"]) == (True, [], RELEASE)
    assert helm.calls == [HISTORY_ARGV]


@pytest.mark.parametrize("latest, deployed_revision, problem", [
    (None, 0, "release inferno is not installed in inferno-prod"),
    (RELEASE, 8, "release inferno is 'deployed' at revision 7 (Upgrade complete); expected 'deployed' at revision 8"),
    (dict(RELEASE, status="pending-upgrade", description="Preparing upgrade"), 0,
     "release inferno is 'pending-upgrade' at revision 7 (Preparing upgrade); expected 'deployed' at any revision"),
    (dict(RELEASE, status="failed", description=""), 7,
     "release inferno is 'failed' at revision 7 (); expected 'deployed' at revision 7"),
])
def test_a_release_not_deployed_as_expected_is_unhealthy_at_once_even_with_wait(
        run, dynamic, clock, helm, latest, deployed_revision, problem):
    helm.latest = latest
    serve_release(dynamic, ready=0)
    result = run(deployed_revision=deployed_revision, wait=True, wait_timeout=600)
    assert result["healthy"] is False and result["problems"] == [problem] + NOT_READY
    assert result["release"] == (None if latest is None else dict(latest))
    assert clock.sleeps == [] and result["waited_seconds"] == 0.0
    assert helm.calls == [HISTORY_ARGV]
    assert dynamic.paths() == QUICK_READS + FULL_READS  # the objects are still read for the summary


def test_a_release_not_deployed_is_unhealthy_even_when_its_objects_are_healthy(run, dynamic, helm):
    helm.latest = None
    result = run(deployed_revision=0)
    assert (result["healthy"], result["problems"]) == (False, ["release inferno is not installed in inferno-prod"])


def test_helm_failing_to_read_the_release_fails_before_any_request(fail, dynamic, helm):
    helm.error = "Error: Kubernetes cluster unreachable"
    assert fail(deployed_revision=0)["msg"].startswith(
        "Cannot read the history of release 'inferno' in namespace 'inferno-prod': Error: Kubernetes cluster "
        "unreachable.")
    assert dynamic.requests == []


# --- kinds an old cluster may not serve -------------------------------------------------------

@pytest.mark.parametrize("missing, kind", [(AUTOSCALERS, "HorizontalPodAutoscaler"),
                                           (BUDGETS, "PodDisruptionBudget")])
def test_an_optional_kind_the_cluster_does_not_serve_counts_as_none(run, dynamic, missing, kind):
    del dynamic.documents[missing]  # the fake answers 404, as a cluster without that group/version does
    result = run()
    assert result["healthy"] is True and result["counts"] == dict(COUNTS, **{kind: 0})
    assert not any(line.startswith(kind + " ") for line in result["summary"])


@pytest.mark.parametrize("refused, status", [(AUTOSCALERS, 403), (DEPLOYMENTS, 404), (PODS, 404), (SLICES, 403)])
def test_other_refusals_fail_with_the_server_s_message(fail, dynamic, refused, status):
    dynamic.refuse(refused, status, "the server says no")
    assert fail()["msg"] == "The Kubernetes API refused a request in inferno-prod: the server says no"
