"""What a real node can leave on this machine, read independently of the code that cleans it up."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tools.local_cluster import node

# Kernel settings the node changes while it runs; `down` must put them back.
WATCHED_SYSCTLS = (*node.SYSCTLS_SET, *node.SYSCTLS_KUBELET)


def sysctls() -> dict[str, str | None]:
    return {name: node.read_sysctl(name) for name in WATCHED_SYSCTLS}


def leftovers(cluster_root: Path) -> list[str]:
    """Containers, mounts, interfaces, iptables rules and processes of a real node, if any remain."""
    found = []
    roots = (str(cluster_root), str(node.RUN_DIR), "/run/netns/cni-")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point.startswith(roots) or "/kubelet/" in point or "/containerd/" in point:
            found.append(f"mount {point}")
    for command in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            rules = subprocess.run([command, "-t", table, "-S"], capture_output=True, text=True, check=False).stdout
            found += [f"{command} -t {table}: {rule}" for rule in rules.splitlines() if "KUBE-" in rule or "CNI-" in rule]
    if subprocess.run(["ip", "link", "show", node.BRIDGE], capture_output=True, check=False).returncode == 0:
        found.append(f"network interface {node.BRIDGE}")
    veths = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True,
                           check=False).stdout
    found += [f"veth {line.split(':')[1].strip()}" for line in veths.splitlines() if f"master {node.BRIDGE}" in line]
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
