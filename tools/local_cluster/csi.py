"""The real node's storage: a CSI driver with real snapshots, and the Kubernetes sidecars.

* **csi-hostpath** (``csi_hostpath/``, our own small driver) on the real node: each volume is
  a directory under ``<cluster>/node/csi-volumes``; each snapshot an archive under
  ``<cluster>/snapshot-store`` (or a store shared between clusters, ``up --snapshot-store``),
  apart from the volumes. A claim restored from a snapshot gets the archive unpacked. The
  driver registers itself with the kubelet (plugin registration), so the kubelet bind-mounts
  volumes into real pods and applies their ``fsGroup``.
* **csi-provisioner** (external-provisioner) creates and deletes the volumes of claims of the
  StorageClass ``standard``, also from a VolumeSnapshot data source.
* **snapshot-controller** and **csi-snapshotter** (external-snapshotter) turn VolumeSnapshots
  into VolumeSnapshotContents and CreateSnapshot calls, exactly as in a cloud cluster.

There is no topology: a volume is a directory on this one host, so a claim binds at once
(``Immediate``) and the kwok nodes' pods may use it too (nothing is mounted for them).

The sidecars run as host processes with client certificates, as the control plane does; in
a cloud cluster they run in the driver's Deployment and DaemonSet.

Failure injection is a VolumeSnapshotClass parameter (the driver's README lists them):
``inferno.ops/inject-error`` (with ``inferno.ops/inject-error-code``) and
``inferno.ops/delay-seconds``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from . import pki
from .csi_build import DRIVER_NAME, CsiPaths
from .processes import Component, start as start_process, wait_until

STORAGE_CLASS = "standard"
SNAPSHOT_CLASS = "standard-snapshot"
# Calls to the driver may copy gigabytes (a snapshot, a restore); the sidecars' defaults
# (1 min for snapshots, 10 s for volumes) would time them out and retry.
CSI_TIMEOUT = "5m"
# Failed operations are retried with a doubling interval up to this (the default is 5 min).
RETRY_INTERVAL_MAX = "30s"
# The default client limits (5 QPS) make 50 claims take tens of seconds of throttling.
API_LIMITS = ("--kube-api-qps=300", "--kube-api-burst=600")
START_TIMEOUT = 60.0
PROBE_NAMESPACE, PROBE_NAME = "kube-system", "csi-probe"
ERROR_PARAMETER = "inferno.ops/inject-error"
ERROR_CODE_PARAMETER = "inferno.ops/inject-error-code"
DELAY_PARAMETER = "inferno.ops/delay-seconds"


# The kubelet finds plugins by their sockets in <kubelet root>/plugins_registry/. A unix socket
# path has at most 107 bytes, so the name is short (the usual <driver>-reg.sock is 33 bytes).
REGISTRATION_SOCKET = "csi-hostpath-reg.sock"
MAX_SOCKET_PATH = 107


class CsiLayout:  # pylint: disable=too-few-public-methods  # a record of paths
    """The driver's files: volumes on the node, snapshots apart (``<cluster>/snapshot-store``, or
    a shared store given to ``up``), its CSI socket in the run dir."""

    def __init__(self, cluster_root: Path, node_root: Path, kubelet_root: Path, run_dir: Path,
                 snapshots: Path | None = None):
        self.volumes = node_root / "csi-volumes"
        self.snapshots = snapshots or cluster_root / "snapshot-store"
        self.registration = kubelet_root / "plugins_registry"
        self.registration_socket = self.registration / REGISTRATION_SOCKET
        self.socket = run_dir / "csi-hostpath.sock"

    def socket_problem(self) -> str | None:
        """Why the registration socket cannot be made here, with the fix; None when it can."""
        length = len(str(self.registration_socket).encode())
        if length <= MAX_SOCKET_PATH:
            return None
        return (f"the CSI driver's registration socket {self.registration_socket} would be {length} bytes long, and a "
                f"unix socket path may have at most {MAX_SOCKET_PATH}: put the cluster in a shorter folder with "
                "INFERNO_LOCAL_CLUSTER_DIR (e.g. /var/tmp/inferno-cluster)")


def objects() -> list[dict]:
    """The CSIDriver, the default StorageClass and the default VolumeSnapshotClass."""
    return [
        {"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "metadata": {"name": DRIVER_NAME},
         # No attach step (no external-attacher); the kubelet applies fsGroup to the files.
         "spec": {"attachRequired": False, "podInfoOnMount": False, "fsGroupPolicy": "File",
                  "volumeLifecycleModes": ["Persistent"]}},
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
         "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
         "provisioner": DRIVER_NAME, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"},
        {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass",
         "metadata": {"name": SNAPSHOT_CLASS, "annotations": {"snapshot.storage.kubernetes.io/is-default-class": "true"}},
         "driver": DRIVER_NAME, "deletionPolicy": "Delete"},
    ]


def fault_class(name: str, *, error: str | None = None, code: str | None = None, delay_seconds: int | None = None) -> dict:
    """A VolumeSnapshotClass whose snapshots fail with `error` (a gRPC `code`) or take `delay_seconds`."""
    parameters = {}
    if error:
        parameters[ERROR_PARAMETER] = error
        if code:
            parameters[ERROR_CODE_PARAMETER] = code
    if delay_seconds:
        parameters[DELAY_PARAMETER] = str(delay_seconds)
    return {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass", "metadata": {"name": name},
            "driver": DRIVER_NAME, "deletionPolicy": "Delete", "parameters": parameters}


def start_driver(paths: CsiPaths, layout: CsiLayout, node_name: str, logs: Path) -> Component:
    for folder in (layout.volumes, layout.snapshots, layout.registration):
        folder.mkdir(parents=True, exist_ok=True)
    driver = start_process("csi-hostpath", [
        str(paths.csi_hostpath), f"--endpoint=unix://{layout.socket}", f"--driver-name={DRIVER_NAME}",
        f"--node-id={node_name}", f"--volumes-dir={layout.volumes}", f"--snapshots-dir={layout.snapshots}",
        f"--registration-dir={layout.registration}", f"--registration-socket-name={REGISTRATION_SOCKET}",
    ], logs)
    wait_until(driver, layout.socket.exists, START_TIMEOUT, "serving its CSI socket")
    return driver


def start_sidecars(paths: CsiPaths, layout: CsiLayout, kubeconfigs: dict[str, Path], logs: Path,
                   remember: Callable[[Component], Component]) -> dict[str, Component]:
    """snapshot-controller, csi-snapshotter and csi-provisioner; each talks to the API server itself."""
    common = ["--leader-election=false", f"--retry-interval-max={RETRY_INTERVAL_MAX}", *API_LIMITS]
    controller = kubeconfigs[pki.SNAPSHOT_CONTROLLER.file_stem]
    sidecars = kubeconfigs[pki.CSI_SIDECARS.file_stem]
    started = {"snapshot-controller": remember(start_process("snapshot-controller", [
        str(paths.snapshot_controller), f"--kubeconfig={controller}", *common,
        # Only the v1 snapshot CRDs are installed, not the VolumeGroupSnapshot ones (the driver
        # has no group snapshots): the controller waits this long for them before it starts
        # without them (default 30 s).
        "--retry-crd-interval-max=1s",
        # When the API server dies while the controller creates a content, the controller can
        # keep a stale copy without a resourceVersion and leave that snapshot unready until its
        # next resync ("error parsing old ResourceVersion"; seen after 10 min with the default
        # 15 min). A short resync bounds that recovery at one minute.
        "--resync-period=1m"], logs))}
    for name, binary in (("csi-snapshotter", paths.csi_snapshotter), ("csi-provisioner", paths.csi_provisioner)):
        started[name] = remember(start_process(name, [
            str(binary), f"--kubeconfig={sidecars}", f"--csi-address={layout.socket}", f"--timeout={CSI_TIMEOUT}",
            # The driver learns the claim's and the snapshot's names (it logs them).
            "--extra-create-metadata", *common], logs))
    return started


def probe(api_client, sidecars: dict[str, Component]) -> None:
    """Provision a claim and snapshot it through the whole chain, then delete both, so `up`
    returns only once a user's first snapshot is served at once (and fails naming the stuck
    component's log when it is not)."""
    from kubernetes import client  # pylint: disable=import-outside-toplevel  # only `up` needs the client

    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    core.create_namespaced_persistent_volume_claim(PROBE_NAMESPACE, {
        "metadata": {"name": PROBE_NAME},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": STORAGE_CLASS,
                 "resources": {"requests": {"storage": "1Mi"}}}})
    wait_until(sidecars["csi-provisioner"], lambda: core.read_namespaced_persistent_volume_claim(
        PROBE_NAME, PROBE_NAMESPACE).status.phase == "Bound", START_TIMEOUT, "provisioning a probe claim")
    custom.create_namespaced_custom_object("snapshot.storage.k8s.io", "v1", PROBE_NAMESPACE, "volumesnapshots", {
        "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot", "metadata": {"name": PROBE_NAME},
        "spec": {"source": {"persistentVolumeClaimName": PROBE_NAME}}})

    def snapshot_ready() -> bool:
        found = custom.get_namespaced_custom_object("snapshot.storage.k8s.io", "v1", PROBE_NAMESPACE,
                                                    "volumesnapshots", PROBE_NAME)
        return bool((found.get("status") or {}).get("readyToUse"))

    wait_until(sidecars["snapshot-controller"], snapshot_ready, START_TIMEOUT, "making a probe snapshot ready")
    custom.delete_namespaced_custom_object("snapshot.storage.k8s.io", "v1", PROBE_NAMESPACE, "volumesnapshots",
                                           PROBE_NAME)
    core.delete_namespaced_persistent_volume_claim(PROBE_NAME, PROBE_NAMESPACE)


def check_registered(read_csi_node: Callable[[str], object], node_name: str) -> bool:
    """True once the kubelet has registered the driver on its CSINode."""
    try:
        csi_node = read_csi_node(node_name)
    except Exception:  # pylint: disable=broad-exception-caught  # not created yet
        return False
    return any(driver.name == DRIVER_NAME for driver in (csi_node.spec.drivers or []))
