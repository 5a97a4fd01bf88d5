"""Disaster recovery into another cluster (issue 13, item 3), through the playbooks.

Cluster A runs Inferno with data in its claims; backup.yml snapshots them and uploads the
backup to S3 (SeaweedFS). Then cluster A dies (`down`). Cluster B, a new local cluster whose
CSI driver shares A's snapshot store, gets the release back from restore.yml with the dev
inventory pointed at B and the backup id alone: the export comes from S3, the snapshots by
handle. Inferno runs on B with the bytes A had (SHA-256).

Both clusters have the real node, and a machine runs one at a time, so this test is marked
`own_real_node`: it runs first in the session (the root conftest.py), before the session's
cluster exists, and uses no `local_cluster`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from kubernetes import config

from tools.local_cluster import build
from tools.local_cluster.cluster import LocalCluster
from tools.local_cluster.node import check_prerequisites
from tools.local_cluster.processes import ClusterError

from .kube import Cluster, eventually
from .playbooks import QUICK_START, ansible_playbook, extra_vars
from .test_backup_outlives_namespace import s3_env, s3_vars
from .test_volume_data import CLAIMS, WRITE, digests, inferno_ready, run_pod

pytestmark = pytest.mark.own_real_node

NAMESPACE = "inferno-dr"


def started(root: Path, store: Path) -> Cluster:
    cluster = LocalCluster(root, real_node=True, snapshot_store=store)
    kubeconfig = Path(cluster.up()["kubeconfig"])
    return Cluster(kubeconfig, build.ensure_built().kubectl, config.new_client_from_config(config_file=str(kubeconfig)),
                   cluster)


def test_a_lost_cluster_s_release_comes_back_on_another_with_its_data(tmp_path_factory, s3_server, s3_bucket):
    try:
        check_prerequisites()
    except ClusterError as error:
        pytest.skip(f"no real node on this machine: {error}")
    root = tmp_path_factory.mktemp("dr")  # short: the kubelet's sockets live under it
    store, backups = root / "store", root / "backups"
    common = ["-i", "inventories/dev", "-e", f"inferno_namespace={NAMESPACE}", "-e", f"inferno_backups_dir={backups}",
              *s3_vars(s3_server, s3_bucket), *extra_vars(inferno_values=QUICK_START)]

    def play(cluster: Cluster, playbook: str, *args: str):
        run = ansible_playbook(playbook, *common, *args, kubeconfig=cluster.kubeconfig, env=s3_env(s3_server),
                               timeout=900)
        assert run.returncode == 0, run.output[-6000:]
        return run

    first = started(root / "a", store)
    try:
        play(first, "deploy.yml")
        run_pod(first, NAMESPACE, "write", WRITE, CLAIMS)
        written = digests(first, NAMESPACE, "read-written", CLAIMS)
        play(first, "playbooks/backup.yml", "-e", "inferno_backup_id=dr1")
    finally:
        first.control_plane.down()
    assert any(store.glob("*.tar")), f"cluster A's snapshots are not in the shared store {store}"
    # The controller that took the backup is gone too: only S3 and the snapshot store remain.
    for path in sorted(backups.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()

    second = started(root / "b", store)
    try:
        begun = time.monotonic()
        run = play(second, "playbooks/restore.yml", "-e", "inferno_restore_backup_id=dr1",
                   "-e", f"inferno_restore_target_namespace={NAMESPACE}")
        eventually(lambda: inferno_ready(second, NAMESPACE), timeout=300, what="Inferno ready on cluster B")
        print(f"recovery into a second cluster: {time.monotonic() - begun:.1f} s")
        assert "Take the backup from S3" in run.output
        assert digests(second, NAMESPACE, "read-restored", CLAIMS) == written
        listed = json.loads(second.run_kubectl("get", "volumesnapshotcontents", "-o", "json").stdout)["items"]
        imported = [item for item in listed if item["metadata"]["name"].startswith(f"inferno-{NAMESPACE}-")]
        assert imported and all(item["spec"]["deletionPolicy"] == "Retain" for item in imported)
    finally:
        second.control_plane.down()
