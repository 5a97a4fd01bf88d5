"""The kwok-only cluster's storage path (no root, containerd or real node needed): kwok's stages
provision the claims of the simulated driver and snapshots.py plays the snapshot machinery.

It is what `INFERNO_LOCAL_CLUSTER_REAL_NODE=0` users and tools/benchmarks/deploy.py get; every
other integration test runs on the real node's CSI driver (test_local_cluster.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client, config

from tools.local_cluster.cluster import LocalCluster
from tools.local_cluster.snapshots import DRIVER, FAILURE_ANNOTATION

from .kube import eventually

SNAPSHOTS = ("snapshot.storage.k8s.io", "v1")


@pytest.fixture(scope="module")
def kwok_api(tmp_path_factory):
    cluster = LocalCluster(Path(tmp_path_factory.mktemp("kwok-cluster")), real_node=False)
    status = cluster.up()
    try:
        assert "snapshot-simulator" in status["components"] and "csi-hostpath" not in status["components"]
        api = config.new_client_from_config(config_file=status["kubeconfig"])
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "storage"}})
        eventually(lambda: client.CoreV1Api(api).read_namespaced_service_account("default", "storage"),
                   what="default ServiceAccount")
        yield api
    finally:
        cluster.down()


def test_a_claim_binds_to_a_volume_of_the_simulated_driver(kwok_api):
    core = client.CoreV1Api(kwok_api)
    core.create_namespaced_persistent_volume_claim("storage", {"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}})
    claim = eventually(lambda: (c := core.read_namespaced_persistent_volume_claim("data", "storage")).status.phase == "Bound"
                       and c, what="claim Bound")
    assert core.read_persistent_volume(claim.spec.volume_name).spec.csi.driver == DRIVER


def snapshot(api, name: str, annotations: dict | None = None) -> None:
    client.CustomObjectsApi(api).create_namespaced_custom_object(*SNAPSHOTS, "storage", "volumesnapshots", {
        "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"source": {"persistentVolumeClaimName": "data"}}})


def status(api, name: str) -> dict:
    return client.CustomObjectsApi(api).get_namespaced_custom_object(
        *SNAPSHOTS, "storage", "volumesnapshots", name).get("status") or {}


def test_the_simulator_makes_a_snapshot_ready_or_fails_it_on_request(kwok_api):
    snapshot(kwok_api, "good")
    ready = eventually(lambda: status(kwok_api, "good").get("readyToUse") and status(kwok_api, "good"),
                       what="snapshot ready")
    assert ready["restoreSize"] == "2Gi" and ready["boundVolumeSnapshotContentName"]

    snapshot(kwok_api, "broken", {FAILURE_ANNOTATION: "rpc error: code = Internal desc = disk on fire"})
    error = eventually(lambda: status(kwok_api, "broken").get("error"), what="snapshot error")
    assert error["message"] == "rpc error: code = Internal desc = disk on fire"
    assert status(kwok_api, "broken")["readyToUse"] is False
