"""Benchmark the local cluster: build times, image sizes, start time, memory, and how long the
dev profile takes from `helm install` to a Ready pod on the real node and, side by side in the
same cluster, on a kwok node. Prints figures; asserts nothing.

    python -m tools.local_cluster.benchmark [--starts N] [--installs N] [--cold] [--no-real-node]

--cold builds the control plane into a fresh temporary cache (Go's build cache included, since
it follows XDG_CACHE_HOME), which is what a new CI machine pays once; without it the cold
figures are read from the stamps the last real builds wrote (the Inferno build's included).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import build, images, inferno_binary
from .cluster import LocalCluster

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "files" / "helm" / "inferno"
REAL_NODE_VALUES = REPO / "inventories" / "values" / "local-cluster.yaml"


def rss_kib(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of a process, in KiB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def stamp_seconds(stamp: Path) -> float:
    data = json.loads(stamp.read_text()) if stamp.is_file() else {}
    seconds = data.get("build_seconds")
    return float(seconds) if seconds is not None else float("nan")


def cold_build_seconds(cold: bool) -> tuple[float, str]:
    if not cold:
        return stamp_seconds(build.planned_paths().bin_dir / build.STAMP_NAME), "from the stamp of the last build"
    with tempfile.TemporaryDirectory(prefix="inferno-cold-build-") as cache:
        os.environ["XDG_CACHE_HOME"] = cache
        started = time.monotonic()
        build.ensure_built()
        seconds = time.monotonic() - started
        del os.environ["XDG_CACHE_HOME"]
        return seconds, "measured now, empty caches"


def install_to_ready(helm: str, kubeconfig: str, namespace: str, *values: Path) -> float:
    """Seconds from `helm install` (without --wait) until the release's pod is Ready."""
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    args = [helm, "install", "inferno", str(CHART), "-f", str(CHART / "values-dev.yaml"),
            *[arg for path in values for arg in ("-f", str(path))], "-n", namespace, "--create-namespace"]
    started = time.monotonic()
    subprocess.run(args, env=env, check=True, capture_output=True, text=True)
    wait = [str(build.planned_paths().kubectl), "wait", "pod", "-n", namespace, "-l", "app.kubernetes.io/instance=inferno",
            "--for=condition=Ready", "--timeout=300s"]
    while subprocess.run(wait, env=env, capture_output=True, text=True, check=False).returncode != 0:
        if time.monotonic() - started > 300:
            raise SystemExit(f"no Ready pod in {namespace} after 300 s")
        time.sleep(0.2)  # `kubectl wait` fails at once while the pod does not exist yet
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=3, help="warm up/down cycles to time (default 3)")
    parser.add_argument("--installs", type=int, default=3, help="dev installs per node kind to time (default 3)")
    parser.add_argument("--cold", action="store_true", help="also time a control-plane build from empty caches")
    parser.add_argument("--no-real-node", action="store_true", help="time the kwok-only cluster")
    args = parser.parse_args()
    real_node = not args.no_real_node

    build_seconds, build_source = cold_build_seconds(args.cold)
    build.ensure_built()
    archives = images.ensure_images() if real_node else {}
    helm = str(REPO / ".venv" / "bin" / "helm")
    starts, downs, peak_total, idle_total, per_component = [], [], 0, 0, {}
    ready = {"real node": [], "kwok node": []}
    with tempfile.TemporaryDirectory(prefix="inferno-bench-cluster-") as root:
        cluster = LocalCluster(Path(root), real_node=real_node)
        for cycle in range(args.starts):
            started = time.monotonic()
            status = cluster.up()
            starts.append(time.monotonic() - started)
            time.sleep(5)  # let the controllers settle before reading memory
            components = cluster.components()
            idle_total = max(idle_total, sum(rss_kib(c.pid, "VmRSS") for c in components))
            if cycle == 0 and real_node:
                for index in range(args.installs):
                    ready["kwok node"].append(install_to_ready(helm, status["kubeconfig"], f"bench-kwok-{index}"))
                    ready["real node"].append(install_to_ready(helm, status["kubeconfig"], f"bench-real-{index}",
                                                               REAL_NODE_VALUES))
            peaks = {c.name: rss_kib(c.pid, "VmHWM") for c in components}
            peak_total = max(peak_total, sum(peaks.values()))
            for name, value in peaks.items():
                per_component[name] = max(per_component.get(name, 0), value)
            started = time.monotonic()
            cluster.down()
            downs.append(time.monotonic() - started)

    print(f"cold build, control plane: {build_seconds:7.1f} s ({build_source})")
    if real_node:
        inferno_stamp = inferno_binary.install_root() / inferno_binary.STAMP_NAME
        print(f"cold build, Inferno {inferno_binary.INFERNO_VERSION}:  {stamp_seconds(inferno_stamp):7.1f} s "
              f"(cargo install, from its stamp; {inferno_binary.binary_path().stat().st_size / 1e6:.1f} MB binary)")
        for name, archive in archives.items():
            print(f"image {name:<40} {archive.stat().st_size / 1e6:6.1f} MB archive")
    print(f"warm up (n={len(starts)}):        {statistics.median(starts):7.1f} s median, "
          f"{min(starts):.1f}-{max(starts):.1f} s range (goal <= {30 if real_node else 20} s)")
    print(f"down:                  {statistics.median(downs):7.1f} s median")
    for kind, seconds in ready.items():
        if seconds:
            print(f"helm install -> pod Ready, dev profile, {kind}: {statistics.median(seconds):5.1f} s median "
                  f"({', '.join(f'{s:.1f}' for s in seconds)})")
    print(f"memory after start:    {idle_total / 1024:7.0f} MiB RSS, all components")
    print(f"peak memory:           {peak_total / 1024:7.0f} MiB (sum of each component's peak RSS)")
    for name, value in sorted(per_component.items(), key=lambda item: -item[1]):
        print(f"  {name:<24}{value / 1024:7.0f} MiB peak")
    return 0


if __name__ == "__main__":
    sys.exit(main())
