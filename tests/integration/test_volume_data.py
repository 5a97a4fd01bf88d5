"""Nothing is lost: bytes written into the claims of a real Inferno release come back, byte for
byte (SHA-256), through backup.yml and restore.yml (beside and in place) and through a rollback
with volumes, on the real snapshot machinery and the host-path CSI driver of the real node.

A helper pod of the test (busybox, as UID 1000 like Inferno) writes and reads the claims on the
real node while Inferno runs there too; the claims are ReadWriteOnce, which is per node."""

from __future__ import annotations

import re

from kubernetes import client

from tools.local_cluster import images, node

from .kube import deleted, eventually, forget_backups
from .playbooks import QUICK_START, ansible_playbook, extra_vars, history

BIG_FILE_MIB = 256
FILES = ("models/weights.bin", "models/tiny.gguf", "queue/pending.jsonl")
CLAIMS = {"models": "inferno-models-pvc", "queue": "inferno-queue-pvc"}
WRITE = f"""set -e
dd if=/dev/urandom of=/data/models/weights.bin bs=1M count={BIG_FILE_MIB} 2>/dev/null
printf 'GGUF tiny model, seed %s\\n' "$$" > /data/models/tiny.gguf
printf '{{"id":"job-%s","prompt":"hello"}}\\n' "$$" > /data/queue/pending.jsonl
"""
DESTROY = """set -e
rm /data/models/weights.bin
echo overwritten > /data/models/tiny.gguf
"""
READ = f"cd /data && for f in {' '.join(FILES)}; do if [ -f $f ]; then sha256sum $f; else echo missing $f; fi; done"


