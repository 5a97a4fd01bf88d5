"""inferno.ops.release_info run through its main(), with helm faked.

``FakeHelm`` stands in for kubernetes.core's runner (``AnsibleHelmModule.run_helm_command``):
it answers ``helm history`` (honouring ``--max``, as helm does), ``helm get values`` and
``helm version`` from the revisions a test gives it, and records every argv. One test goes a level lower and patches
``AnsibleModule.run_command``, to see the environment kubernetes.core builds for helm from the
connection options.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml
from ansible.module_utils import basic
from ansible_collections.kubernetes.core.plugins.module_utils.helm import AnsibleHelmModule

from ansible_collections.inferno.ops.plugins.module_utils.redaction import MASK
from ansible_collections.inferno.ops.plugins.module_utils.release_state import PENDING_STATUSES
from ansible_collections.inferno.ops.plugins.modules import release_info

HELM = "/opt/helm/bin/helm"
VERSION_ARGV = [HELM, "version", "--template", "{{ .Version }}"]
NAMESPACE = "inferno-prod"
SECRET = "release-info-unit-secret"
VALUES = {"replicaCount": 3, "image": {"tag": "0.10.3"},
          "secrets": {"OAUTH2_CLIENT_SECRET": SECRET, "database": {"password": SECRET + "-db"}}}


def revision(number, status="superseded", chart="inferno-0.1.0", app_version="0.10.3"):
    """A history entry as `helm history --output json` prints it."""
    return {"revision": number, "updated": "2026-11-2{0}T10:00:00.123456789Z".format(number), "status": status,
            "chart": chart, "app_version": app_version, "description": "Upgrade complete"}


def summary(entry):
    """The keys of an entry the module returns, in release and in each history item."""
    return dict((key, entry[key]) for key in ("revision", "status", "chart", "app_version", "updated", "description"))


FIVE_REVISIONS = [revision(number) for number in range(1, 5)] + [revision(5, "deployed", "inferno-0.2.0", "0.11.0")]


class FakeHelm(object):
    def __init__(self):
        self.history = list(FIVE_REVISIONS)
        self.values = VALUES
        self.error = None  # stderr of a failing helm history
        self.version = (0, "v3.17.2\n", "")  # what `helm version` answers
        self.calls = []

    def run_helm_command(self, command, fails_on_error=True, data=None):
        self.calls.append(list(command))
        assert fails_on_error is False  # the module words helm's failures itself
        if command == VERSION_ARGV:
            return self.version
        assert command[0] == HELM and command[-2:] == ["--namespace", NAMESPACE]
        args = command[1:-2]
        if args[0] == "history":
            if self.error:
                return 1, "", self.error
            if not self.history:
                return 1, "", "Error: release: not found"
            wanted = int(args[args.index("--max") + 1])
            return 0, json.dumps(self.history[-wanted:]), ""
        if args[:2] == ["get", "values"]:
            return 0, json.dumps(self.values), ""
        raise AssertionError("unexpected helm command {0}".format(command))


@pytest.fixture
def helm(monkeypatch):
    fake = FakeHelm()
    monkeypatch.setattr(AnsibleHelmModule, "run_helm_command", fake.run_helm_command)
    return fake


def module_args(args):
    """The release, helm's path, and ``args`` (an argument given as None is left out)."""
    args = dict({"release_name": "inferno", "release_namespace": NAMESPACE, "binary_path": HELM}, **args)
    return dict((key, value) for key, value in args.items() if value is not None)


@pytest.fixture
def run(run_module):
    return lambda check_mode=False, **args: run_module(release_info.main, module_args(args), check_mode=check_mode)


@pytest.fixture
def fail(fail_module):
    return lambda **args: fail_module(release_info.main, module_args(args))


def history_argv(max_revisions):
    return [HELM, "history", "inferno", "--max", str(max_revisions), "--output", "json", "--namespace", NAMESPACE]


VALUES_ARGV = [HELM, "get", "values", "inferno", "--output", "json", "--namespace", NAMESPACE]


@pytest.mark.parametrize("args, calls", [
    ({}, [history_argv(10), VERSION_ARGV]),
    ({"history_max": 3}, [history_argv(3), VERSION_ARGV]),
    ({"history_max": 0}, [history_argv(1), VERSION_ARGV]),  # the latest revision is still read
    ({"values": True}, [history_argv(10), VERSION_ARGV, VALUES_ARGV]),
    ({"values": True, "history_max": 256}, [history_argv(256), VERSION_ARGV, VALUES_ARGV]),
])
def test_the_helm_commands(run, helm, args, calls):
    run(**args)
    assert helm.calls == calls


