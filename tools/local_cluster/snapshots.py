"""Simulated CSI snapshotting for the local cluster.

It stands in for the snapshot-controller plus the CSI driver's snapshotter sidecar,
which cannot run without real volumes. For every VolumeSnapshot whose source is a
PersistentVolumeClaim it:

- creates a VolumeSnapshotContent whose spec.volumeSnapshotRef points back at the
  snapshot (name, namespace, uid), as the real controller does;
- marks the content and then the snapshot ready: readyToUse, creationTime, restoreSize
  (the source claim's capacity) and boundVolumeSnapshotContentName.

Like the real snapshot-controller and csi-snapshotter (`--worker-threads`, default 10), it
works on up to WORKERS snapshots at a time; one snapshot is never worked on twice at once.

Failure injection: a snapshot annotated
    inferno.ops/simulate-snapshot-error: "<message>"
gets status.error {message, time} and readyToUse false, as a failing CSI driver reports it,
and no content. A snapshot whose source claim is missing or not Bound gets the same kind of
error the real controller reports, and is retried on the next pass.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

GROUP, VERSION = "snapshot.storage.k8s.io", "v1"
FAILURE_ANNOTATION = "inferno.ops/simulate-snapshot-error"
# The simulated CSI driver: the StorageClass, the VolumeSnapshotClass and the stages use this name.
DRIVER = "simulated.csi.inferno.ops"
RESYNC_SECONDS = 2.0
# The external-snapshotter's default --worker-threads.
WORKERS = 10

log = logging.getLogger("snapshots")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SnapshotSimulator:
    """Reconciles VolumeSnapshots towards ready (or failed) with their contents."""

    def __init__(self, api_client: client.ApiClient):
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.workers = ThreadPoolExecutor(WORKERS, thread_name_prefix="snapshot-worker")
        self.busy: set[tuple[str, str]] = set()  # snapshots a worker has now
        self.busy_lock = threading.Lock()

    def submit(self, snapshot: dict) -> None:
        """Hand a snapshot to a free worker; if one has it already, the next resync sees any change."""
        meta = snapshot["metadata"]
        if meta.get("deletionTimestamp") or (snapshot.get("status") or {}).get("readyToUse"):
            return
        key = (meta["namespace"], meta["name"])
        with self.busy_lock:
            if key in self.busy:
                return
            self.busy.add(key)
        self.workers.submit(self._work, key, snapshot)

    def _work(self, key: tuple[str, str], snapshot: dict) -> None:
        try:
            self.reconcile(snapshot)
        except ApiException as error:
            log.warning("snapshot %s/%s: API error %s: %s (retried at the next resync)", *key, error.status, error.reason)
        except Exception as error:  # pylint: disable=broad-exception-caught  # keep the worker alive
            log.warning("snapshot %s/%s: %s: %s (retried at the next resync)", *key, type(error).__name__, error)
        finally:
            with self.busy_lock:
                self.busy.discard(key)

    def content_name(self, snapshot: dict) -> str:
        return f"snapcontent-{snapshot['metadata']['uid']}"

    def set_snapshot_status(self, snapshot: dict, status: dict) -> None:
        meta = snapshot["metadata"]
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, meta["namespace"], "volumesnapshots", meta["name"], {"status": status})

    def fail(self, snapshot: dict, message: str) -> None:
        current = (snapshot.get("status") or {}).get("error", {}).get("message")
        if current != message:
            log.info("snapshot %s/%s failed: %s", snapshot["metadata"]["namespace"], snapshot["metadata"]["name"], message)
            self.set_snapshot_status(snapshot, {"readyToUse": False, "error": {"message": message, "time": now()}})

    def class_driver(self, snapshot: dict) -> tuple[str, str]:
        """The snapshot's class (or the default class) and its deletion policy."""
        wanted = snapshot["spec"].get("volumeSnapshotClassName")
        classes = self.custom.list_cluster_custom_object(GROUP, VERSION, "volumesnapshotclasses")["items"]
        for item in classes:
            is_default = item["metadata"].get("annotations", {}).get(
                "snapshot.storage.kubernetes.io/is-default-class") == "true"
            if (wanted and item["metadata"]["name"] == wanted) or (not wanted and is_default):
                return item["metadata"]["name"], item.get("deletionPolicy", "Delete")
        raise LookupError(f"VolumeSnapshotClass {wanted!r} not found" if wanted else
                          "no default VolumeSnapshotClass")

    def reconcile(self, snapshot: dict) -> None:
        meta, spec = snapshot["metadata"], snapshot["spec"]
        status = snapshot.get("status") or {}
        if meta.get("deletionTimestamp") or status.get("readyToUse"):
            return
        message = meta.get("annotations", {}).get(FAILURE_ANNOTATION)
        if message:
            self.fail(snapshot, message)
            return
        claim_name = spec.get("source", {}).get("persistentVolumeClaimName")
        if not claim_name:
            return  # pre-provisioned snapshots (source.volumeSnapshotContentName) are not simulated
        try:
            claim = self.core.read_namespaced_persistent_volume_claim(claim_name, meta["namespace"])
        except ApiException as error:
            if error.status == 404:
                self.fail(snapshot, f'failed to take snapshot of the volume: PersistentVolumeClaim "{claim_name}" not found')
                return
            raise
        if claim.status.phase != "Bound":
            self.fail(snapshot, f'the source PersistentVolumeClaim "{claim_name}" is not yet bound to a volume')
            return
        try:
            class_name, deletion_policy = self.class_driver(snapshot)
        except LookupError as error:
            self.fail(snapshot, f"failed to get input parameters to create snapshot: {error}")
            return
        restore_size = (claim.status.capacity or {}).get("storage") or claim.spec.resources.requests["storage"]
        created = now()
        content_name = self.content_name(snapshot)
        content = {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "VolumeSnapshotContent",
            "metadata": {"name": content_name},
            "spec": {
                "driver": DRIVER, "deletionPolicy": deletion_policy, "volumeSnapshotClassName": class_name,
                "source": {"volumeHandle": claim.spec.volume_name},
                "volumeSnapshotRef": {"apiVersion": f"{GROUP}/{VERSION}", "kind": "VolumeSnapshot",
                                      "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
            },
        }
        try:
            self.custom.create_cluster_custom_object(GROUP, VERSION, "volumesnapshotcontents", content)
        except ApiException as error:
            if error.status != 409:
                raise
        creation_ns = int(time.time() * 1e9)
        self.custom.patch_cluster_custom_object_status(GROUP, VERSION, "volumesnapshotcontents", content_name, {
            "status": {"readyToUse": True, "creationTime": creation_ns, "snapshotHandle": f"snap-{meta['uid']}",
                       "restoreSize": quantity_bytes(restore_size)}})
        self.set_snapshot_status(snapshot, {"boundVolumeSnapshotContentName": content_name, "creationTime": created,
                                            "readyToUse": True, "restoreSize": restore_size})
        log.info("snapshot %s/%s ready (%s, content %s)", meta["namespace"], meta["name"], restore_size, content_name)

    def delete_orphaned_contents(self) -> None:
        """Deleting a snapshot with deletionPolicy Delete removes its content, as the real controller does."""
        contents = self.custom.list_cluster_custom_object(GROUP, VERSION, "volumesnapshotcontents")["items"]
        for content in contents:
            ref = content["spec"].get("volumeSnapshotRef", {})
            if content["spec"].get("driver") != DRIVER or content["spec"].get("deletionPolicy") != "Delete":
                continue
            try:
                found = self.custom.get_namespaced_custom_object(GROUP, VERSION, ref["namespace"], "volumesnapshots",
                                                                 ref["name"])
                if found["metadata"]["uid"] == ref.get("uid"):
                    continue
            except ApiException as error:
                if error.status != 404:
                    raise
            self.custom.delete_cluster_custom_object(GROUP, VERSION, "volumesnapshotcontents",
                                                     content["metadata"]["name"])

    def pass_once(self) -> str:
        """Reconcile every snapshot; returns the list's resourceVersion for the following watch."""
        listing = self.custom.list_cluster_custom_object(GROUP, VERSION, "volumesnapshots")
        for snapshot in listing["items"]:
            self.submit(snapshot)
        self.delete_orphaned_contents()
        return listing["metadata"]["resourceVersion"]

    def run(self) -> None:
        """List, then watch for a few seconds, forever; errors are logged and retried."""
        while True:
            try:
                resource_version = self.pass_once()
                stream = watch.Watch().stream(self.custom.list_cluster_custom_object, GROUP, VERSION,
                                              "volumesnapshots", resource_version=resource_version,
                                              timeout_seconds=int(RESYNC_SECONDS) + 1)
                for event in stream:
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.submit(event["object"])
            except ApiException as error:
                log.warning("API error %s: %s", error.status, error.reason)
                time.sleep(RESYNC_SECONDS)
            except Exception as error:  # pylint: disable=broad-exception-caught  # keep the simulator alive
                log.warning("retrying after %s: %s", type(error).__name__, error)
                time.sleep(RESYNC_SECONDS)


def quantity_bytes(quantity: str) -> int:
    """A storage quantity ("10Gi", "500M", "1024") in bytes."""
    suffixes = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
                "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
    for suffix, factor in suffixes.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(float(quantity))


def main(kubeconfig: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = WORKERS + 2  # the workers and the watch
    SnapshotSimulator(client.ApiClient(configuration)).run()
