"""inferno.ops.pvc_snapshot's action plugin: the module as an async job while snapshots become
ready, a line per interval from inferno.ops.backup_info, and the module's own result.

``_execute_module`` is the scripted stand-in of conftest.py; each async_status takes 0.2 s,
each backup_info 0.8 s, and the action sleeps 1 s between checks.
"""

from __future__ import annotations

import pytest

from ansible_collections.inferno.ops.plugins.action.pvc_snapshot import ActionModule

MODULE = "inferno.ops.pvc_snapshot"
STATUS = "ansible.legacy.async_status"
OBSERVER = "inferno.ops.backup_info"
CONNECTION = {"kubeconfig": "/etc/inferno/prod.kubeconfig", "context": "prod-cluster"}
ARGS = dict(CONNECTION, release_name="inferno", release_namespace="inferno-prod", backup_id="r12-20261128",
            environment="prod", chart_revision=12, wait_timeout=600, progress_interval=5)
STARTED = {"started": True, "finished": False, "ansible_job_id": "j7", "results_file": "/home/ops/.ansible_async/j7"}
RUNNING = dict(STARTED)
DONE = {"changed": True, "created_seconds": 0.4, "deleted": [], "kept": {},
        "snapshots": [{"name": "inferno-models-pvc-r12-20261128", "readyToUse": True}]}


def backup_set(ready, errors=None):
    names = ["inferno-cache-pvc-r12-20261128", "inferno-models-pvc-r12-20261128"]
    return {"backup_sets": [
        {"backup_id": "nightly-1", "snapshots": ["old"], "not_ready": []},
        {"backup_id": "r12-20261128", "snapshots": names, "not_ready": names[ready:], "errors": errors or {}},
    ]}


@pytest.fixture
def snapshot(make_action, run_action, modules):
    def run(polls=0, outcome=None, sets=None, check_mode=False, **args):
        outcome = DONE if outcome is None else outcome
        sets = (backup_set(1),) if sets is None else sets
        modules.script(MODULE, STARTED)
        modules.script(STATUS, *([RUNNING] * polls + [dict(outcome, finished=True)] + [{"erased": "j7"}]), takes=0.2)
        modules.answer_with(OBSERVER, lambda args: sets[min(len(modules.of(OBSERVER)) - 1, len(sets) - 1)],
                            takes=0.8)
        return run_action(make_action(ActionModule, dict(ARGS, **args), check_mode=check_mode))
    return run


def test_a_line_per_interval_while_the_snapshots_become_ready(snapshot, modules, printed):
    result = snapshot(polls=9, sets=({"backup_sets": []}, backup_set(1)))
    assert printed == [
        "[prod-cluster] waiting for backup r12-20261128 of inferno-prod/inferno (5s of 600s): "
        "no snapshot of backup r12-20261128 yet",
        "[prod-cluster] waiting for backup r12-20261128 of inferno-prod/inferno (10s of 600s): "
        "1 of 2 snapshots ready; inferno-models-pvc-r12-20261128: not ready yet",
    ]
    assert result == DONE
    job = modules.of(MODULE)[0]
    assert (job.args, job.wrap_async, job.async_val) == (ARGS, True, 600 + 300)
    assert [call.args for call in modules.of(OBSERVER)] == [
        dict(CONNECTION, release_name="inferno", release_namespace="inferno-prod")] * 2
    assert modules.of(STATUS)[-1].args["mode"] == "cleanup"


def test_a_snapshot_s_error_is_in_the_line(snapshot, printed):
    snapshot(polls=5, sets=(backup_set(0, {"inferno-cache-pvc-r12-20261128": "quota exceeded"}),))
    assert printed == [
        "[prod-cluster] waiting for backup r12-20261128 of inferno-prod/inferno (5s of 600s): 0 of 2 snapshots ready; "
        "inferno-cache-pvc-r12-20261128: quota exceeded; inferno-models-pvc-r12-20261128: not ready yet"]


def test_fast_snapshots_print_nothing(snapshot, modules, printed):
    assert snapshot(polls=1) == DONE
    assert printed == [] and modules.of(OBSERVER) == []


def test_the_module_s_failure_is_returned_as_it_is(snapshot):
    failure = {"failed": True, "msg": "Timed out after 600s waiting for 1 snapshot(s): ...", "snapshots": []}
    assert snapshot(polls=2, outcome=failure) == failure


def test_a_job_stopped_at_its_time_limit_says_how_to_finish_the_backup(snapshot):
    result = snapshot(polls=2, outcome={"failed": True, "msg": "Timeout exceeded", "child_pid": 9})
    assert result == {"failed": True, "msg": "inferno.ops.pvc_snapshot did not end within 900s. Nothing was deleted: "
                                             "run the task again with backup_id=r12-20261128 to complete the backup."}


@pytest.mark.parametrize("args, check_mode", [
    ({}, True),
    ({"wait": False}, False),
    ({"progress_interval": 0}, False),
    ({"state": "absent"}, False),
    ({"state": "pruned", "keep_last": 3}, False),
], ids=["check-mode", "no-wait", "interval-0", "absent", "pruned"])
def test_otherwise_the_module_runs_once_as_before(make_action, run_action, modules, printed, args, check_mode):
    modules.script(MODULE, DONE)
    result = run_action(make_action(ActionModule, dict(ARGS, **args), check_mode=check_mode))
    assert result == DONE
    assert [(call.module, call.args, call.wrap_async) for call in modules.calls] == [(MODULE, dict(ARGS, **args), False)]
    assert printed == []
