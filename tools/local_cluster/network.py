"""The local cluster's addresses, and the containment that keeps every packet sent to them on
this machine.

None of the cluster's addresses has a real destination off this host: Services, kwok's fake
pods and node, and LoadBalancer ingress addresses are answered (if at all) by kube-proxy's
rules on this host, and the real node's pods live on a bridge here. Without routes of their
own, the kernel would send every one of them out of the default route's interface: a
connection to a ClusterIP before kube-proxy has written its rules, a Service whose endpoints
are kwok's pods, the API server asking kwok's node for logs, a pod's DNS query. The rule for
this project's machines and for its users' CI is that a test's traffic goes only to loopback
or into network namespaces the run made itself, so `up` sets up, before anything that sends
packets starts:

* **A host-only interface** (`HOST_INTERFACE`) that owns a route for every cluster range and
  the real node's address (`NODE_ADDRESS`). It is a bridge without ports rather than a
  `dummy` link because not every kernel has the dummy driver (this project's VMs lack it:
  "Unknown device type"); both drop what is sent to them. A ClusterIP that kube-proxy
  translates to a real pod still works, since the translated packet is routed again; a
  blackhole route would make `connect()` fail before kube-proxy's rules run.
* **A filter chain** (`CHAIN`), first in FORWARD and OUTPUT, in iptables and ip6tables: pod to
  pod and pod to host pass; every other packet from a pod is rejected; so is every packet
  to a cluster range that would leave by an interface of a default route (`off host` rules,
  whose counters must stay 0), and every packet routed to the host-only interface that no
  rule translated to a pod or to this host (kwok's pods and node, a Service without rules:
  refused at once instead of hanging). Rejecting by the routed device in OUTPUT is safe only
  because the ranges route to the host-only interface: OUTPUT sees the device chosen before
  kube-proxy's translation, so an `-o <external>` rule would otherwise catch ClusterIP
  traffic bound for a real pod.

Several clusters of one machine share the containment (a kwok-only cluster runs beside the
real node's); `/run/inferno-ops/containment.json` lists them, and the last `down` removes it.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import shlex
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .processes import ClusterError, is_alive

# --- The cluster's addresses (the one place they are written) -------------------------------
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the first address of SERVICE_CIDR: the `kubernetes` Service
KWOK_POD_CIDR = "10.244.0.0/16"
KWOK_NODE_ADDRESS = "10.244.255.254"  # kwok's fake nodes' InternalIP, inside KWOK_POD_CIDR
# The ingress address kwok's stage gives LoadBalancer Services (stages/services.yaml): a
# documentation range (RFC 5737), public, so it must never leave the host either.
LOAD_BALANCER_POOL = "198.51.100.0/24"
# The real node's pods, on the CNI bridge BRIDGE.
REAL_POD_CIDR = "10.245.0.0/24"
BRIDGE = "inferno-br0"
# The real node's InternalIP: the kubelet, metrics-server and NodePorts listen here, on the
# host-only interface, never on the machine's external address.
NODE_ADDRESS = "10.245.255.254"
# containerd's proxy: nothing listens there, so an image pull fails at once, on loopback,
# without a DNS query (every image comes from the archives `up` imports; images.py).
NO_PULL_PROXY = "http://127.0.0.1:1"

# (range, what it is): each is routed to the host-only interface. The real node's bridge
# keeps its own route for REAL_POD_CIDR while it exists; ours is behind it (ROUTE_METRIC).
CONTAINED_RANGES = (
    (SERVICE_CIDR, "Services"),
    (KWOK_POD_CIDR, "kwok pods and nodes"),
    (LOAD_BALANCER_POOL, "LoadBalancer addresses"),
    (REAL_POD_CIDR, "real node pods"),
)
ROUTE_METRIC = {REAL_POD_CIDR: 1024}

# --- The containment ---------------------------------------------------------------------
HOST_INTERFACE = "inferno-host0"
CHAIN = "INFERNO-CONTAIN"
HOOKS = ("FORWARD", "OUTPUT")
JUMP_COMMENT = "inferno.ops local cluster: keep its packets on this host"
# The comments of the rules that reject what would have left by an external interface.
OFF_HOST = "off host: "
# Every containment that `down` removes appends its counters here, as a JSON line, when set.
PACKET_LOG_ENV = "INFERNO_LOCAL_CLUSTER_PACKET_LOG"
FAMILIES = {"ipv4": "iptables", "ipv6": "ip6tables"}
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


@dataclass(frozen=True)
class Rule:
    """One rule of CHAIN; `purpose` is its comment, by which its counter is read back."""

    match: tuple[str, ...]
    verdict: str  # RETURN (let it go on) or REJECT
    purpose: str

    def arguments(self) -> list[str]:
        return [*self.match, "-m", "comment", "--comment", self.purpose, "-j", self.verdict]


def rules(family: str, external: tuple[str, ...]) -> list[Rule]:
    """CHAIN's rules for one address family; `external`: the interfaces of the default routes."""
    pod_rules = [Rule(("-i", BRIDGE, "-o", BRIDGE), "RETURN", "pod to pod"),
                 *[Rule(("-i", BRIDGE, "-o", device), "REJECT", f"{OFF_HOST}a packet from a pod out of {device}")
                   for device in external]]
    if family == "ipv6":  # the cluster has no IPv6 range; pods only have link-local addresses
        return [*pod_rules, Rule(("-i", BRIDGE), "REJECT", "a packet from a pod to neither a pod nor this host")]
    return [
        *pod_rules,
        *[Rule(("-o", device, "-d", cidr), "REJECT", f"{OFF_HOST}{what} ({cidr}) out of {device}")
          for device in external for cidr, what in CONTAINED_RANGES],
        Rule(("-i", BRIDGE), "REJECT", "a packet from a pod to neither a pod nor this host"),
        # OUTPUT sees the device routed before kube-proxy's translation: the host-only one.
        Rule(("-o", HOST_INTERFACE, "-d", REAL_POD_CIDR, "-m", "conntrack", "--ctstate", "DNAT"), "RETURN",
             "a cluster address translated to a real pod"),
        Rule(("-o", HOST_INTERFACE, "-m", "addrtype", "--dst-type", "LOCAL"), "RETURN",
             "a cluster address translated to this host"),
        # Unicast only: the kernel's own IGMP reports on the interface are no cluster traffic.
        Rule(("-o", HOST_INTERFACE, "-m", "addrtype", "--dst-type", "UNICAST"), "REJECT",
             "a cluster address nothing answers (kwok pods and nodes, a Service without rules)"),
    ]


