"""Backups that outlive their namespace and the controller, as Velero's do, on the real snapshot
machinery, the host-path CSI driver of the real node and a real S3 server (SeaweedFS).

The main test deletes the release's namespace and the controller's copy of the backup, then
restores from S3 into another namespace: the snapshots come back by handle, and Inferno runs on
the restored bytes (SHA-256). The others are the faults of issue 13, each failing with one clear
message and changing nothing."""

from __future__ import annotations

import json
import re
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from .kube import delete_namespace, eventually, pin_by_hand
from .playbooks import QUICK_START, REPO, ansible_playbook, extra_vars, module_task
from .test_volume_data import CLAIMS, WRITE, digests, inferno_ready, run_pod

SNAPSHOTS = ("snapshot.storage.k8s.io", "v1")


def s3_vars(s3_server, bucket: str, prefix: str = "backups") -> list[str]:
    """The location and endpoint as extra vars; the credentials go by environment, as AWX passes them."""
    return ["-e", json.dumps({"inferno_backups_location": f"s3://{bucket}/{prefix}",
                              "inferno_backups_s3_endpoint_url": s3_server.endpoint_url,
                              "inferno_backups_s3_region": s3_server.region})]


def s3_env(s3_server, secret_key: str | None = None) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": secret_key or s3_server.secret_key}


def s3_task(options: dict, workdir: Path) -> dict:
    """The result of one inferno.ops.s3_backup task (failures included), run in its own folder."""
    workdir.mkdir(parents=True, exist_ok=True)
    return module_task("inferno.ops.s3_backup", options, workdir)[1]


def our_contents(cluster, namespace: str) -> list[dict]:
    return client.CustomObjectsApi(cluster.api).list_cluster_custom_object(
        *SNAPSHOTS, "volumesnapshotcontents", label_selector=f"inferno.ops/namespace={namespace}")["items"]


def all_contents(cluster) -> set[str]:
    return {item["metadata"]["name"] for item in client.CustomObjectsApi(cluster.api).list_cluster_custom_object(
        *SNAPSHOTS, "volumesnapshotcontents")["items"]}


def snapshot_names(cluster, namespace: str) -> list[str]:
    return sorted(item["metadata"]["name"] for item in client.CustomObjectsApi(cluster.api).list_namespaced_custom_object(
        *SNAPSHOTS, namespace, "volumesnapshots")["items"])


def namespace_exists(cluster, namespace: str) -> bool:
    return namespace in [item.metadata.name for item in client.CoreV1Api(cluster.api).list_namespace().items]


def store_archives(cluster) -> set[str]:
    return {path.stem for path in cluster.control_plane.snapshots_dir.glob("*.tar")}


