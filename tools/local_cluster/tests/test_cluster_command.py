"""The cluster command's own checks, which need no running cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def run_cluster(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.local_cluster", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_up_without_go_and_without_a_build_says_what_to_install(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin",
           "INFERNO_LOCAL_CLUSTER_DIR": str(tmp_path / "run")}
    result = run_cluster("up", env=env)
    assert result.returncode == 1
    assert "`go` (>= 1.24) is not on PATH" in result.stderr
    assert not (tmp_path / "cache" / "inferno-ops" / "cluster" / "bin").exists()


def test_status_and_env_of_a_stopped_cluster(tmp_path):
    env = {**os.environ, "INFERNO_LOCAL_CLUSTER_DIR": str(tmp_path / "run")}
    status = run_cluster("status", env=env)
    assert status.returncode == 3
    assert '"running": false' in status.stdout
    result = run_cluster("env", env=env)
    assert result.returncode == 1
    assert "not running: start it with `up`" in result.stderr
