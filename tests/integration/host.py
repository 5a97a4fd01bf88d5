"""What a real node can leave on this machine, read independently of the code that cleans it up."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
from pathlib import Path

from tools.local_cluster import network, node

# Kernel settings the node changes while it runs; `down` must put them back.
WATCHED_SYSCTLS = (*node.SYSCTLS_SET, *node.SYSCTLS_KUBELET)


def sysctls() -> dict[str, str | None]:
    return {name: node.read_sysctl(name) for name in WATCHED_SYSCTLS}


def leftovers(cluster_root: Path) -> list[str]:
    """Containers, mounts, interfaces, routes, iptables rules and processes of a real node and of
    the containment, if any remain."""
    found = []
    roots = (str(cluster_root), str(node.RUN_DIR), "/run/netns/cni-")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point.startswith(roots) or "/kubelet/" in point or "/containerd/" in point:
            found.append(f"mount {point}")
    for command in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            rules = subprocess.run([command, "-t", table, "-S"], capture_output=True, text=True, check=False).stdout
            found += [f"{command} -t {table}: {rule}" for rule in rules.splitlines()
                      if "KUBE-" in rule or "CNI-" in rule or network.CHAIN in rule]
    for interface in (network.BRIDGE, network.HOST_INTERFACE):
        if subprocess.run(["ip", "link", "show", interface], capture_output=True, check=False).returncode == 0:
            found.append(f"network interface {interface}")
    routes = subprocess.run(["ip", "route", "show"], capture_output=True, text=True, check=False).stdout
    found += [f"route {line}" for line in routes.splitlines()
              if line.split()[0] in {cidr for cidr, _what in network.CONTAINED_RANGES}]
    veths = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True,
                           check=False).stdout
    found += [f"veth {line.split(':')[1].strip()}" for line in veths.splitlines() if f"master {network.BRIDGE}" in line]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            command = proc.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(node.RUN_DIR) in command or (str(cluster_root) in command and "pytest" not in command):
            found.append(f"process {proc.name}: {command[:160]}")
    if node.RUN_DIR.exists():
        found.append(f"folder {node.RUN_DIR}: {sorted(p.name for p in node.RUN_DIR.iterdir())}")
    return found


def run(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout


def routed_device(address: str) -> str:
    """The interface `ip route get` sends `address` to."""
    return json.loads(run("ip", "-j", "route", "get", address))[0]["dev"]


def first_rule(command: str, chain: str) -> str:
    return next(line for line in run(command, "-S", chain).splitlines() if line.startswith("-A "))


def external_addresses() -> set[str]:
    """The addresses of the interfaces that carry a default route."""
    devices = {route["dev"] for family in ("-4", "-6") for route in json.loads(run("ip", "-j", family, "route",
                                                                                  "show", "default"))}
    return {address["local"] for device in devices for interface in json.loads(run("ip", "-j", "addr", "show", device))
            for address in interface["addr_info"]}


def interface_addresses(device: str) -> set[str]:
    return {address["local"] for interface in json.loads(run("ip", "-j", "addr", "show", device))
            for address in interface["addr_info"]}


def listeners(process_groups: set[int]) -> list[tuple[str, str]]:
    """(program, local address) of every listening TCP and UDP socket of these process groups."""
    found = []
    for line in run("ss", "-H", "-l", "-n", "-p", "-t", "-u").splitlines():
        local = line.split()[4]
        for program, pid in re.findall(r'\("([^"]+)",pid=(\d+)', line):
            try:
                if os.getpgid(int(pid)) in process_groups:
                    found.append((program, local.rsplit(":", 1)[0].strip("[]")))
            except ProcessLookupError:
                continue
    return found


def is_wildcard_or_in(address: str, addresses: set[str]) -> bool:
    """Whether a socket bound to `address` answers on one of `addresses` (a wildcard does)."""
    bare = address.split("%")[0]
    return bare == "*" or bare in addresses or ipaddress.ip_address(bare).is_unspecified
