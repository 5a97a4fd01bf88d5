"""Disaster recovery through a shared snapshot store, on two real clusters one after the other.

Cluster A snapshots a claim into a store outside its folder and dies (`down`); cluster B starts
with the same store and restores the claim from a pre-provisioned VolumeSnapshotContent that
names A's snapshot handle, as a restore into a new cluster does. The bytes are followed by
SHA-256 from A's volume folder to B's. A content with a handle the store does not have fails
with csi-snapshotter's error on its status.

It starts two real-node clusters (about a minute in all), so it is marked `own_real_node` and
runs first in a session (conftest.py), before tests/integration's session cluster.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from tools.local_cluster import csi
from tools.local_cluster.cluster import LocalCluster
from tools.local_cluster.csi_build import DRIVER_NAME
from tools.local_cluster.node import check_prerequisites
from tools.local_cluster.processes import ClusterError

pytestmark = pytest.mark.own_real_node

NAMESPACE = "dr"
GROUP, VERSION = "snapshot.storage.k8s.io", "v1"
BOGUS_HANDLE = "snap-00000000000000000000000000000bad"
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def real_node_host():
    try:
        check_prerequisites()
    except ClusterError as error:
        pytest.skip(f"no real node on this machine: {error}")


def poll(check, what: str, timeout: float = TIMEOUT):
    """The first truthy result of check(); fails naming `what` after `timeout` seconds."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except Exception as error:  # pylint: disable=broad-exception-caught  # not there yet
            last = error
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last error: {last})")


class Api:  # pylint: disable=too-few-public-methods  # the clients of one cluster
    def __init__(self, cluster: LocalCluster):
        from kubernetes import client, config  # pylint: disable=import-outside-toplevel

        api = config.new_client_from_config(config_file=str(cluster.layout.kubeconfig))
        self.core, self.custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        self.core.create_namespace({"metadata": {"name": NAMESPACE}})
        poll(lambda: self.core.read_namespaced_service_account("default", NAMESPACE), "the default ServiceAccount")

    def snapshot(self, name: str) -> dict:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "volumesnapshots", name)

    def content(self, name: str) -> dict:
        return self.custom.get_cluster_custom_object(GROUP, VERSION, "volumesnapshotcontents", name)

    def create_snapshot(self, name: str, source: dict) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "volumesnapshots", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "VolumeSnapshot", "metadata": {"name": name},
            "spec": {"volumeSnapshotClassName": csi.SNAPSHOT_CLASS, "source": source}})

    def create_preprovisioned(self, name: str, handle: str) -> None:
        """A Retain content naming `handle`, and the VolumeSnapshot bound to it (both `name`)."""
        self.custom.create_cluster_custom_object(GROUP, VERSION, "volumesnapshotcontents", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "VolumeSnapshotContent", "metadata": {"name": name},
            "spec": {"deletionPolicy": "Retain", "driver": DRIVER_NAME, "source": {"snapshotHandle": handle},
                     "volumeSnapshotClassName": csi.SNAPSHOT_CLASS,
                     "volumeSnapshotRef": {"name": name, "namespace": NAMESPACE}}})
        self.create_snapshot(name, {"volumeSnapshotContentName": name})

    def create_claim(self, name: str, data_source: dict | None = None) -> None:
        spec = {"accessModes": ["ReadWriteOnce"], "storageClassName": csi.STORAGE_CLASS,
                "resources": {"requests": {"storage": "8Mi"}}}
        if data_source:
            spec["dataSource"] = data_source
        self.core.create_namespaced_persistent_volume_claim(NAMESPACE, {"metadata": {"name": name}, "spec": spec})

    def volume_dir(self, cluster: LocalCluster, claim: str) -> Path:
        """The CSI volume folder on disk behind a bound claim."""
        bound = poll(lambda: (c := self.core.read_namespaced_persistent_volume_claim(claim, NAMESPACE)).status.phase
                     == "Bound" and c, f"claim {claim} Bound")
        handle = self.core.read_persistent_volume(bound.spec.volume_name).spec.csi.volume_handle
        return cluster.csi_layout().volumes / handle


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def timed(timings: dict, name: str, action):
    started = time.monotonic()
    try:
        return action()
    finally:
        timings[name] = round(time.monotonic() - started, 1)


def test_a_second_cluster_restores_the_first_ones_snapshot_from_a_shared_store(real_node_host, tmp_path_factory):
    base = tmp_path_factory.mktemp("dr")  # short: the kubelet's plugin socket path has at most 107 bytes
    store = base / "store"  # created by `up`
    timings: dict[str, float] = {}
    started = time.monotonic()

    # Cluster A: a claim with a file, snapshotted into the shared store; then A dies.
    a = LocalCluster(base / "a", real_node=True, snapshot_store=store)
    timed(timings, "up A", a.up)
    try:
        assert a.status()["snapshot_store"] == str(store) and a.status()["snapshot_store_shared"] is True
        assert LocalCluster(base / "a").snapshots_dir == store  # found by another process, from state.json
        api = Api(a)
        api.create_claim("data")
        volume = api.volume_dir(a, "data")
        (volume / "payload.bin").write_bytes(os.urandom(1 << 20))
        digest = sha256(volume / "payload.bin")
        api.create_snapshot("backup", {"persistentVolumeClaimName": "data"})
        ready = poll(lambda: (s := api.snapshot("backup")).get("status", {}).get("readyToUse") and s,
                     "snapshot backup ready on A")
        handle = api.content(ready["status"]["boundVolumeSnapshotContentName"])["status"]["snapshotHandle"]
    finally:
        down_a = timed(timings, "down A", LocalCluster(base / "a").down)  # as another process would: no store given
    assert down_a["snapshot_store_kept"] == str(store)
    assert (store / f"{handle}.tar").is_file() and (store / f"{handle}.json").is_file()

    # Cluster B, with A's store: a pre-provisioned content names A's handle; a claim restores it.
    b = LocalCluster(base / "b", real_node=True, snapshot_store=store)
    timed(timings, "up B", b.up)
    try:
        api = Api(b)
        api.create_preprovisioned("restored", handle)
        restored = poll(lambda: (s := api.snapshot("restored")).get("status", {}).get("readyToUse") and s,
                        "pre-provisioned snapshot restored ready on B")
        assert restored["status"]["restoreSize"] in ("8Mi", str(8 << 20))
        api.create_claim("restored", {"apiGroup": GROUP, "kind": "VolumeSnapshot", "name": "restored"})
        volume_b = api.volume_dir(b, "restored")
        assert volume_b.parent == b.csi_layout().volumes
        assert sha256(volume_b / "payload.bin") == digest

        # A handle the store does not have: csi-snapshotter's ListSnapshots finds nothing.
        api.create_preprovisioned("bogus", BOGUS_HANDLE)
        error = poll(lambda: api.content("bogus").get("status", {}).get("error"), "status.error of content bogus")
        print(f"\nbogus handle: status.error = {error}")
        assert f"can not find snapshot for snapshotID {BOGUS_HANDLE}" in error["message"]
        assert not api.snapshot("bogus").get("status", {}).get("readyToUse")
    finally:
        down_b = timed(timings, "down B", b.down)
    assert down_b["snapshot_store_kept"] == str(store)
    assert (store / f"{handle}.tar").is_file()  # Retain: B's contents never delete A's snapshot
    assert not (base / "a" / "snapshot-store").exists() and not (base / "b" / "snapshot-store").exists()
    timings["test"] = round(time.monotonic() - started, 1)
    print(f"timings (s): {timings}")