@pytest.mark.parametrize("check_mode", [False, True])
def test_an_installed_release(run, helm, check_mode):
    result = run(check_mode=check_mode)
    assert result == {
        "changed": False, "installed": True, "pending": False, "release": summary(FIVE_REVISIONS[-1]),
        "history": [summary(entry) for entry in FIVE_REVISIONS], "helm_version": "v3.17.2",
    }
    assert result["release"]["chart"] == "inferno-0.2.0" and result["release"]["app_version"] == "0.11.0"


@pytest.mark.parametrize("args", [{}, {"values": True}, {"fail_when_pending": True}])
def test_a_release_that_is_not_installed_is_no_failure(run, helm, args):
    helm.history = []
    result = run(**args)
    assert result == {"changed": False, "installed": False, "pending": False, "release": None, "history": [],
                      "helm_version": "v3.17.2"}
    assert helm.calls == [history_argv(10), VERSION_ARGV]  # no values of a release that is not there


def test_empty_fields_of_an_entry_read_as_empty_text(run, helm):
    helm.history = [{"revision": 1, "status": "deployed", "chart": "inferno-0.1.0"}]
    assert run()["release"] == {"revision": 1, "status": "deployed", "chart": "inferno-0.1.0", "app_version": "",
                                "updated": "", "description": ""}


@pytest.mark.parametrize("status", PENDING_STATUSES)
def test_a_pending_release_is_reported(run, helm, status):
    helm.history[-1] = revision(5, status)
    result = run()
    assert (result["installed"], result["pending"], result["release"]["status"]) == (True, True, status)


@pytest.mark.parametrize("status", PENDING_STATUSES)
def test_a_pending_release_is_refused_with_fail_when_pending(fail, helm, status):
    helm.history[-1] = revision(5, status)
    failed = fail(fail_when_pending=True, values=True)
    assert failed["msg"] == (
        "Release 'inferno' in namespace 'inferno-prod' is stuck in '{0}' at revision 5 (since "
        "2026-11-25T10:00:00.123456789Z): another helm operation is running or was interrupted. If no helm process "
        "is running, roll back with playbooks/rollback.yml (or 'helm rollback inferno -n inferno-prod') and run "
        "again.".format(status))
    assert helm.calls == [history_argv(10)]  # the values were not read


@pytest.mark.parametrize("status", ["deployed", "failed", "superseded"])
def test_fail_when_pending_lets_a_settled_release_through(run, helm, status):
    helm.history[-1] = revision(5, status)
    assert run(fail_when_pending=True)["release"]["status"] == status


@pytest.mark.parametrize("history_max, revisions", [
    (1, [5]),
    (2, [4, 5]),
    (5, [1, 2, 3, 4, 5]),
    (10, [1, 2, 3, 4, 5]),  # helm has fewer
    (0, []),
])
def test_history_max_keeps_the_newest_revisions_oldest_first(run, helm, history_max, revisions):
    result = run(history_max=history_max)
    assert [entry["revision"] for entry in result["history"]] == revisions
    assert result["release"]["revision"] == 5 and result["installed"] is True


@pytest.mark.parametrize("history_max", [-1, -10])
def test_a_negative_history_max_is_refused_before_helm_runs(fail, helm, history_max):
    assert fail(history_max=history_max)["msg"] == "history_max must be 0 or more, got {0}.".format(history_max)
    assert helm.calls == []


def test_values_are_returned_with_the_secrets_masked(run, helm):
    result = run(values=True)
    assert result["values"] == {"replicaCount": 3, "image": {"tag": "0.10.3"},
                                "secrets": {"OAUTH2_CLIENT_SECRET": MASK, "database": {"password": MASK}}}
    assert SECRET not in json.dumps(result)


def test_the_helm_version_is_returned(run, helm):
    helm.version = (0, "v4.0.1+g5c2dd3e\n", "")
    assert run()["helm_version"] == "v4.0.1+g5c2dd3e"


def test_a_helm_that_cannot_run_fails_with_its_error(fail, helm):
    helm.version = (127, "", "exec: helm: not found\n")
    assert fail()["msg"] == "helm could not be run as '/opt/helm/bin/helm': exec: helm: not found"