def restore_line(words: list[str]) -> str:
    """One line of iptables-restore input: it knows double quotes only, not the shell's quoting."""
    if any('"' in word or "'" in word for word in words):
        raise ValueError(f"no quotes in iptables arguments: {words}")
    return " ".join(f'"{word}"' if " " in word else word for word in words)


def restore_script(family: str, external: tuple[str, ...]) -> str:
    """iptables-restore --noflush input that creates (or empties) CHAIN and fills it, atomically."""
    lines = ["*filter", f":{CHAIN} - [0:0]"]
    lines += [restore_line(["-A", CHAIN, *rule.arguments()]) for rule in rules(family, external)]
    return "\n".join([*lines, "COMMIT", ""])


def jump(hook: str) -> list[str]:
    return [hook, "-m", "comment", "--comment", JUMP_COMMENT, "-j", CHAIN]


def run(command: list[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    program = shutil.which(command[0], path=SEARCH_PATH) or command[0]
    result = subprocess.run([program, *command[1:]], input=stdin, capture_output=True, text=True, timeout=60,
                            check=False)
    if check and result.returncode != 0:
        raise ClusterError(f"keeping the cluster's packets on this host: `{shlex.join(command)}` failed: "
                           f"{(result.stderr or result.stdout).strip()}")
    return result


def ip_json(*args: str) -> list[dict]:
    return json.loads(run(["ip", "-j", *args], check=False).stdout or "[]")


def external_interfaces() -> tuple[str, ...]:
    """The interfaces of the IPv4 and IPv6 default routes (multipath ones included), sorted."""
    devices = set()
    for family in ("-4", "-6"):
        for route in ip_json(family, "route", "show", "default"):
            devices.update(hop["dev"] for hop in [route, *route.get("nexthops", [])] if hop.get("dev"))
    return tuple(sorted(devices - {HOST_INTERFACE}))


def probe_address(cidr: str) -> str:
    """An address inside `cidr` to ask the route table about: its last host address (the first
    one of the real node's range is the bridge's own)."""
    return str(ipaddress.ip_network(cidr).broadcast_address - 1)


def chain_rules(command: str, chain: str) -> list[str]:
    """The `-A` lines of one filter chain, as `iptables -S` prints them."""
    listing = run([command, "-w", "-t", "filter", "-S", chain], check=False).stdout.splitlines()
    return [line for line in listing if line.startswith("-A ")]


def is_jump(line: str) -> bool:
    return line.split()[-2:] == ["-j", CHAIN]


def parse_counters(saved: str) -> dict[str, int]:
    """Packets per rejecting rule of CHAIN, by purpose, from `iptables-save -c -t filter` output."""
    counts: dict[str, int] = {}
    for line in saved.splitlines():
        if not line.startswith("[") or f"-A {CHAIN} " not in line or " -j REJECT" not in line:
            continue
        packets = int(line[1:line.index(":")])
        words = shlex.split(line[line.index("]") + 1:])
        purpose = words[words.index("--comment") + 1] if "--comment" in words else " ".join(words)
        counts[purpose] = counts.get(purpose, 0) + packets
    return counts


def off_host_packets(counters: dict[str, dict[str, int]]) -> int:
    """Packets the `off host` rules rejected: each would have left by an external interface."""
    return sum(packets for family in counters.values() for purpose, packets in family.items()
               if purpose.startswith(OFF_HOST))


class Containment:
    """Set up, check, count and remove the containment, shared by the clusters of one machine."""

    def __init__(self, record: Path):
        """`record`: where the clusters holding the containment are listed (a /run file)."""
        self.record = record

    # -- the clusters that hold it -------------------------------------------------------
    @contextmanager
    def _holders(self) -> Iterator[dict]:
        """The record, locked against other `up`s and `down`s, written back on exit."""
        self.record.parent.mkdir(parents=True, exist_ok=True)
        with open(self.record.with_suffix(".lock"), "w", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = json.loads(self.record.read_text()) if self.record.is_file() else {}
            data.setdefault("holders", {})
            yield data
            if data["holders"]:
                self.record.write_text(json.dumps(data, indent=2))
            else:
                self.record.unlink(missing_ok=True)
                self.record.with_suffix(".lock").unlink(missing_ok=True)
        if self.record.parent.is_dir() and not any(self.record.parent.iterdir()):
            self.record.parent.rmdir()

    def hold(self, cluster_root: Path, is_running: Callable[[str], bool]) -> None:
        """Set the containment up for this cluster (once per machine), and check it."""
        missing = [program for program in ("ip", "iptables", "iptables-restore", "ip6tables", "ip6tables-restore")
                   if shutil.which(program, path=SEARCH_PATH) is None]
        if missing:
            raise ClusterError(f"keeping the cluster's packets on this host needs {', '.join(missing)}: run "
                               "`make setup` (Debian packages iptables and iproute2)")
        with self._holders() as data:
            others = {root: pid for root, pid in data["holders"].items()
                      if root != str(cluster_root) and (is_alive(pid) or is_running(root))}
            data["holders"] = {**others, str(cluster_root): os.getpid()}
            if not others or not self.present():
                data["external_interfaces"] = list(self._apply())
        self.confirm()

    def confirm(self, attempts: int = 3) -> None:
        """Put the jumps first again and fail, naming each, on anything that lets a packet leave.
        A jump put before ours meanwhile is moved back again, `attempts` times at most."""
        for attempt in range(attempts):
            self.ensure_first()
            problems = self.problems()
            if not problems or not all(" does not start with the jump to " in problem for problem in problems):
                break
            time.sleep(0.5 * (attempt + 1))
        if problems:
            raise ClusterError("the cluster's packets would leave this host:\n  - " + "\n  - ".join(problems))

    def release(self, cluster_root: Path, is_running: Callable[[str], bool]) -> dict | None:
        """This cluster no longer holds the containment; the last one removes it and gets its
        final counters (also appended to $INFERNO_LOCAL_CLUSTER_PACKET_LOG). Returns those, or
        `kept_for`: the clusters that still hold it, or None when there was none."""
        with self._holders() as data:
            data["holders"] = {root: pid for root, pid in data["holders"].items()
                               if root != str(cluster_root) and (is_alive(pid) or is_running(root))}
            if data["holders"]:
                return {"kept_for": sorted(data["holders"])}
            if not self.present():
                return None
            final = {"cluster": str(cluster_root), **self.describe()}
            self._remove()
        if os.environ.get(PACKET_LOG_ENV):
            with open(os.environ[PACKET_LOG_ENV], "a", encoding="utf-8") as log:
                log.write(json.dumps(final) + "\n")
        return final

    # -- the host state --------------------------------------------------------------------
    def present(self) -> bool:
        return run(["ip", "link", "show", HOST_INTERFACE], check=False).returncode == 0

    def _apply(self) -> tuple[str, ...]:
        """Make the interface, its address and routes, and CHAIN (emptied, counters at 0)."""
        external = external_interfaces()
        if not self.present():
            run(["ip", "link", "add", HOST_INTERFACE, "type", "bridge"])
        run(["ip", "link", "set", HOST_INTERFACE, "up"])
        run(["ip", "address", "replace", f"{NODE_ADDRESS}/32", "dev", HOST_INTERFACE])
        for cidr, _what in CONTAINED_RANGES:
            metric = ["metric", str(ROUTE_METRIC[cidr])] if cidr in ROUTE_METRIC else []
            run(["ip", "route", "replace", cidr, "dev", HOST_INTERFACE, *metric])
        for family, command in FAMILIES.items():
            run([f"{command}-restore", "-w", "--noflush"], stdin=restore_script(family, external))
        return external

    def ensure_first(self) -> None:
        """Put CHAIN's jump first in FORWARD and OUTPUT. The kubelet and kube-proxy put theirs
        first when they start, so `up` calls this again once they run; the move is one
        iptables-restore transaction, with no moment without the jump."""
        for command in FAMILIES.values():
            for hook in HOOKS:
                listed = chain_rules(command, hook)
                if listed and is_jump(listed[0]) and not any(is_jump(line) for line in listed[1:]):
                    continue
                moves = [restore_line(["-D", *jump(hook)]) for line in listed if is_jump(line)]
                first = restore_line(["-I", hook, "1", *jump(hook)[1:]])
                script = "\n".join(["*filter", *moves, first, "COMMIT", ""])
                run([f"{command}-restore", "-w", "--noflush"], stdin=script)

    def problems(self) -> list[str]:
        """What lets a packet leave: a range the route table sends elsewhere, a jump that is not
        first, an external interface the rules do not name. Read from the host, never by sending."""
        if not self.present():
            return [f"the host-only interface {HOST_INTERFACE} does not exist"]
        found = []
        for cidr, what in CONTAINED_RANGES:
            probe = probe_address(cidr)
            routes = ip_json("route", "get", probe)
            device = routes[0].get("dev") if routes else None
            allowed = {HOST_INTERFACE, BRIDGE} if cidr == REAL_POD_CIDR else {HOST_INTERFACE}
            if device not in allowed:
                found.append(f"{what} ({cidr}) are routed to {device or 'nowhere'}, not {HOST_INTERFACE}: "
                             f"`ip route get {probe}`; a route of this machine's may cover that range")
        for command in FAMILIES.values():
            for hook in HOOKS:
                listed = chain_rules(command, hook)
                if not listed or not is_jump(listed[0]):
                    found.append(f"{command} {hook} does not start with the jump to {CHAIN}: "
                                 f"{listed[0] if listed else 'it is empty'}")
        covered = set(self._record().get("external_interfaces", []))
        uncovered = sorted(set(external_interfaces()) - covered)
        if uncovered:
            found.append(f"a default route now leaves by {', '.join(uncovered)}, which {CHAIN} does not cover: "
                         "run `scripts/cluster down`, then `up` again")
        return found

    def counters(self) -> dict[str, dict[str, int]]:
        """Packets rejected per rule of CHAIN, by family: {"ipv4": {purpose: packets}, "ipv6": {...}}."""
        return {family: parse_counters(run([f"{command}-save", "-c", "-t", "filter"], check=False).stdout)
                for family, command in FAMILIES.items()}

    def describe(self) -> dict:
        """What `status` and `down` show: the interface, the external ones, the counters."""
        if not self.present():
            return {"interface": None}
        counters = self.counters()
        return {"interface": HOST_INTERFACE, "node_address": NODE_ADDRESS,
                "external_interfaces": self._record().get("external_interfaces", []),
                "rejected_packets": counters, "off_host_packets": off_host_packets(counters)}

    def _record(self) -> dict:
        return json.loads(self.record.read_text()) if self.record.is_file() else {}

    def _remove(self) -> None:
        """CHAIN and every jump to it, then the interface (its routes and address go with it)."""
        for command in FAMILIES.values():
            for hook in HOOKS:
                for line in chain_rules(command, hook):
                    if is_jump(line):
                        run([command, "-w", "-t", "filter", *shlex.split(line.replace("-A ", "-D ", 1))],
                            check=False)
            for flag in ("-F", "-X"):
                run([command, "-w", "-t", "filter", flag, CHAIN], check=False)
        if self.present():
            run(["ip", "link", "delete", HOST_INTERFACE])
