"""The real node: containerd, kubelet and kube-proxy on this machine, beside the kwok nodes.

Pods scheduled onto ``inferno-node-0`` run as real containers: containerd's CRI plugin
with runc, a CNI bridge with host-local addresses, a kubelet that mounts volumes and runs
probes, and kube-proxy routing ClusterIP and NodePort Services with iptables. The node
carries the label ``inferno.ops/real-node=true`` and the taint
``inferno.ops/real-node=true:NoSchedule``, so only workloads that ask for it (with
``nodeSelector`` and ``tolerations``) land there; everything else stays on kwok's nodes.

Everything the node makes lives under ``<cluster>/node/`` or ``/run/inferno-ops``, except
what Kubernetes components put in fixed places; ``cleanup()`` removes those too: pod
sandboxes and their network namespaces, mounts, the bridge, the iptables chains of the
kubelet, kube-proxy and the CNI plugins, the CNI cache, ``/var/log/containers`` links,
the ``kubepods`` cgroups, and the kernel settings the components change (restored).

One machine runs one real node at a time: kube-proxy and the kubelet own the host's
iptables chains. ``/run/inferno-ops/real-node.json`` records which cluster has it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any, Callable

import yaml

from . import build
from .network import BRIDGE, NO_PULL_PROXY, REAL_POD_CIDR
from .processes import ClusterError, Component, is_alive, start, wait_until

NODE_NAME = "inferno-node-0"
NODE_LABEL = "inferno.ops/real-node"
NODE_TAINT = {"key": NODE_LABEL, "value": "true", "effect": "NoSchedule"}
CNI_NETWORK = "inferno-local"
CNI_BIN_DIR = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")
RUN_DIR = Path("/run/inferno-ops")
OWNER_RECORD = RUN_DIR / "real-node.json"
# Places Kubernetes components write to whatever their configuration says.
CONTAINER_LOG_LINKS = Path("/var/log/containers")  # the kubelet's fixed ContainerLogsDir
CNI_CACHE = Path("/var/lib/cni")  # libcni's cache of results, inside containerd
NETNS_DIR = Path("/run/netns")  # containerd pins pod network namespaces here
SHARED_DIRS = (CONTAINER_LOG_LINKS, CNI_CACHE, NETNS_DIR, Path("/run/containerd"))
# Kernel settings the node needs (forwarding for pod traffic, bridged packets through
# iptables for Services) or that the kubelet sets on start; all are restored by cleanup().
SYSCTLS_SET = {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1"}
SYSCTLS_KUBELET = ("vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
                   "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes", "net.ipv4.conf.all.route_localnet")
# Chains the kubelet makes (kube-proxy removes its own with --cleanup).
KUBELET_CHAINS = ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT")
NODE_START_TIMEOUT = 90.0
# Where the host programs are looked for: PATH, and the sbin folders a non-login shell may lack.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])

# (what, how to get it) for everything `up` needs on the host, checked before anything starts.
HOST_PROGRAMS = {
    "containerd": "the containerd runtime: run `make setup` (Debian package containerd)",
    "runc": "the OCI runtime containerd starts containers with: run `make setup` (Debian package runc)",
    "iptables": "the packet filter kube-proxy and the CNI plugins program: run `make setup` (Debian package iptables)",
    "ip": "iproute2, to find the node address and remove the bridge: `apt-get install iproute2`",
    "mount": "util-linux, which the kubelet mounts volumes with",
}


class NodeLayout:  # pylint: disable=too-few-public-methods,too-many-instance-attributes  # a record of paths
    """The real node's files inside one cluster folder, and its fixed places under RUN_DIR."""

    def __init__(self, root: Path):
        self.root = root
        self.containerd_config = root / "containerd.toml"
        self.containerd_root = root / "containerd"
        self.containerd_state = RUN_DIR / "containerd"
        # A short, fixed path: unix socket paths are limited to 107 bytes.
        self.containerd_socket = RUN_DIR / "containerd.sock"
        # crictl's settings for this node: `crictl --config /run/inferno-ops/crictl.yaml ps`.
        self.crictl_config = RUN_DIR / "crictl.yaml"
        self.cni_config_dir = root / "cni" / "net.d"
        self.cni_ipam_dir = root / "cni" / "ipam"
        self.kubelet_root = root / "kubelet"
        self.kubelet_config = root / "kubelet-config.yaml"
        self.kube_proxy_config = root / "kube-proxy-config.yaml"
        self.pod_logs = root / "pod-logs"
        self.volume_plugins = root / "volume-plugins"
        # Where local-path-provisioner makes each claim's directory.
        self.volumes = root / "volumes"
        # What the host looked like before the node started (sysctls, shared folders).
        self.host_record = root / "host-before.json"


