"""The local control plane: real etcd, kube-apiserver, kube-controller-manager and
kube-scheduler processes on 127.0.0.1, with kwok simulating three nodes and their pods,
and one real node (node.py) whose pods run in containers. With the real node, storage and
snapshots are a real CSI driver and the Kubernetes snapshot machinery (csi.py); without it,
kwok's stages and snapshots.py simulate them.

Everything lives under one folder (default ~/.cache/inferno-ops/cluster/run):
pki/, the kubeconfigs, etcd data, node/, snapshot-store/, logs/ and state.json. `up` starts from a clean
data directory; `down` stops every process, removes what the real node made on the
host and deletes the data, but keeps logs/. A snapshot store given to `up` (`snapshot_store`,
`--snapshot-store`) lives outside the folder and is never deleted: a second cluster can
restore the first one's snapshots from it (disaster recovery).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import ssl
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import yaml

from . import build, csi, csi_build, images, inferno_binary, network, node_addons, pki
from .network import KWOK_NODE_ADDRESS, KWOK_POD_CIDR, NODE_ADDRESS, SERVICE_CIDR, SERVICE_IP, Containment
from .node import (NODE_NAME, RUN_DIR, RealNode, check_host_free, kube_proxy_families, kube_proxy_synced,
                   record_owner_pids)
from .node import check_prerequisites as check_node_prerequisites
from .processes import (ClusterError, Component, free_ports, http_ok, is_alive, load, port_in_use, save, signal_group, start,
                        stop, wait_until, wait_until_gone)
from .snapshots import DRIVER as SIMULATED_DRIVER

STORAGE_CLASS = csi.STORAGE_CLASS
SNAPSHOT_CLASS = csi.SNAPSHOT_CLASS
# With the real node, claims of STORAGE_CLASS are the real CSI driver's; these kwok stages
# (provisioning for the simulated driver) then stay out.
SIMULATED_STORAGE_STAGES = ("provision-claims.yaml", "delete-released-volumes.yaml")
NODES = (("kwok-node-0", "zone-a"), ("kwok-node-1", "zone-b"), ("kwok-node-2", "zone-c"))
STAGES_DIR = Path(__file__).resolve().parent / "stages"
# What the collection asks a cluster admin to apply once per cluster (README, "Backup and restore"), applied here
# as that admin would.
ADMIN_MANIFESTS = (Path(__file__).resolve().parents[2] / "files" / "admission" / "pin-protection.yaml",)
START_TIMEOUT = 60.0
# Set to 0 to start the control plane and kwok nodes only (no root, containerd or cargo needed).
REAL_NODE_ENV = "INFERNO_LOCAL_CLUSTER_REAL_NODE"
# The clusters of this machine that hold the containment of their packets (network.py).
CONTAINMENT_RECORD = RUN_DIR / "containment.json"


# The API server's audit policy: one Metadata event (user, verb, resource, answer) per request of
# a ServiceAccount outside kube-system, which is how a playbook runs under least RBAC
# (tests/integration/test_least_rbac.py derives each playbook's verbs from them). The
# controllers' own ServiceAccounts (kube-system) and every other user are not logged.
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    userGroups: ["system:serviceaccounts:kube-system"]
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
"""


class Layout:  # pylint: disable=too-few-public-methods  # a record of paths
    """The files of one local cluster."""

    def __init__(self, root: Path):
        self.root = root
        self.pki = root / "pki"
        self.logs = root / "logs"
        self.etcd_data = root / "etcd"
        self.state = root / "state.json"
        self.kubeconfig = root / "admin.kubeconfig"  # written by pki.create
        self.lock = root / ".lock"
        # The CSI driver's snapshot archives, apart from the node's volumes (csi.py).
        self.snapshot_store = root / "snapshot-store"
        # What ServiceAccounts outside kube-system asked the API server (AUDIT_POLICY).
        self.audit_policy = root / "audit-policy.yaml"
        self.audit_log = self.logs / "audit.log"


def default_root() -> Path:
    return Path(os.environ.get("INFERNO_LOCAL_CLUSTER_DIR") or build.cache_root() / "run")


