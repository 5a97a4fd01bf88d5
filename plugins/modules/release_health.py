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
  - While it waits, the task prints a line every O(progress_interval) seconds on the
    controller with what is still not ready (pods and their states, or the problems). A
    release healthy within the first O(progress_interval) seconds prints nothing extra.
  - 'A line reads "[prod-cluster] waiting for inferno-prod/inferno (42s of 300s): 1 of 2 pods ready;
    inferno-7d9f-x2x: ContainerCreating".'
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
  progress_interval:
    description:
      - With O(wait), seconds between the progress lines the task prints while it waits; C(0)
        prints none.
      - The lines are printed by the controller side of the task (its action plugin), which
        runs the module for at most this many seconds at a time; the module itself does not
        use this option.
    type: int
    default: 5
  deployed_revision:
    description:
      - Also ask helm (C(helm history)) whether the release's latest revision is C(deployed) and,
        when not C(0), whether it is this revision. A release that is not, or not installed,
        is unhealthy at once, without waiting.
      - Omitted, helm is not asked.
    type: int
extends_documentation_fragment:
  - inferno.ops.release
  - kubernetes.core.k8s_auth_options
  - inferno.ops.helm_binary
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
  description:
    - Every Deployment rolled out and every Service has a ready endpoint (and, with
      O(deployed_revision), the release is deployed at that revision).
  returned: always
  type: bool
release:
  description: The release's latest revision as helm reports it, or null.
  returned: always (null unless O(deployed_revision) is given)
  type: dict
  contains:
    revision:
      description: Revision number.
      type: int
    status:
      description: Helm status of that revision.
      type: str
    chart:
      description: Chart name and version.
      type: str
    app_version:
      description: The chart's appVersion.
      type: str
    updated:
      description: When the revision was made.
      type: str
    description:
      description: What helm recorded for it.
      type: str
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
pods:
  description:
    - The release's pods, each with whether it is ready and what it is doing, in kubectl's words
      (C(ContainerCreating), C(CrashLoopBackOff), C(Init:ImagePullBackOff), C(Unschedulable),
      C(Terminating), C(Running, not ready), or the phase).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "inferno-7d9f-x2x", "ready": false, "state": "ContainerCreating"}]
waited_seconds:
  description: How long the task waited, in seconds.
  returned: always
  type: float
"""

import time

from ansible_collections.inferno.ops.plugins.module_utils import release_health
from ansible_collections.inferno.ops.plugins.module_utils.args_common import K8S_CONNECTION, RELEASE, argument_spec
from ansible_collections.inferno.ops.plugins.module_utils.kube_client import (
    ApiException,
    dynamic_client,
    get_json,
    k8s_module,
    reported_api_errors,
)
from ansible_collections.inferno.ops.plugins.module_utils.release_state import (
    ReleaseState,
    ReleaseStateError,
    entry_summary,
)

POLL_SECONDS = 1.0


class ReleaseReader(object):
    """Lists the release's objects as plain JSON through the dynamic client (the typed API
    classes of the kubernetes library cost about a second to import)."""

    def __init__(self, module):
        self.dynamic = dynamic_client(module)
        self.namespace = module.params["release_namespace"]
        self.selector = "app.kubernetes.io/instance={0}".format(module.params["release_name"])

    def _items(self, group_version, resource, kind, selected=True):
        prefix = "/api/v1" if group_version == "v1" else "/apis/" + group_version
        path = "{0}/namespaces/{1}/{2}".format(prefix, self.namespace, resource)
        query = dict(label_selector=self.selector) if selected else {}
        objects = get_json(self.dynamic, path, **query).get("items") or []
        for obj in objects:
            obj["kind"] = kind
        return objects

    def read_rollout(self):
        """What health is judged on: the Deployments, the Services and their EndpointSlices."""
        return {
            "Deployment": self._items("apps/v1", "deployments", "Deployment"),
            "Service": self._items("v1", "services", "Service"),
            # Slices carry the Service's labels only on newer clusters: take all, match by owner.
            "EndpointSlice": self._items("discovery.k8s.io/v1", "endpointslices", "EndpointSlice", selected=False),
        }

    def read_others(self):
        """The rest of the summary, read once after the last rollout read."""
        return {
            "Pod": self._items("v1", "pods", "Pod"),
            "PersistentVolumeClaim": self._items("v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
            "HorizontalPodAutoscaler": self._optional(
                "autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
            "PodDisruptionBudget": self._optional("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget"),
        }

    def _optional(self, group_version, resource, kind):
        """Kinds an old cluster may serve under another version only: none rather than an error."""
        try:
            return self._items(group_version, resource, kind)
        except ApiException as error:
            if error.status == 404:
                return []
            raise


def release_problem(module):
    """(latest revision summary or None, problem or None): what helm says of the release."""
    params = module.params
    try:
        latest = ReleaseState(module, params["release_name"], params["release_namespace"]).latest()
    except ReleaseStateError as error:
        module.fail_json(msg=str(error))
    expected = params["deployed_revision"]
    if latest is None:
        return None, "release {0} is not installed in {1}".format(params["release_name"], params["release_namespace"])
    if latest["status"] != "deployed" or expected not in (0, latest["revision"]):
        return entry_summary(latest), "release {0} is '{1}' at revision {2} ({3}); expected 'deployed' at {4}".format(
            params["release_name"], latest["status"], latest["revision"], latest.get("description") or "",
            "revision {0}".format(expected) if expected else "any revision")
    return entry_summary(latest), None


def main():
    module = k8s_module(argument_spec(
        K8S_CONNECTION,
        RELEASE,
        binary_path=dict(type="path"),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
        deployed_revision=dict(type="int"),
        progress_interval=dict(type="int", default=5),
    ))
    if module.params["wait_timeout"] <= 0:
        module.fail_json(msg="wait_timeout must be a number of seconds above 0, got {0}.".format(
            module.params["wait_timeout"]))
    release, release_problem_text = None, None
    if module.params["deployed_revision"] is not None:
        release, release_problem_text = release_problem(module)
    reader = ReleaseReader(module)
    started = time.monotonic()
    with reported_api_errors(module, " in {0}".format(reader.namespace)):
        while True:
            objects = reader.read_rollout()
            problems = release_health.problems(objects["Deployment"], objects["Service"], objects["EndpointSlice"])
            if release_problem_text:
                problems.insert(0, release_problem_text)
                break
            if not problems or not module.params["wait"] or time.monotonic() - started >= module.params["wait_timeout"]:
                break
            time.sleep(POLL_SECONDS)
        # healthy, problems and the Deployment/Service lines all come from the same last read.
        objects.update(reader.read_others())
    order = ("Deployment", "Pod", "Service", "PersistentVolumeClaim", "HorizontalPodAutoscaler", "PodDisruptionBudget")
    summary = [release_health.describe(obj, objects["EndpointSlice"]) for kind in order for obj in objects[kind]]
    module.exit_json(
        changed=False,
        healthy=not problems,
        problems=problems,
        summary=summary,
        counts=dict((kind, len(objects[kind])) for kind in order),
        pods=[release_health.pod_entry(pod) for pod in objects["Pod"]],
        release=release,
        waited_seconds=round(time.monotonic() - started, 1),
    )


if __name__ == "__main__":
    main()
