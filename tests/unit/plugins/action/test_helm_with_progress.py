"""inferno.ops.helm_with_progress: kubernetes.core.helm as an async job, a line per interval
from inferno.ops.release_health while it runs, and the job's result at the end.

``_execute_module`` is the scripted stand-in of conftest.py. Starting the job answers as
async_wrapper does; async_status answers "running" until the test's job ends; each
async_status takes 0.2 s and each release_health 0.8 s on the fake clock, and the action
sleeps 1 s between checks.
"""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.inferno.ops.plugins.action.helm_with_progress import ActionModule, helm_timeout

HELM = "kubernetes.core.helm"
STATUS = "ansible.legacy.async_status"
HEALTH = "inferno.ops.release_health"
SECRET = "s3cr3t-value"
HELM_ARGS = {"release_name": "inferno", "release_namespace": "inferno-prod", "chart_ref": "/srv/charts/inferno",
             "release_values": {"secrets": {"OAUTH2_CLIENT_SECRET": SECRET}}, "wait": True, "wait_timeout": "10m",
             "atomic": True, "binary_path": "/opt/helm4-compat.sh"}
# What module_defaults give the task through group/inferno.ops.k8s and group/inferno.ops.helm.
CONNECTION = {"kubeconfig": "/etc/inferno/prod.kubeconfig", "context": "prod-cluster", "binary_path": "/usr/bin/helm"}
STARTED = {"failed": False, "started": True, "finished": False, "ansible_job_id": "j42",
           "results_file": "/home/ops/.ansible_async/j42", "changed": True}
RUNNING = {"started": True, "finished": False, "ansible_job_id": "j42", "results_file": "/home/ops/.ansible_async/j42"}
DONE = {"changed": True, "status": {"name": "inferno", "revision": 4, "values": {"secrets": {"x": SECRET}}},
        "command": "helm upgrade ...", "stdout": "", "stderr": ""}
CREATING = {"healthy": False, "problems": ["Deployment inferno: 1/2 replicas ready"],
            "pods": [{"name": "inferno-0", "ready": True, "state": "Running"},
                     {"name": "inferno-1", "ready": False, "state": "ContainerCreating"}]}
READY = {"healthy": True, "problems": [],
         "pods": [{"name": "inferno-0", "ready": True, "state": "Running"},
                  {"name": "inferno-1", "ready": True, "state": "Running"}]}


def finished(result):
    return dict(result, ansible_job_id="j42", finished=True, started=True)


@pytest.fixture
def helm(make_action, run_action, modules):
    """Run the action with ``helm`` options; the job reports running ``polls`` times, then ``outcome``."""
    def run(polls=0, outcome=None, health=(CREATING,), check_mode=False, **args):
        outcome = DONE if outcome is None else outcome
        modules.script(HELM, STARTED)
        modules.script(STATUS, *([RUNNING] * polls + [finished(outcome)] + [{"erased": "/home/ops/.ansible_async/j42"}]),
                       takes=0.2)
        modules.answer_with(HEALTH, lambda args: health[min(len(modules.of(HEALTH)) - 1, len(health) - 1)], takes=0.8)
        task_args = dict(CONNECTION, helm=dict(HELM_ARGS), **args)
        return run_action(make_action(ActionModule, task_args, check_mode=check_mode))
    return run


def test_a_line_per_interval_while_helm_runs_then_helm_s_result(helm, modules, printed):
    result = helm(polls=12, health=(CREATING, CREATING, READY))
    assert printed == [
        "[prod-cluster] waiting for inferno-prod/inferno (5s of 600s): 1 of 2 pods ready; inferno-1: ContainerCreating",
        "[prod-cluster] waiting for inferno-prod/inferno (10s of 600s): 1 of 2 pods ready; inferno-1: ContainerCreating",
        "[prod-cluster] waiting for inferno-prod/inferno (16s of 600s): 2 of 2 pods ready; rolled out, helm is finishing",
    ]
    assert result == DONE  # the job's result, without async_status's keys
    assert not any(SECRET in line for line in printed)


def test_helm_runs_as_an_async_job_with_the_task_s_connection_and_its_own_options(helm, modules):
    helm(polls=1)
    start = modules.of(HELM)
    # binary_path of the helm options wins over module_defaults' (helm 4's compat script).
    assert [(call.args, call.wrap_async) for call in start] == [(dict(HELM_ARGS, kubeconfig=CONNECTION["kubeconfig"],
                                                                      context="prod-cluster"), True)]
    # async_wrapper's time limit: twice helm's 10m, plus 300 s; the task's own async_val is restored.
    assert start[0].async_val == 2 * 600 + 300 and modules.task.async_val == 0
    statuses = [call.args for call in modules.of(STATUS)]
    assert statuses[0] == {"jid": "j42", "_async_dir": "/home/ops/.ansible_async"}
    assert statuses[-1] == {"jid": "j42", "mode": "cleanup", "_async_dir": "/home/ops/.ansible_async"}