def test_a_deleted_namespace_comes_back_from_s3_with_its_data(local_cluster, s3_server, s3_bucket, tmp_path):
    source, target = "dr-source", "dr-target"
    backups = tmp_path / "backups"
    common = ["-i", "inventories/dev", "-e", f"inferno_backups_dir={backups}", *s3_vars(s3_server, s3_bucket),
              *extra_vars(inferno_values=QUICK_START)]
    env = s3_env(s3_server)
    outputs = []

    def play(playbook: str, *args: str, namespace: str = source, expect: int = 0):
        run = ansible_playbook(playbook, *common, "-e", f"inferno_namespace={namespace}", *args,
                               kubeconfig=local_cluster.kubeconfig, env=env, timeout=900)
        outputs.append(run.output)
        assert run.returncode == expect, run.output[-6000:]
        return run

    contents_before = all_contents(local_cluster)
    play("deploy.yml")
    try:
        run_pod(local_cluster, source, "write", WRITE, CLAIMS)
        written = digests(local_cluster, source, "read-written", CLAIMS)
        for backup_id in ("old", "mid", "dr1"):
            play("playbooks/backup.yml", "-e", f"inferno_backup_id={backup_id}")
        index = yaml.safe_load((backups / "dev/inferno/dr1/snapshots.yaml").read_text())
        claims = len(index["entries"])
        assert set(CLAIMS.values()) <= {entry["pvc"] for entry in index["entries"]}
        assert all(entry["handle"] and entry["content"] and entry["deletion_policy"] == "Retain"
                   for entry in index["entries"])
        # Pinned by hand, as a user would (issue 25, case 1), and the namespace deleted at once:
        # nothing of ours runs in between to pass the pin on to the contents.
        old = pin_by_hand(local_cluster, source, "old")
        assert len(old) == claims
        listed = play("playbooks/list_backups.yml", namespace=source)
        assert "dr1  uploaded" in listed.output and "old  uploaded" in listed.output
        assert re.search(r"old revision \d+ \d+/\d+ ready .* \(pinned\)", " ".join(listed.output.split())), listed.output

        # The cluster loses the namespace, and the controller its copy of the backup. The pin
        # protection (files/admission/pin-protection.yaml, applied by the local cluster as a cluster
        # admin would) holds the pinned snapshots back, naming the command that carries the pin over.
        client.CoreV1Api(local_cluster.api).delete_namespace(source)
        refusal = eventually(lambda: next((condition["message"] for condition in (
            client.CoreV1Api(local_cluster.api).read_namespace(source).to_dict()["status"]["conditions"] or [])
            if condition["type"] == "NamespaceDeletionContentFailure" and condition["status"] == "True"
            and "inferno-ops-pin-protection" in condition["message"]), None),  # pods may be named first
            timeout=60, what=f"the deletion of {source} held back by the pin protection")
        assert "is pinned (inferno.ops/pin=true) but its content does not carry the pin yet" in refusal, refusal
        assert f"-e inferno_namespace={source} -e inferno_release_name=inferno -e inferno_backup_id=old" in refusal
        assert set(old) <= set(snapshot_names(local_cluster, source))
        play("playbooks/pin_backup.yml", "-e", "inferno_backup_id=old", namespace=source)
        carried = time.monotonic()
        eventually(lambda: not namespace_exists(local_cluster, source), timeout=180, what=f"{source} deleted")
        print(f"namespace gone {time.monotonic() - carried:.1f} s after pin_backup.yml carried the pin over")
        shutil.rmtree(backups)
        kept = our_contents(local_cluster, source)
        assert len(kept) == 3 * claims and {item["spec"]["deletionPolicy"] for item in kept} == {"Retain"}
        assert sorted(item["metadata"]["labels"]["inferno.ops/backup-id"] for item in kept
                      if item["metadata"]["labels"].get("inferno.ops/pin") == "true") == ["old"] * claims
        assert {entry["handle"] for entry in index["entries"]} <= store_archives(local_cluster)

        started = time.monotonic()
        restored = play("playbooks/restore.yml", "-e", "inferno_restore_backup_id=dr1",
                        "-e", f"inferno_restore_target_namespace={target}", namespace=source)
        # The restore held the set while it read it, and released it at the end.
        assert re.search(r"TASK \[inferno.ops.restore : Hold the backup while the restore reads it, dr1\] \*+\nok:",
                         restored.output), restored.output
        held = [item["metadata"]["name"] for item in client.CustomObjectsApi(local_cluster.api).list_namespaced_custom_object(
            *SNAPSHOTS, target, "volumesnapshots")["items"] if "inferno.ops/held-by" in item["metadata"]["labels"]]
        assert held == [] and snapshot_names(local_cluster, target)
        eventually(lambda: inferno_ready(local_cluster, target), timeout=300, what="Inferno ready in the target")
        recovery = time.monotonic() - started
        assert digests(local_cluster, target, "read-restored", CLAIMS) == written
        print(f"recovery from a deleted namespace: {recovery:.1f} s")

        # The target now holds the release: restoring into it again is refused, and changes nothing.
        refused = play("playbooks/restore.yml", "-e", "inferno_restore_backup_id=dr1",
                       "-e", f"inferno_restore_target_namespace={target}", namespace=source, expect=2)
        assert f"Namespace {target} already holds release inferno" in refused.output
        assert "Nothing was changed." in refused.output

        # Retention reaches the contents of the deleted namespace: "mid" goes with its data; the
        # pinned "old" and dr1 (the newest) stay. Unpinned, "old" goes too. Deleting dr1 there
        # keeps the data the target's snapshots use.
        def backups_kept() -> list[str]:
            return sorted(item["metadata"]["labels"]["inferno.ops/backup-id"]
                          for item in our_contents(local_cluster, source))

        pruned = play("playbooks/prune_backups.yml", "-e", "inferno_backup_keep_last=1", namespace=source)
        assert re.search(r"deleted_contents:\s*\n\s*- snapcontent-", pruned.output), pruned.output
        assert re.search(r"old: pinned \(inferno.ops/pin=true\)", pruned.output), pruned.output
        assert backups_kept() == ["dr1"] * claims + ["old"] * claims
        play("playbooks/pin_backup.yml", "-e", "inferno_backup_id=old", "-e", "inferno_backup_pin=false",
             namespace=source)
        play("playbooks/prune_backups.yml", "-e", "inferno_backup_keep_last=1", namespace=source)
        assert backups_kept() == ["dr1"] * claims
        _run, result = module_task("inferno.ops.pvc_snapshot", {
            "state": "absent", "backup_id": "dr1", "release_name": "inferno", "release_namespace": source,
            "kubeconfig": str(local_cluster.kubeconfig)}, tmp_path)
        assert sorted(result["kept_data"]) == sorted(entry["handle"] for entry in index["entries"]), result
        assert our_contents(local_cluster, source) == []
        assert {entry["handle"] for entry in index["entries"]} <= store_archives(local_cluster)
    finally:
        for namespace in (source, target):
            delete_namespace(local_cluster, namespace)
        eventually(lambda: not namespace_exists(local_cluster, target), timeout=180, what=f"{target} deleted")
    # Pruning the target's backup too leaves no content behind that was not there before.
    _run, result = module_task("inferno.ops.pvc_snapshot", {
        "state": "absent", "backup_id": "dr1", "release_name": "inferno", "release_namespace": target,
        "kubeconfig": str(local_cluster.kubeconfig)}, tmp_path)
    assert result["kept_data"] == [], result
    # Only new contents count: another test's contents may still be going away.
    eventually(lambda: not all_contents(local_cluster) - contents_before, timeout=120, what="no content orphaned")
    assert not {entry["handle"] for entry in index["entries"]} & store_archives(local_cluster)
    # The credentials never show: not in any output, not in the backup in S3.
    s3 = s3_server.client()
    stored = b"".join(s3.get_object(Bucket=s3_bucket, Key=item["Key"])["Body"].read()
                      for item in s3.list_objects_v2(Bucket=s3_bucket)["Contents"])
    for credential in (s3_server.secret_key, s3_server.access_key):
        assert all(credential not in output for output in outputs)
        assert credential.encode() not in stored


