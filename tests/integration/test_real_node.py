"""The real Inferno in real containers, on the local cluster's real node.

The dev inventory's local-cluster host places the release on inferno-node-0 (containerd,
runc, a kubelet and kube-proxy on this machine) with the image inferno:0.10.3 built from
the inferno-ai crate. Everything here is observed on the running process: its probes, its
user and root filesystem (read from /proc through the runtime's pid), the files it writes
to its claims, and what it answers through the chart's Services.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from tools.local_cluster import build, csi_build, network, node
from tools.models import alphabet_model
from tools.local_cluster.cluster import LocalCluster
from tools.local_cluster.processes import ClusterError

from .kube import eventually
from .playbooks import KNOWN_SECRET, ansible_playbook, extra_vars, kubeconfig_with_context

REAL_NODE_VALUES = "inventories/values/local-cluster.yaml"
# Staging and prod ask for more CPU than a 2-core node has: 2 x 500m and 3 x 1000m.
SMALL_REQUESTS = {"resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}


@dataclass
class Release:
    namespace: str
    service_ip: str


def pods(cluster, namespace: str) -> list[client.V1Pod]:
    return [pod for pod in client.CoreV1Api(cluster.api).list_namespaced_pod(
        namespace, label_selector="app.kubernetes.io/instance=inferno").items if not pod.metadata.deletion_timestamp]


def ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Connection": "close"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (cluster addresses only)
        return response.status, response.read().decode()


def post(url: str, body: dict, timeout: float = 60.0) -> tuple[int, str]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (cluster addresses only)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def crictl(*args: str) -> str:
    config = node.NodeLayout(Path("/")).crictl_config
    result = subprocess.run([str(build.ensure_built().crictl), f"--config={config}", *args],
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


def container_pid(pod: client.V1Pod) -> int:
    container_id = pod.status.container_statuses[0].container_id.split("://", 1)[1]
    return json.loads(crictl("inspect", container_id))["info"]["pid"]


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, value in (line.split(":", 1) for line in lines if ":" in line)}


def deploy(cluster, inventory: str, namespace: str, *args: str, kubeconfig: Path | None = None):
    run = ansible_playbook("deploy.yml", "-i", inventory, "-e", f"inferno_namespace={namespace}", *args,
                           kubeconfig=kubeconfig or cluster.kubeconfig, timeout=900)
    assert run.returncode == 0, run.output[-6000:]
    return run


@pytest.fixture(scope="module")
def dev_release(local_cluster) -> Release:
    """`ansible-playbook deploy.yml -i inventories/dev`, as a user runs it against the local cluster."""
    namespace = "real-dev"
    deploy(local_cluster, "inventories/dev", namespace)
    service = client.CoreV1Api(local_cluster.api).read_namespaced_service("inferno", namespace)
    yield Release(namespace, service.spec.cluster_ip)
    client.CoreV1Api(local_cluster.api).delete_namespace(namespace)


def test_the_real_node_is_ready_labelled_and_tainted(local_cluster):
    real = client.CoreV1Api(local_cluster.api).read_node(node.NODE_NAME)
    assert any(c.type == "Ready" and c.status == "True" for c in real.status.conditions)
    assert real.metadata.labels[node.NODE_LABEL] == "true"
    assert [(t.key, t.value, t.effect) for t in real.spec.taints] == [(node.NODE_LABEL, "true", "NoSchedule")]
    assert real.status.node_info.kubelet_version == build.KUBERNETES_VERSION
    assert real.status.node_info.container_runtime_version.startswith("containerd://1.6")
    assert "kwok.x-k8s.io/node" not in (real.metadata.annotations or {})


def test_a_second_real_node_is_refused_naming_the_running_one(local_cluster, tmp_path):
    with pytest.raises(ClusterError) as refused:
        LocalCluster(tmp_path / "second", real_node=True).up()
    root = local_cluster.control_plane.layout.root
    assert (f"the real node of the local cluster in {root} is running, and a machine runs one real node at a time. "
            f"Stop that cluster first: INFERNO_LOCAL_CLUSTER_DIR={root} scripts/cluster down") in str(refused.value)
    assert not (tmp_path / "second" / "state.json").exists()
    assert local_cluster.control_plane.running()


def test_dev_inventory_runs_inferno_on_the_real_node_ready_through_its_probes(local_cluster, dev_release):
    (pod,) = pods(local_cluster, dev_release.namespace)
    assert pod.spec.node_name == node.NODE_NAME
    assert ready(pod) and pod.status.container_statuses[0].ready
    container = pod.spec.containers[0]
    assert container.image == "inferno:0.10.3"
    assert pod.status.container_statuses[0].image_id.startswith("sha256:") or "@sha256:" in \
        pod.status.container_statuses[0].image_id
    for probe in (container.startup_probe, container.readiness_probe, container.liveness_probe):
        assert probe.http_get.path == "/health" and probe.http_get.port == "http"
    # A real pod address from the node's bridge, not one of kwok's.
    assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network(network.REAL_POD_CIDR)


def test_inferno_runs_as_uid_1000_without_privileges_on_a_read_only_root(local_cluster, dev_release):
    (pod,) = pods(local_cluster, dev_release.namespace)
    pid = container_pid(pod)
    status = proc_status(pid)
    assert status["Name"] == "inferno"
    assert status["Uid"].split() == ["1000"] * 4 and status["Gid"].split() == ["1000"] * 4
    assert int(status["CapEff"], 16) == 0 and status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"
    root_mount = next(line.split() for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
                      if line.split()[4] == "/")
    assert "ro" in root_mount[5].split(",")


def test_inferno_writes_its_own_files_to_the_volume_behind_the_claim(local_cluster, dev_release):
    core = client.CoreV1Api(local_cluster.api)
    claim = core.read_namespaced_persistent_volume_claim("inferno-queue-pvc", dev_release.namespace)
    volume = core.read_persistent_volume(claim.spec.volume_name)
    assert volume.spec.csi.driver == csi_build.DRIVER_NAME  # the real CSI driver's volume: a directory
    folder = local_cluster.control_plane.csi_layout().volumes / volume.spec.csi.volume_handle
    # The claim is mounted at ~/.inferno: Inferno makes its logs, download and backup folders there.
    made = eventually(lambda: {p.name for p in folder.iterdir()} >= {"logs", "downloads", "backups"} and
                      sorted(p.name for p in folder.iterdir()), what=f"Inferno's folders in {folder}")
    assert all((folder / name).stat().st_uid == 1000 for name in ("logs", "downloads", "backups")), made
    # fsGroup 1000 was applied by the kubelet (the CSIDriver's fsGroupPolicy is File).
    assert folder.stat().st_gid == 1000


def test_kubectl_logs_shows_plain_text_and_a_started_update_service(local_cluster, dev_release):
    """Read through the API server and the kubelet. NO_COLOR (set by the chart) keeps colour codes
    out; `uname` in the image lets Inferno start its update service (chart README, Logging)."""
    (pod,) = pods(local_cluster, dev_release.namespace)
    log = client.CoreV1Api(local_cluster.api).read_namespaced_pod_log(pod.metadata.name, dev_release.namespace)
    assert "HTTP API server is running on http://0.0.0.0:8000" in log
    assert "\x1b[" not in log
    assert "Failed to initialize upgrade system" not in log, log


def test_health_metrics_and_models_answer_through_the_cluster_ip_service(dev_release):
    status, body = get(f"http://{dev_release.service_ip}:8000/health")
    assert status == 200 and json.loads(body)["status"] == "healthy"
    status, body = get(f"http://{dev_release.service_ip}:8000/v1/models")
    assert status == 200 and json.loads(body)["object"] == "list"
    status, body = get(f"http://{dev_release.service_ip}:9090/metrics")
    families = {family.name for family in text_string_to_metric_families(body)}
    assert status == 200 and "inferno_uptime_seconds" in families, sorted(families)


def test_the_image_infers_with_a_gguf_model_in_the_models_claim(local_cluster, dev_release, tmp_path):
    """The image's Inferno has the gguf backend: a model in the models claim answers a completion
    through the Service, with the text its weights fix (issue 26). The test writes the model into
    the claim's folder on the node itself, under a temporary name renamed into place; delivering
    models is the collection's next step."""
    core = client.CoreV1Api(local_cluster.api)
    claim = core.read_namespaced_persistent_volume_claim("inferno-models-pvc", dev_release.namespace)
    volume = core.read_persistent_volume(claim.spec.volume_name)
    folder = local_cluster.control_plane.csi_layout().volumes / volume.spec.csi.volume_handle
    partial = alphabet_model.write_alphabet_model(folder / ".alphabet.gguf.partial")
    os.chown(partial, 1000, 1000)
    model = partial.rename(folder / "alphabet.gguf")
    try:
        status, body = get(f"http://{dev_release.service_ip}:8000/v1/models")
        assert status == 200 and "alphabet.gguf" in [item["id"] for item in json.loads(body)["data"]], body
        # Sampling that 0.10.3 gets right: it ranks by a probability llama-cpp-2 leaves at 0, so a
        # temperature under 0.01 gives the last vocabulary id and the default top_k (40) ids 0-39 only.
        status, body = post(f"http://{dev_release.service_ip}:8000/v1/completions", {
            "model": "alphabet.gguf", "prompt": "abc", "max_tokens": 5, "temperature": 0.1, "top_k": 1000,
            "top_p": 1.0})
        assert status == 200, body
        assert json.loads(body)["choices"][0]["text"] == alphabet_model.expected_text("abc", 5) == "defgh", body
    finally:
        model.unlink()