def test_release_health_reads_with_the_task_s_connection_without_waiting(helm, modules):
    helm(polls=8)
    assert [call.args for call in modules.of(HEALTH)] == [
        dict(CONNECTION, release_name="inferno", release_namespace="inferno-prod")] * 2


def test_a_helm_run_over_within_the_first_interval_prints_nothing(helm, modules, printed):
    assert helm(polls=2) == DONE
    assert printed == [] and modules.of(HEALTH) == []


def test_a_failed_helm_run_is_returned_as_it_is_for_the_rescue(helm, printed):
    failure = {"failed": True, "msg": "Failure when executing Helm command", "stderr": "Error: UPGRADE FAILED: timed out",
               "command": "helm upgrade ..."}
    result = helm(polls=7, outcome=failure)
    assert result == failure
    assert len(printed) == 1


def test_a_job_stopped_at_its_time_limit_says_the_release_may_be_pending(helm, modules):
    result = helm(polls=3, outcome={"failed": True, "msg": "Timeout exceeded", "child_pid": 4242}, job_timeout=4)
    assert result["failed"] is True
    assert result["msg"].startswith("helm did not end within 4s (job_timeout) and was stopped: release inferno in "
                                    "inferno-prod may be left in a pending state.")
    assert modules.of(STATUS)[-1].args["mode"] == "cleanup"


def test_a_job_that_never_answers_is_given_up_and_cleaned_up(helm, modules):
    result = helm(polls=1000, job_timeout=10)
    assert result["failed"] is True and "did not end within 10s" in result["msg"]
    assert modules.of(STATUS)[-1].args["mode"] == "cleanup"


def test_a_job_that_cannot_start_is_the_failure(make_action, run_action, modules, printed):
    modules.script(HELM, {"failed": True, "msg": "async_wrapper: the interpreter was not found"})
    result = run_action(make_action(ActionModule, dict(CONNECTION, helm=dict(HELM_ARGS))))
    assert result["failed"] is True and result["msg"] == "async_wrapper: the interpreter was not found"
    assert [call.module for call in modules.calls] == [HELM] and printed == []


@pytest.mark.parametrize("args, check_mode", [({}, True), ({"progress_interval": 0}, False)],
                         ids=["check-mode", "interval-0"])
def test_check_mode_and_interval_0_run_helm_once_as_before(make_action, run_action, modules, printed, args,
                                                           check_mode):
    modules.script(HELM, {"changed": True, "status": {"name": "inferno"}})
    result = run_action(make_action(ActionModule, dict(CONNECTION, helm=dict(HELM_ARGS), **args),
                                    check_mode=check_mode))
    assert result == {"changed": True, "status": {"name": "inferno"}}
    assert [(call.module, call.wrap_async) for call in modules.calls] == [(HELM, False)]
    assert printed == []


def test_helm_options_are_required(make_action, run_action):
    with pytest.raises(Exception, match="missing required arguments: helm"):
        run_action(make_action(ActionModule, CONNECTION))


@pytest.mark.parametrize("options, seconds", [
    ({"timeout": "90s"}, 90), ({"wait_timeout": "1h30m"}, 5400), ({}, 300), ({"timeout": "garbage"}, 300)])
def test_helm_s_timeout_in_seconds(options, seconds):
    assert helm_timeout(options) == seconds


def test_connection_options_given_by_alias_are_taken_and_passed_on_by_name(make_action, run_action, modules):
    modules.script(HELM, {"changed": False})
    task_args = dict(CONNECTION, ssl_ca_cert="/etc/inferno/ca.pem", helm=dict(HELM_ARGS))
    run_action(make_action(ActionModule, task_args, check_mode=True))
    assert modules.of(HELM)[0].args["ca_cert"] == "/etc/inferno/ca.pem"


def test_on_the_controller_the_job_s_result_is_read_from_its_private_folder_and_removed(
        make_action, run_action, modules):
    """async_wrapper writes helm's result (the release's values) readable by all: on the
    controller the folder is the job's own, 0700; the action reads the result file itself
    (no async_status run per poll) and removes the folder at the end."""
    seen = {}

    def start(args):  # what async_wrapper does: the job's file in async_dir; this job ends at once
        folder = action._connection._shell.get_option("async_dir")
        seen.update(folder=folder, mode=stat.S_IMODE(os.stat(folder).st_mode))
        with open(os.path.join(folder, "j42"), "w") as handle:
            json.dump(DONE, handle)
        return dict(STARTED, results_file=os.path.join(folder, "j42"))

    modules.answer_with(HELM, start)
    modules.answer_with(HEALTH, lambda args: READY)
    action = make_action(ActionModule, dict(CONNECTION, helm=dict(HELM_ARGS)), transport="local")
    assert run_action(action) == DONE
    assert seen["mode"] == 0o700 and not os.path.exists(seen["folder"])
    assert modules.of(STATUS) == []
    assert action._connection._shell.get_option("async_dir") == "~/.ansible_async"  # put back