def test_a_changed_archive_in_s3_is_refused_before_anything_is_applied(local_cluster, s3_server, s3_bucket, tmp_path):
    folder = tmp_path / "local" / "dev" / "inferno" / "b1"
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "index.yaml").write_text("files: {}\n")
    (folder / "snapshots.yaml").write_text("entries: []\n")
    location = f"s3://{s3_bucket}/backups/dev/inferno"
    upload = {"mode": "put", "location": location, "backup_id": "b1", "path": str(folder),
              "endpoint_url": s3_server.endpoint_url, "region": s3_server.region,
              "access_key": s3_server.access_key, "secret_key": s3_server.secret_key}
    result = s3_task(upload, tmp_path / "put")
    assert result["changed"] is True and result["files"] == 2, result
    s3 = s3_server.client()
    body = s3.get_object(Bucket=s3_bucket, Key="backups/dev/inferno/b1/backup.tar")["Body"].read()
    s3.put_object(Bucket=s3_bucket, Key="backups/dev/inferno/b1/backup.tar", Body=body.replace(b"entries", b"entriez"))

    restore_dir = tmp_path / "restore"
    run = ansible_playbook(
        "playbooks/restore.yml", "-i", "inventories/dev", "-e", "inferno_namespace=dr-tampered",
        "-e", f"inferno_backups_dir={restore_dir}", *s3_vars(s3_server, s3_bucket), "-e", "inferno_restore_backup_id=b1",
        "-e", "inferno_restore_target_namespace=dr-tampered-target", kubeconfig=local_cluster.kubeconfig,
        env=s3_env(s3_server), timeout=600)
    assert run.returncode == 2, run.output[-4000:]
    assert "Backup b1 in s3://" in run.output and "cannot be trusted: the archive" in run.output
    assert "but its manifest says" in run.output and "Nothing was restored" in run.output
    assert not restore_dir.exists() or not any(restore_dir.rglob("*.yaml"))
    assert not namespace_exists(local_cluster, "dr-tampered-target")


