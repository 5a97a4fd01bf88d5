"""Pure logic of inferno.ops.release_health and cluster_info: rollout state, endpoints, summary lines."""

from __future__ import annotations


import pytest

from ansible_collections.inferno.ops.plugins.module_utils import release_health
from ansible_collections.inferno.ops.plugins.module_utils import cluster


def deployment(wanted=2, generation=3, **status):
    base = {"observedGeneration": 3, "replicas": wanted, "updatedReplicas": wanted, "readyReplicas": wanted,
            "availableReplicas": wanted}
    return {"kind": "Deployment", "metadata": {"name": "inferno", "generation": generation},
            "spec": {"replicas": wanted}, "status": {**base, **status}}


@pytest.mark.parametrize("obj, problem", [
    (deployment(), None),
    (deployment(generation=4), "Deployment inferno: the controller has not seen the latest spec yet"),
    (deployment(updatedReplicas=1), "Deployment inferno: 1/2 replicas up to date"),
    (deployment(readyReplicas=0), "Deployment inferno: 0/2 replicas ready"),
    (deployment(availableReplicas=1), "Deployment inferno: 1/2 replicas available"),
    (deployment(replicas=3), "Deployment inferno: 1 old replica(s) still terminating"),
])
def test_deployment_rollout(obj, problem):
    assert release_health.deployment_problem(obj) == problem


def endpoint_slice(service, *ready):
    return {"metadata": {"ownerReferences": [{"kind": "Service", "name": service}]},
            "endpoints": [{"conditions": {"ready": flag}} for flag in ready]}


def test_services_need_a_ready_endpoint_from_their_own_slices():
    service = {"kind": "Service", "metadata": {"name": "inferno"}, "spec": {"selector": {"app": "x"}}}
    assert release_health.service_problem(service, [endpoint_slice("other", True)]).startswith(
        "Service inferno: no ready endpoint")
    assert release_health.service_problem(service, [endpoint_slice("inferno", False, True)]) is None
    assert release_health.service_problem({"metadata": {"name": "manual"}, "spec": {}}, []) is None
    assert release_health.problems([], [], []) == ["no Deployment carries the release's label"]


def test_summary_lines():
    claim = {"kind": "PersistentVolumeClaim", "metadata": {"name": "models"},
             "spec": {"storageClassName": "standard"}, "status": {"phase": "Bound", "capacity": {"storage": "20Gi"}}}
    assert release_health.describe(claim) == "PersistentVolumeClaim models: Bound 20Gi class standard"
    service = {"kind": "Service", "metadata": {"name": "inferno-external"},
               "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.9", "ports": [{"port": 8000}]},
               "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.10"}]}}}
    assert release_health.describe(service, [endpoint_slice("inferno-external", True)]) == (
        "Service inferno-external: LoadBalancer 10.0.0.9 ports 8000, 1 ready endpoint(s), external 198.51.100.10")
    assert release_health.describe(deployment()) == "Deployment inferno: 2/2 ready, 2 up to date, 2 available"


def pod(phase="Running", ready=None, containers=(), init_containers=(), conditions=None, deleting=False):
    status = {"phase": phase, "containerStatuses": list(containers), "initContainerStatuses": list(init_containers)}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
    if conditions:
        status.setdefault("conditions", []).extend(conditions)
    metadata = {"name": "inferno-0", **({"deletionTimestamp": "2026-11-28T04:00:00Z"} if deleting else {})}
    return {"kind": "Pod", "metadata": metadata, "status": status}


def waiting(reason, ready=False):
    return {"ready": ready, "state": {"waiting": {"reason": reason}}}


@pytest.mark.parametrize("obj, ready, state", [
    (pod(ready=True, containers=[{"ready": True, "state": {"running": {}}}]), True, "Running"),
    (pod("Pending", ready=False, containers=[waiting("ContainerCreating")]), False, "ContainerCreating"),
    (pod(ready=False, containers=[waiting("CrashLoopBackOff")]), False, "CrashLoopBackOff"),
    (pod("Pending", init_containers=[waiting("ImagePullBackOff")]), False, "Init:ImagePullBackOff"),
    # An init container that completed is not why the pod waits.
    (pod("Pending", init_containers=[{"state": {"terminated": {"reason": "Completed"}}}],
         containers=[waiting("ContainerCreating")]), False, "ContainerCreating"),
    (pod("Failed", containers=[{"ready": False, "state": {"terminated": {"reason": "OOMKilled"}}}]), False, "OOMKilled"),
    (pod("Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]),
     False, "Unschedulable"),
    (pod(ready=False, containers=[{"ready": False, "state": {"running": {}}}]), False, "Running, not ready"),
    # Before the kubelet reports conditions: every container ready counts.
    (pod(containers=[{"ready": True}]), True, "Running"),
    (pod(ready=True, deleting=True), True, "Terminating"),
    (pod("Pending"), False, "Pending"),
])
def test_pod_state_in_kubectl_s_words(obj, ready, state):
    assert release_health.pod_entry(obj) == {"name": "inferno-0", "ready": ready, "state": state}


def test_cluster_info_reads_versions_and_default_classes():
    core = {"versions": ["v1"]}
    groups = {"groups": [{"versions": [{"groupVersion": "apps/v1"}]},
                         {"versions": [{"groupVersion": "snapshot.storage.k8s.io/v1"},
                                       {"groupVersion": "snapshot.storage.k8s.io/v1beta1"}]}]}
    assert cluster.served_api_versions(core, groups) == [
        "apps/v1", "snapshot.storage.k8s.io/v1", "snapshot.storage.k8s.io/v1beta1", "v1"]
    classes = [{"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}},
               {"metadata": {"name": "fast", "annotations": None}},
               {"metadata": {"name": "old", "annotations": {"storageclass.beta.kubernetes.io/is-default-class": "true"}}}]
    assert cluster.default_classes(classes) == ["old", "standard"]
    assert cluster.plain_version("v1.34.4-gke.1+abc") == "1.34.4"
