"""inferno.ops.release_health's action plugin: the module run for one interval at a time,
and a line printed after each run that ended not healthy, until healthy or wait_timeout.

The module is the scripted ``_execute_module`` of conftest.py: a run that ends not healthy
takes its whole wait_timeout on the fake clock and says so in waited_seconds, as the real
module polls until then.
"""

from __future__ import annotations

import pytest

from ansible_collections.inferno.ops.plugins.action.release_health import ActionModule

MODULE = "inferno.ops.release_health"
ARGS = {"release_name": "inferno", "release_namespace": "inferno-prod", "wait": True, "wait_timeout": 60,
        "progress_interval": 5, "kubeconfig": "/etc/inferno/prod.kubeconfig", "context": "prod-cluster"}
CREATING = {"healthy": False, "problems": ["Deployment inferno: 1/2 replicas ready"],
            "pods": [{"name": "inferno-0", "ready": True, "state": "Running"},
                     {"name": "inferno-1", "ready": False, "state": "ContainerCreating"}]}
ENDPOINTS = {"healthy": False, "problems": ["Service inferno: no ready endpoint"],
             "pods": [{"name": "inferno-0", "ready": True, "state": "Running"},
                      {"name": "inferno-1", "ready": True, "state": "Running"}]}
HEALTHY = {"healthy": True, "problems": [], "waited_seconds": 1.0, "summary": ["Deployment inferno: 2/2 ready"],
           "pods": [{"name": "inferno-0", "ready": True, "state": "Running"},
                    {"name": "inferno-1", "ready": True, "state": "Running"}]}


def waited(answer):
    """The module's answer after polling for its whole wait_timeout."""
    return lambda args: dict(answer, waited_seconds=float(args["wait_timeout"]))


def run_time(args, answer):
    """How long a run takes: its polling, and the start of a module (0.8 s)."""
    return answer.get("waited_seconds", 0.2) + 0.8


@pytest.fixture
def health(make_action, run_action, modules):
    def run(*answers, check_mode=False, **args):
        modules.script(MODULE, *answers, takes=run_time)
        return run_action(make_action(ActionModule, dict(ARGS, **args), check_mode=check_mode))
    return run


def test_a_release_healthy_within_the_first_interval_prints_nothing(health, modules, printed):
    result = health(HEALTHY)
    assert result["healthy"] is True and result["summary"] == HEALTHY["summary"]
    assert [call.args for call in modules.calls] == [dict(ARGS, wait_timeout=5)]  # module_defaults passed on
    assert printed == []


def test_a_line_per_run_that_ended_not_ready_then_the_healthy_result(health, modules, printed, clock):
    started = clock.now
    result = health(waited(CREATING), waited(ENDPOINTS), HEALTHY)
    assert printed == [
        "[prod-cluster] waiting for inferno-prod/inferno (5s of 60s): 1 of 2 pods ready; inferno-1: ContainerCreating",
        "[prod-cluster] waiting for inferno-prod/inferno (11s of 60s): 2 of 2 pods ready; "
        "Service inferno: no ready endpoint",
    ]
    assert [call.args["wait_timeout"] for call in modules.calls] == [5, 5, 5]
    assert result["healthy"] is True
    assert result["waited_seconds"] == round(clock.now - started, 1)  # the whole wait, not the last run's


def test_at_wait_timeout_it_returns_the_last_unhealthy_result_without_failing(health, modules, printed):
    result = health(waited(CREATING), waited(CREATING), waited(CREATING), wait_timeout=12)
    # 5 s, 5 s, then what is left of the 12 s (rounded up).
    assert [call.args["wait_timeout"] for call in modules.calls] == [5, 5, 1]
    assert len(printed) == 2
    assert result["healthy"] is False and result["problems"] == CREATING["problems"]
    assert "failed" not in result
    assert result["waited_seconds"] >= 12


def test_a_release_not_deployed_stops_at_once(health, modules, printed):
    """The module returns before its wait_timeout when waiting cannot help: so does the action."""
    not_deployed = dict(CREATING, problems=["release inferno is 'failed' at revision 3"], waited_seconds=0.1)
    result = health(not_deployed)
    assert len(modules.calls) == 1 and printed == []
    assert result["problems"][0].startswith("release inferno is 'failed'")


def test_a_failed_run_is_returned_as_it_is(health, modules, printed):
    failed = {"failed": True, "msg": "Cannot reach the Kubernetes API"}
    assert health(failed) == failed
    assert printed == []


@pytest.mark.parametrize("args", [
    {"wait": False},
    {"progress_interval": 0},
    {"wait_timeout": 5},  # one run covers the whole wait
    {"wait_timeout": "not a number"},  # the module refuses it, with its own message
], ids=["no-wait", "interval-0", "short-wait", "bad-timeout"])
def test_otherwise_the_module_runs_once_with_the_task_s_arguments(health, modules, printed, args):
    health(HEALTHY, **args)
    assert [call.args for call in modules.calls] == [dict(ARGS, **args)]
    assert printed == []


def test_check_mode_waits_the_same_way(health, modules, printed):
    """The module only reads: check mode changes nothing in how it waits."""
    result = health(waited(CREATING), HEALTHY, check_mode=True)
    assert len(modules.calls) == 2 and len(printed) == 1
    assert result["healthy"] is True


def test_async_on_the_task_runs_the_module_as_a_job_without_lines(make_action, run_action, modules, printed):
    modules.script(MODULE, {"ansible_job_id": "j1", "started": 1, "finished": 0})
    result = run_action(make_action(ActionModule, ARGS, async_val=60))
    assert result["ansible_job_id"] == "j1"
    assert [(call.args, call.wrap_async) for call in modules.calls] == [(ARGS, True)]
    assert printed == []
