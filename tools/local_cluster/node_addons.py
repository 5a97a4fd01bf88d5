"""Add-ons of the real node: storage that really mounts, and resource metrics.

* **local-path-provisioner** (rancher, as kind ships it) serves the StorageClass
  ``local-path``: for each claim a helper pod on the node makes a directory under
  ``<cluster>/node/volumes``, and the claim binds to a ``local`` PersistentVolume there,
  so the kubelet mounts it and applies the pod's ``fsGroup``. Claims of the class
  ``standard`` stay with the simulated CSI driver (kwok nodes, VolumeSnapshots).
* **metrics-server** scrapes the real node's kubelet and serves ``metrics.k8s.io``
  through the API server's aggregation layer, so ``kubectl top`` and HPAs see real CPU and
  memory.

Both run as processes on the host with client certificates, the way the control plane
does; in a cloud cluster they would run as Deployments.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Callable

from . import build, images, pki
from .node import NODE_LABEL, NodeLayout
from .processes import Component, start as start_process

LOCAL_PATH_CLASS = "local-path"
LOCAL_PATH_PROVISIONER = "rancher.io/local-path"
LOCAL_PATH_NAMESPACE = "local-path-storage"
LOCAL_PATH_CONFIGMAP = "local-path-config"
LOCAL_PATH_SERVICE_ACCOUNT = "local-path-provisioner-service-account"
METRICS_API = ("metrics.k8s.io", "v1beta1")
METRICS_SERVICE = ("kube-system", "metrics-server")


def local_path_objects(layout: NodeLayout, helper_image: str) -> list[dict]:
    """The namespace, ServiceAccount, ConfigMap and StorageClass local-path-provisioner works with."""
    config = {"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [str(layout.volumes)]}]}
    helper_pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "helper-pod"},
        "spec": {"containers": [{"name": "helper-pod", "image": helper_image, "imagePullPolicy": "IfNotPresent"}]},
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LOCAL_PATH_NAMESPACE}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": LOCAL_PATH_SERVICE_ACCOUNT, "namespace": LOCAL_PATH_NAMESPACE},
         "automountServiceAccountToken": False},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": LOCAL_PATH_CONFIGMAP, "namespace": LOCAL_PATH_NAMESPACE},
         "data": {"config.json": json.dumps(config),
                  "setup": '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n',
                  "teardown": '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n',
                  "helperPod.yaml": json.dumps(helper_pod)}},
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
         # `local` volumes (not hostPath), so the kubelet gives the claim to the pod's fsGroup.
         "metadata": {"name": LOCAL_PATH_CLASS, "annotations": {"defaultVolumeType": "local"}},
         "provisioner": LOCAL_PATH_PROVISIONER, "reclaimPolicy": "Delete",
         "volumeBindingMode": "WaitForFirstConsumer"},
    ]


def start_local_path_provisioner(paths: build.Paths, kubeconfig: Path, helper_image: str, logs: Path) -> Component:
    return start_process("local-path-provisioner", [
        str(paths.local_path_provisioner), "start", f"--kubeconfig={kubeconfig}",
        f"--namespace={LOCAL_PATH_NAMESPACE}", f"--configmap-name={LOCAL_PATH_CONFIGMAP}",
        f"--service-account-name={LOCAL_PATH_SERVICE_ACCOUNT}", f"--helper-image={helper_image}",
        f"--provisioner-name={LOCAL_PATH_PROVISIONER}",
    ], logs)


def metrics_objects(node_ip: str, port: int, ca_bundle: str) -> list[dict]:
    """The APIService, and a selector-less Service with Endpoints that point at the process."""
    namespace, name = METRICS_SERVICE
    group, version = METRICS_API
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
         "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port, "protocol": "TCP"}]}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": namespace},
         "subsets": [{"addresses": [{"ip": node_ip}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": {"name": f"{version}.{group}"},
         "spec": {"group": group, "version": version, "groupPriorityMinimum": 100, "versionPriority": 100,
                  "service": {"namespace": namespace, "name": name, "port": 443}, "caBundle": ca_bundle}},
    ]


def start_metrics_server(paths: build.Paths, kubeconfig: Path, node_ip: str, port: int,
                         serving: tuple[Path, Path], ca_cert: Path, logs: Path) -> Component:
    return start_process("metrics-server", [
        str(paths.metrics_server), f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}", f"--bind-address={node_ip}", f"--secure-port={port}",
        f"--tls-cert-file={serving[0]}", f"--tls-private-key-file={serving[1]}",
        f"--kubelet-certificate-authority={ca_cert}", "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port", "--metric-resolution=15s",
        # kwok's nodes have no kubelet to scrape.
        f"--node-selector={NODE_LABEL}=true",
    ], logs, port)


def start(api_client, layout: NodeLayout, paths: build.Paths, certs: pki.ClusterPKI, node_ip: str, metrics_port: int,
          logs: Path, remember: Callable[[Component], Component]) -> None:
    """Create both add-ons' objects and start their processes; `remember` records each process."""
    from kubernetes import utils  # pylint: disable=import-outside-toplevel  # only `up` needs the client

    helper_image = images.busybox_reference()
    for item in local_path_objects(layout, helper_image):
        utils.create_from_dict(api_client, item)
    remember(start_local_path_provisioner(paths, certs.kubeconfigs["local-path-provisioner"], helper_image, logs))
    ca_bundle = base64.b64encode(certs.ca_cert.read_bytes()).decode()
    for item in metrics_objects(node_ip, metrics_port, ca_bundle):
        utils.create_from_dict(api_client, item)
    remember(start_metrics_server(paths, certs.kubeconfigs["metrics-server"], node_ip, metrics_port,
                                  certs.metrics_serving, certs.ca_cert, logs))
