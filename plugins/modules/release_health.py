#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_health
short_description: Whether a release's workloads are rolled out and its Services can route traffic
version_added: 0.1.0
author:
  - Inferno Ops maintainers (@inferno-ops)
description:
  - Reads the release's Deployments, Pods, Services, EndpointSlices, PersistentVolumeClaims,
    HorizontalPodAutoscalers and PodDisruptionBudgets (selected by the label
    C(app.kubernetes.io/instance=<release_name>)).
  - The release is healthy when every Deployment's rollout is complete (every replica up to
    date, ready and available, no old replica left, the latest spec observed) and every Service
    with a selector has at least one ready endpoint.
  - With O(wait), polls until healthy or until O(wait_timeout); it does not fail by itself,
    so the caller decides what an unhealthy release means and says so.
  - Reads only.
options:
  wait:
    description:
      - Poll until the release is healthy.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to poll for when O(wait=true).
    type: int
    default: 300
extends_documentation_fragment:
  - inferno.ops.release
  - kubernetes.core.k8s_auth_options
  - inferno.ops.read_only
"""

EXAMPLES = r"""
- name: Wait for the production release to roll out and serve
  inferno.ops.release_health:
    release_name: inferno
    release_namespace: inferno-prod
    wait: true
    wait_timeout: 600
  register: health

- name: Fail with what is not ready
  ansible.builtin.assert:
    that: health.healthy
    fail_msg: "{{ health.problems | join('; ') }}"
"""

RETURN = r"""
healthy:
  description: Every Deployment rolled out and every Service has a ready endpoint.
  returned: always
  type: bool
problems:
  description: What is not healthy, one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["Deployment inferno: 1/3 replicas ready"]
summary:
  description: One line per object with the fields that tell its health.
  returned: always
  type: list
  elements: str
  sample: ["Deployment inferno: 3/3 ready, 3 up to date, 3 available", "PersistentVolumeClaim inferno-models-pvc: Bound 500Gi class standard"]
counts:
  description: How many objects of each kind the release has.
  returned: always
  type: dict
  sample: {Deployment: 1, Pod: 3, Service: 3}
waited_seconds:
  description: How long the module polled.
  returned: always
  type: float
"""

import time

from ansible_collections.inferno.ops.plugins.module_utils import release_health
from ansible_collections.inferno.ops.plugins.module_utils.release_options import release_options
from ansible_collections.inferno.ops.plugins.module_utils.kube_client import (
    ApiException,
    api_client,
    client,
    connection_argument_spec,
    k8s_module,
    reported_api_errors,
)

POLL_SECONDS = 1.0


class ReleaseReader(object):
    def __init__(self, module):
        self.api = api_client(module)
        self.namespace = module.params["release_namespace"]
        self.selector = "app.kubernetes.io/instance={0}".format(module.params["release_name"])

    def _items(self, lister, kind, **kwargs):
        items = lister(self.namespace, **kwargs).items
        objects = [self.api.sanitize_for_serialization(item) for item in items]
        for obj in objects:
            obj["kind"] = kind
        return objects

    def read(self, full):
        apps, core = client.AppsV1Api(self.api), client.CoreV1Api(self.api)
        objects = {
            "Deployment": self._items(apps.list_namespaced_deployment, "Deployment", label_selector=self.selector),
            "Service": self._items(core.list_namespaced_service, "Service", label_selector=self.selector),
            # Slices carry the Service's labels only on newer clusters: take all, match by owner.
            "EndpointSlice": self._items(client.DiscoveryV1Api(self.api).list_namespaced_endpoint_slice, "EndpointSlice"),
        }
        if full:
            objects["Pod"] = self._items(core.list_namespaced_pod, "Pod", label_selector=self.selector)
            objects["PersistentVolumeClaim"] = self._items(
                core.list_namespaced_persistent_volume_claim, "PersistentVolumeClaim", label_selector=self.selector)
            objects["HorizontalPodAutoscaler"] = self._optional(
                client.AutoscalingV2Api(self.api).list_namespaced_horizontal_pod_autoscaler, "HorizontalPodAutoscaler")
            objects["PodDisruptionBudget"] = self._optional(
                client.PolicyV1Api(self.api).list_namespaced_pod_disruption_budget, "PodDisruptionBudget")
        return objects

    def _optional(self, lister, kind):
        """Kinds an old cluster may serve under another version only: none rather than an error."""
        try:
            return self._items(lister, kind, label_selector=self.selector)
        except ApiException as error:
            if error.status == 404:
                return []
            raise


def main():
    module = k8s_module(
        connection_argument_spec(**release_options(
            wait=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=300),
        ))
    )
    reader = ReleaseReader(module)
    started = time.monotonic()
    with reported_api_errors(module, " in {0}".format(reader.namespace)):
        while True:
            objects = reader.read(full=False)
            problems = release_health.problems(objects["Deployment"], objects["Service"], objects["EndpointSlice"])
            if not problems or not module.params["wait"] or time.monotonic() - started >= module.params["wait_timeout"]:
                break
            time.sleep(POLL_SECONDS)
        objects.update(reader.read(full=True))
    order = ("Deployment", "Pod", "Service", "PersistentVolumeClaim", "HorizontalPodAutoscaler", "PodDisruptionBudget")
    summary = [release_health.describe(obj, objects["EndpointSlice"]) for kind in order for obj in objects[kind]]
    module.exit_json(
        changed=False,
        healthy=not problems,
        problems=problems,
        summary=summary,
        counts=dict((kind, len(objects[kind])) for kind in order),
        waited_seconds=round(time.monotonic() - started, 1),
    )


if __name__ == "__main__":
    main()
