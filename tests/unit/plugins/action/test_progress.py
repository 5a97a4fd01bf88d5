"""plugin_utils/progress.py: when a line is due, what it says, and the text of a release's or
a backup's state. The actions that use them are tested in the other files of this folder."""

from __future__ import annotations

import json
import types

import pytest

from ansible_collections.inferno.ops.plugins.plugin_utils import progress

PODS = [{"name": "inferno-{0}".format(index), "ready": index < 2, "state": "Running" if index < 2 else "Pending"}
        for index in range(7)]


def test_a_line_is_due_once_per_interval_and_never_before_the_first(clock, printed):
    line = progress.Progress("prod-cluster", "inferno-prod/inferno", 600, 5)
    clock.now += 4.9
    assert not line.due()
    clock.now += 0.1
    assert line.due()
    line.report(lambda: "1 of 2 pods ready")
    assert not line.due()
    clock.now += 5
    assert line.due()
    assert printed == ["[prod-cluster] waiting for inferno-prod/inferno (5s of 600s): 1 of 2 pods ready"]


def test_the_line_shows_when_the_reading_started(clock, printed):
    line = progress.Progress("prod-cluster", "inferno-prod/inferno", 600, 5)
    clock.now += 7.4

    def slow_reading():
        clock.now += 3
        return "state"
    line.report(slow_reading)
    assert printed == ["[prod-cluster] waiting for inferno-prod/inferno (7s of 600s): state"]
    clock.now += 2
    assert line.due()  # 5 s after the reading started


def test_interval_0_is_never_due(clock):
    line = progress.Progress("prod-cluster", "x", 600, 0)
    clock.now += 3600
    assert not line.due()


@pytest.mark.parametrize("health, state", [
    ({"pods": PODS[:3], "problems": ["Deployment inferno: 2/3 replicas ready"]},
     "2 of 3 pods ready; inferno-2: Pending"),
    ({"pods": PODS, "problems": []},
     "2 of 7 pods ready; inferno-2: Pending; inferno-3: Pending; inferno-4: Pending; 2 more not ready"),
    ({"pods": PODS[:2], "problems": ["Service inferno: no ready endpoint"]},
     "2 of 2 pods ready; Service inferno: no ready endpoint"),
    ({"pods": PODS[:2], "problems": []}, "2 of 2 pods ready; rolled out, helm is finishing"),
    ({"pods": [], "problems": ["no Deployment carries the release's label"]},
     "no pods yet; no Deployment carries the release's label"),
    ({"failed": True, "msg": "Cannot reach the Kubernetes API"},
     "could not read the release: Cannot reach the Kubernetes API"),
])
def test_release_state(health, state):
    assert progress.release_state(health) == state


def test_backup_state():
    info = {"backup_sets": [{"backup_id": "b1", "snapshots": ["a-b1", "b-b1"], "not_ready": ["b-b1"],
                             "errors": {"b-b1": "quota exceeded"}}]}
    assert progress.backup_state(info, "b1") == "1 of 2 snapshots ready; b-b1: quota exceeded"
    assert progress.backup_state(info, "b2") == "no snapshot of backup b2 yet"
    assert progress.backup_state({"failed": True, "msg": "snapshot API not served"}, "b1") == (
        "could not read the snapshots: snapshot API not served")


def test_connection_options_are_passed_on_as_the_task_has_them():
    args = {"kubeconfig": "/k", "context": None, "api_key": "token", "chart_ref": "/c", "binary_path": "/h",
            "ssl_ca_cert": "/ca.pem", "proxy": "http://proxy:3128"}
    # By their own names, aliases included; helm gets only what kubernetes.core.helm takes.
    assert progress.connection_args(args, progress.HELM_OPTIONS) == {
        "kubeconfig": "/k", "api_key": "token", "binary_path": "/h", "ca_cert": "/ca.pem"}
    assert progress.connection_args(args, progress.K8S_OPTIONS) == {
        "kubeconfig": "/k", "api_key": "token", "binary_path": "/h", "ca_cert": "/ca.pem", "proxy": "http://proxy:3128"}
    assert progress.release_names({"name": "inferno", "namespace": "prod"}) == ("inferno", "prod")


@pytest.fixture
def local_job(tmp_path):
    """A ModuleJob on the controller whose async_wrapper wrote (or will write) tmp_path/j1."""
    action = types.SimpleNamespace(_connection=types.SimpleNamespace(transport="local"))
    job = progress.ModuleJob(action, {})
    job.jid, job.results_file = "j1", str(tmp_path / "j1")
    return job


def write(job, text):
    with open(job.results_file, "w") as handle:
        handle.write(text)


def test_a_job_is_running_until_its_result_replaces_the_started_record(local_job):
    assert local_job.local and local_job.poll_seconds == 0.2
    assert local_job.status()["finished"] == 0  # async_wrapper has not written yet
    write(local_job, json.dumps({"started": 1, "finished": 0, "ansible_job_id": "j1"}))
    assert local_job.status()["finished"] == 0
    write(local_job, json.dumps({"changed": True, "status": {"revision": 2}}))
    done = local_job.status()
    assert done["finished"] == 1 and progress.ModuleJob.result(done) == {"changed": True, "status": {"revision": 2}}


def test_a_job_stopped_at_its_time_limit_reads_as_stopped(local_job):
    write(local_job, json.dumps({"failed": 1, "msg": "Timeout exceeded", "child_pid": 4242}))
    assert progress.ModuleJob.stopped(local_job.status())


def test_an_unreadable_result_fails_the_job_and_says_so(local_job):
    write(local_job, "Traceback (most recent call last): ...")
    status = local_job.status()
    assert status["failed"] and status["finished"] == 1 and "Could not parse the job's result" in status["msg"]
