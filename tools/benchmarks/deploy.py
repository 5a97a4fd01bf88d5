"""Benchmark deploy.yml against raw helm on a fresh local cluster. Prints figures; asserts
only that the playbook's rerun changes nothing (issue 4).

    python -m tools.benchmarks.deploy [--repeat N] [--helm PATH] [--profile]

Each round uses fresh namespaces and times, in order:
  helm install    helm upgrade --install --wait, dev values, namespace bench-helm-<i>
  helm no-op      the same command again
  playbook install  ansible-playbook deploy.yml -i inventories/dev, namespace bench-ansible-<i>
  playbook rerun    the same command again (its recap must say changed=0)
Goals: playbook install <= 1.5x helm install; playbook rerun <= 1.3x helm no-op.
--profile enables ansible.posix.profile_tasks and prints the slowest tasks of the last rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.local_cluster.cluster import LocalCluster

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
CHART = "files/helm/inferno"
GOALS = {"install": 1.5, "no-op": 1.3}
RECAP = re.compile(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", re.MULTILINE)
TASK_TIME = re.compile(r"^(.+?) -{3,} (\d+\.\d+)s$", re.MULTILINE)


def run(argv: list[str], env: dict) -> tuple[float, str]:
    """Run a command from the repository root; return its wall time and output. Exit on failure."""
    started = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{output[-4000:]}")
    return seconds, output


def helm_argv(helm: str, namespace: str) -> list[str]:
    return [helm, "upgrade", "--install", "inferno", CHART, "-f", f"{CHART}/values-dev.yaml",
            "-n", namespace, "--create-namespace", "--wait", "--timeout", "5m"]


def playbook_argv(helm: str | None, namespace: str) -> list[str]:
    # Like raw helm, on kwok's simulated nodes: the local-cluster host's real-node layer is dropped.
    argv = [str(VENV_BIN / "ansible-playbook"), "deploy.yml", "-i", "inventories/dev",
            "-e", '{"inferno_values_files": []}', "-e", f"inferno_namespace={namespace}"]
    return argv + (["-e", f"inferno_helm_binary={helm}"] if helm else [])


def changed_count(output: str) -> int:
    counts = [int(count) for count in RECAP.findall(output)]
    if not counts:
        sys.exit(f"no PLAY RECAP in the playbook output:\n{output[-4000:]}")
    return sum(counts)


def slowest_tasks(output: str, limit: int = 5) -> list[tuple[str, float]]:
    tasks = [(name.strip(), float(seconds)) for name, seconds in TASK_TIME.findall(output)]
    return sorted(tasks, key=lambda task: -task[1])[:limit]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="rounds to time (default 3)")
    parser.add_argument("--helm", help="helm binary for raw helm and the playbook (default: .venv/bin/helm)")
    parser.add_argument("--profile", action="store_true", help="per-task timings of the rerun (profile_tasks)")
    args = parser.parse_args()

    helm = str(Path(args.helm).resolve()) if args.helm else str(VENV_BIN / "helm")
    env = {key: value for key, value in os.environ.items() if key not in ("ANSIBLE_CONFIG", "INFERNO_CONTEXT")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    if args.profile:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
    times: dict[str, list[float]] = {"helm install": [], "helm no-op": [], "playbook install": [], "playbook rerun": []}
    changed: list[int] = []
    rerun_output = ""

    root = Path(tempfile.mkdtemp(prefix="inferno-bench-deploy-"))
    cluster = LocalCluster(root, real_node=False)  # both sides on kwok nodes
    try:
        kubeconfig = cluster.up()["kubeconfig"]
        env.update(KUBECONFIG=kubeconfig, INFERNO_KUBECONFIG=kubeconfig)
        for index in range(args.repeat):
            times["helm install"].append(run(helm_argv(helm, f"bench-helm-{index}"), env)[0])
            times["helm no-op"].append(run(helm_argv(helm, f"bench-helm-{index}"), env)[0])
            playbook = playbook_argv(helm if args.helm else None, f"bench-ansible-{index}")
            times["playbook install"].append(run(playbook, env)[0])
            seconds, rerun_output = run(playbook, env)
            times["playbook rerun"].append(seconds)
            changed.append(changed_count(rerun_output))
            figures = ", ".join(f"{name} {values[-1]:.1f} s" for name, values in times.items())
            print(f"round {index + 1}/{args.repeat}: {figures}", file=sys.stderr)
    finally:
        cluster.down()
        shutil.rmtree(root, ignore_errors=True)

    medians = {name: statistics.median(values) for name, values in times.items()}
    ratios = {"install": medians["playbook install"] / medians["helm install"],
              "no-op": medians["playbook rerun"] / medians["helm no-op"]}
    print(f"helm: {helm}  rounds: {args.repeat}")
    print(f"{'step':<18}{'median s':>9}  {'min-max s':>11}")
    for name, values in times.items():
        print(f"{name:<18}{medians[name]:9.1f}  {min(values):5.1f}-{max(values):<5.1f}")
    for kind, ratio in ratios.items():
        mark = "PASS" if ratio <= GOALS[kind] else "MISS"
        print(f"{kind + ' ratio':<18}{ratio:8.2f}x  (goal <= {GOALS[kind]}x) {mark}")
    print(f"rerun changed=     {changed}")
    slowest = slowest_tasks(rerun_output) if args.profile else []
    for name, seconds in slowest:
        print(f"  {seconds:6.2f} s  {name}")
    print(json.dumps({"helm": helm, "repeat": args.repeat, "seconds": times,
                      "median_seconds": {name: round(value, 2) for name, value in medians.items()},
                      "ratios": {kind: round(value, 3) for kind, value in ratios.items()},
                      "goals": GOALS, "rerun_changed": changed,
                      "rerun_slowest_tasks": [{"task": name, "seconds": s} for name, s in slowest]}))
    if any(changed):
        print(f"FAIL: the playbook rerun reported changes {changed}; it must be idempotent (changed=0)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