# --- The host -----------------------------------------------------------------------


def check_prerequisites() -> None:
    """Fail before anything starts, naming what is missing and how to get it."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the real node needs root (containerd, mounts, iptables); run as root, or start the "
                        "cluster without it: `scripts/cluster up --no-real-node`")
    for program, how in HOST_PROGRAMS.items():
        if shutil.which(program, path=SEARCH_PATH) is None:
            problems.append(f"`{program}` is missing: {how}")
    missing_plugins = [name for name in CNI_PLUGINS if not (CNI_BIN_DIR / name).is_file()]
    if missing_plugins:
        problems.append(f"CNI plugins {missing_plugins} are missing from {CNI_BIN_DIR}: run `make setup` "
                        "(Debian package containernetworking-plugins)")
    if not Path("/proc/sys/net/bridge").is_dir():
        problems.append("the br_netfilter kernel module is not loaded (no /proc/sys/net/bridge): "
                        "`modprobe br_netfilter`; Services need bridged traffic to pass iptables")
    if problems:
        raise ClusterError("the real node cannot start:\n  - " + "\n  - ".join(problems))


def read_sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", name.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def write_sysctl(name: str, value: str) -> None:
    try:
        Path("/proc/sys", name.replace(".", "/")).write_text(value)
    except OSError as error:
        raise ClusterError(f"cannot set {name}={value} ({error}); the real node needs it") from error


def live_owner_other_than(cluster_root: Path) -> str | None:
    """The folder of another cluster whose real node runs on this machine, if any."""
    if not OWNER_RECORD.is_file():
        return None
    owner = json.loads(OWNER_RECORD.read_text())
    if owner.get("root") != str(cluster_root) and any(is_alive(pid) for pid in owner.get("pids", [])):
        return owner["root"]
    return None


def check_host_free(cluster_root: Path) -> None:
    """Refuse, naming it, while another cluster's real node runs on this machine."""
    if (other := live_owner_other_than(cluster_root)) is not None:
        raise ClusterError(
            f"the real node of the local cluster in {other} is running, and a machine runs one real node at a time. "
            f"Stop that cluster first: INFERNO_LOCAL_CLUSTER_DIR={other} scripts/cluster down "
            "(or start this one with --no-real-node)")


def claim_host(cluster_root: Path) -> None:
    """Record that this cluster owns the machine's real node."""
    check_host_free(cluster_root)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    OWNER_RECORD.write_text(json.dumps({"root": str(cluster_root), "pids": []}))


def record_owner_pids(cluster_root: Path, pids: list[int]) -> None:
    OWNER_RECORD.write_text(json.dumps({"root": str(cluster_root), "pids": pids}))


SYNC_METRIC = re.compile(r'^kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="(IPv[46])"\} (\S+)$')


def kube_proxy_families() -> set[str]:
    """The address families kube-proxy serves, by its own test: those whose nat table is there
    (it runs dual-stack where ip6tables has one, whatever the cluster's addresses)."""
    return {family for family, command in (("IPv4", "iptables"), ("IPv6", "ip6tables"))
            if subprocess.run([command, "-w", "-t", "nat", "-S", "POSTROUTING"], capture_output=True,
                              timeout=30, check=False).returncode == 0}


