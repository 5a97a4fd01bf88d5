"""The cluster command's own checks, which need no running cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_down_in_another_process_keeps_the_shared_snapshot_store_that_up_recorded(tmp_path):
    root, store = tmp_path / "run", tmp_path / "shared-store"
    (root / "snapshot-store").mkdir(parents=True)
    store.mkdir()
    (store / "snap-1.tar").write_bytes(b"archive")
    # What `up --snapshot-store` records (no component left running).
    (root / "state.json").write_text(json.dumps({"real_node": "inferno-node-0", "snapshot_store": str(store),
                                                 "snapshot_store_shared": True, "components": []}))
    env = {**os.environ, "INFERNO_LOCAL_CLUSTER_DIR": str(root)}
    status = run_cluster("status", env=env)
    assert json.loads(status.stdout)["snapshot_store"] == str(store)
    result = run_cluster("down", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["snapshot_store_kept"] == str(store)
    assert (store / "snap-1.tar").read_bytes() == b"archive"
    assert not (root / "snapshot-store").exists()  # the default store still goes with the cluster


@pytest.mark.parametrize("inside", ["snapshot-store", "node/store", "pki", "etcd", "logs", "."])
def test_up_refuses_a_snapshot_store_where_up_or_down_delete(tmp_path, inside):
    root = tmp_path / "run"
    env = {**os.environ, "INFERNO_LOCAL_CLUSTER_DIR": str(root)}
    result = run_cluster("up", "--snapshot-store", str(root / inside), env=env)
    assert result.returncode == 1
    assert "which `up` and `down` of the cluster in" in result.stderr and "a folder of its own" in result.stderr


def test_a_snapshot_store_needs_the_real_node(tmp_path):
    env = {**os.environ, "INFERNO_LOCAL_CLUSTER_DIR": str(tmp_path / "run")}
    result = run_cluster("up", "--no-real-node", "--snapshot-store", str(tmp_path / "store"), env=env)
    assert result.returncode == 1
    assert "a snapshot store needs the real node's CSI driver" in result.stderr
    assert not (tmp_path / "store").exists()