def test_a_helm_that_cannot_reach_the_cluster_fails_with_its_error(fail, helm):
    helm.error = "Error: Kubernetes cluster unreachable: dial tcp 10.0.0.1:6443: connect: connection refused\n"
    assert fail()["msg"] == (
        "Cannot read the history of release 'inferno' in namespace 'inferno-prod': Error: Kubernetes cluster "
        "unreachable: dial tcp 10.0.0.1:6443: connect: connection refused. Check that the cluster is reachable with "
        "these connection options (kubeconfig, context, host).")


@pytest.mark.parametrize("args, message", [
    ({"release_namespace": None}, "missing required arguments: release_namespace"),
    ({"release_name": None}, "missing required arguments: release_name"),
    ({"context": "prod", "ca_cert": "/ca.pem"}, "parameters are mutually exclusive: context|ca_cert"),
])
def test_bad_arguments_are_refused_before_helm_runs(fail, helm, args, message):
    assert message in fail(**args)["msg"]
    assert helm.calls == []


# --- the connection options, as helm's environment ----------------------------------------------

KUBECONFIG = {"apiVersion": "v1", "kind": "Config", "current-context": "prod",
              "clusters": [{"name": "prod", "cluster": {"server": "https://prod.test:6443"}}],
              "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "admin"}}],
              "users": [{"name": "admin", "user": {"token": "kubeconfig-token"}}]}


class FakeCommands(object):
    """AnsibleModule.run_command: helm's answers, and the environment of each helm run."""

    def __init__(self):
        self.runs = []  # (argv, environ_update, the kubeconfig helm was given or None)

    def run_command(self, args, environ_update=None, data=None, **kwargs):
        if isinstance(args, str):  # kubernetes.core asks `helm version` when it needs the version
            assert args == HELM + " version"
            return 0, 'version.BuildInfo{Version:"v3.17.2", GitCommit:"cc0bbbd", GoVersion:"go1.23.7"}', ""
        environ = dict(environ_update or {})
        kubeconfig = None
        if "KUBECONFIG" in environ:
            with open(environ["KUBECONFIG"]) as stream:
                kubeconfig = json.load(stream)
        self.runs.append((list(args), environ, kubeconfig))
        if args == VERSION_ARGV:
            return 0, "v3.17.2", ""
        return 0, json.dumps(FIVE_REVISIONS), ""


@pytest.fixture
def commands(monkeypatch):
    fake = FakeCommands()
    # A bound method set on the class stays bound to `fake`: it does not receive the module.
    monkeypatch.setattr(basic.AnsibleModule, "run_command", fake.run_command)
    return fake


@pytest.mark.parametrize("args, environ", [
    ({}, {}),
    ({"context": "prod-eu"}, {"HELM_KUBECONTEXT": "prod-eu"}),
    ({"host": "https://prod.test:6443"}, {"HELM_KUBEAPISERVER": "https://prod.test:6443"}),
    ({"api_key": "a-bearer-token"}, {"HELM_KUBETOKEN": "a-bearer-token"}),
    ({"ca_cert": "/etc/inferno/ca.pem"}, {"HELM_KUBECAFILE": "/etc/inferno/ca.pem"}),
    ({"validate_certs": False}, {"HELM_KUBEINSECURE_SKIP_TLS_VERIFY": "true"}),
])
def test_connection_options_reach_helm_s_environment(run, commands, args, environ):
    result = run(**args)
    assert result["release"]["revision"] == 5
    environ = dict(environ, HELM_NAMESPACE=NAMESPACE)
    assert commands.runs == [(history_argv(10), environ, None), (VERSION_ARGV, environ, None)]


@pytest.mark.parametrize("as_file", [False, True])
def test_a_kubeconfig_reaches_helm_as_a_private_copy_that_is_removed_after_the_run(run, commands, tmp_path,
                                                                                   as_file):
    kubeconfig = KUBECONFIG
    if as_file:
        kubeconfig = tmp_path / "kubeconfig.yaml"
        kubeconfig.write_text(yaml.safe_dump(KUBECONFIG))
        kubeconfig = str(kubeconfig)
    run(kubeconfig=kubeconfig, context="prod")
    [(argv, environ, given), (version_argv, version_environ, _given)] = commands.runs
    assert (argv, version_argv, version_environ) == (history_argv(10), VERSION_ARGV, environ)
    assert given == KUBECONFIG
    assert environ == {"KUBECONFIG": environ["KUBECONFIG"], "HELM_KUBECONTEXT": "prod", "HELM_NAMESPACE": NAMESPACE}
    assert environ["KUBECONFIG"] != kubeconfig
    assert not os.path.exists(environ["KUBECONFIG"])  # cleaned up when the module exits
