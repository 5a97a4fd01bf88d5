# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a release's objects are healthy, and one readable line per object.

Pure logic on objects as the API returns them (camelCase dicts); unit-tested directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def deployment_problem(deployment):
    """Why a Deployment's rollout is not complete, or None when it is."""
    name = deployment["metadata"]["name"]
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    wanted = spec.get("replicas", 1)
    if status.get("observedGeneration", 0) < deployment["metadata"].get("generation", 0):
        return "Deployment {0}: the controller has not seen the latest spec yet".format(name)
    for field, what in (("updatedReplicas", "up to date"), ("readyReplicas", "ready"), ("availableReplicas", "available")):
        if status.get(field, 0) < wanted:
            return "Deployment {0}: {1}/{2} replicas {3}".format(name, status.get(field, 0), wanted, what)
    if status.get("replicas", 0) > wanted:
        return "Deployment {0}: {1} old replica(s) still terminating".format(name, status["replicas"] - wanted)
    return None


def ready_endpoints(service_name, slices):
    """How many ready endpoints the EndpointSlices owned by a Service have."""
    count = 0
    for endpoint_slice in slices:
        owners = endpoint_slice["metadata"].get("ownerReferences") or []
        if not any(owner.get("kind") == "Service" and owner.get("name") == service_name for owner in owners):
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready", True):
                count += 1
    return count


def service_problem(service, slices):
    """Why a Service cannot route traffic yet, or None."""
    if not (service.get("spec") or {}).get("selector"):
        return None  # no selector: endpoints are managed by hand
    name = service["metadata"]["name"]
    if ready_endpoints(name, slices) == 0:
        return "Service {0}: no ready endpoint (no pod that matches its selector is ready)".format(name)
    return None


def problems(deployments, services, slices):
    found = []
    if not deployments:
        found.append("no Deployment carries the release's label")
    found.extend(problem for problem in (deployment_problem(item) for item in deployments) if problem)
    found.extend(problem for problem in (service_problem(item, slices) for item in services) if problem)
    return found


def pod_ready(pod):
    """Whether the pod is Ready: its Ready condition, or, before it has conditions, every container ready."""
    status = pod.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    containers = status.get("containerStatuses") or []
    return bool(containers) and all(container.get("ready") for container in containers)


def pod_state(pod):
    """What a pod is doing, in kubectl's words: a container's waiting or failure reason
    (ContainerCreating, CrashLoopBackOff, Init:ImagePullBackOff), Unschedulable, Terminating,
    or its phase ("Running, not ready" when it runs but is not ready)."""
    metadata = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if metadata.get("deletionTimestamp"):
        return "Terminating"
    for key, prefix in (("initContainerStatuses", "Init:"), ("containerStatuses", "")):
        for container in status.get(key) or []:
            state = container.get("state") or {}
            reason = (state.get("waiting") or {}).get("reason")
            terminated = (state.get("terminated") or {}).get("reason")
            if not reason and terminated and not (prefix and terminated == "Completed"):
                reason = terminated
            if reason and not (prefix == "" and container.get("ready")):
                return prefix + reason
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return condition.get("reason") or "not scheduled"
    phase = status.get("phase") or "Pending"
    if phase == "Running" and not pod_ready(pod):
        return "Running, not ready"
    return phase


def pod_entry(pod):
    """{name, ready, state}: one pod as release_health returns it in ``pods``."""
    return {"name": (pod.get("metadata") or {}).get("name", "?"), "ready": pod_ready(pod), "state": pod_state(pod)}


def _ready_containers(pod):
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return "{0}/{1}".format(sum(1 for status in statuses if status.get("ready")), len(statuses))


def describe(obj, slices=()):
    """'Kind name: the few fields that say whether it is healthy'."""
    kind = obj.get("kind", "?")
    name = (obj.get("metadata") or {}).get("name", "?")
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if kind == "Deployment":
        detail = "{0}/{1} ready, {2} up to date, {3} available".format(
            status.get("readyReplicas", 0), spec.get("replicas", 0), status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0))
    elif kind == "Pod":
        detail = "{0}, {1} containers ready, node {2}".format(
            status.get("phase", "?"), _ready_containers(obj), spec.get("nodeName", "-"))
    elif kind == "Service":
        ingress = [point.get("ip") or point.get("hostname") for point in (status.get("loadBalancer") or {}).get("ingress") or []]
        detail = "{0} {1} ports {2}, {3} ready endpoint(s){4}".format(
            spec.get("type", "ClusterIP"), spec.get("clusterIP", "-"),
            ",".join(str(port.get("port")) for port in spec.get("ports") or []),
            ready_endpoints(name, slices), ", external " + ",".join(ingress) if ingress else "")
    elif kind == "PersistentVolumeClaim":
        detail = "{0} {1} class {2}".format(
            status.get("phase", "?"),
            (status.get("capacity") or {}).get("storage") or ((spec.get("resources") or {}).get("requests") or {}).get("storage", "?"),
            spec.get("storageClassName", "-"))
    elif kind == "HorizontalPodAutoscaler":
        detail = "{0}-{1} replicas, now {2}".format(
            spec.get("minReplicas", 1), spec.get("maxReplicas", "?"), status.get("currentReplicas", "?"))
    elif kind == "PodDisruptionBudget":
        detail = "minAvailable {0}, {1} disruption(s) allowed".format(
            spec.get("minAvailable", "-"), status.get("disruptionsAllowed", "?"))
    else:
        return "{0} {1}".format(kind, name)
    return "{0} {1}: {2}".format(kind, name, detail)
