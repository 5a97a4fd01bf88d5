"""Out-of-bounds timing and retention options stop every playbook and role before anything is read.

Each case runs the real ansible-playbook against a kubeconfig whose API server cannot answer
(https://127.0.0.1:9, a dummy CA): any task that read the cluster would fail with preflight's
"Cannot reach the Kubernetes API" (the control cases show it does). So a run that fails with
the bounds message from the role's tasks/bounds.yml, with no preflight task started and
changed=0 in the recap, read and changed nothing. No cluster is needed.

The roles report every bad option of an entry point in one message, so one run checks several
options; across the runs each option meets 0, a negative value and a non-numeric (or
malformed duration) value. playbooks/prune_backups.yml's keep_last and max_age are checked by
inferno.ops.pvc_snapshot itself (tests/integration/test_pvc_snapshot.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.integration.playbooks import REPO, Run, ansible_playbook

DEV = str(REPO / "inventories" / "dev")
SECONDS = "it must be a whole number of seconds above 0"
DURATION = "it must be a helm duration above 0: a number with a unit (h, m, s, ms), such as 10m, 90s or 1h30m"
COUNT = "it must be a whole number, 0 or more"
BACKUP_ID = ("it must be 1-40 lowercase letters, digits or '-', starting and ending with a letter or digit (it becomes "
             "part of snapshot names, a label value and a folder name)")
NOTHING = "Nothing was read or changed."
REFUSAL = re.compile(r"^\[ERROR\]: Task failed: Action failed: (.*)$", re.MULTILINE)
ORIGIN = re.compile(r"^Origin: .*/roles/(\w+)/tasks/(\w+)\.yml:", re.MULTILINE)


def problem(name: str, shown: str, bound: str, fix: str, hint: str = "") -> str:
    return f"{name} is {shown}{hint}; {bound}. Set it with -e {name}={fix}."


def refused(*problems: str) -> str:
    return " ".join(problems) + " " + NOTHING


# id, playbook, -e arguments (name=value as a user types them, or JSON), the one message expected,
# the role whose bounds.yml refuses.
PLAYBOOK_CASES = [
    ("backup-zero", "playbooks/backup.yml", ["inferno_backup_wait_timeout=0"],
     refused(problem("inferno_backup_wait_timeout", "0", SECONDS, "600")), "backup"),
    ("backup-negative", "playbooks/backup.yml", ["inferno_backup_wait_timeout=-5"],
     refused(problem("inferno_backup_wait_timeout", "-5", SECONDS, "600")), "backup"),
    ("backup-not-a-number", "playbooks/backup.yml", ["inferno_backup_wait_timeout=10m"],
     refused(problem("inferno_backup_wait_timeout", "10m", SECONDS, "600")), "backup"),
    # Issue 25, case 8: an id is checked before the backup's folder is written (it used to be left behind).
    ("backup-bad-id", "playbooks/backup.yml", ["inferno_backup_id=Pre_Upgrade"],
     refused(problem("inferno_backup_id", "Pre_Upgrade", BACKUP_ID, "pre-upgrade")), "backup"),
    ("backup-bad-id-and-zero", "playbooks/backup.yml", ["inferno_backup_id=-nightly", "inferno_backup_wait_timeout=0"],
     refused(problem("inferno_backup_wait_timeout", "0", SECONDS, "600"),
             problem("inferno_backup_id", "-nightly", BACKUP_ID, "nightly")), "backup"),
    # ... and before the restore reads <dir>/<id>.
    ("restore-id-outside-its-folder", "playbooks/restore.yml", ["inferno_restore_backup_id=../../etc"],
     refused(problem("inferno_restore_backup_id", "../../etc", BACKUP_ID, "etc")), "restore"),
    # No backup id either: the bounds come before every other check.
    ("restore-zero", "playbooks/restore.yml", ["inferno_restore_wait_timeout=0"],
     refused(problem("inferno_restore_wait_timeout", "0", SECONDS, "300")), "restore"),
    ("restore-negative", "playbooks/restore.yml", ["inferno_restore_wait_timeout=-5", "inferno_restore_backup_id=b1"],
     refused(problem("inferno_restore_wait_timeout", "-5", SECONDS, "300")), "restore"),
    ("restore-not-a-number", "playbooks/restore.yml", ["inferno_restore_wait_timeout=five"],
     refused(problem("inferno_restore_wait_timeout", "five", SECONDS, "300")), "restore"),
    ("deploy-zero-duration-negative-history", "playbooks/deploy.yml",
     ["inferno_deploy_timeout=0s", "inferno_deploy_history_max=-1"],
     refused(problem("inferno_deploy_timeout", "0s", DURATION, "10m"),
             problem("inferno_deploy_history_max", "-1", COUNT, "10")), "deploy"),
    ("deploy-negative-duration-non-numeric-history", "playbooks/deploy.yml",
     ["inferno_deploy_timeout=-5m", "inferno_deploy_history_max=ten"],
     refused(problem("inferno_deploy_timeout", "-5m", DURATION, "10m"),
             problem("inferno_deploy_history_max", "ten", COUNT, "10")), "deploy"),
    ("deploy-duration-without-unit", "playbooks/deploy.yml", ["inferno_deploy_timeout=600"],
     refused(problem("inferno_deploy_timeout", "600", DURATION, "600s", ", which has no unit (helm refuses it)")),
     "deploy"),
    ("deploy-malformed-duration", "playbooks/deploy.yml", ["inferno_deploy_timeout=5m0"],
     refused(problem("inferno_deploy_timeout", "5m0", DURATION, "10m")), "deploy"),
    ("upgrade-zero-duration", "playbooks/upgrade.yml", ["inferno_deploy_timeout=0"],
     refused(problem("inferno_deploy_timeout", "0", DURATION, "10m")), "deploy"),
    # The deploy backs up before an upgrade: its wait is checked before anything is read.
    ("deploy-pre-upgrade-backup", "playbooks/deploy.yml",
     ["inferno_pre_upgrade_backup=true", "inferno_backup_wait_timeout=-1"],
     refused(problem("inferno_backup_wait_timeout", "-1", SECONDS, "600")), "backup"),
    # verify runs after the deploy has changed the release: its timeout is checked up front.
    ("deploy-verify-zero", "playbooks/deploy.yml", ["inferno_verify_timeout_seconds=0"],
     refused(problem("inferno_verify_timeout_seconds", "0", SECONDS, "300")), "verify"),
    ("deploy-verify-not-a-number", "playbooks/deploy.yml", ["inferno_verify_timeout_seconds=5m"],
     refused(problem("inferno_verify_timeout_seconds", "5m", SECONDS, "300")), "verify"),
    ("rollback-zero-duration-negative-wait", "playbooks/rollback.yml",
     ["inferno_lifecycle_timeout=0", "inferno_lifecycle_rollback_restore_volumes=true",
      "inferno_lifecycle_rollback_restore_wait_timeout=-5"],
     refused(problem("inferno_lifecycle_timeout", "0", DURATION, "10m"),
             problem("inferno_lifecycle_rollback_restore_wait_timeout", "-5", SECONDS, "300")), "lifecycle"),
    ("rollback-malformed-duration-non-numeric-wait", "playbooks/rollback.yml",
     ["inferno_lifecycle_timeout=ten", "inferno_lifecycle_rollback_restore_volumes=true",
      "inferno_lifecycle_rollback_restore_wait_timeout=abc"],
     refused(problem("inferno_lifecycle_timeout", "ten", DURATION, "10m"),
             problem("inferno_lifecycle_rollback_restore_wait_timeout", "abc", SECONDS, "300")), "lifecycle"),
    ("rollback-negative-duration-zero-wait", "playbooks/rollback.yml",
     ["inferno_lifecycle_timeout=-1m", "inferno_lifecycle_rollback_restore_volumes=true",
      "inferno_lifecycle_rollback_restore_wait_timeout=0"],
     refused(problem("inferno_lifecycle_timeout", "-1m", DURATION, "10m"),
             problem("inferno_lifecycle_rollback_restore_wait_timeout", "0", SECONDS, "300")), "lifecycle"),
    ("rollback-verify-negative", "playbooks/rollback.yml", ["inferno_verify_timeout_seconds=-300"],
     refused(problem("inferno_verify_timeout_seconds", "-300", SECONDS, "300")), "verify"),
    ("uninstall-zero-duration", "playbooks/uninstall.yml",
     ["inferno_lifecycle_timeout=0s", "inferno_lifecycle_uninstall_confirm=inferno"],
     refused(problem("inferno_lifecycle_timeout", "0s", DURATION, "10m")), "lifecycle"),
    ("uninstall-negative-duration", "playbooks/uninstall.yml", ["inferno_lifecycle_timeout=-10m"],
     refused(problem("inferno_lifecycle_timeout", "-10m", DURATION, "10m")), "lifecycle"),
    ("uninstall-malformed-duration", "playbooks/uninstall.yml", ['{"inferno_lifecycle_timeout": "10 minutes"}'],
     refused(problem("inferno_lifecycle_timeout", '"10 minutes"', DURATION, "10m")), "lifecycle"),
]

# id, the role and entry point a play includes directly (no playbook checks first), its vars,
# the message, the role whose bounds.yml refuses. Values of the right type: a wrong type is
# refused by the role's argument_specs before any task.
ROLE_CASES = [
    ("backup", "backup", "main", {"inferno_backup_wait_timeout": 0},
     refused(problem("inferno_backup_wait_timeout", "0", SECONDS, "600")), "backup"),
    ("restore", "restore", "main", {"inferno_restore_wait_timeout": -1, "inferno_restore_backup_id": "b1"},
     refused(problem("inferno_restore_wait_timeout", "-1", SECONDS, "300")), "restore"),
    ("deploy", "deploy", "main", {"inferno_deploy_timeout": "5x", "inferno_deploy_history_max": -3},
     refused(problem("inferno_deploy_timeout", "5x", DURATION, "10m"),
             problem("inferno_deploy_history_max", "-3", COUNT, "10")), "deploy"),
    ("deploy-backup-first", "deploy", "main", {"inferno_deploy_backup_first": True, "inferno_backup_wait_timeout": 0},
     refused(problem("inferno_backup_wait_timeout", "0", SECONDS, "600")), "backup"),
    ("verify", "verify", "main", {"inferno_verify_timeout_seconds": 0},
     refused(problem("inferno_verify_timeout_seconds", "0", SECONDS, "300")), "verify"),
    ("lifecycle-rollback", "lifecycle", "rollback",
     {"inferno_lifecycle_timeout": "0m", "inferno_lifecycle_rollback_restore_volumes": True,
      "inferno_lifecycle_rollback_restore_wait_timeout": -300, "inferno_lifecycle_rollback_restore_confirm": "inferno"},
     refused(problem("inferno_lifecycle_timeout", "0m", DURATION, "10m"),
             problem("inferno_lifecycle_rollback_restore_wait_timeout", "-300", SECONDS, "300")), "lifecycle"),
    ("lifecycle-uninstall", "lifecycle", "uninstall",
     {"inferno_lifecycle_timeout": "1h-5m", "inferno_lifecycle_uninstall_confirm": "inferno"},
     refused(problem("inferno_lifecycle_timeout", "1h-5m", DURATION, "10m")), "lifecycle"),
]


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory) -> Path:
    """A kubeconfig whose API server cannot answer: any read of the cluster fails."""
    path = tmp_path_factory.mktemp("bounds") / "unreachable.kubeconfig"
    dummy_ca = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmR1bW15Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "inferno-local",
        "clusters": [{"name": "nowhere", "cluster": {"server": "https://127.0.0.1:9",
                                                     "certificate-authority-data": dummy_ca}}],
        "contexts": [{"name": "inferno-local", "context": {"cluster": "nowhere", "user": "nobody"}}],
        "users": [{"name": "nobody", "user": {"token": "dummy"}}],
    }))
    path.chmod(0o600)
    return path


def run_playbook(playbook: str, args: list[str], unreachable: Path, backups: Path) -> Run:
    extra = [arg for assignment in args for arg in ("-e", assignment)]
    return ansible_playbook(playbook, "-i", DEV, "-e", f"inferno_backups_dir={backups}", *extra,
                            kubeconfig=unreachable, env={"INFERNO_CONTEXT": "inferno-local"}, timeout=120)


def assert_refused_before_reading(run: Run, message: str, role: str, backups: Path) -> None:
    assert run.returncode != 0, run.output
    assert REFUSAL.findall(run.output) == [message], run.output
    assert ORIGIN.findall(run.output) == [(role, "bounds")], run.output
    # Nothing read: no preflight task started, and no module reached the unreachable API server.
    assert "inferno.ops.preflight :" not in run.output and "Cannot reach" not in run.output, run.output
    recap = run.recap()
    assert len(recap) == 1 and all(counters["failed"] == 1 for counters in recap.values()), run.output
    assert run.changed() == 0, run.output
    assert not backups.exists() or not any(backups.iterdir()), "a refused run wrote a backup"


@pytest.mark.parametrize("playbook, args, message, role",
                         [case[1:] for case in PLAYBOOK_CASES], ids=[case[0] for case in PLAYBOOK_CASES])
def test_a_playbook_refuses_an_out_of_bounds_option_before_reading_anything(
        playbook, args, message, role, unreachable, tmp_path):
    backups = tmp_path / "backups"
    run = run_playbook(playbook, args, unreachable, backups)
    assert_refused_before_reading(run, message, role, backups)


@pytest.mark.parametrize("role, entry, variables, message, refusing",
                         [case[1:] for case in ROLE_CASES], ids=[case[0] for case in ROLE_CASES])
def test_each_role_entry_point_refuses_an_out_of_bounds_option_first(
        role, entry, variables, message, refusing, unreachable, tmp_path):
    """The role's own check, for a play that includes it without the playbooks' up-front checks."""
    backups = tmp_path / "backups"
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{
        "name": f"Include inferno.ops.{role} ({entry})", "hosts": "all", "gather_facts": False,
        "tasks": [{"name": "Run the entry point", "ansible.builtin.include_role": {
            "name": f"inferno.ops.{role}", "tasks_from": entry}, "vars": variables}],
    }]))
    run = ansible_playbook(str(playbook), "-i", DEV, "-e", f"inferno_backups_dir={backups}",
                           kubeconfig=unreachable, env={"INFERNO_CONTEXT": "inferno-local"}, timeout=120)
    assert_refused_before_reading(run, message, refusing, backups)


@pytest.mark.parametrize("playbook, args", [
    ("playbooks/backup.yml", ["inferno_backup_wait_timeout=1"]),
    ("playbooks/deploy.yml", ["inferno_deploy_timeout=5m0s", "inferno_deploy_history_max=0",
                              "inferno_verify_timeout_seconds=1", "inferno_pre_upgrade_backup=true"]),
    ("playbooks/rollback.yml", ["inferno_lifecycle_timeout=1h30m", "inferno_lifecycle_rollback_restore_volumes=true",
                                "inferno_lifecycle_rollback_restore_wait_timeout=1"]),
], ids=["backup", "deploy", "rollback"])
def test_values_in_bounds_pass_and_the_run_reaches_the_unreachable_cluster(playbook, args, unreachable, tmp_path):
    """The control: with in-bounds values the run goes on and fails reading the cluster, not on the bounds."""
    run = run_playbook(playbook, args, unreachable, tmp_path / "backups")
    assert run.returncode != 0, run.output
    assert NOTHING not in run.output, run.output
    assert "Cannot reach the Kubernetes API of local-cluster" in run.output, run.output
