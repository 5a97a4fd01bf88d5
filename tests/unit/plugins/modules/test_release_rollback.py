"""inferno.ops.release_rollback run through its main(), with helm faked.

The fake answers ``helm history`` from a list of revisions and, for ``helm rollback``, appends
the revision helm would make, so a test sees both the argv and what the module reads back.
"""

from __future__ import annotations

import json

import pytest
from ansible_collections.kubernetes.core.plugins.module_utils.helm import AnsibleHelmModule

from ansible_collections.inferno.ops.plugins.modules import release_rollback

HELM = "/opt/helm/bin/helm"
NAMESPACE = "inferno-prod"


def revision(number, status="superseded", description="Upgrade complete"):
    return {"revision": number, "updated": "2026-11-2{0}T10:00:00Z".format(number), "status": status,
            "chart": "inferno-0.1.0", "app_version": "0.10.3", "description": description}


class FakeHelm(object):
    def __init__(self):
        self.history = [revision(1), revision(2), revision(3, "deployed")]
        self.rollback_error = None
        self.calls = []

    def run_helm_command(self, command, fails_on_error=True, data=None):
        self.calls.append(list(command))
        assert command[0] == HELM and command[-2:] == ["--namespace", NAMESPACE]
        args = command[1:-2]
        if args[0] == "history":
            if not self.history:
                return 1, "", "Error: release: not found"
            return 0, json.dumps(self.history[-int(args[args.index("--max") + 1]):]), ""
        if args[0] == "rollback":
            if self.rollback_error:
                return 1, "", self.rollback_error
            self.history[-1]["status"] = "superseded"
            self.history.append(revision(len(self.history) + 1, "deployed", "Rollback to " + args[2]))
            return 0, "Rollback was a success! Happy Helming!\n", ""
        raise AssertionError("unexpected helm command {0}".format(command))


@pytest.fixture
def helm(monkeypatch):
    fake = FakeHelm()
    monkeypatch.setattr(AnsibleHelmModule, "run_helm_command", fake.run_helm_command)
    return fake


def module_args(args):
    return dict({"release_name": "inferno", "release_namespace": NAMESPACE, "binary_path": HELM, "revision": 1}, **args)


@pytest.fixture
def run(run_module):
    return lambda check_mode=False, **args: run_module(release_rollback.main, module_args(args), check_mode=check_mode)


@pytest.fixture
def fail(fail_module):
    return lambda **args: fail_module(release_rollback.main, module_args(args))


ROLLBACK_ARGV = [HELM, "rollback", "inferno", "1", "--wait", "--timeout", "5m", "--namespace", NAMESPACE]


def test_rolls_back_and_returns_the_new_revision(run, helm):
    result = run()
    assert result["changed"] is True and result["command"] == ROLLBACK_ARGV
    assert (result["release"]["revision"], result["release"]["status"], result["release"]["description"]) == (
        4, "deployed", "Rollback to 1")
    assert [call[1] for call in helm.calls] == ["history", "rollback", "history"]


def test_without_wait_no_timeout_is_passed(run, helm):
    assert run(wait=False)["command"] == [HELM, "rollback", "inferno", "1", "--namespace", NAMESPACE]


def test_check_mode_runs_no_rollback(run, helm):
    result = run(check_mode=True, revision=2, wait_timeout="10m")
    assert result["changed"] is True and result["release"]["revision"] == 3
    assert result["command"] == [HELM, "rollback", "inferno", "2", "--wait", "--timeout", "10m", "--namespace", NAMESPACE]
    assert [call[1] for call in helm.calls] == ["history"] and len(helm.history) == 3


def test_a_revision_not_kept_is_refused_before_anything_runs(fail, helm):
    message = fail(revision=99)["msg"]
    assert message.startswith("Revision 99 is not in the history of inferno (kept revisions: 1, 2, 3);")
    assert [call[1] for call in helm.calls] == ["history"]


def test_a_stuck_release_is_refused(fail, helm):
    helm.history[-1]["status"] = "pending-upgrade"
    assert "is stuck in 'pending-upgrade' at revision 3" in fail()["msg"]
    assert [call[1] for call in helm.calls] == ["history"]


def test_a_release_not_installed_is_refused(fail, helm):
    helm.history = []
    assert fail()["msg"] == "Release 'inferno' is not installed in namespace 'inferno-prod': there is nothing to roll back."


def test_helm_s_failure_is_reported(fail, helm):
    helm.rollback_error = "Error: timed out waiting for the condition"
    assert fail()["msg"] == "helm rollback of inferno to revision 1 failed: Error: timed out waiting for the condition"


@pytest.mark.parametrize("bad", [0, -2])
def test_a_revision_below_1_is_refused_without_asking_helm(fail, helm, bad):
    assert fail(revision=bad)["msg"] == "revision must be 1 or more, got {0}.".format(bad)
    assert helm.calls == []


@pytest.mark.parametrize("bad", ["0", "0s", "-5m", "300", "5 m", ""])
def test_a_wait_timeout_not_above_0_is_refused_without_asking_helm(fail, helm, bad):
    message = fail(revision=2, wait_timeout=bad)["msg"]
    assert message.startswith("wait_timeout must be a helm duration above 0") and repr(bad) in message
    assert helm.calls == []