def kube_proxy_synced(metrics_port: int, families: set[str]) -> bool:
    """Whether kube-proxy has written its rules for each of `families`, by its
    `kubeproxy_sync_proxy_rules_last_timestamp_seconds` metric (a family's series appears at
    its first sync, so the IPv6 one may come after the IPv4 one)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as response:  # noqa: S310
        lines = response.read().decode().splitlines()
    synced = {match.group(1) for line in lines if (match := SYNC_METRIC.match(line)) and float(match.group(2)) > 0}
    return bool(families) and families <= synced


# --- Configuration files ------------------------------------------------------------


def containerd_config(layout: NodeLayout, sandbox_image: str) -> str:
    """containerd 1.6's configuration: the CRI plugin, runc with cgroupfs, our CNI folder."""
    return f'''version = 2
root = "{layout.containerd_root}"
state = "{layout.containerd_state}"
oom_score = 0

[grpc]
  address = "{layout.containerd_socket}"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{layout.root / 'containerd-opt'}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  # Root here lacks CAP_SYS_RESOURCE, so no process may lower its oom_score_adj, and the
  # kubelet asks -998 for every sandbox (runc then fails with "can't get final child's PID
  # from pipe"). containerd's own option clamps each container's score at containerd's.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{RUN_DIR / 'runc'}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{layout.cni_config_dir}"
    max_conf_num = 1
'''


def cni_config(layout: NodeLayout) -> dict:
    """A bridge with host-local addresses from REAL_POD_CIDR, masquerading, and hostPort support."""
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": True, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": REAL_POD_CIDR}]], "routes": [{"dst": "0.0.0.0/0"}],
                      "dataDir": str(layout.cni_ipam_dir)}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(layout: NodeLayout, node_ip: str, port: int, healthz_port: int, ca_cert: Path,
                   serving: tuple[Path, Path]) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node_ip,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "tlsCertFile": str(serving[0]),
        "tlsPrivateKeyFile": str(serving[1]),
        # As kubeadm configures it: client certificates and tokens, and the API server decides.
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(ca_cert)}},
        "authorization": {"mode": "Webhook"},
        # This VM has cgroup v1, which 1.34 refuses unless told otherwise.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "podLogsDir": str(layout.pod_logs),
        "volumePluginDir": str(layout.volume_plugins),
        "registerWithTaints": [NODE_TAINT],
        "maxPods": 30,
        # No resolver for pods: the empty string gives them none (so a lookup stays inside the
        # pod, on its own loopback), where the host's would send their DNS off this machine.
        "resolvConf": "",
        "clusterDomain": "cluster.local",
        # Evict only when the machine is really out of room (the defaults start at 10-15% free disk).
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%",
                         "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 99,
        "imageGCLowThresholdPercent": 98,
        "serializeImagePulls": False,
    }


def kube_proxy_config(kubeconfig: Path, healthz_port: int, metrics_port: int, node_ip: str) -> dict:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "mode": "iptables",
        "clusterCIDR": REAL_POD_CIDR,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "nodePortAddresses": [f"{node_ip}/32"],
        # NodePorts on 127.0.0.1 would need net.ipv4.conf.all.route_localnet=1; the node's address serves them.
        "iptables": {"localhostNodePorts": False, "minSyncPeriod": "0s"},
        # Leave the host's conntrack table size and timeouts alone.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


def write_configs(layout: NodeLayout, sandbox_image: str) -> None:
    for folder in (layout.root, layout.containerd_root, layout.cni_config_dir, layout.cni_ipam_dir,
                   layout.kubelet_root, layout.pod_logs, layout.volume_plugins, layout.volumes,
                   layout.containerd_socket.parent, layout.crictl_config.parent):
        folder.mkdir(parents=True, exist_ok=True)
    layout.containerd_config.write_text(containerd_config(layout, sandbox_image))
    endpoint = f"unix://{layout.containerd_socket}"
    layout.crictl_config.write_text(yaml.safe_dump({"runtime-endpoint": endpoint, "image-endpoint": endpoint,
                                                    "timeout": 30}))
    (layout.cni_config_dir / f"10-{CNI_NETWORK}.conflist").write_text(json.dumps(cni_config(layout), indent=2))


