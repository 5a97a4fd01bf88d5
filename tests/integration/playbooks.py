"""Run the collection's playbooks the way a user does: ansible-playbook from the repository root."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.chart.rendering import REPO, helm_binary
from tools.task_playbook import write_task_playbook

VENV_BIN = Path(sys.executable).parent
HELM4 = REPO / ".venv" / "opt" / "helm-v4.1.4" / "helm"
# A secret no output or log may ever show.
KNOWN_SECRET = "s3cr3t-oauth2-6f1d2c"
# The dev inventory's local-cluster host runs Inferno on the real node (its host_vars add
# inventories/values/local-cluster.yaml). Tests that need snapshot-capable claims or
# many nodes drop that layer and stay on kwok's simulated nodes.
ON_SIMULATED_NODES = ("-e", json.dumps({"inferno_values_files": []}))
# Chart values for tests about data, not about start-up: Inferno 0.10.3 answers /health about
# 0.1 s after it starts (no model to load), so its pods are Ready within a second or two instead
# of the chart's 10 s readiness delay, and stop without the 5 s preStop sleep (measured: the
# volume-data test went from 215 s to 124 s). The probes stay the chart's, on /health;
# tests/integration/test_real_node.py and molecule keep the chart's own timings.
QUICK_START = {"probes": {"startup": {"initialDelaySeconds": 0, "periodSeconds": 1},
                          "readiness": {"initialDelaySeconds": 0, "periodSeconds": 1}},
               "preStopSleepSeconds": 0, "terminationGracePeriodSeconds": 5}


@dataclass
class Run:
    returncode: int
    output: str

    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP counters per host."""
        hosts = {}
        for host, counters in re.findall(r"^(\S+)\s+: (ok=.*)$", self.output, re.MULTILINE):
            hosts[host] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counters)}
        return hosts

    def changed(self) -> int:
        return sum(counters["changed"] for counters in self.recap().values())


def ansible_playbook(playbook: str, *args: str, kubeconfig: Path | None = None, env: dict | None = None,
                     cwd: Path = REPO, timeout: int = 600) -> Run:
    environment = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
                   "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "OAUTH2_CLIENT_SECRET": KNOWN_SECRET}
    if kubeconfig is not None:
        environment["INFERNO_KUBECONFIG"] = str(kubeconfig)
    environment.update(env or {})
    result = subprocess.run([str(VENV_BIN / "ansible-playbook"), playbook, *args], cwd=cwd, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                            check=False)
    return Run(result.returncode, result.stdout)


def module_task(module: str, options: dict, workdir: Path, check: bool = False) -> tuple[Run, dict]:
    """Run one task of a module through ansible-playbook on localhost; return the run and the
    registered result (failures are registered too, so tests can assert on them)."""
    playbook, result_file = write_task_playbook(
        workdir, {"name": f"Run {module}", "ignore_errors": True, module: options})
    run = ansible_playbook(str(playbook), *(["--check", "--diff"] if check else []), "-v", "-i", "localhost,",
                           "-c", "local")
    assert run.returncode == 0, run.output
    return run, json.loads(result_file.read_text())


def extra_vars(**variables) -> list[str]:
    return ["-e", json.dumps(variables)]


def helm(cluster, namespace: str, *args: str, binary: str | None = None) -> subprocess.CompletedProcess:
    """Run helm from the repository root against the cluster, in `namespace`."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    return subprocess.run([binary or helm_binary(), *args, "-n", namespace], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def history(cluster, namespace: str, release: str = "inferno") -> list[dict]:
    result = helm(cluster, namespace, "history", release, "-o", "json")
    return json.loads(result.stdout) if result.returncode == 0 else []


def deployed_manifest(cluster, namespace: str, revision: int | None = None, release: str = "inferno") -> list[dict]:
    args = ["get", "manifest", release] + (["--revision", str(revision)] if revision else [])
    return [doc for doc in yaml.safe_load_all(helm(cluster, namespace, *args).stdout) if doc]


def kubeconfig_with_context(source: Path, context: str, target: Path) -> Path:
    """A copy of a kubeconfig whose only context is renamed, as a prod cluster's kubeconfig would be."""
    config = yaml.safe_load(source.read_text())
    config["contexts"][0]["name"] = context
    config["current-context"] = context
    target.write_text(yaml.safe_dump(config))
    target.chmod(0o600)
    return target
