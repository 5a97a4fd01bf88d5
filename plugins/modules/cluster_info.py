#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cluster_info
short_description: What a cluster offers a release, read in four requests
version_added: 0.1.0
author:
  - Inferno Ops maintainers (@inferno-ops)
description:
  - Reads the server version, the API group versions the cluster serves, its StorageClasses
    (and which is the default) and, when O(namespace) is given, whether that namespace exists
    and its labels.
  - Four plain requests, with no API discovery, so preflight checks stay fast.
  - Reads only. Fails with the connection error when the cluster cannot be reached.
  - It returns no C(ansible_facts), so by Ansible's naming rules it is an C(_info) module. The
    name C(inferno.ops.cluster_facts) redirects to it, with a deprecation warning, until 1.0.0.
options:
  namespace:
    description:
      - A namespace to look up.
    type: str
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - inferno.ops.read_only
seealso:
  - module: kubernetes.core.k8s_cluster_info
"""

EXAMPLES = r"""
- name: Read what the production cluster offers
  inferno.ops.cluster_info:
    kubeconfig: ~/.kube/prod.yaml
    context: inferno-prod
    namespace: inferno-prod
  register: cluster

- name: Refuse a ServiceMonitor without its CRD
  ansible.builtin.assert:
    that: "'monitoring.coreos.com/v1' in cluster.api_versions"
"""

RETURN = r"""
kubernetes_version:
  description: The server's version, without the leading v.
  returned: always
  type: str
  sample: 1.34.4
api_versions:
  description: Every group/version the cluster serves (C(v1) for the core group).
  returned: always
  type: list
  elements: str
  sample: [v1, apps/v1, snapshot.storage.k8s.io/v1]
storage_classes:
  description: Names of the StorageClasses.
  returned: always
  type: list
  elements: str
  sample: [standard]
default_storage_classes:
  description: The StorageClasses marked as the default (more than one is a misconfiguration).
  returned: always
  type: list
  elements: str
  sample: [standard]
namespace:
  description: The namespace asked for.
  returned: when O(namespace) is given
  type: dict
  contains:
    name:
      description: Its name.
      type: str
    exists:
      description: Whether it exists.
      type: bool
    labels:
      description: Its labels.
      type: dict
"""

from ansible_collections.inferno.ops.plugins.module_utils.args_common import K8S_CONNECTION, argument_spec
from ansible_collections.inferno.ops.plugins.module_utils.cluster import read_cluster
from ansible_collections.inferno.ops.plugins.module_utils.kube_client import (
    dynamic_client,
    k8s_module,
    reported_api_errors,
)


def main():
    module = k8s_module(argument_spec(K8S_CONNECTION, namespace=dict(type="str")))
    dynamic = dynamic_client(module)
    with reported_api_errors(module):
        result = read_cluster(dynamic, module.params.get("namespace"))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