# --- Processes ----------------------------------------------------------------------


class RealNode:
    """Start the node's processes, and remove everything they leave on the host."""

    def __init__(self, cluster_root: Path, logs: Path):
        self.cluster_root = cluster_root
        self.layout = NodeLayout(cluster_root / "node")
        self.logs = logs

    # -- host state ------------------------------------------------------------------
    def prepare_host(self) -> None:
        """Remember the host's settings, then set what pod networking needs."""
        claim_host(self.cluster_root)
        if not self.layout.host_record.is_file():  # a restart after a crash keeps the first record
            self.layout.root.mkdir(parents=True, exist_ok=True)
            before = {"sysctls": {name: read_sysctl(name) for name in (*SYSCTLS_SET, *SYSCTLS_KUBELET)},
                      "existing_dirs": [str(path) for path in SHARED_DIRS if path.exists()]}
            self.layout.host_record.write_text(json.dumps(before, indent=2))
        for name, value in SYSCTLS_SET.items():
            write_sysctl(name, value)

    # -- start -----------------------------------------------------------------------
    def start_containerd(self, sandbox_image: str) -> Component:
        write_configs(self.layout, sandbox_image)
        self.layout.containerd_socket.unlink(missing_ok=True)
        # Every image comes from the archives `up` imports: a pull goes to a proxy on loopback
        # that nothing serves, so it fails at once and no DNS query or registry call leaves.
        no_pulls = {name: NO_PULL_PROXY for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
        return start("containerd", ["containerd", f"--config={self.layout.containerd_config}"], self.logs,
                     env={**no_pulls, "NO_PROXY": "", "no_proxy": ""})

    def containerd_ready(self) -> bool:
        result = subprocess.run(["ctr", "--address", str(self.layout.containerd_socket), "version"],
                                capture_output=True, text=True, timeout=10, check=False)
        return result.returncode == 0

    def import_image(self, archive: Path) -> None:
        result = subprocess.run(["ctr", "--address", str(self.layout.containerd_socket), "-n", "k8s.io", "images",
                                 "import", "--no-unpack", str(archive)], capture_output=True, text=True, timeout=300,
                                check=False)
        if result.returncode != 0:
            raise ClusterError(f"importing the image {archive.name} into containerd failed: "
                               f"{result.stderr.strip()}. Delete {archive} so the next `up` builds it again.")

    def start_kubelet(self, paths: build.Paths, kubeconfig: Path, node_ip: str, ports: tuple[int, int],
                      ca_cert: Path, serving: tuple[Path, Path]) -> Component:
        config = kubelet_config(self.layout, node_ip, ports[0], ports[1], ca_cert, serving)
        self.layout.kubelet_config.write_text(yaml.safe_dump(config, sort_keys=False))
        return start("kubelet", [
            str(paths.kubelet), f"--config={self.layout.kubelet_config}", f"--kubeconfig={kubeconfig}",
            f"--root-dir={self.layout.kubelet_root}", f"--hostname-override={NODE_NAME}", f"--node-ip={node_ip}",
            f"--node-labels={NODE_LABEL}=true,type=real",
        ], self.logs, ports[1])

    def wait_ready(self, kubelet: Component, read_node: Callable[[str], Any],
                   timeout: float = NODE_START_TIMEOUT) -> None:
        """Wait until the kubelet has registered the node and it is Ready; else fail with its log."""
        def node_ready() -> bool:
            conditions = read_node(NODE_NAME).status.conditions or []
            return any(c.type == "Ready" and c.status == "True" for c in conditions)

        wait_until(kubelet, node_ready, timeout, f"registering node {NODE_NAME} and making it Ready (is containerd "
                                                 f"answering? see {self.logs / 'containerd.log'})")

    def start_kube_proxy(self, paths: build.Paths, kubeconfig: Path, node_ip: str,
                         ports: tuple[int, int]) -> Component:
        config = kube_proxy_config(kubeconfig, ports[0], ports[1], node_ip)
        self.layout.kube_proxy_config.write_text(yaml.safe_dump(config, sort_keys=False))
        return start("kube-proxy", [str(paths.kube_proxy), f"--config={self.layout.kube_proxy_config}"],
                     self.logs, ports[0])

    # -- stop and clean up -------------------------------------------------------------
    def remove_pods(self, paths: build.Paths) -> list[str]:
        """Stop and remove every pod sandbox through the CRI, so the CNI plugins release their
        addresses, veths and rules, and containerd removes the network namespaces. Containers
        the CRI could not remove are killed and deleted through containerd itself."""
        socket_path = self.layout.containerd_socket
        if not socket_path.exists():
            return []
        endpoint = f"unix://{socket_path}"
        subprocess.run([str(paths.crictl), f"--config={self.layout.crictl_config}", f"--runtime-endpoint={endpoint}",
                        f"--image-endpoint={endpoint}", "rmp", "--all", "--force"],
                       capture_output=True, text=True, timeout=120, check=False)
        ctr = ["ctr", "--address", str(socket_path), "--namespace", "k8s.io"]
        left = subprocess.run([*ctr, "containers", "list", "--quiet"], capture_output=True, text=True, timeout=30,
                              check=False).stdout.split()
        for container in left:
            subprocess.run([*ctr, "tasks", "delete", "--force", container], capture_output=True, timeout=30,
                           check=False)
            subprocess.run([*ctr, "containers", "delete", container], capture_output=True, timeout=30, check=False)
        return [f"container {container} (the CRI could not remove it)" for container in left]

    def cleanup(self, paths: build.Paths | None) -> list[str]:
        """Remove what the node left on the host; returns what was found and removed. Idempotent.
        While another cluster's real node runs, the host's shared state is its own: only this
        cluster's folder goes."""
        if live_owner_other_than(self.cluster_root) is not None:
            shutil.rmtree(self.layout.root, ignore_errors=True)
            return []
        removed: list[str] = []
        removed += unmount_under((self.layout.root, RUN_DIR))
        removed += unmount_netns()
        if paths is not None and paths.kube_proxy.is_file():
            subprocess.run([str(paths.kube_proxy), "--cleanup"], capture_output=True, text=True, timeout=60,
                           check=False)
        removed += remove_chains()
        if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True, check=False).returncode == 0:
            subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False)
            removed.append(f"link {BRIDGE}")
        removed += remove_cgroups()
        before = json.loads(self.layout.host_record.read_text()) if self.layout.host_record.is_file() else {}
        removed += remove_shared_leftovers(self.layout, set(before.get("existing_dirs", [str(p) for p in SHARED_DIRS])))
        for name, value in before.get("sysctls", {}).items():
            if value is not None and read_sysctl(name) != value:
                write_sysctl(name, value)
                removed.append(f"sysctl {name} restored to {value}")
        shutil.rmtree(self.layout.root, ignore_errors=True)
        shutil.rmtree(RUN_DIR / "containerd", ignore_errors=True)
        shutil.rmtree(RUN_DIR / "runc", ignore_errors=True)
        self.layout.crictl_config.unlink(missing_ok=True)
        if OWNER_RECORD.is_file() and json.loads(OWNER_RECORD.read_text()).get("root") == str(self.cluster_root):
            OWNER_RECORD.unlink()
        for leftover in (*RUN_DIR.glob("containerd.sock*"), *RUN_DIR.glob("csi-*.sock")):  # and containerd's ttrpc twin
            leftover.unlink()
        if RUN_DIR.is_dir() and not any(RUN_DIR.iterdir()):
            RUN_DIR.rmdir()
        return removed


