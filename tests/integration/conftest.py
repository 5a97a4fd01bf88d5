"""A real local control plane (tools/local_cluster), started once per test session."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from kubernetes import client, config

from tools.local_cluster import build, csi
from tools.local_cluster.cluster import LocalCluster
from tools.local_cluster.processes import is_alive, port_in_use

from . import host
from .kube import Cluster, eventually, forget_backups
from .s3 import s3_bucket, s3_server  # noqa: F401  # pylint: disable=unused-import  # fixtures


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory) -> Cluster:
    root = tmp_path_factory.mktemp("local-cluster")
    cluster = LocalCluster(root, real_node=True)
    kernel_before = host.sysctls()
    status = cluster.up()
    components = cluster.components()
    try:
        yield Cluster(Path(status["kubeconfig"]), build.ensure_built().kubectl,
                      config.new_client_from_config(config_file=status["kubeconfig"]), cluster)
    finally:
        cluster.down()
    # `down` leaves no process and no listening port behind, and the real node no container,
    # mount, network interface, iptables rule or changed kernel setting.
    assert [c.name for c in components if is_alive(c.pid)] == []
    assert [c.port for c in components if c.port and port_in_use(c.port)] == []
    assert host.leftovers(root) == []
    assert host.sysctls() == kernel_before


@pytest.fixture
def namespace(local_cluster, request) -> str:
    """A fresh namespace per test, deleted afterwards."""
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:6]
    name = "t-" + re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:40].strip("-") + "-" + digest
    core = client.CoreV1Api(local_cluster.api)
    core.create_namespace({"metadata": {"name": name}})
    eventually(lambda: core.read_namespaced_service_account("default", name), what="default ServiceAccount")
    yield name
    core.delete_namespace(name)
    forget_backups(local_cluster, name)


@pytest.fixture
def fault_class(local_cluster, namespace):
    """Make a VolumeSnapshotClass with the CSI driver's fault parameters (csi.fault_class:
    error, code, delay_seconds); each is deleted after the test."""
    custom = client.CustomObjectsApi(local_cluster.api)
    made = []

    def make(**faults) -> str:
        name = f"{namespace}-{len(made)}"
        custom.create_cluster_custom_object("snapshot.storage.k8s.io", "v1", "volumesnapshotclasses",
                                            csi.fault_class(name, **faults))
        made.append(name)
        return name

    yield make
    for name in made:
        custom.delete_cluster_custom_object("snapshot.storage.k8s.io", "v1", "volumesnapshotclasses", name)
