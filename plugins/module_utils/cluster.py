# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a cluster offers a release, read in four plain requests (no API discovery).

Shared by cluster_info, and by helm_plan when preflight asks it for the cluster's
facts in the same call as the plan.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.inferno.ops.plugins.module_utils.kube_client import ApiException, get_json

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def served_api_versions(core_versions, group_list):
    """Every group/version served: ``core_versions`` is GET /api, ``group_list`` GET /apis (as dicts)."""
    versions = list(core_versions.get("versions") or [])
    for group in group_list.get("groups") or []:
        versions.extend(version["groupVersion"] for version in group.get("versions") or [])
    return sorted(set(versions))


def default_classes(storage_classes):
    return sorted(
        item["metadata"]["name"]
        for item in storage_classes
        if any((item["metadata"].get("annotations") or {}).get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS)
    )


def plain_version(git_version):
    """'v1.34.4-gke.1+abc' -> '1.34.4'."""
    return git_version.lstrip("v").split("-")[0].split("+")[0]


def read_namespace(dynamic, name):
    try:
        namespace = get_json(dynamic, "/api/v1/namespaces/" + name)
        return dict(name=name, exists=True, labels=namespace["metadata"].get("labels") or {})
    except ApiException as error:
        if error.status != 404:
            raise
        return dict(name=name, exists=False, labels={})


def read_cluster(dynamic, namespace=None):
    """The server version, served group/versions, StorageClasses and (optionally) a namespace.

    Plain GETs through kubernetes.core's dynamic client, read as JSON: the typed API
    classes of the kubernetes library cost about a second to import. Raises ApiException
    or a transport error; callers report them (kube_client.reported_api_errors).
    """
    classes = get_json(dynamic, "/apis/storage.k8s.io/v1/storageclasses").get("items") or []
    facts = dict(
        kubernetes_version=plain_version(get_json(dynamic, "/version")["gitVersion"]),
        api_versions=served_api_versions(get_json(dynamic, "/api"), get_json(dynamic, "/apis")),
        storage_classes=sorted(item["metadata"]["name"] for item in classes),
        default_storage_classes=default_classes(classes),
    )
    if namespace:
        facts["namespace"] = read_namespace(dynamic, namespace)
    return facts