def mount_points() -> list[str]:
    """Mount points, in the order they were mounted."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        points.append(point.encode().decode("unicode_escape"))
    return points


def unmount_under(roots: tuple[Path, ...]) -> list[str]:
    """Unmount everything below the given folders, deepest and newest first."""
    prefixes = tuple(str(root) for root in roots)
    found = [point for point in mount_points() if point.startswith(prefixes)]
    for point in reversed(found):
        if subprocess.run(["umount", point], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
    return [f"mount {point}" for point in found]


def unmount_netns() -> list[str]:
    """Network namespaces containerd pinned for pods (cni-<uuid>) that outlived their sandbox."""
    removed = []
    for point in mount_points():
        if point.startswith(f"{NETNS_DIR}/cni-"):
            subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
            Path(point).unlink(missing_ok=True)
            removed.append(f"netns {point}")
    return removed


CHAIN_LINE = re.compile(r"^:(\S+) ")


def is_node_chain(name: str) -> bool:
    return name in KUBELET_CHAINS or name.startswith(("KUBE-", "CNI-"))


def remove_chains() -> list[str]:
    """The kubelet's, kube-proxy's and the CNI plugins' iptables chains, with every jump to them."""
    removed = []
    for command in ("iptables", "ip6tables"):
        if shutil.which(f"{command}-save", path=SEARCH_PATH) is None:
            continue
        for table in ("filter", "nat", "mangle"):
            dump = subprocess.run([f"{command}-save", "-t", table], capture_output=True, text=True,
                                  check=False).stdout.splitlines()
            ours = [match.group(1) for line in dump if (match := CHAIN_LINE.match(line)) and is_node_chain(match.group(1))]
            if not ours:
                continue
            for line in dump:
                rule = shlex.split(line) if line.startswith("-A ") else []
                target = rule[rule.index("-j") + 1] if "-j" in rule[:-1] else ""
                if rule and not is_node_chain(rule[1]) and is_node_chain(target):
                    subprocess.run([command, "-t", table, "-D", *rule[1:]], capture_output=True, check=False)
            for flag in ("-F", "-X"):
                for name in ours:
                    subprocess.run([command, "-t", table, flag, name], capture_output=True, check=False)
            removed += [f"{command} {table} chain {name}" for name in ours]
    return removed


