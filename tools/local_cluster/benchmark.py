"""Benchmark the local cluster: build time, start time and memory. Prints figures; asserts nothing.

    python -m tools.local_cluster.benchmark [--starts N] [--cold]

--cold builds into a fresh temporary cache (Go's build cache included, since it follows
XDG_CACHE_HOME), which is what a new CI machine pays once; without it the cold figure is
read from the stamp the last real build wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from . import build
from .cluster import LocalCluster


def rss_kib(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of a process, in KiB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cold_build_seconds(cold: bool) -> tuple[float, str]:
    if not cold:
        stamp = build.planned_paths().bin_dir / build.STAMP_NAME
        data = json.loads(stamp.read_text()) if stamp.is_file() else {}
        seconds = data.get("build_seconds")
        return (float(seconds) if seconds is not None else float("nan")), "from the stamp of the last build"
    with tempfile.TemporaryDirectory(prefix="inferno-cold-build-") as cache:
        os.environ["XDG_CACHE_HOME"] = cache
        started = time.monotonic()
        build.ensure_built()
        seconds = time.monotonic() - started
        del os.environ["XDG_CACHE_HOME"]
        return seconds, "measured now, empty caches"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=3, help="warm up/down cycles to time (default 3)")
    parser.add_argument("--cold", action="store_true", help="also time a build from empty caches (about 7 min)")
    args = parser.parse_args()

    build_seconds, build_source = cold_build_seconds(args.cold)
    build.ensure_built()
    starts, downs, peak_total, idle_total, per_component = [], [], 0, 0, {}
    with tempfile.TemporaryDirectory(prefix="inferno-bench-cluster-") as root:
        cluster = LocalCluster(Path(root))
        for _cycle in range(args.starts):
            started = time.monotonic()
            cluster.up()
            starts.append(time.monotonic() - started)
            time.sleep(5)  # let the controllers settle before reading memory
            components = cluster.components()
            idle_total = max(idle_total, sum(rss_kib(c.pid, "VmRSS") for c in components))
            peaks = {c.name: rss_kib(c.pid, "VmHWM") for c in components}
            peak_total = max(peak_total, sum(peaks.values()))
            for name, value in peaks.items():
                per_component[name] = max(per_component.get(name, 0), value)
            started = time.monotonic()
            cluster.down()
            downs.append(time.monotonic() - started)

    print(f"cold build:            {build_seconds:7.1f} s ({build_source})")
    print(f"warm up (n={len(starts)}):        {statistics.median(starts):7.1f} s median, "
          f"{min(starts):.1f}-{max(starts):.1f} s range (goal <= 20 s)")
    print(f"down:                  {statistics.median(downs):7.1f} s median")
    print(f"memory after start:    {idle_total / 1024:7.0f} MiB RSS, all components")
    print(f"peak memory:           {peak_total / 1024:7.0f} MiB (sum of each component's peak RSS)")
    for name, value in sorted(per_component.items(), key=lambda item: -item[1]):
        print(f"  {name:<24}{value / 1024:7.0f} MiB peak")
    return 0


if __name__ == "__main__":
    sys.exit(main())