@contextmanager
def exclusive(layout: Layout):
    """One up/down at a time; the lock is released (and the file left empty) on exit."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.lock, "w", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("another `up`/`down` of this cluster is running; waiting for it", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cluster_runs(root: str) -> bool:
    """Whether any recorded process of the cluster in `root` is alive; a record that cannot be
    read (being written, say) counts as running, so its containment stays."""
    try:
        return any(is_alive(c.pid) for c in LocalCluster(Path(root)).components())
    except (OSError, ValueError, TypeError):
        return True


def real_node_default() -> bool:
    return os.environ.get(REAL_NODE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def check_prerequisites(real_node: bool) -> None:
    """Fail early, naming the fix, when something `up` needs is missing."""
    missing = []
    for module in ("kubernetes", "cryptography", "yaml"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ClusterError(f"missing Python packages {missing}: run `make setup` and use .venv/bin/python")
    if shutil.which("go") is None and not build.is_complete(build.planned_paths()):
        raise ClusterError("the control plane is not built yet and `go` (>= 1.24) is not on PATH: install Go, "
                           "then run `up` again (the first build takes a while; later starts reuse it)")
    if real_node:
        check_node_prerequisites()
        if not inferno_binary.is_built():
            try:
                inferno_binary.check_rust(inferno_binary.find_cargo())
            except build.BuildError as error:
                raise ClusterError(str(error)) from error


def build_everything(real_node: bool) -> tuple[build.Paths, csi_build.CsiPaths | None, dict[str, Path]]:
    """The control plane binaries and, for the real node, the CSI machinery and the images;
    the Go builds and the image build run side by side."""
    def go_builds() -> tuple[build.Paths, csi_build.CsiPaths | None]:
        return build.ensure_built(), (csi_build.ensure_built() if real_node else None)

    with ThreadPoolExecutor(2) as pool:
        go_build = pool.submit(go_builds)
        image_build = pool.submit(images.ensure_images) if real_node else None
        try:
            paths, csi_paths = go_build.result()
            archives = image_build.result() if image_build else {}
        except (build.BuildError, images.ImageError) as error:
            raise ClusterError(str(error)) from error
    return paths, csi_paths, archives


class LocalCluster:
    """Start, stop and describe the local cluster."""

    def __init__(self, root: Path | None = None, real_node: bool | None = None, snapshot_store: Path | None = None):
        """`snapshot_store`: a folder (created if missing) for the CSI driver's snapshots in place
        of `<root>/snapshot-store`; `down` keeps it, so another cluster can restore from it."""
        self.layout = Layout(root or default_root())
        self.real_node = real_node_default() if real_node is None else real_node
        self.snapshot_store = Path(snapshot_store).expanduser().resolve() if snapshot_store else None
        self._api_client = None

    # -- state -------------------------------------------------------------------------
    def components(self) -> list[Component]:
        if not self.layout.state.is_file():
            return []
        return load(self.layout.state)[0]

    def running(self) -> bool:
        components = self.components()
        return bool(components) and all(is_alive(c.pid) for c in components)

    def _record(self) -> dict:
        """What `up` recorded in state.json besides the components (empty when nothing runs)."""
        return load(self.layout.state)[1] if self.layout.state.is_file() else {}

    @property
    def snapshots_dir(self) -> Path:
        """The CSI driver's snapshot store: the one given, else the one the started cluster
        recorded, else `<root>/snapshot-store`."""
        recorded = self._record().get("snapshot_store")
        return self.snapshot_store or (Path(recorded) if recorded else self.layout.snapshot_store)

    def status(self) -> dict:
        components, extra = (load(self.layout.state) if self.layout.state.is_file() else ([], {}))
        return {
            "running": bool(components) and all(is_alive(c.pid) for c in components),
            "kubeconfig": str(self.layout.kubeconfig),
            "server": extra.get("server"),
            "version": extra.get("version"),
            "real_node": extra.get("real_node"),
            # Where the CSI driver keeps its snapshots; `shared`: given to `up`, kept by `down`.
            "snapshot_store": extra.get("snapshot_store"),
            "snapshot_store_shared": extra.get("snapshot_store_shared"),
            "logs": str(self.layout.logs),
            "components": {c.name: {"pid": c.pid, "port": c.port, "alive": is_alive(c.pid)} for c in components},
            # The host-only interface and the packets its rules stopped (network.py); reading
            # the counters needs root.
            "containment": self.containment.describe() if self.contained else None,
        }

    @property
    def contained(self) -> bool:
        """Whether `up` keeps this cluster's packets on the host: it needs root, which the real
        node has anyway; a kwok-only cluster of another user goes without (README)."""
        return self.real_node or os.geteuid() == 0

    @property
    def containment(self) -> Containment:
        return Containment(CONTAINMENT_RECORD)

    def env(self) -> str:
        if not self.running():
            raise ClusterError("the local cluster is not running: start it with `up`")
        return f"export KUBECONFIG={self.layout.kubeconfig}"

    # -- up ----------------------------------------------------------------------------
    def up(self) -> dict:
        if self.snapshot_store and (problem := self._snapshot_store_problem()):
            raise ClusterError(problem)
        check_prerequisites(self.real_node)
        if self.real_node:
            check_host_free(self.layout.root)
            problem = self.csi_layout().socket_problem()
            if problem:
                raise ClusterError(problem)
        with exclusive(self.layout):
            if self.running():
                running_store = self._record().get("snapshot_store")
                if self.snapshot_store and running_store != str(self.snapshot_store):
                    raise ClusterError(f"the cluster in {self.layout.root} already runs with the snapshot store "
                                       f"{running_store}: run `down` first to start it with {self.snapshot_store}")
                return self.status()
            self._stop_recorded()
            paths, csi_paths, archives = build_everything(self.real_node)
            started = time.monotonic()
            self._fresh_folders()
            self._api_client = None
            components: list[Component] = []
            try:
                self._start_all(paths, csi_paths, archives, components)
            except BaseException:
                self._stop(components, paths)
                self.layout.state.unlink(missing_ok=True)
                raise
            status = self.status()
            status["start_seconds"] = round(time.monotonic() - started, 1)
            return status

    def _wiped_folders(self) -> tuple[Path, ...]:
        """The folders that `up` or `down` delete (or move): a shared store stays out of them."""
        layout = self.layout
        return (layout.pki, layout.etcd_data, layout.snapshot_store, layout.logs, layout.root / "logs.previous",
                RealNode(layout.root, layout.logs).layout.root)

    def _snapshot_store_problem(self) -> str | None:
        """Why the given snapshot store cannot be used, with the fix; None when it can."""
        store = self.snapshot_store
        if not self.real_node:
            return ("a snapshot store needs the real node's CSI driver; without it (--no-real-node) snapshots are "
                    "simulated and no byte is stored: drop --snapshot-store or start with the real node")
        for folder in self._wiped_folders():
            folder = folder.resolve()
            if store == folder or folder in store.parents or store in folder.parents:
                return (f"the snapshot store {store} overlaps {folder}, which `up` and `down` of the cluster in "
                        f"{self.layout.root} delete: give it a folder of its own outside them")
        if store.exists() and not store.is_dir():
            return f"the snapshot store {store} exists and is not a folder"
        return None

    def _fresh_folders(self) -> None:
        layout = self.layout
        for folder in (layout.pki, layout.etcd_data, layout.snapshot_store):
            shutil.rmtree(folder, ignore_errors=True)
        if layout.logs.is_dir():
            previous = layout.root / "logs.previous"
            shutil.rmtree(previous, ignore_errors=True)
            layout.logs.rename(previous)
        for folder in (layout.pki, layout.etcd_data, layout.logs):
            folder.mkdir(parents=True)
        layout.etcd_data.chmod(0o700)
        layout.audit_policy.write_text(AUDIT_POLICY)

    def _start_all(self, paths: build.Paths, csi_paths: csi_build.CsiPaths | None, archives: dict[str, Path],
                   components: list[Component]) -> None:
        from kubernetes import client

        layout = self.layout
        if self.contained:  # before anything that sends a packet starts
            self.containment.hold(layout.root, cluster_runs)
        node = RealNode(layout.root, layout.logs) if self.real_node else None
        node_ip = NODE_ADDRESS if node else None
        (etcd_port, etcd_peer, api_port, kcm_port, sched_port, kwok_port, kubelet_port, kubelet_healthz,
         proxy_healthz, proxy_metrics, metrics_port) = free_ports(11)
        server = f"https://127.0.0.1:{api_port}"
        certs = pki.create(layout.pki, server, SERVICE_IP, (NODE_NAME, node_ip) if node else None)
        record = {"server": server, "version": build.KUBERNETES_VERSION, "real_node": NODE_NAME if node else None,
                  "snapshot_store": str(self.csi_layout().snapshots) if node else None,
                  "snapshot_store_shared": self.snapshot_store is not None}

        def remember(component: Component) -> Component:
            components.append(component)
            save(layout.state, components, record)
            return component

        etcd = remember(start("etcd", [
            str(paths.etcd), "--name=local", f"--data-dir={layout.etcd_data}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}", f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=local=http://127.0.0.1:{etcd_peer}", "--listen-metrics-urls=",
            "--unsafe-no-fsync", "--auto-compaction-retention=1", "--quota-backend-bytes=4294967296",
        ], layout.logs, etcd_port))
        if node:  # containerd needs no API server: it starts and takes the images meanwhile
            node.prepare_host()
            containerd = remember(node.start_containerd(images.PAUSE_IMAGE))
        wait_until(etcd, lambda: http_ok(f"http://127.0.0.1:{etcd_port}/health", expect='"health":"true"'),
                   START_TIMEOUT, "starting")

        apiserver = remember(start("kube-apiserver", [
            str(paths.kube_apiserver), f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", f"--secure-port={api_port}",
            # It listens on loopback only, so it is told which address to advertise (it would
            # take the default route's), and loopback addresses may not back the `kubernetes` Service.
            "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
            f"--tls-cert-file={certs.serving_cert}", f"--tls-private-key-file={certs.serving_key}",
            f"--client-ca-file={certs.ca_cert}", "--authorization-mode=Node,RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={certs.service_account_pub}",
            f"--service-account-signing-key-file={certs.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--allow-privileged=true", "--profiling=false",
            # The aggregation layer (metrics.k8s.io), as kubeadm sets it up, and the
            # client certificate for logs, exec and port-forward through the kubelet.
            f"--requestheader-client-ca-file={certs.ca_cert}",
            f"--requestheader-allowed-names={pki.FRONT_PROXY_CLIENT}",
            "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={certs.front_proxy_client[0]}",
            f"--proxy-client-key-file={certs.front_proxy_client[1]}", "--enable-aggregator-routing=true",
            f"--kubelet-client-certificate={certs.kubelet_client[0]}",
            f"--kubelet-client-key={certs.kubelet_client[1]}",
            # Node names resolve nowhere here: reach kubelets at their addresses.
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            f"--audit-policy-file={layout.audit_policy}", f"--audit-log-path={layout.audit_log}",
            "--audit-log-maxsize=200", "--audit-log-maxbackup=1",
        ], layout.logs, api_port))
        context = ssl.create_default_context(cafile=str(certs.ca_cert))
        admin_pki = layout.pki
        context.load_cert_chain(str(admin_pki / "admin.crt"), str(admin_pki / "admin.key"))
        if node:
            wait_until(containerd, node.containerd_ready, START_TIMEOUT, "starting")
            for archive in archives.values():
                node.import_image(archive)
        wait_until(apiserver, lambda: http_ok(f"{server}/readyz", context), START_TIMEOUT, "becoming ready")

        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE  # self-signed serving certs, health only
        kcm_kubeconfig = str(certs.kubeconfigs["controller-manager"])
        kcm = remember(start("kube-controller-manager", [
            str(paths.kube_controller_manager), f"--kubeconfig={kcm_kubeconfig}",
            f"--authentication-kubeconfig={kcm_kubeconfig}", f"--authorization-kubeconfig={kcm_kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={kcm_port}", "--controllers=*",
            # As kubeadm runs it: each controller acts as its own ServiceAccount with the
            # bootstrap RBAC roles, so permissions are those of a real cluster.
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={certs.service_account_key}", f"--root-ca-file={certs.ca_cert}",
            f"--cluster-signing-cert-file={certs.ca_cert}", f"--cluster-signing-key-file={certs.ca_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--pvclaimbinder-sync-period=2s",
            "--node-monitor-grace-period=60s",
        ], layout.logs, kcm_port))
        scheduler_kubeconfig = str(certs.kubeconfigs["scheduler"])
        scheduler = remember(start("kube-scheduler", [
            str(paths.kube_scheduler), f"--kubeconfig={scheduler_kubeconfig}",
            f"--authentication-kubeconfig={scheduler_kubeconfig}", f"--authorization-kubeconfig={scheduler_kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={sched_port}",
            # A pod rejected while its claims were unbound is retried on the claims' updates;
            # when that retry is lost (seen once: a pod Pending beside Bound claims until the
            # 5-minute default swept it up), it is retried after 30 s instead.
            "--pod-max-in-unschedulable-pods-duration=30s",
        ], layout.logs, sched_port))
        if node:
            kubelet = remember(node.start_kubelet(paths, certs.kubeconfigs["kubelet"], node_ip,
                                                  (kubelet_port, kubelet_healthz), certs.ca_cert,
                                                  certs.kubelet_serving))
        for component in (kcm, scheduler):
            wait_until(component, lambda c=component: http_ok(f"https://127.0.0.1:{c.port}/healthz", insecure),
                       START_TIMEOUT, "becoming healthy")

        self._install_addons(paths, csi.objects() if node else simulated_storage_objects())
        if node:
            csi_layout = self.csi_layout()
            driver = remember(csi.start_driver(csi_paths, csi_layout, NODE_NAME, layout.logs))
            sidecars = csi.start_sidecars(csi_paths, csi_layout, certs.kubeconfigs, layout.logs, remember)
        stages = [stage for stage in sorted(STAGES_DIR.glob("*.yaml"))
                  if not (node and stage.name in SIMULATED_STORAGE_STAGES)]
        kwok = remember(start("kwok", [
            str(paths.kwok), f"--kubeconfig={certs.kubeconfigs['kwok']}",
            # Only the nodes created with this annotation: the real node's pods are real.
            "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--cidr={KWOK_POD_CIDR}", f"--node-ip={KWOK_NODE_ADDRESS}", "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{kwok_port}",
            *[f"--config={stage}" for stage in (*paths.default_stages, *stages)],
        ], layout.logs, kwok_port))
        if not node:  # the real node has the real snapshot machinery (csi.py)
            remember(start("snapshot-simulator", [
                sys.executable, "-m", "tools.local_cluster", "simulate-snapshots", f"--kubeconfig={layout.kubeconfig}",
            ], layout.logs, env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])}))
        if node:
            node_addons.start(self._api(), node.layout, paths, certs, node_ip, metrics_port, layout.logs, remember)
            node.wait_ready(kubelet, client.CoreV1Api(self._api()).read_node)
            storage = client.StorageV1Api(self._api())
            wait_until(driver, lambda: csi.check_registered(storage.read_csi_node, NODE_NAME), START_TIMEOUT,
                       "registering with the kubelet")
            csi.probe(self._api(), sidecars)
            proxy = remember(node.start_kube_proxy(paths, certs.kubeconfigs["kube-proxy"], node_ip,
                                                   (proxy_healthz, proxy_metrics)))
            # Its /healthz answers before the first sync; the sync metric says the rules (and the
            # jumps it puts first in FORWARD and OUTPUT) are written.
            families = kube_proxy_families()
            wait_until(proxy, lambda: kube_proxy_synced(proxy_metrics, families), START_TIMEOUT,
                       f"programming the Service rules ({' and '.join(sorted(families))})")
            record_owner_pids(layout.root, [c.pid for c in components])
        wait_until(kwok, self._nodes_ready, START_TIMEOUT, "making the nodes Ready")
        wait_until(kcm, self._default_service_account, START_TIMEOUT, "creating the default ServiceAccount")
        if node:
            wait_until(components[-1], self._metrics_api_available, START_TIMEOUT,
                       "serving metrics.k8s.io through the aggregation layer")
        if self.contained:  # the kubelet and kube-proxy have put their jumps first meanwhile
            self.containment.confirm()
        for component in components:
            if not is_alive(component.pid):
                raise ClusterError(f"{component.name} exited; see {component.log}")

    def csi_layout(self) -> csi.CsiLayout:
        """Where the CSI driver keeps volumes, snapshots and its sockets for this cluster."""
        node_layout = RealNode(self.layout.root, self.layout.logs).layout
        return csi.CsiLayout(self.layout.root, node_layout.root, node_layout.kubelet_root, RUN_DIR,
                             self.snapshot_store)

    # -- cluster objects -----------------------------------------------------------------
    def _api(self):
        """One API client per started cluster (the kubeconfig changes with every `up`)."""
        from kubernetes import config  # imported late: `status`/`down` must work without it

        if self._api_client is None:
            self._api_client = config.new_client_from_config(config_file=str(self.layout.kubeconfig))
        return self._api_client

    def _install_addons(self, paths: build.Paths, storage_objects: list[dict]) -> None:
        """CRDs, the default StorageClass and VolumeSnapshotClass, the admin's manifests, and the fake nodes."""
        from kubernetes import client, utils

        api = self._api()
        for crd in paths.snapshot_crds:
            utils.create_from_yaml(api, str(crd))
        extensions = client.ApiextensionsV1Api(api)
        deadline = time.monotonic() + START_TIMEOUT
        for crd in paths.snapshot_crds:
            name = yaml.safe_load(crd.read_text())["metadata"]["name"]
            while not any(c.type == "Established" and c.status == "True"
                          for c in (extensions.read_custom_resource_definition(name).status.conditions or [])):
                if time.monotonic() > deadline:
                    raise ClusterError(f"CRD {name} was not Established within {START_TIMEOUT:.0f}s")
                time.sleep(0.2)
        for item in storage_objects:
            if item["kind"] == "VolumeSnapshotClass":
                client.CustomObjectsApi(api).create_cluster_custom_object("snapshot.storage.k8s.io", "v1",
                                                                          "volumesnapshotclasses", item)
            else:
                utils.create_from_dict(api, item)
        for manifest in ADMIN_MANIFESTS:
            utils.create_from_yaml(api, str(manifest))
        core = client.CoreV1Api(api)
        for name, zone in NODES:
            core.create_node({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"}, "labels": {
                    "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                    "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "local",
                    "type": "kwok"}},
                "status": {"allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                           "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"}},
            })

    def _nodes_ready(self) -> bool:
        """Every node Ready and no longer tainted not-ready."""
        from kubernetes import client

        nodes = client.CoreV1Api(self._api()).list_node().items
        ready = [n for n in nodes if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
        untainted = all(not any(t.key == "node.kubernetes.io/not-ready" for t in n.spec.taints or []) for n in ready)
        return len(ready) == len(NODES) + (1 if self.real_node else 0) and untainted

    def _metrics_api_available(self) -> bool:
        from kubernetes import client

        service = client.ApiregistrationV1Api(self._api()).read_api_service("v1beta1.metrics.k8s.io")
        return any(c.type == "Available" and c.status == "True" for c in service.status.conditions or [])

    def _default_service_account(self) -> bool:
        from kubernetes import client

        client.CoreV1Api(self._api()).read_namespaced_service_account("default", "default")
        return True

    # -- fault injection ---------------------------------------------------------------
    def kill(self, name: str) -> Component:
        """SIGKILL one running component, as a crash would; `revive` starts it again."""
        component = self._component(name)
        signal_group(component, signal.SIGKILL)
        wait_until_gone(component, START_TIMEOUT)
        return component

    def pause(self, name: str) -> None:
        """Freeze one component (SIGSTOP), e.g. the snapshot simulator as a stalled CSI driver."""
        signal_group(self._component(name), signal.SIGSTOP)

    def resume(self, name: str) -> None:
        signal_group(self._component(name), signal.SIGCONT)

    def revive(self, name: str) -> dict:
        """Start a killed component again with its recorded command and port; wait until it serves."""
        with exclusive(self.layout):
            components, extra = load(self.layout.state)
            component = self._component(name)
            if is_alive(component.pid):
                return self.status()
            started = start(component.name, component.command, self.layout.logs, component.port)
            save(self.layout.state, [started if c.name == name else c for c in components], extra)
            if name == "kube-apiserver":
                context = ssl.create_default_context(cafile=str(self.layout.pki / "ca.crt"))
                context.load_cert_chain(str(self.layout.pki / "admin.crt"), str(self.layout.pki / "admin.key"))
                wait_until(started, lambda: http_ok(f"{extra['server']}/readyz", context), START_TIMEOUT,
                           "becoming ready again")
            return self.status()

    def _component(self, name: str) -> Component:
        found = [c for c in self.components() if c.name == name]
        if not found:
            raise ClusterError(f"no component {name!r} is recorded; known: "
                               f"{', '.join(c.name for c in self.components()) or 'none (run `up`)'}")
        return found[0]

    # -- down --------------------------------------------------------------------------
    def down(self) -> dict:
        """Stop everything and delete the data; a shared snapshot store (given to this object or
        recorded by the `up` of another process) is kept, and named under `snapshot_store_kept`."""
        with exclusive(self.layout):
            record = self._record()
            shared = self.snapshot_store or (Path(record["snapshot_store"]) if record.get("snapshot_store_shared")
                                             else None)
            stopped, removed, containment = self._stop_recorded()
            shutil.rmtree(self.layout.etcd_data, ignore_errors=True)
            shutil.rmtree(self.layout.pki, ignore_errors=True)
            if shared != self.layout.snapshot_store:  # `up` refuses a shared store there; a guard all the same
                shutil.rmtree(self.layout.snapshot_store, ignore_errors=True)
            for leftover in self.layout.root.glob("*.kubeconfig"):
                leftover.unlink()
        return {"stopped": stopped, "removed_from_host": removed, "containment": containment,
                "logs": str(self.layout.logs),
                "snapshot_store_kept": str(shared) if shared else None}

    def _stop(self, components: list[Component], paths: build.Paths | None = None) -> tuple[list[str], dict | None]:
        """Stop the components in reverse order; before containerd goes, remove every pod sandbox
        through the CRI (the kubelet is already stopped, so nothing starts them again). Last,
        when no other cluster holds it, the containment goes. Returns what the real node's
        clean-up found and removed from the host, and the containment's final counters."""
        paths = paths or build.planned_paths()
        node = RealNode(self.layout.root, self.layout.logs)
        removed: list[str] = []
        for component in reversed(components):
            if component.name == "containerd" and is_alive(component.pid):
                removed += node.remove_pods(paths)
            stop(component)
        if any(c.name == "containerd" for c in components) or node.layout.root.exists():
            removed += node.cleanup(paths)
        released = self.containment.release(self.layout.root, cluster_runs) if self.contained else None
        if released and released.get("interface"):
            removed.append(f"link {released['interface']} and the {network.CHAIN} chains")
        return removed, released

    def _stop_recorded(self) -> tuple[list[str], list[str], dict | None]:
        """Stop what state.json records; returns the components stopped, what left the host and
        the containment's final counters (None when it stays for another cluster or never was)."""
        components = self.components()
        removed, released = self._stop(components)
        busy = [c for c in components if c.port and port_in_use(c.port)]
        if busy:
            raise ClusterError("ports still in use after stopping: " +
                               ", ".join(f"{c.name}:{c.port}" for c in busy))
        self.layout.state.unlink(missing_ok=True)
        return [c.name for c in components], removed, released


def simulated_storage_objects() -> list[dict]:
    """Without the real node: the default StorageClass and VolumeSnapshotClass of the simulated
    driver, whose claims kwok's stages provision and whose snapshots snapshots.py makes ready."""
    return [
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
         "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
         "provisioner": SIMULATED_DRIVER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
         "allowVolumeExpansion": True},
        {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass",
         "metadata": {"name": SNAPSHOT_CLASS,
                      "annotations": {"snapshot.storage.kubernetes.io/is-default-class": "true"}},
         "driver": SIMULATED_DRIVER, "deletionPolicy": "Delete"},
    ]
