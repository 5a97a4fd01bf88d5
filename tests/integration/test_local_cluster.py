"""The local control plane does what the deploy and backup code relies on.

Claims and snapshots here are the real CSI machinery of the real node (tools/local_cluster/csi.py):
csi-provisioner, snapshot-controller and csi-snapshotter in front of the host-path driver.
The kwok-only cluster's simulated storage has its tests in test_kwok_storage.py."""

from __future__ import annotations

import ipaddress
import time

import pytest
from kubernetes import client

from tools.local_cluster import build, csi_build, network, node

from . import host
from .kube import deleted, eventually

SNAPSHOTS = ("snapshot.storage.k8s.io", "v1")


def ready_nodes(cluster) -> list[dict]:
    nodes = cluster.kubectl_json("get", "nodes")["items"]
    return [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])]


def test_kubectl_sees_three_simulated_nodes_in_distinct_zones_and_the_tainted_real_one(local_cluster):
    nodes = {n["metadata"]["name"]: n for n in ready_nodes(local_cluster)}
    simulated = [n for name, n in nodes.items() if name != node.NODE_NAME]
    assert len(simulated) == 3
    assert all(n["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake" for n in simulated)
    assert len({n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in simulated}) == 3
    assert not [t for n in simulated for t in n["spec"].get("taints", [])]
    # Workloads that do not ask for the real node never land there.
    assert nodes[node.NODE_NAME]["spec"]["taints"] == [node.NODE_TAINT]


def test_server_reports_its_real_version(local_cluster):
    version = local_cluster.kubectl_json("version")["serverVersion"]
    assert version["gitVersion"] == build.KUBERNETES_VERSION
    assert (version["major"], version["minor"]) == ("1", build.KUBERNETES_VERSION.split(".")[1])


def test_deployment_becomes_available(local_cluster, namespace):
    apps = client.AppsV1Api(local_cluster.api)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "web", "image": "example.invalid/web:1"}]}}}})

    def available():
        status = apps.read_namespaced_deployment("web", namespace).status
        return status.available_replicas == 3 and any(
            c.type == "Available" and c.status == "True" for c in status.conditions or [])

    eventually(available, what="Deployment Available")
    pods = client.CoreV1Api(local_cluster.api).list_namespaced_pod(namespace).items
    assert {p.status.phase for p in pods} == {"Running"}
    assert all(p.status.pod_ip for p in pods)


def create_claim(cluster, namespace: str, name: str, size: str = "1Gi", data_source: dict | None = None):
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if data_source:
        spec["dataSource"] = data_source
    core = client.CoreV1Api(cluster.api)
    core.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": name}, "spec": spec})
    return eventually(lambda: (c := core.read_namespaced_persistent_volume_claim(name, namespace)).status.phase == "Bound" and c,
                      what=f"claim {name} Bound")


def test_claim_binds_through_the_real_binder(local_cluster, namespace):
    claim = create_claim(local_cluster, namespace, "data", "5Gi")
    assert claim.spec.storage_class_name == "standard"  # filled in by the DefaultStorageClass admission plugin
    volume = client.CoreV1Api(local_cluster.api).read_persistent_volume(claim.spec.volume_name)
    # csi-provisioner made it: a directory of the host-path driver on the real node.
    assert volume.spec.csi.driver == csi_build.DRIVER_NAME
    assert volume.metadata.annotations["pv.kubernetes.io/provisioned-by"] == csi_build.DRIVER_NAME
    assert (local_cluster.control_plane.csi_layout().volumes / volume.spec.csi.volume_handle).is_dir()
    assert volume.status.phase == "Bound"
    assert volume.spec.claim_ref.uid == claim.metadata.uid
    assert volume.spec.capacity["storage"] == "5Gi"
    # The controller manager's binder, not a fake status patch, completed the binding.
    assert claim.metadata.annotations["pv.kubernetes.io/bind-completed"] == "yes"


def create_snapshot(cluster, namespace: str, name: str, claim: str, snapshot_class: str | None = None):
    body = {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot", "metadata": {"name": name},
            "spec": {"source": {"persistentVolumeClaimName": claim}}}
    if snapshot_class:
        body["spec"]["volumeSnapshotClassName"] = snapshot_class
    client.CustomObjectsApi(cluster.api).create_namespaced_custom_object(*SNAPSHOTS, namespace, "volumesnapshots", body)