def test_a_missing_bucket_or_wrong_credentials_stop_the_backup_before_any_snapshot(
        local_cluster, s3_server, s3_bucket, namespace, tmp_path):
    deploy = ansible_playbook("deploy.yml", "-i", "inventories/dev", "-e", f"inferno_namespace={namespace}",
                              "-e", json.dumps({"inferno_values_files": []}),
                              kubeconfig=local_cluster.kubeconfig, timeout=600)
    assert deploy.returncode == 0, deploy.output[-4000:]
    cases = [
        (s3_vars(s3_server, "no-such-bucket"), s3_env(s3_server),
         "bucket no-such-bucket does not exist at " + s3_server.endpoint_url),
        (s3_vars(s3_server, s3_bucket), s3_env(s3_server, secret_key="not-the-secret"), "refused the credentials"),
    ]
    for variables, env, message in cases:
        run = ansible_playbook("playbooks/backup.yml", "-i", "inventories/dev", "-e", f"inferno_namespace={namespace}",
                               "-e", f"inferno_backups_dir={tmp_path}", "-e", "inferno_backup_id=b1", *variables,
                               kubeconfig=local_cluster.kubeconfig, env=env, timeout=600)
        assert run.returncode == 2, run.output[-4000:]
        assert message in run.output, run.output[-4000:]
        assert "not-the-secret" not in run.output and s3_server.secret_key not in run.output
        assert snapshot_names(local_cluster, namespace) == []
        assert not (tmp_path / "dev").exists()


def test_a_handle_the_storage_lacks_fails_before_the_namespace_is_made(local_cluster, tmp_path):
    folder = tmp_path / "dev" / "inferno" / "gone1"
    folder.mkdir(parents=True)
    (folder / "snapshots.yaml").write_text(yaml.safe_dump({"backup_id": "gone1", "revision": 1, "entries": [{
        "name": "inferno-models-pvc-gone1", "pvc": "inferno-models-pvc", "handle": "snap-00000000000000000000000000000000",
        "driver": "hostpath.csi.inferno.ops", "snapshot_class": "standard-snapshot",
        "source_claim": {"storageClassName": "standard", "accessModes": ["ReadWriteOnce"], "storage": "1Gi"}}]}))
    contents_before = all_contents(local_cluster)
    run = ansible_playbook(
        "playbooks/restore.yml", "-i", "inventories/dev", "-e", "inferno_namespace=dr-gone",
        "-e", f"inferno_backups_dir={tmp_path}", "-e", "inferno_restore_backup_id=gone1",
        "-e", "inferno_restore_target_namespace=dr-gone-target", kubeconfig=local_cluster.kubeconfig, timeout=600)
    assert run.returncode == 2, run.output[-4000:]
    assert "The storage does not have every snapshot of backup gone1 (handle snap-00000000000000000000000000000000" \
        in run.output, run.output[-4000:]
    assert "Nothing was changed." in run.output
    assert not namespace_exists(local_cluster, "dr-gone-target")
    assert all_contents(local_cluster) <= contents_before