def remove_cgroups() -> list[str]:
    """The kubelet's kubepods hierarchy in every cgroup v1 controller (children first)."""
    removed = []
    for controller in Path("/sys/fs/cgroup").glob("*/kubepods"):
        for folder in sorted((p for p in controller.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            try:
                folder.rmdir()
            except OSError:
                pass
        try:
            controller.rmdir()
            removed.append(f"cgroup {controller}")
        except OSError:
            pass
    return removed


def remove_shared_leftovers(layout: NodeLayout, existed_before: set[str]) -> list[str]:
    removed = []
    if CONTAINER_LOG_LINKS.is_dir():
        for link in CONTAINER_LOG_LINKS.iterdir():
            if link.is_symlink() and os.readlink(link).startswith(str(layout.pod_logs)):
                link.unlink()
                removed.append(f"log link {link}")
    results = CNI_CACHE / "results"
    if results.is_dir():
        for result in results.glob(f"{CNI_NETWORK}-*"):
            result.unlink()
            removed.append(f"CNI result {result.name}")
    for folder in (CONTAINER_LOG_LINKS, CNI_CACHE / "results", CNI_CACHE, NETNS_DIR, Path("/run/containerd")):
        if str(folder) not in existed_before and folder.is_dir():
            try:
                if folder == Path("/run/containerd"):
                    shutil.rmtree(folder)  # only shim socket folders, now empty
                else:
                    folder.rmdir()
                removed.append(f"folder {folder}")
            except OSError:
                pass
    return removed
