"""inferno.ops.pvc_snapshot and the backup and restore playbooks against the local cluster's real
snapshot machinery (snapshot-controller, csi-snapshotter and the host-path CSI driver), run
through the real ansible-playbook: all claims at once, re-runs, fail-fast errors, deletion,
retention. The bytes themselves are followed in test_volume_data.py."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import pytest
import yaml
from kubernetes import client

from .kube import eventually
from .playbooks import KNOWN_SECRET, ON_SIMULATED_NODES, ansible_playbook, helm, history, module_task

GROUP, VERSION = "snapshot.storage.k8s.io", "v1"
QUOTA_MESSAGE = "snapshot count reaches the configured maximum (100)"
QUOTA_ERROR = f"rpc error: code = ResourceExhausted desc = {QUOTA_MESSAGE}"


@pytest.fixture
def release(local_cluster, namespace):
    installed = helm(local_cluster, namespace, "install", "inferno", "files/helm/inferno",
                     "-f", "files/helm/inferno/values-dev.yaml", "--wait", "--timeout", "3m")
    assert installed.returncode == 0, installed.stderr
    return namespace


def snapshot_task(local_cluster, namespace, tmp_path, check=False, **options):
    """Run one pvc_snapshot task; return the registered result."""
    connection = {"kubeconfig": str(local_cluster.kubeconfig), "release_name": "inferno",
                  "release_namespace": namespace, "wait_timeout": 120}
    return module_task("inferno.ops.pvc_snapshot", {**connection, **options}, tmp_path, check=check)[1]


def snapshots(cluster, namespace) -> dict[str, dict]:
    items = client.CustomObjectsApi(cluster.api).list_namespaced_custom_object(
        GROUP, VERSION, namespace, "volumesnapshots")["items"]
    return {item["metadata"]["name"]: item for item in items}


def test_backup_takes_every_claim_at_once_and_a_rerun_changes_nothing(local_cluster, release, tmp_path):
    result = snapshot_task(local_cluster, release, tmp_path, backup_id="b1", environment="dev", chart_revision=1)
    assert not result.get("failed"), result
    assert result["changed"] is True
    taken = {item["pvc"]: item for item in result["snapshots"]}
    assert sorted(taken) == ["inferno-cache-pvc", "inferno-models-pvc", "inferno-queue-pvc"]
    live = snapshots(local_cluster, release)
    for pvc, item in taken.items():
        assert item["name"] == f"{pvc}-b1" and item["readyToUse"] and item["elapsed_seconds"] is not None
        snapshot = live[item["name"]]
        assert snapshot["spec"]["source"]["persistentVolumeClaimName"] == pvc
        assert snapshot["metadata"]["labels"] == {
            "app.kubernetes.io/instance": "inferno", "app.kubernetes.io/managed-by": "inferno.ops",
            "inferno.ops/backup-id": "b1", "inferno.ops/pvc": pvc, "inferno.ops/environment": "dev",
            "inferno.ops/chart-revision": "1"}
        content = client.CustomObjectsApi(local_cluster.api).get_cluster_custom_object(
            GROUP, VERSION, "volumesnapshotcontents", item["content"])
        assert content["spec"]["volumeSnapshotRef"]["uid"] == snapshot["metadata"]["uid"]
    assert taken["inferno-models-pvc"]["restoreSize"] == "20Gi"

    again = snapshot_task(local_cluster, release, tmp_path, backup_id="b1", environment="dev", chart_revision=1)
    assert again["changed"] is False and len(again["snapshots"]) == 3
    assert set(snapshots(local_cluster, release)) == set(live)


def test_an_injected_snapshot_failure_fails_fast_and_deletes_nothing(local_cluster, release, tmp_path, fault_class):
    snapshot_task(local_cluster, release, tmp_path, backup_id="good")
    before = set(snapshots(local_cluster, release))
    revisions = history(local_cluster, release)
    started = time.monotonic()
    result = snapshot_task(local_cluster, release, tmp_path, backup_id="quota",
                           snapshot_class=fault_class(error=QUOTA_MESSAGE, code="ResourceExhausted"))
    assert time.monotonic() - started < 60  # wait_timeout is 120 s: it did not sit it out
    assert result["failed"] is True
    assert QUOTA_ERROR in result["msg"]
    assert "prune old backups" in result["msg"] and "Nothing was deleted" in result["msg"]
    assert before <= set(snapshots(local_cluster, release))
    assert history(local_cluster, release) == revisions


def test_absent_and_retention_delete_only_what_they_should(local_cluster, release, tmp_path, fault_class):
    for backup_id in ("r1", "r2", "r3", "r4"):
        snapshot_task(local_cluster, release, tmp_path, backup_id=backup_id)
        time.sleep(1.1)  # creation timestamps have a resolution of one second
    # The newest set never becomes ready.
    broken = snapshot_task(local_cluster, release, tmp_path, backup_id="r5", wait=False, retain=False,
                           snapshot_class=fault_class(error="transient backend error"))
    assert broken["changed"] is True
    # A snapshot that is not ours, and a pinned set.
    custom = client.CustomObjectsApi(local_cluster.api)
    custom.create_namespaced_custom_object(GROUP, VERSION, release, "volumesnapshots", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "VolumeSnapshot",
        "metadata": {"name": "hand-made", "labels": {"app.kubernetes.io/instance": "inferno"}},
        "spec": {"source": {"persistentVolumeClaimName": "inferno-models-pvc"}}})
    custom.patch_namespaced_custom_object(GROUP, VERSION, release, "volumesnapshots", "inferno-cache-pvc-r2",
                                          {"metadata": {"labels": {"inferno.ops/pin": "true"}}})

    preview = snapshot_task(local_cluster, release, tmp_path, check=True, state="pruned", keep_last=1)
    expected = sorted(f"{pvc}-{backup_id}" for backup_id in ("r1", "r3")
                      for pvc in ("inferno-cache-pvc", "inferno-models-pvc", "inferno-queue-pvc"))
    assert preview["deleted"] == expected
    assert preview["kept"]["r4"] == "the newest ready backup is never pruned"
    assert preview["kept"]["r2"].startswith("pinned")
    assert set(expected) <= set(snapshots(local_cluster, release))  # check mode deleted nothing

    pruned = snapshot_task(local_cluster, release, tmp_path, state="pruned", keep_last=1)
    assert pruned["deleted"] == expected and pruned["changed"] is True
    left = set(snapshots(local_cluster, release))
    assert not set(expected) & left and "hand-made" in left and "inferno-models-pvc-r4" in left

    refused = snapshot_task(local_cluster, release, tmp_path, state="absent", names=["hand-made"])
    assert refused["failed"] is True and "not snapshots of release inferno made by inferno.ops" in refused["msg"]
    removed = snapshot_task(local_cluster, release, tmp_path, state="absent", backup_id="r5")
    assert len(removed["deleted"]) == 3
    assert not any(name.endswith("-r5") for name in snapshots(local_cluster, release))


def test_backup_playbook_exports_and_snapshots_under_one_id(local_cluster, release, tmp_path):
    """backup.yml twice with one id (the rerun changes nothing), then list and a prune preview."""
    common = ["-i", "inventories/dev", *ON_SIMULATED_NODES, "-e", f"inferno_namespace={release}",
              "-e", f"inferno_backup_root={tmp_path}"]
    first = ansible_playbook("playbooks/backup.yml", *common, "-e", "inferno_backup_id=nightly-1",
                             kubeconfig=local_cluster.kubeconfig)
    assert first.returncode == 0, first.output
    folder = tmp_path / "dev" / "inferno" / "nightly-1"
    assert (folder / "config" / "index.yaml").is_file() and (folder / "snapshots.yaml").is_file()
    taken = {f"{pvc}-nightly-1" for pvc in ("inferno-cache-pvc", "inferno-models-pvc", "inferno-queue-pvc")}
    assert taken <= set(snapshots(local_cluster, release))
    again = ansible_playbook("playbooks/backup.yml", *common, "-e", "inferno_backup_id=nightly-1",
                             kubeconfig=local_cluster.kubeconfig)
    assert again.returncode == 0 and again.changed() == 0, again.output
    listed = ansible_playbook("playbooks/list_backups.yml", *common, kubeconfig=local_cluster.kubeconfig)
    assert listed.returncode == 0 and "nightly-1  revision 1  3/3 ready" in listed.output, listed.output
    preview = ansible_playbook("playbooks/prune_backups.yml", *common, "-e", "inferno_backup_keep_last=1", "--check",
                               kubeconfig=local_cluster.kubeconfig)
    assert preview.returncode == 0 and "nightly-1: the newest ready backup is never pruned" in preview.output
    # Tried as a new user would: out-of-bounds retention is refused before anything is read or deleted.
    before = sorted(snapshots(local_cluster, release))
    for option in ("inferno_backup_keep_last=-1", "inferno_backup_keep_last=0", "inferno_backup_max_age=0"):
        refused = ansible_playbook("playbooks/prune_backups.yml", *common, "-e", option,
                                   kubeconfig=local_cluster.kubeconfig)
        assert refused.returncode != 0 and "Nothing was read or changed" in " ".join(refused.output.split()), (
            option, refused.output)
        assert refused.changed() == 0 and sorted(snapshots(local_cluster, release)) == before


def test_killing_the_apiserver_during_a_backup_fails_clearly_and_a_rerun_completes_it(local_cluster, release, tmp_path):
    """csi-snapshotter is paused (a stalled CSI sidecar), so backup.yml is waiting on its
    snapshots when the API server is killed. The run must fail naming the backup id and
    how to finish; once the server is back, the same id completes with the same snapshots."""
    common = ["-i", "inventories/dev", *ON_SIMULATED_NODES, "-e", f"inferno_namespace={release}",
              "-e", f"inferno_backup_root={tmp_path}",
              "-e", "inferno_backup_id=outage"]
    names = sorted(f"{pvc}-outage" for pvc in ("inferno-cache-pvc", "inferno-models-pvc", "inferno-queue-pvc"))
    control_plane = local_cluster.control_plane
    control_plane.pause("csi-snapshotter")
    try:
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(ansible_playbook, "playbooks/backup.yml", *common, kubeconfig=local_cluster.kubeconfig)
            # Bound to their contents: snapshot-controller has made them and now waits on the
            # paused sidecar, as the backup does. (Killed while it posts a content, the controller
            # keeps a copy without a resourceVersion and leaves that snapshot unready until it
            # restarts: "error parsing old ResourceVersion", an external-snapshotter fault.)
            requested = eventually(lambda: sorted(current := snapshots(local_cluster, release)) == names and all(
                (item.get("status") or {}).get("boundVolumeSnapshotContentName") for item in current.values())
                and current, timeout=120, what="the backup's 3 snapshots bound to their contents")
            assert not any((item.get("status") or {}).get("readyToUse") for item in requested.values())
            control_plane.kill("kube-apiserver")
            interrupted = running.result(timeout=300)
    finally:
        control_plane.revive("kube-apiserver")
        control_plane.resume("csi-snapshotter")

    assert interrupted.returncode != 0, interrupted.output
    message = " ".join(interrupted.output.split())
    assert "Cannot reach the Kubernetes API in " + release in message, interrupted.output
    assert ("Backup outage was interrupted with 3 snapshot(s) requested (" + ", ".join(names) + "); nothing was deleted."
            in message), interrupted.output
    assert "run the backup again with -e inferno_backup_id=outage to complete this backup" in message

    rerun = ansible_playbook("playbooks/backup.yml", *common, kubeconfig=local_cluster.kubeconfig)
    assert rerun.returncode == 0, rerun.output
    assert "Backup outage of inferno (revision 1): 3 snapshot(s) ready" in " ".join(rerun.output.split())
    completed = snapshots(local_cluster, release)
    for name in names:  # the very snapshots the interrupted run requested, now ready
        assert completed[name]["metadata"]["uid"] == requested[name]["metadata"]["uid"]
        assert completed[name]["status"]["readyToUse"] is True
    recorded = yaml.safe_load((tmp_path / "dev/inferno/outage/snapshots.yaml").read_text())
    assert sorted(recorded["snapshots"].values()) == names


def test_backup_then_restore_round_trip(local_cluster, release, tmp_path):
    """Backup, change a ConfigMap, restore: the ConfigMap equals the export again, and the
    restored claims (beside the originals, then in place) come from the right snapshots."""
    common = ["-i", "inventories/dev", *ON_SIMULATED_NODES, "-e", f"inferno_namespace={release}",
              "-e", f"inferno_backup_root={tmp_path}",
              "-e", "inferno_restore_wait_timeout=120"]
    backup = ansible_playbook("playbooks/backup.yml", *common, "-e", "inferno_backup_id=trip",
                              kubeconfig=local_cluster.kubeconfig)
    assert backup.returncode == 0, backup.output
    exported = yaml.safe_load((tmp_path / "dev/inferno/trip/config/configmaps/inferno-config.yaml").read_text())
    core = client.CoreV1Api(local_cluster.api)
    core.patch_namespaced_config_map("inferno-config", release, {"data": {"INFERNO_LOG_LEVEL": "trace"}})
    live_secret = core.read_namespaced_secret("inferno-secrets", release).data

    beside = ansible_playbook("playbooks/restore.yml", *common, "-e", "inferno_restore_backup_id=trip",
                              kubeconfig=local_cluster.kubeconfig)
    assert beside.returncode == 0, beside.output
    assert core.read_namespaced_config_map("inferno-config", release).data == exported["data"]
    # The Secret was exported as digests (listed under 'redacted' in the index): never applied.
    index = yaml.safe_load((tmp_path / "dev/inferno/trip/config/index.yaml").read_text())
    assert index["redacted"] == ["secrets/inferno-secrets.yaml"]
    assert core.read_namespaced_secret("inferno-secrets", release).data == live_secret
    claims = {claim.metadata.name: claim for claim in core.list_namespaced_persistent_volume_claim(release).items}
    for pvc in ("inferno-cache-pvc", "inferno-models-pvc", "inferno-queue-pvc"):
        restored = claims[f"{pvc}-restored-trip"]
        assert restored.spec.data_source.name == f"{pvc}-trip" and restored.status.phase == "Bound"
        assert "app.kubernetes.io/instance" not in restored.metadata.labels  # not taken for the release's own
        assert claims[pvc].spec.data_source is None  # the original is untouched
    again = ansible_playbook("playbooks/restore.yml", *common, "-e", "inferno_restore_backup_id=trip",
                             kubeconfig=local_cluster.kubeconfig)
    assert again.returncode == 0 and again.changed() == 0, again.output  # restored already: nothing to do

    refused = ansible_playbook("playbooks/restore.yml", *common, "-e", "inferno_restore_backup_id=trip",
                               "-e", "inferno_restore_mode=in_place", kubeconfig=local_cluster.kubeconfig)
    assert refused.returncode != 0 and "-e inferno_restore_confirm=inferno" in refused.output
    in_place = ansible_playbook("playbooks/restore.yml", *common, "-e", "inferno_restore_backup_id=trip",
                                "-e", "inferno_restore_mode=in_place", "-e", "inferno_restore_confirm=inferno",
                                kubeconfig=local_cluster.kubeconfig)
    assert in_place.returncode == 0, in_place.output
    for pvc in ("inferno-cache-pvc", "inferno-models-pvc", "inferno-queue-pvc"):
        claim = core.read_namespaced_persistent_volume_claim(pvc, release)
        assert claim.spec.data_source.name == f"{pvc}-trip" and claim.status.phase == "Bound"
        assert claim.metadata.annotations["meta.helm.sh/release-name"] == "inferno"
    deployment = client.AppsV1Api(local_cluster.api).read_namespaced_deployment("inferno", release)
    assert deployment.status.ready_replicas == 1
    assert "inferno.ops/replicas-before-restore" not in (deployment.metadata.annotations or {})
    upgraded = helm(local_cluster, release, "upgrade", "inferno", "files/helm/inferno",
                    "-f", "files/helm/inferno/values-dev.yaml", "--wait")
    assert upgraded.returncode == 0, upgraded.stderr  # Helm still owns the restored claims


def deny_claims_from_snapshots(cluster, namespace) -> Callable[[], None]:
    """Fault injection: an admission policy that refuses claims restored from a snapshot in
    `namespace` (as a policy engine might). Returns the function that lifts it."""
    admission = client.AdmissionregistrationV1Api(cluster.api)
    name = f"deny-restores-{namespace}"[:63]
    admission.create_validating_admission_policy({
        "metadata": {"name": name},
        "spec": {"failurePolicy": "Fail",
                 "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                                         "resources": ["persistentvolumeclaims"]}]},
                 "validations": [{"expression": "!has(object.spec.dataSource)",
                                  "message": "claims restored from snapshots are refused here"}]}})
    admission.create_validating_admission_policy_binding({
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}}})
    probe = {"metadata": {"name": "probe"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
        "dataSource": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "probe"}}}

    def refused() -> bool:
        try:
            client.CoreV1Api(cluster.api).create_namespaced_persistent_volume_claim(namespace, probe, dry_run="All")
            return False
        except client.ApiException as error:
            return error.status in (400, 403, 422)

    eventually(refused, what="the admission policy to take effect")

    def lift() -> None:
        admission.delete_validating_admission_policy_binding(name)
        admission.delete_validating_admission_policy(name)
        eventually(lambda: not refused(), what="the admission policy to be lifted")

    return lift


def test_an_in_place_restore_stopped_half_way_is_finished_by_running_it_again(local_cluster, release, tmp_path):
    """An admission policy refuses the restored claims after the originals were deleted: the
    run fails saying the release is at 0 and how to finish; once the policy is lifted, the
    same restore recreates the claims and brings the recorded replicas back."""
    common = ["-i", "inventories/dev", *ON_SIMULATED_NODES, "-e", f"inferno_namespace={release}",
              "-e", f"inferno_backup_root={tmp_path}",
              "-e", "inferno_restore_wait_timeout=120"]
    backup = ansible_playbook("playbooks/backup.yml", *common, "-e", "inferno_backup_id=half",
                              kubeconfig=local_cluster.kubeconfig)
    assert backup.returncode == 0, backup.output
    restore = ["playbooks/restore.yml", *common, "-e", "inferno_restore_backup_id=half", "-e", "inferno_restore_mode=in_place",
               "-e", "inferno_restore_confirm=inferno", "-e", "inferno_restore_config=false"]
    lift = deny_claims_from_snapshots(local_cluster, release)
    try:
        stopped = ansible_playbook(*restore, kubeconfig=local_cluster.kubeconfig)
    finally:
        lift()
    assert stopped.returncode != 0, stopped.output
    message = " ".join(stopped.output.split())
    assert "Restoring the claims of inferno from backup half stopped:" in message, stopped.output
    assert "claims restored from snapshots are refused here" in message
    assert "inferno.ops/replicas-before-restore annotation" in message and "run the same restore again" in message
    apps, core = client.AppsV1Api(local_cluster.api), client.CoreV1Api(local_cluster.api)
    deployment = apps.read_namespaced_deployment("inferno", release)
    assert deployment.spec.replicas == 0
    assert deployment.metadata.annotations["inferno.ops/replicas-before-restore"] == "1"

    finished = ansible_playbook(*restore, kubeconfig=local_cluster.kubeconfig)
    assert finished.returncode == 0, finished.output
    for pvc in ("inferno-cache-pvc", "inferno-models-pvc", "inferno-queue-pvc"):
        claim = core.read_namespaced_persistent_volume_claim(pvc, release)
        assert claim.spec.data_source.name == f"{pvc}-half" and claim.status.phase == "Bound"
    deployment = apps.read_namespaced_deployment("inferno", release)
    assert deployment.spec.replicas == 1 and deployment.status.ready_replicas == 1
    assert "inferno.ops/replicas-before-restore" not in (deployment.metadata.annotations or {})


def test_a_vault_encrypted_backup_restores_its_secrets(local_cluster, release, tmp_path):
    """backup.yml with include_secrets and a vault password: the export holds no plain
    secret; restore.yml, run with the same --vault-password-file, puts the value back."""
    core = client.CoreV1Api(local_cluster.api)
    encoded = base64.b64encode(KNOWN_SECRET.encode()).decode()
    core.patch_namespaced_secret("inferno-secrets", release, {"data": {"OAUTH2_CLIENT_SECRET": encoded}})
    password = tmp_path / "vault-password"
    password.write_text("restore me\n")
    common = ["-i", "inventories/dev", *ON_SIMULATED_NODES, "-e", f"inferno_namespace={release}",
              "-e", f"inferno_backup_root={tmp_path}"]
    backup = ansible_playbook("playbooks/backup.yml", *common, "-e", "inferno_backup_id=sealed",
                              "-e", "inferno_backup_include_secrets=true",
                              "-e", f"inferno_backup_vault_password_file={password}", kubeconfig=local_cluster.kubeconfig)
    assert backup.returncode == 0, backup.output
    exported = tmp_path / "dev/inferno/sealed/config"
    assert (exported / "secrets/inferno-secrets.yaml").read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")
    assert not any(KNOWN_SECRET in path.read_text() or encoded in path.read_text()
                   for path in exported.rglob("*") if path.is_file())
    core.patch_namespaced_secret("inferno-secrets", release, {"data": {"OAUTH2_CLIENT_SECRET": "cm90YXRlZA=="}})

    restore = ["playbooks/restore.yml", *common, "-e", "inferno_restore_backup_id=sealed",
               "-e", "inferno_restore_volumes=false"]
    locked = ansible_playbook(*restore, kubeconfig=local_cluster.kubeconfig)
    assert locked.returncode != 0, locked.output
    assert "Run the restore with the password the backup used: --vault-password-file" in " ".join(locked.output.split())
    restored = ansible_playbook(*restore, "--vault-password-file", str(password), kubeconfig=local_cluster.kubeconfig)
    assert restored.returncode == 0, restored.output
    assert core.read_namespaced_secret("inferno-secrets", release).data["OAUTH2_CLIENT_SECRET"] == encoded
    for output in (backup.output, locked.output, restored.output):
        assert KNOWN_SECRET not in output and encoded not in output

    # Issue 25, case 5: a bucket writer adds a RoleBinding under configmaps/. The restore applies nothing.
    (exported / "configmaps" / "zz-binding.yaml").write_text(yaml.safe_dump({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "planted"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": release}]}))
    core.patch_namespaced_secret("inferno-secrets", release, {"data": {"OAUTH2_CLIENT_SECRET": "cm90YXRlZA=="}})
    planted = ansible_playbook(*restore, "--vault-password-file", str(password), kubeconfig=local_cluster.kubeconfig)
    assert planted.returncode != 0, planted.output
    assert ("holds files a restore does not apply: configmaps/zz-binding.yaml is rbac.authorization.k8s.io/v1 "
            "RoleBinding, not v1 ConfigMap" in " ".join(planted.output.split())), planted.output
    assert planted.changed() == 0 and KNOWN_SECRET not in planted.output and encoded not in planted.output
    assert [item.metadata.name for item in client.RbacAuthorizationV1Api(local_cluster.api).list_namespaced_role_binding(
        release).items if item.metadata.name == "planted"] == []
    assert core.read_namespaced_secret("inferno-secrets", release).data["OAUTH2_CLIENT_SECRET"] == "cm90YXRlZA=="


def test_rollback_restores_the_volumes_backed_up_at_its_target_revision(local_cluster, release, tmp_path):
    """An upgrade with the backup-first step, a later backup at revision 2, then a rollback
    to revision 1 with its volumes: the claims come from the revision-1 backup."""
    common = ["-i", "inventories/dev", *ON_SIMULATED_NODES, "-e", f"inferno_namespace={release}",
              "-e", f"inferno_backup_root={tmp_path}"]
    upgrade = ansible_playbook("deploy.yml", *common, "-e", "inferno_backup_before_upgrade=true",
                               kubeconfig=local_cluster.kubeconfig)
    assert upgrade.returncode == 0, upgrade.output
    assert history(local_cluster, release)[-1]["revision"] == 2
    later = ansible_playbook("playbooks/backup.yml", *common, "-e", "inferno_backup_id=at-r2",
                             kubeconfig=local_cluster.kubeconfig)
    assert later.returncode == 0, later.output
    pre_upgrade = {item["metadata"]["labels"]["inferno.ops/backup-id"] for item in snapshots(local_cluster, release).values()
                   if item["metadata"]["labels"]["inferno.ops/chart-revision"] == "1"}
    assert len(pre_upgrade) == 1, pre_upgrade
    backup_id = pre_upgrade.pop()
    rollback = ["playbooks/rollback.yml", *common, "-e", "inferno_lifecycle_rollback_restore_volumes=true",
                "-e", "inferno_lifecycle_rollback_restore_wait_timeout=120"]

    unconfirmed = ansible_playbook(*rollback, kubeconfig=local_cluster.kubeconfig)
    assert unconfirmed.returncode != 0
    assert (f"with backup {backup_id}. To confirm, name the release: -e inferno_lifecycle_rollback_restore_confirm=inferno. "
            "Nothing was changed"
            in " ".join(unconfirmed.output.split())), unconfirmed.output
    missing = ansible_playbook(*rollback, "-e", "inferno_lifecycle_rollback_backup_id=no-such-backup",
                               "-e", "inferno_restore_confirm=inferno", kubeconfig=local_cluster.kubeconfig)
    assert missing.returncode != 0
    assert "No complete backup with id no-such-backup of inferno" in " ".join(missing.output.split()), missing.output
    assert ("[DEPRECATED] inferno_restore_confirm confirms in-place restores of the restore role"
            in " ".join(missing.output.split())), missing.output
    assert history(local_cluster, release)[-1]["revision"] == 2  # neither run changed the release

    rolled = ansible_playbook(*rollback, "-e", "inferno_lifecycle_rollback_restore_confirm=inferno",
                              kubeconfig=local_cluster.kubeconfig)
    assert rolled.returncode == 0, rolled.output
    latest = history(local_cluster, release)[-1]
    assert (latest["revision"], latest["status"], latest["description"]) == (3, "deployed", "Rollback to 1")
    core = client.CoreV1Api(local_cluster.api)
    for pvc in ("inferno-cache-pvc", "inferno-models-pvc", "inferno-queue-pvc"):
        claim = core.read_namespaced_persistent_volume_claim(pvc, release)
        assert claim.spec.data_source.name == f"{pvc}-{backup_id}" and claim.status.phase == "Bound"
    deployment = client.AppsV1Api(local_cluster.api).read_namespaced_deployment("inferno", release)
    assert deployment.status.ready_replicas == 1