def test_s3_stopped_mid_upload_fails_clearly_and_a_rerun_completes_the_backup(s3_server, s3_bucket, tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    with open(folder / "weights.bin", "wb") as handle:
        for mebibyte in range(192):
            handle.write(bytes([mebibyte]) * 1024 * 1024)  # 192 MiB
    (folder / "snapshots.yaml").write_text("entries: []\n")
    upload = {"mode": "put", "location": f"s3://{s3_bucket}/big", "backup_id": "big1", "path": str(folder),
              "endpoint_url": s3_server.endpoint_url, "region": s3_server.region,
              "access_key": s3_server.access_key, "secret_key": s3_server.secret_key}
    s3 = s3_server.client()

    def stop_once_uploading():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads"):
                s3_server.stop()
                return
            time.sleep(0.05)

    stopper = threading.Thread(target=stop_once_uploading)
    stopper.start()
    try:
        failed = s3_task(upload, tmp_path / "first")
    finally:
        stopper.join()
        s3_server.start()
    assert failed.get("failed"), failed
    assert "failed while uploading backup big1" in failed["msg"]
    assert "run the backup again with the same backup id (big1) to complete the upload" in failed["msg"]
    listing = s3_task({**upload, "mode": "list"}, tmp_path / "list")
    assert [entry["complete"] for entry in listing["backups"] if entry["backup_id"] == "big1"] in ([], [False])

    done = s3_task(upload, tmp_path / "second")
    assert done["changed"] is True and done["files"] == 2, done
    listing = s3_task({**upload, "mode": "list"}, tmp_path / "list2")
    assert [(entry["backup_id"], entry["complete"]) for entry in listing["backups"]] == [("big1", True)]
    again = s3_task(upload, tmp_path / "third")
    assert again["changed"] is False

    fetched = tmp_path / "fetched"
    got = s3_task({**upload, "mode": "get", "path": str(fetched)}, tmp_path / "get")
    assert got["changed"] is True and (fetched / "weights.bin").stat().st_size == 192 * 1024 * 1024
    assert all(Path(path).exists() for path in (fetched / "snapshots.yaml",))


def s3_in_process(options: dict, capsys) -> dict:
    """inferno.ops.s3_backup's main() run in this process, so a test can stop the server part-way through it."""
    collections = str(REPO / "collections")
    if collections not in sys.path:
        sys.path.insert(0, collections)
    from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel
    from ansible_collections.inferno.ops.plugins.modules import s3_backup  # pylint: disable=import-outside-toplevel

    capsys.readouterr()
    with patch_module_args(options), pytest.raises(SystemExit):
        s3_backup.main()
    return json.loads(capsys.readouterr().out)


def test_a_complete_backup_in_s3_is_never_replaced_even_when_the_server_stops_mid_upload(
        s3_server, s3_bucket, tmp_path, monkeypatch, capsys):
    """Issue 25, case 2: a rerun of a backup id whose configuration changed, with the server stopped
    between the archive and the manifest. The complete backup stays restorable, byte for byte."""
    sys.path.insert(0, str(REPO / "collections"))
    from ansible_collections.inferno.ops.plugins.module_utils import backup_archive  # pylint: disable=import-outside-toplevel

    folder = tmp_path / "b1"
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "values.yaml").write_text("replicaCount: 1\n")
    (folder / "snapshots.yaml").write_text("entries: []\n")
    upload = {"mode": "put", "location": f"s3://{s3_bucket}/backups", "backup_id": "b1", "path": str(folder),
              "endpoint_url": s3_server.endpoint_url, "region": s3_server.region,
              "access_key": s3_server.access_key, "secret_key": s3_server.secret_key}
    first = s3_in_process(upload, capsys)
    assert first["changed"] is True and first["files"] == 2, first

    # The server stops once the archive is up and before the manifest goes.
    manifest_bytes = backup_archive.manifest_bytes
    stops = []

    def stop_then_manifest(document):
        stops.append(document["backup_id"])
        s3_server.stop()
        return manifest_bytes(document)

    monkeypatch.setattr(backup_archive, "manifest_bytes", stop_then_manifest)
    (folder / "config" / "values.yaml").write_text("replicaCount: 3\n")  # the configuration changed since
    try:
        rerun = s3_in_process(upload, capsys)
    finally:
        if not s3_server.running():
            s3_server.start()
    assert rerun.get("failed"), rerun
    assert rerun["msg"].startswith(f"Backup b1 in s3://{s3_bucket}/backups is complete and holds other files than "
                                   f"{folder} (1 differ: config/values.yaml)."), rerun["msg"]
    assert rerun["msg"].endswith("Nothing was uploaded.") and stops == []

    # The same fault on a new id leaves that backup incomplete, never half-trusted.
    other = tmp_path / "b2"
    shutil.copytree(folder, other)
    failed = s3_in_process({**upload, "backup_id": "b2", "path": str(other)}, capsys)
    s3_server.start()
    assert failed.get("failed") and stops == ["b2"], failed
    monkeypatch.setattr(backup_archive, "manifest_bytes", manifest_bytes)
    listing = s3_in_process({**upload, "mode": "list"}, capsys)
    assert [(entry["backup_id"], entry["complete"]) for entry in listing["backups"]] == [("b1", True), ("b2", False)]

    fetched = tmp_path / "fetched"
    got = s3_in_process({**upload, "mode": "get", "path": str(fetched)}, capsys)
    assert got["changed"] is True, got
    assert (fetched / "config" / "values.yaml").read_text() == "replicaCount: 1\n"