def test_the_guides_port_forward_serves_metrics(local_cluster, dev_release):
    """`kubectl port-forward svc/inferno 9090:9090`, then `curl localhost:9090/metrics`."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 9090)) == 0:
            pytest.fail("port 9090 is taken on this machine; the guide's command needs it")
    forward = subprocess.Popen([str(local_cluster.kubectl), f"--kubeconfig={local_cluster.kubeconfig}", "-n",  # noqa: S603
                                dev_release.namespace, "port-forward", "svc/inferno", "9090:9090"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "Forwarding from 127.0.0.1:9090" in forward.stdout.readline()
        curl = subprocess.run(["curl", "-sS", "--fail", "localhost:9090/metrics"], capture_output=True, text=True,
                              timeout=30, check=False)
        assert curl.returncode == 0, curl.stderr
        assert "inferno_uptime_seconds" in {f.name for f in text_string_to_metric_families(curl.stdout)}
    finally:
        forward.terminate()
        forward.wait(timeout=10)


class RequestStream:
    """GET /health through the Service again and again, each on a new connection, and count."""

    def __init__(self, url: str):
        self.url, self.sent, self.failures = url, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sent += 1
            try:
                status, _body = get(self.url, timeout=5)
                if status != 200:
                    self.failures.append(f"HTTP {status}")
            except (OSError, urllib.error.URLError) as error:
                self.failures.append(f"{type(error).__name__}: {error}")
            time.sleep(0.02)

    def __enter__(self) -> RequestStream:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def assert_helm_showed_progress(output: str, namespace: str, new_pod: str) -> None:
    """While helm waited for the new pod (its probes take longer than 5 s), the upgrade task
    printed a line every ~5 s with the pod not ready yet and its state, and no value."""
    header = "TASK [inferno.ops.deploy : Install or upgrade the release to revision"
    task = output.split(header, 1)[1].split("TASK [", 1)[0]
    lines = re.findall(rf"^\[local-cluster\] waiting for {namespace}/inferno \((\d+)s of 600s\): (\d+) of (\d+) pods "
                       r"ready(.*)$", task, re.MULTILINE)
    assert lines, task
    seconds = [int(line[0]) for line in lines]
    assert seconds[0] >= 5 and all(later - earlier >= 4 for earlier, later in itertools.pairwise(seconds)), task
    # maxSurge 1: the old pod serves while the new one starts, named with its state.
    assert any(f"{new_pod}: " in line[3] for line in lines), task
    assert KNOWN_SECRET not in output


def test_a_rolling_upgrade_under_a_stream_of_requests_fails_none(local_cluster, dev_release):
    """A config change rolls the pod; maxUnavailable 0 and maxSurge 1 keep one Ready pod throughout."""
    (before,) = pods(local_cluster, dev_release.namespace)
    with RequestStream(f"http://{dev_release.service_ip}:8000/health") as stream:
        time.sleep(2)
        upgraded = deploy(local_cluster, "inventories/dev", dev_release.namespace,
                          *extra_vars(inferno_values={"config": {"api": {"INFERNO_WORKER_THREADS": 3}}}))
        time.sleep(5)  # requests after the old pod is gone, too
    (after,) = pods(local_cluster, dev_release.namespace)
    assert after.metadata.name != before.metadata.name and ready(after)
    assert_helm_showed_progress(upgraded.output, dev_release.namespace, after.metadata.name)
    print(f"rolling upgrade: {stream.sent} requests, {len(stream.failures)} failed")
    assert stream.sent > 100
    assert stream.failures == [], f"{len(stream.failures)} of {stream.sent} failed: {stream.failures[:5]}"


def test_a_frozen_inferno_is_restarted_by_its_liveness_probe(local_cluster):
    """SIGSTOP through the runtime: /health stops answering, the kubelet restarts the container."""
    namespace = "real-liveness"
    quick = {"probes": {"liveness": {"initialDelaySeconds": 5, "periodSeconds": 3, "timeoutSeconds": 1,
                                     "failureThreshold": 2}},
             "terminationGracePeriodSeconds": 5, "preStopSleepSeconds": 0}
    deploy(local_cluster, "inventories/dev", namespace, *extra_vars(inferno_values=quick))
    try:
        (pod,) = pods(local_cluster, namespace)
        container_id = pod.status.container_statuses[0].container_id.split("://", 1)[1]
        socket_path = node.NodeLayout(Path("/")).containerd_socket
        subprocess.run(["ctr", "--address", str(socket_path), "-n", "k8s.io", "tasks", "kill", "--signal",
                        "SIGSTOP", container_id], check=True, capture_output=True, timeout=30)
        assert proc_status(container_pid(pod))["State"].startswith("T")

        def restarted_and_ready():
            (current,) = pods(local_cluster, namespace)
            status = current.status.container_statuses[0]
            return status.restart_count >= 1 and status.ready and ready(current) and current
        current = eventually(restarted_and_ready, timeout=120, what="a restart and Ready again")
        assert current.metadata.name == pod.metadata.name
        events = client.CoreV1Api(local_cluster.api).list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={pod.metadata.name}").items
        assert any(e.reason == "Unhealthy" and "Liveness probe failed" in e.message for e in events)
    finally:
        client.CoreV1Api(local_cluster.api).delete_namespace(namespace)


def test_staging_and_prod_run_real_pods_under_their_pod_security(local_cluster, tmp_path):
    """Both profiles on the real node: prod's restricted Pod Security admits Inferno's pods,
    its NetworkPolicy is accepted, staging's NodePort answers, and the HPA reads real metrics."""
    layer = ["-e", json.dumps({"inferno_values_files": [str(Path(REAL_NODE_VALUES).resolve())]})]
    deploy(local_cluster, "inventories/staging", "real-staging", *layer, *extra_vars(inferno_values=SMALL_REQUESTS),
           kubeconfig=kubeconfig_with_context(local_cluster.kubeconfig, "inferno-staging", tmp_path / "s.kubeconfig"))
    prod_values = {**SMALL_REQUESTS, "monitoring": {"serviceMonitor": {"enabled": False}}}
    deploy(local_cluster, "inventories/prod", "real-prod", *layer, *extra_vars(inferno_values=prod_values),
           kubeconfig=kubeconfig_with_context(local_cluster.kubeconfig, "inferno-prod", tmp_path / "p.kubeconfig"))
    core = client.CoreV1Api(local_cluster.api)
    try:
        for namespace, replicas in (("real-staging", 2), ("real-prod", 3)):
            running = pods(local_cluster, namespace)
            assert len(running) == replicas and all(ready(p) and p.spec.node_name == node.NODE_NAME for p in running)
        labels = core.read_namespace("real-prod").metadata.labels
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        # Prod asks for warn, and Inferno 0.10.3 logs its INFO lines all the same (chart README, Logging).
        prod_pod = pods(local_cluster, "real-prod")[0]
        assert core.read_namespaced_config_map("inferno-config", "real-prod").data["RUST_LOG"] == "warn"
        prod_log = core.read_namespaced_pod_log(prod_pod.metadata.name, "real-prod")
        assert " INFO " in prod_log and "Starting HTTP server on 0.0.0.0:8000" in prod_log
        policies = client.NetworkingV1Api(local_cluster.api).list_namespaced_network_policy("real-prod").items
        assert len(policies) == 1
        external = core.read_namespaced_service("inferno-external", "real-staging")
        assert external.spec.type == "NodePort"
        node_ip = next(a.address for a in core.read_node(node.NODE_NAME).status.addresses if a.type == "InternalIP")
        status, body = get(f"http://{node_ip}:{external.spec.ports[0].node_port}/health")
        assert status == 200 and json.loads(body)["status"] == "healthy"

        def hpa_metrics():
            hpa = client.AutoscalingV2Api(local_cluster.api).read_namespaced_horizontal_pod_autoscaler(
                "inferno", "real-staging")
            current = {m.resource.name: m.resource.current for m in hpa.status.current_metrics or [] if m.resource}
            return set(current) == {"cpu", "memory"} and all(
                value.average_utilization is not None for value in current.values()) and current
        current = eventually(hpa_metrics, timeout=120, what="the HPA's CPU and memory figures")
        assert current["memory"].average_value and int(current["memory"].average_utilization) > 0
    finally:
        for namespace in ("real-staging", "real-prod"):
            core.delete_namespace(namespace)
