"""Helpers for tests that talk to the local cluster."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from kubernetes import client

from tools.local_cluster.cluster import LocalCluster


@dataclass
class Cluster:
    """What a test needs to talk to the running cluster."""

    kubeconfig: Path
    kubectl: Path
    api: client.ApiClient
    # The processes behind it, for fault injection (kill, revive, pause, resume a component).
    control_plane: LocalCluster

    def kubectl_json(self, *args: str) -> dict:
        return json.loads(self.run_kubectl(*args, "-o", "json").stdout)

    def run_kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.kubectl), f"--kubeconfig={self.kubeconfig}", *args], input=stdin,
                              capture_output=True, text=True, timeout=60, check=check)


def eventually(check: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> object:
    """Poll check() until it returns something truthy; fail with the last value or error."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except client.ApiException as error:
            last = f"{error.status} {error.reason}"
        time.sleep(0.25)
    pytest.fail(f"{what} not reached within {timeout:.0f}s; last: {last}")


def deleted(read: Callable[..., object], *args: object) -> Callable[[], bool]:
    """A check for eventually(): true once read(*args) answers 404."""

    def check() -> bool:
        try:
            read(*args)
            return False
        except client.ApiException as error:
            if error.status == 404:
                return True
            raise

    return check


def delete_namespace(cluster: Cluster, namespace: str) -> None:
    """Delete a test's namespace; one already gone is fine."""
    try:
        client.CoreV1Api(cluster.api).delete_namespace(namespace)
    except client.ApiException as error:
        if error.status != 404:
            raise


def forget_backups(cluster: Cluster, namespace: str) -> None:
    """Delete the retained snapshot contents (and their data) of backups taken in ``namespace``.

    pvc_snapshot makes what it takes Retain, so deleting a test's namespace keeps its snapshots'
    data, as it would for a user. Tests clean that up so the session's snapshot store does not grow.
    """
    custom = client.CustomObjectsApi(cluster.api)
    contents = custom.list_cluster_custom_object(
        "snapshot.storage.k8s.io", "v1", "volumesnapshotcontents", label_selector=f"inferno.ops/namespace={namespace}")
    for content in contents["items"]:
        name = content["metadata"]["name"]
        custom.patch_cluster_custom_object("snapshot.storage.k8s.io", "v1", "volumesnapshotcontents", name,
                                           {"spec": {"deletionPolicy": "Delete"}})
        try:
            custom.delete_cluster_custom_object("snapshot.storage.k8s.io", "v1", "volumesnapshotcontents", name)
        except client.ApiException as error:
            if error.status != 404:
                raise


def pin_by_hand(cluster: Cluster, namespace: str, backup_id: str, pin: bool = True) -> list[str]:
    """`kubectl label volumesnapshot -l inferno.ops/backup-id=<id> inferno.ops/pin=true` (or `inferno.ops/pin-`),
    as a user pins a backup set by hand; returns the snapshots it labelled."""
    labelled = cluster.run_kubectl("label", "volumesnapshots", "-n", namespace, "-l", f"inferno.ops/backup-id={backup_id}",
                                   "inferno.ops/pin=true" if pin else "inferno.ops/pin-", "--overwrite").stdout
    return sorted(line.split()[0].split("/", 1)[1] for line in labelled.splitlines() if line.strip())