def get_snapshot(cluster, namespace: str, name: str) -> dict:
    return client.CustomObjectsApi(cluster.api).get_namespaced_custom_object(*SNAPSHOTS, namespace, "volumesnapshots", name)


def test_volume_snapshot_becomes_ready_bound_to_its_content(local_cluster, namespace):
    create_claim(local_cluster, namespace, "models", "3Gi")
    create_snapshot(local_cluster, namespace, "models-snap", "models")
    status = eventually(lambda: (s := get_snapshot(local_cluster, namespace, "models-snap").get("status", {})).get("readyToUse") and s,
                        what="snapshot readyToUse")
    assert status["restoreSize"] == "3Gi"
    assert status["creationTime"]
    content = client.CustomObjectsApi(local_cluster.api).get_cluster_custom_object(
        *SNAPSHOTS, "volumesnapshotcontents", status["boundVolumeSnapshotContentName"])
    snapshot = get_snapshot(local_cluster, namespace, "models-snap")
    assert content["spec"]["volumeSnapshotRef"]["uid"] == snapshot["metadata"]["uid"]
    assert content["spec"]["volumeSnapshotRef"]["name"] == "models-snap"
    assert content["status"]["readyToUse"] is True
    # csi-snapshotter asked the driver: the snapshot is an archive in the store, apart from the volumes.
    handle = content["status"]["snapshotHandle"]
    assert content["spec"]["driver"] == csi_build.DRIVER_NAME
    assert (local_cluster.control_plane.layout.snapshot_store / f"{handle}.tar").is_file()

    # A claim restored from the snapshot binds too.
    restored = create_claim(local_cluster, namespace, "models-restored", "3Gi", data_source={
        "apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "models-snap"})
    assert restored.spec.data_source.name == "models-snap"


def test_snapshot_failure_and_delay_can_be_injected_in_the_driver(local_cluster, namespace, fault_class):
    create_claim(local_cluster, namespace, "cache")
    create_snapshot(local_cluster, namespace, "broken", "cache", fault_class(error="disk on fire", code="Unavailable"))
    status = eventually(lambda: get_snapshot(local_cluster, namespace, "broken").get("status", {}).get("error"),
                        what="snapshot error")
    # The driver's gRPC error, as csi-snapshotter and snapshot-controller pass it on.
    assert "rpc error: code = Unavailable desc = disk on fire" in status["message"], status
    assert get_snapshot(local_cluster, namespace, "broken")["status"]["readyToUse"] is False

    create_snapshot(local_cluster, namespace, "slow", "cache", fault_class(delay_seconds=6))
    started = time.monotonic()
    eventually(lambda: get_snapshot(local_cluster, namespace, "slow").get("status", {}).get("readyToUse"),
               what="slow snapshot readyToUse")
    assert time.monotonic() - started >= 5


def test_load_balancer_service_gets_an_ingress_address(local_cluster, namespace):
    core = client.CoreV1Api(local_cluster.api)
    core.create_namespaced_service(namespace, {"metadata": {"name": "public"}, "spec": {
        "type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8000}]}})
    ingress = eventually(lambda: core.read_namespaced_service("public", namespace).status.load_balancer.ingress,
                         what="LoadBalancer ingress")
    assert ingress[0].ip


RESTRICTED_VIOLATION = """
apiVersion: v1
kind: Pod
metadata: {name: privileged}
spec:
  containers:
    - name: c
      image: example.invalid/c:1
      securityContext: {privileged: true}
"""


def test_restricted_pod_security_is_enforced(local_cluster, namespace):
    core = client.CoreV1Api(local_cluster.api)
    core.patch_namespace(namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    result = local_cluster.run_kubectl("-n", namespace, "apply", "-f", "-", stdin=RESTRICTED_VIOLATION, check=False)
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in result.stderr
    assert core.list_namespaced_pod(namespace).items == []


def test_service_account_tokens_are_issued(local_cluster, namespace):
    token = local_cluster.run_kubectl("-n", namespace, "create", "token", "default").stdout.strip()
    review = client.AuthenticationV1Api(local_cluster.api).create_token_review({"spec": {"token": token}})
    assert review.status.authenticated
    assert review.status.user.username == f"system:serviceaccount:{namespace}:default"


@pytest.mark.parametrize("controller_object", ["ReplicaSet", "Namespace"])
def test_garbage_collector_and_namespace_controllers_run(local_cluster, namespace, controller_object):
    core, apps = client.CoreV1Api(local_cluster.api), client.AppsV1Api(local_cluster.api)
    if controller_object == "ReplicaSet":
        labels = {"app": "gc"}
        apps.create_namespaced_deployment(namespace, {"metadata": {"name": "gc"}, "spec": {
            "replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "x/c:1"}]}}}})
        eventually(lambda: apps.list_namespaced_replica_set(namespace).items, what="ReplicaSet created")
        apps.delete_namespaced_deployment("gc", namespace, propagation_policy="Background")
        eventually(lambda: not apps.list_namespaced_replica_set(namespace).items, what="ReplicaSet collected")
    else:
        core.create_namespace({"metadata": {"name": f"{namespace}-gone"}})
        core.delete_namespace(f"{namespace}-gone")
        eventually(deleted(core.read_namespace, f"{namespace}-gone"), what="namespace finalized")


def test_deleting_a_claim_deletes_its_volume_and_a_snapshot_its_content(local_cluster, namespace):
    core = client.CoreV1Api(local_cluster.api)
    custom = client.CustomObjectsApi(local_cluster.api)
    claim = create_claim(local_cluster, namespace, "scratch")
    create_snapshot(local_cluster, namespace, "scratch-snap", "scratch")
    content = eventually(lambda: get_snapshot(local_cluster, namespace, "scratch-snap").get("status", {}).get(
        "boundVolumeSnapshotContentName"), what="snapshot bound")

    handle = custom.get_cluster_custom_object(*SNAPSHOTS, "volumesnapshotcontents", content)["status"]["snapshotHandle"]
    archive = local_cluster.control_plane.layout.snapshot_store / f"{handle}.tar"
    assert archive.is_file()

    custom.delete_namespaced_custom_object(*SNAPSHOTS, namespace, "volumesnapshots", "scratch-snap")
    eventually(deleted(custom.get_cluster_custom_object, *SNAPSHOTS, "volumesnapshotcontents", content),
               what="VolumeSnapshotContent deleted with its snapshot")
    assert not archive.exists()  # DeleteSnapshot reached the driver

    folder = local_cluster.control_plane.csi_layout().volumes / claim_handle(local_cluster, claim)
    core.delete_namespaced_persistent_volume_claim("scratch", namespace)
    eventually(deleted(core.read_persistent_volume, claim.spec.volume_name), what="released volume deleted")
    assert not folder.exists()  # DeleteVolume reached the driver


def claim_handle(cluster, claim) -> str:
    return client.CoreV1Api(cluster.api).read_persistent_volume(claim.spec.volume_name).spec.csi.volume_handle


def test_helm_hook_pods_run_to_completion(local_cluster, namespace):
    core = client.CoreV1Api(local_cluster.api)
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "hook", "annotations": {"helm.sh/hook": "test"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "example.invalid/test:1"}]}})
    eventually(lambda: core.read_namespaced_pod("hook", namespace).status.phase == "Succeeded", what="hook pod Succeeded")


def test_every_cluster_range_stays_on_this_host_and_nothing_listens_on_its_external_address(local_cluster):
    """What `up` checked of its containment, read back from the host by other code, without
    sending a packet: each range routes to the host-only interface, the chain comes first, and
    the real node's address and listeners are host-only."""
    for cidr, what in network.CONTAINED_RANGES:
        probe = str(ipaddress.ip_network(cidr).broadcast_address - 1)
        allowed = {network.HOST_INTERFACE, network.BRIDGE} if cidr == network.REAL_POD_CIDR else {network.HOST_INTERFACE}
        assert host.routed_device(probe) in allowed, f"{what} ({cidr}) leave by {host.routed_device(probe)}"
    for command in ("iptables", "ip6tables"):
        for hook in ("FORWARD", "OUTPUT"):
            assert host.first_rule(command, hook).endswith(f"-j {network.CHAIN}"), (command, hook)
    (real,) = [n for n in client.CoreV1Api(local_cluster.api).list_node().items if n.metadata.name == node.NODE_NAME]
    internal = {a.address for a in real.status.addresses if a.type == "InternalIP"}
    assert internal == {network.NODE_ADDRESS} and network.NODE_ADDRESS in host.interface_addresses(network.HOST_INTERFACE)
    external = host.external_addresses()
    assert external and not external & internal
    groups = {component.pid for component in local_cluster.control_plane.components()}
    listening = host.listeners(groups)
    assert {program for program, _address in listening} >= {"kubelet", "metrics-server", "kube-apiserver"}
    assert [(program, address) for program, address in listening if host.is_wildcard_or_in(address, external)] == []