def run_pod(cluster, namespace: str, name: str, script: str, claims: dict[str, str]) -> str:
    """Run `script` in a busybox pod on the real node with each claim at /data/<key>; return its log."""
    core = client.CoreV1Api(cluster.api)
    core.create_namespaced_pod(namespace, {"metadata": {"name": name}, "spec": {
        "restartPolicy": "Never", "nodeSelector": {node.NODE_LABEL: "true"},
        "tolerations": [{**node.NODE_TAINT, "operator": "Equal"}],
        "securityContext": {"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000, "runAsNonRoot": True},
        "containers": [{"name": "data", "image": images.busybox_reference(), "imagePullPolicy": "Never",
                        "command": ["sh", "-c", script],
                        "volumeMounts": [{"name": key, "mountPath": f"/data/{key}"} for key in claims]}],
        "volumes": [{"name": key, "persistentVolumeClaim": {"claimName": claim}} for key, claim in claims.items()]}})
    phase = eventually(lambda: (p := core.read_namespaced_pod(name, namespace).status.phase) in ("Succeeded", "Failed")
                       and p, timeout=300, what=f"pod {name} to finish")
    log = core.read_namespaced_pod_log(name, namespace)
    core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    eventually(deleted(core.read_namespaced_pod, name, namespace), what=f"pod {name} gone")
    assert phase == "Succeeded", log
    return log


def digests(cluster, namespace: str, name: str, claims: dict[str, str]) -> dict[str, str]:
    """SHA-256 of each file of FILES as a fresh pod reads it ('missing' when absent)."""
    found = {}
    for line in run_pod(cluster, namespace, name, READ, claims).splitlines():
        if match := re.fullmatch(r"([0-9a-f]{64})\s+(\S+)", line.strip()):
            found[match.group(2)] = match.group(1)
        elif line.startswith("missing "):
            found[line.split()[1]] = "missing"
    assert sorted(found) == sorted(FILES), found
    return found


def inferno_ready(cluster, namespace: str) -> bool:
    deployment = client.AppsV1Api(cluster.api).read_namespaced_deployment("inferno", namespace)
    return deployment.status.ready_replicas == 1 and deployment.status.updated_replicas == 1


def test_claim_data_survives_backup_restore_and_rollback_byte_for_byte(local_cluster, tmp_path):
    namespace = "real-data"
    common = ["-i", "inventories/dev", "-e", f"inferno_namespace={namespace}", "-e", f"inferno_backups_dir={tmp_path}",
              "-e", "inferno_restore_wait_timeout=300", *extra_vars(inferno_values=QUICK_START)]

    def play(playbook: str, *args: str):
        run = ansible_playbook(playbook, *common, *args, kubeconfig=local_cluster.kubeconfig, timeout=900)
        assert run.returncode == 0, run.output[-6000:]
        return run

    play("deploy.yml")
    try:
        run_pod(local_cluster, namespace, "write", WRITE, CLAIMS)
        written = digests(local_cluster, namespace, "read-written", CLAIMS)
        assert "missing" not in written.values()

        play("playbooks/backup.yml", "-e", "inferno_backup_id=data1")
        run_pod(local_cluster, namespace, "destroy", DESTROY, CLAIMS)
        destroyed = digests(local_cluster, namespace, "read-destroyed", CLAIMS)
        assert destroyed["models/weights.bin"] == "missing"
        assert destroyed["models/tiny.gguf"] != written["models/tiny.gguf"]

        # Beside: new claims hold the backed-up bytes; the live claims are untouched.
        play("playbooks/restore.yml", "-e", "inferno_restore_backup_id=data1", "-e", "inferno_restore_config=false")
        beside = {key: f"{claim}-restored-data1" for key, claim in CLAIMS.items()}
        assert digests(local_cluster, namespace, "read-beside", beside) == written
        assert digests(local_cluster, namespace, "read-live", CLAIMS) == destroyed

        # In place: the release's own claims are replaced by the snapshots' copies, and Inferno
        # runs on them again.
        play("playbooks/restore.yml", "-e", "inferno_restore_backup_id=data1", "-e", "inferno_restore_mode=in_place",
             "-e", "inferno_restore_confirm=inferno", "-e", "inferno_restore_config=false")
        eventually(lambda: inferno_ready(local_cluster, namespace), timeout=300, what="Inferno ready on the restored claims")
        assert digests(local_cluster, namespace, "read-in-place", CLAIMS) == written

        # Rollback with volumes: a prod-style upgrade takes a backup first; the data changed
        # after it is replaced by that backup's bytes (not by data1's) when rolling back.
        run_pod(local_cluster, namespace, "change", "echo 'GGUF tiny model v2' > /data/models/tiny.gguf", CLAIMS)
        before_upgrade = digests(local_cluster, namespace, "read-before-upgrade", CLAIMS)
        assert before_upgrade["models/tiny.gguf"] != written["models/tiny.gguf"]
        play("deploy.yml", "-e", "inferno_pre_upgrade_backup=true",
             *extra_vars(inferno_values={**QUICK_START, "podAnnotations": {"inferno.ops/test": "upgrade"}}))
        assert [r["revision"] for r in history(local_cluster, namespace)] == [1, 2]
        run_pod(local_cluster, namespace, "destroy-again", DESTROY, CLAIMS)
        play("playbooks/rollback.yml", "-e", "inferno_lifecycle_rollback_revision=1",
             "-e", "inferno_lifecycle_rollback_restore_volumes=true", "-e", "inferno_lifecycle_rollback_restore_confirm=inferno")
        latest = history(local_cluster, namespace)[-1]
        assert (latest["revision"], latest["description"]) == (3, "Rollback to 1")
        eventually(lambda: inferno_ready(local_cluster, namespace), timeout=300, what="Inferno ready after the rollback")
        assert digests(local_cluster, namespace, "read-rolled-back", CLAIMS) == before_upgrade
    finally:
        client.CoreV1Api(local_cluster.api).delete_namespace(namespace)
        forget_backups(local_cluster, namespace)


SMALL_WRITE = """set -e
printf 'weights %s\\n' "$$" > /data/models/weights.bin
printf 'GGUF tiny model, seed %s\\n' "$$" > /data/models/tiny.gguf
printf '{"id":"job-%s"}\\n' "$$" > /data/queue/pending.jsonl
"""


def test_an_in_place_restore_that_fails_after_deleting_the_claims_can_be_undone(local_cluster, tmp_path):
    """Issue 25, case 3: the in-place restore deleted the live claims before anything showed it
    could work, and kept no copy of them. Here the provisioner stalls after the claims are
    deleted, so the restored claims never bind and the restore fails; its message names the
    pre-restore set it took first, and the one command that brings the live data back."""
    namespace = "real-way-back"
    common = ["-i", "inventories/dev", "-e", f"inferno_namespace={namespace}", "-e", f"inferno_backups_dir={tmp_path}",
              *extra_vars(inferno_values=QUICK_START)]

    def play(playbook: str, *args: str, expect: int = 0):
        run = ansible_playbook(playbook, *common, *args, kubeconfig=local_cluster.kubeconfig, timeout=900)
        assert run.returncode == expect, run.output[-6000:]
        return run

    core = client.CoreV1Api(local_cluster.api)
    play("deploy.yml")
    try:
        run_pod(local_cluster, namespace, "write", SMALL_WRITE, CLAIMS)
        play("playbooks/backup.yml", "-e", "inferno_backup_id=data1")
        run_pod(local_cluster, namespace, "change", DESTROY, CLAIMS)
        live = digests(local_cluster, namespace, "read-live", CLAIMS)
        volumes = {claim.metadata.name: claim.spec.volume_name for claim in core.list_namespaced_persistent_volume_claim(
            namespace, label_selector="app.kubernetes.io/instance=inferno").items}
        assert set(CLAIMS.values()) <= set(volumes)

        local_cluster.control_plane.pause("csi-provisioner")
        try:
            failed = play("playbooks/restore.yml", "-e", "inferno_restore_backup_id=data1",
                          "-e", "inferno_restore_mode=in_place", "-e", "inferno_restore_confirm=inferno",
                          "-e", "inferno_restore_config=false", "-e", "inferno_restore_wait_timeout=20", expect=2)
        finally:
            local_cluster.control_plane.resume("csi-provisioner")
        said = " ".join(failed.output.split())
        way_back = re.search(r"The claims as they were before this restore are kept in backup (pre-restore-\d{14}) "
                             r"\(([^)]*)\), and their volumes are kept \(Retain\): ([^.]*)\. To go back to them instead, "
                             r"run: (ansible-playbook inferno.ops.restore .*? -e inferno_restore_config=false)", said)
        assert way_back, said[-4000:]
        backup_id, command = way_back.group(1), way_back.group(4)
        assert sorted(way_back.group(2).split(", ")) == sorted(volumes)
        assert sorted(way_back.group(3).split(", ")) == sorted(volumes.values())
        for volume in volumes.values():  # the live data is still on its volume too
            assert core.read_persistent_volume(volume).spec.persistent_volume_reclaim_policy == "Retain"

        # The one command, as the message gives it (run from the repository root).
        arguments = command.split()[2:]
        assert arguments[:1] == ["-i"] and f"inferno_restore_backup_id={backup_id}" in arguments
        back = ansible_playbook("inferno.ops.restore", *arguments, kubeconfig=local_cluster.kubeconfig, timeout=900)
        assert back.returncode == 0, back.output[-6000:]
        eventually(lambda: inferno_ready(local_cluster, namespace), timeout=300, what="Inferno ready on the old claims")
        assert digests(local_cluster, namespace, "read-back", CLAIMS) == live
    finally:
        core.delete_namespace(namespace)
        for volume in locals().get("volumes", {}).values():  # kept by the restore (Retain): ours to remove
            try:
                core.patch_persistent_volume(volume, {"spec": {"persistentVolumeReclaimPolicy": "Delete"}})
            except client.ApiException as error:
                if error.status != 404:
                    raise
        forget_backups(local_cluster, namespace)
