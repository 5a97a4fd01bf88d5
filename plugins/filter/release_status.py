# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One readable line per helm revision or Kubernetes object, for the status summary."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def format_revision(entry):
    """'3  deployed    inferno-0.8.0  2026-11-24T22:44:51  Upgrade complete'."""
    return "{0:<3} {1:<12} {2:<16} {3:<20} {4}".format(
        entry.get("revision", "?"),
        entry.get("status", "?"),
        entry.get("chart", "?"),
        str(entry.get("updated", ""))[:19],
        entry.get("description", ""),
    )


def _ready_containers(pod):
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return "{0}/{1}".format(sum(1 for status in statuses if status.get("ready")), len(statuses))


def describe_resource(obj):
    """'Kind name: the few fields that say whether it is healthy'."""
    kind = obj.get("kind", "?")
    name = (obj.get("metadata") or {}).get("name", "?")
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if kind == "Deployment":
        detail = "{0}/{1} ready, {2} up to date, {3} available".format(
            status.get("readyReplicas", 0),
            spec.get("replicas", 0),
            status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0),
        )
    elif kind == "Pod":
        detail = "{0}, {1} containers ready, node {2}".format(
            status.get("phase", "?"), _ready_containers(obj), spec.get("nodeName", "-")
        )
    elif kind == "Service":
        ingress = [point.get("ip") or point.get("hostname") for point in (status.get("loadBalancer") or {}).get("ingress") or []]
        detail = "{0} {1} ports {2}{3}".format(
            spec.get("type", "ClusterIP"),
            spec.get("clusterIP", "-"),
            ",".join(str(port.get("port")) for port in spec.get("ports") or []),
            ", external " + ",".join(ingress) if ingress else "",
        )
    elif kind == "PersistentVolumeClaim":
        detail = "{0} {1} class {2}".format(
            status.get("phase", "?"),
            (status.get("capacity") or {}).get("storage") or (spec.get("resources") or {}).get("requests", {}).get("storage", "?"),
            spec.get("storageClassName", "-"),
        )
    elif kind == "HorizontalPodAutoscaler":
        detail = "{0}-{1} replicas, now {2}".format(
            spec.get("minReplicas", 1), spec.get("maxReplicas", "?"), status.get("currentReplicas", "?")
        )
    elif kind == "PodDisruptionBudget":
        detail = "minAvailable {0}, {1} disruption(s) allowed".format(
            spec.get("minAvailable", "-"), status.get("disruptionsAllowed", "?")
        )
    else:
        detail = ""
    return "{0} {1}: {2}".format(kind, name, detail).rstrip(": ")


class FilterModule(object):
    def filters(self):
        return {"format_revision": format_revision, "describe_resource": describe_resource}
