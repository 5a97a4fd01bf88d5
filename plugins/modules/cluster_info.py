#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cluster_facts
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
  inferno.ops.cluster_facts:
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

from ansible_collections.inferno.ops.plugins.module_utils.kube_client import (
    ApiException,
    api_client,
    client,
    connection_argument_spec,
    k8s_module,
    reported_api_errors,
)

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def served_api_versions(core_versions, group_list):
    versions = list(core_versions.versions or [])
    for group in group_list.groups or []:
        versions.extend(version.group_version for version in group.versions or [])
    return sorted(set(versions))


def default_classes(storage_classes):
    return sorted(
        item.metadata.name
        for item in storage_classes
        if any((item.metadata.annotations or {}).get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS)
    )


def read_namespace(core, name):
    try:
        namespace = core.read_namespace(name)
        return dict(name=name, exists=True, labels=namespace.metadata.labels or {})
    except ApiException as error:
        if error.status != 404:
            raise
        return dict(name=name, exists=False, labels={})


def main():
    module = k8s_module(connection_argument_spec(namespace=dict(type="str")))
    api = api_client(module)
    with reported_api_errors(module):
        version = client.VersionApi(api).get_code()
        api_versions = served_api_versions(client.CoreApi(api).get_api_versions(), client.ApisApi(api).get_api_versions())
        classes = client.StorageV1Api(api).list_storage_class().items
        result = dict(
            changed=False,
            kubernetes_version=version.git_version.lstrip("v").split("-")[0].split("+")[0],
            api_versions=api_versions,
            storage_classes=sorted(item.metadata.name for item in classes),
            default_storage_classes=default_classes(classes),
        )
        if module.params.get("namespace"):
            result["namespace"] = read_namespace(client.CoreV1Api(api), module.params["namespace"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
