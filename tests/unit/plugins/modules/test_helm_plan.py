"""inferno.ops.helm_plan run through its main(), with helm and the Kubernetes API faked.

``FakeHelm`` stands in for kubernetes.core's runner (``AnsibleHelmModule.run_helm_command``): it
answers ``version``, ``history``, ``status``, ``get values/manifest --revision`` and
``upgrade --install ... --dry-run=server --output json``, which it renders itself from the
values files and flags it is given (a small stand-in chart: a ConfigMap, a Secret, a
Deployment, a Service and a ClusterRole). It records every argv, and what the temporary values
file held when helm read it. ``deploy`` stores the last render as the deployed revision, so a
second plan with the same inputs has nothing to change.

The API side is ``fake_dynamic`` (conftest.py), serving the cluster's facts, plus ``DryRuns``,
its ``resources.get`` and ``server_side_apply``: it refuses a label value with a space, as the
API server does, or whatever a test tells it to.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import tempfile
import types

import pytest
from urllib3.exceptions import MaxRetryError, NewConnectionError
import yaml
from ansible_collections.kubernetes.core.plugins.module_utils.helm import AnsibleHelmModule
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from ansible_collections.inferno.ops.plugins.module_utils.redaction import MASK
from ansible_collections.inferno.ops.plugins.modules import helm_plan

HELM = "/opt/helm/bin/helm"
NAMESPACE = "inferno-prod"
SECRET = "helm-plan-unit-oauth2-secret"
ENCODED = base64.b64encode(SECRET.encode()).decode()
CHART_DEFAULTS = {"replicaCount": 1, "logLevel": "info", "copySecretToConfigMap": False,
                  "image": {"repository": "ghcr.io/inferno/inferno", "tag": "0.11.0"},
                  "monitoring": {"enabled": False}, "secrets": {"OAUTH2_CLIENT_SECRET": ""}}
OBJECTS = ["ClusterRole inferno-prod/inferno-reader", "ConfigMap inferno-prod/inferno-config",
           "Deployment inferno-prod/inferno", "Secret inferno-prod/inferno-secrets", "Service inferno-prod/inferno"]
LABEL_REFUSAL = ('{kind} "{name}" is invalid: metadata.labels: Invalid value: "{value}": a valid label must be an '
                 "empty string or consist of alphanumeric characters, '-', '_' or '.'")


def merge(base, override):
    """Helm's coalescing of user values: maps merge, anything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def set_path(values, dotted, value):
    keys = dotted.split(".")
    for key in keys[:-1]:
        values = values.setdefault(key, {})
    values[keys[-1]] = value


def render(computed):
    """The stand-in chart's manifest for the computed values, as helm prints it."""
    tag = computed["image"]["tag"]
    labels = {"app.kubernetes.io/instance": "inferno", "app.kubernetes.io/version": str(tag)}
    config = {"LOG_LEVEL": computed["logLevel"]}
    if computed["copySecretToConfigMap"]:  # a template that copies a secret where it should not
        config["OAUTH2_CLIENT_SECRET"] = computed["secrets"]["OAUTH2_CLIENT_SECRET"]
    objects = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inferno-config", "labels": labels},
         "data": config},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "inferno-secrets", "labels": labels},
         "type": "Opaque", "data": dict((key, base64.b64encode(str(value).encode()).decode())
                                        for key, value in computed["secrets"].items() if value)},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "inferno", "labels": labels},
         "spec": {"replicas": computed["replicaCount"], "template": {"spec": {"containers": [
             {"name": "inferno", "image": "{0}:{1}".format(computed["image"]["repository"], tag)}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "inferno", "labels": labels},
         "spec": {"ports": [{"port": 8000}]}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "inferno-reader", "labels": labels}, "rules": []},
    ]
    if computed["monitoring"]["enabled"]:
        objects.append({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                        "metadata": {"name": "inferno", "labels": labels}, "spec": {"endpoints": [{"port": "http"}]}})
    return "".join("---\n# Source: inferno/templates/{0}.yaml\n{1}".format(obj["kind"].lower(), yaml.safe_dump(obj))
                   for obj in objects)


def entry(revision, status, chart="inferno-0.2.0", app_version="0.11.0"):
    return {"revision": revision, "status": status, "chart": chart, "app_version": app_version,
            "updated": "2026-11-2{0}T10:00:00Z".format(revision), "description": "Upgrade complete"}


class FakeHelm(object):
    def __init__(self):
        self.version = "v3.17.2"
        self.metadata = {"name": "inferno", "version": "0.2.0", "appVersion": "0.11.0"}
        self.history = []  # history entries, oldest first
        self.stored = {}  # revision -> (user-supplied values, manifest)
        self.render_error = None
        self.calls = []
        self.values_files = []  # (path, what it held) for each --values of each render
        self.last_render = None

    # --- the state a test sets up ---------------------------------------------------------
    def deploy(self, revision=3, status="deployed"):
        """Store the last render as the latest revision; older revisions keep a 0.1.0 chart."""
        self.history = [entry(number, "superseded", "inferno-0.1.0", "0.10.3") for number in range(1, revision)]
        self.history.append(entry(revision, status))
        for number in range(1, revision):
            self.stored[number] = ({"replicaCount": number}, render(merge(CHART_DEFAULTS, {"replicaCount": number})))
        self.stored[revision] = (copy.deepcopy(self.last_render["config"]), self.last_render["manifest"])

    # --- helm -----------------------------------------------------------------------------
    def run_helm_command(self, command, fails_on_error=True, data=None):
        self.calls.append(list(command))
        assert command[0] == HELM and fails_on_error is False
        if command[1:] == ["version", "--template", "{{ .Version }}"]:
            return 0, self.version + "\n", ""
        assert command[-2:] == ["--namespace", NAMESPACE], command
        args = command[1:-2]
        if args[0] == "history":
            if not self.history:
                return 1, "", "Error: release: not found"
            return 0, json.dumps(self.history[-int(args[args.index("--max") + 1]):]), ""
        if args[0] == "status":
            config, manifest = self.stored[self.history[-1]["revision"]]
            return 0, json.dumps({"name": "inferno", "version": self.history[-1]["revision"],
                                  "info": {"status": self.history[-1]["status"]}, "config": config,
                                  "manifest": manifest}), ""
        if args[:2] == ["get", "values"]:
            assert args[2:] == ["inferno", "--revision", args[4], "--output", "json"]
            return 0, json.dumps(self.stored[int(args[4])][0]), ""
        if args[:2] == ["get", "manifest"]:
            assert args[2:] == ["inferno", "--revision", args[4]]
            return 0, self.stored[int(args[4])][1], ""
        if args[:2] == ["upgrade", "--install"]:
            return self.upgrade(args)
        raise AssertionError("unexpected helm command {0}".format(command))

    def upgrade(self, args):
        assert args[2] == "inferno" and args[4] == "--reset-values"
        assert args[-3:] == ["--dry-run=server", "--output", "json"]
        assert os.path.isfile(os.path.join(args[3], "Chart.yaml"))
        config = {}
        flags = args[5:-3]
        for flag, value in zip(flags[::2], flags[1::2], strict=True):
            if flag == "--values":
                with open(value) as stream:
                    layer = yaml.safe_load(stream) or {}
                self.values_files.append((value, layer))
                config = merge(config, layer)
                continue
            key, _sep, text = value.partition("=")
            if flag == "--set":
                set_path(config, key, yaml.safe_load(text))
            elif flag == "--set-string":
                set_path(config, key, text)
            elif flag == "--set-json":
                set_path(config, key, json.loads(text))
            elif flag == "--set-file":
                with open(text) as stream:
                    set_path(config, key, stream.read())
            else:
                raise AssertionError("unexpected helm flag {0}".format(flag))
        if self.render_error:
            return 1, "", self.render_error
        self.last_render = {"name": "inferno", "namespace": NAMESPACE, "info": {"status": "pending-upgrade"},
                            "chart": {"metadata": dict(self.metadata), "values": CHART_DEFAULTS},
                            "config": config, "manifest": render(merge(CHART_DEFAULTS, config))}
        return 0, json.dumps(self.last_render), ""

    def verbs(self):
        return [" ".join(call[1:3]) for call in self.calls]


KINDS = {("v1", "ConfigMap"): True, ("v1", "Secret"): True, ("v1", "Service"): True, ("apps/v1", "Deployment"): True,
         ("rbac.authorization.k8s.io/v1", "ClusterRole"): False}


class DryRuns(object):
    """The dynamic client's ``resources.get`` and ``server_side_apply``, recording each apply."""

    def __init__(self, dynamic):
        self.dynamic = dynamic
        self.applied = []
        self.denials = {}  # kind -> (status, message with {name} and {namespace})

    def get(self, api_version, kind):
        if (api_version, kind) not in KINDS:
            raise ResourceNotFoundError("No matches found for {0} {1}".format(api_version, kind))
        return types.SimpleNamespace(api_version=api_version, kind=kind, namespaced=KINDS[(api_version, kind)])

    def server_side_apply(self, resource, body=None, name=None, namespace=None, **kwargs):
        self.applied.append(dict(kind=resource.kind, name=name, namespace=namespace, body=copy.deepcopy(body),
                                 **kwargs))
        if resource.kind in self.denials:
            status, message = self.denials[resource.kind]
            raise self.dynamic.refusal(status, message.format(name=name, namespace=namespace))
        for value in body["metadata"].get("labels", {}).values():
            if " " in value:
                raise self.dynamic.refusal(422, LABEL_REFUSAL.format(kind=resource.kind, name=name, value=value))
        return body


@pytest.fixture
def helm(monkeypatch, tmp_path):
    fake = FakeHelm()
    monkeypatch.setattr(AnsibleHelmModule, "run_helm_command", fake.run_helm_command)
    # The module's temporary values file holds the secrets: if a run crashes before the module
    # removes it, it is left in the test's own directory, not in /tmp.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return fake


@pytest.fixture
def dynamic(fake_dynamic, monkeypatch):
    fake_dynamic.documents.update({
        "/version": {"gitVersion": "v1.34.4+k3s1"},
        "/api": {"versions": ["v1"]},
        "/apis": {"groups": [{"versions": [{"groupVersion": "apps/v1"}]},
                             {"versions": [{"groupVersion": "rbac.authorization.k8s.io/v1"}]}]},
        "/apis/storage.k8s.io/v1/storageclasses": {"items": [
            {"metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}}
        ]},
        "/api/v1/namespaces/" + NAMESPACE: {"metadata": {"name": NAMESPACE, "labels": {"env": "prod"}}},
    })
    fake_dynamic.dry_runs = DryRuns(fake_dynamic)
    fake_dynamic.resources = fake_dynamic.dry_runs
    fake_dynamic.server_side_apply = fake_dynamic.dry_runs.server_side_apply
    monkeypatch.setattr(helm_plan, "dynamic_client", fake_dynamic.built_for)
    return fake_dynamic


@pytest.fixture
def chart(tmp_path):
    path = tmp_path / "chart"
    (path / "templates").mkdir(parents=True)
    (path / "Chart.yaml").write_text("apiVersion: v2\nname: inferno\nversion: 0.2.0\nappVersion: 0.11.0\n")
    (path / "values.yaml").write_text(yaml.safe_dump(CHART_DEFAULTS))
    (path / "templates" / "deployment.yaml").write_text("kind: Deployment\n")
    return path


@pytest.fixture
def values_files(tmp_path):
    first, second = tmp_path / "values-prod.yaml", tmp_path / "overrides.yaml"
    first.write_text("logLevel: warn\nimage: {tag: 0.10.9}\n")
    second.write_text("image: {tag: 0.11.0}\n")
    return [str(first), str(second)]


@pytest.fixture
def plan_args(chart, values_files):
    """The arguments of a typical upgrade plan: every layer of values, and a secret."""
    return {"chart_ref": str(chart), "values_files": values_files, "release_values": {"replicaCount": 3},
            "secret_values": {"OAUTH2_CLIENT_SECRET": SECRET, "UNSET": ""}}


def module_args(args):
    args = dict({"release_name": "inferno", "release_namespace": NAMESPACE, "binary_path": HELM}, **args)
    return dict((key, value) for key, value in args.items() if value is not None)


@pytest.fixture
def run(run_module, helm, dynamic, plan_args):
    """The plan for ``plan_args`` updated with ``args``; the test fails if the module does."""
    def run_plan(check_mode=False, diff=False, **args):
        return run_module(helm_plan.main, module_args(dict(plan_args, **args)), check_mode=check_mode, diff=diff)

    return run_plan


@pytest.fixture
def fail(fail_module, helm, dynamic, plan_args):
    """The result of a plan that must fail, msg included."""
    return lambda **args: fail_module(helm_plan.main, module_args(dict(plan_args, **args)))


@pytest.fixture
def deployed(run, helm):
    """The release at revision 3, deployed from exactly what plan_args render."""
    run()
    helm.deploy(3)
    helm.calls, helm.values_files = [], []
    return helm


def digest_of(chart):
    return helm_plan.chart_digest(str(chart))


# --- what helm is asked ---------------------------------------------------------------------------

@pytest.mark.parametrize("set_values, flags", [
    ([], []),
    ([{"value": "replicaCount=5"}], ["--set", "replicaCount=5"]),
    ([{"value": "image.tag=0.12.0", "value_type": "string"}, {"value": "logLevel=debug", "value_type": "raw"}],
     ["--set-string", "image.tag=0.12.0", "--set", "logLevel=debug"]),
    ([{"value": 'monitoring={"enabled": false}', "value_type": "json"}],
     ["--set-json", 'monitoring={"enabled": false}']),
])
def test_the_upgrade_is_rendered_with_every_layer_of_values_in_order(run, helm, chart, values_files, set_values,
                                                                     flags):
    result = run(set_values=set_values)
    [temp_values] = [path for path, _content in helm.values_files if path not in values_files]
    assert helm.calls[-1] == (
        [HELM, "upgrade", "--install", "inferno", str(chart), "--reset-values", "--values", values_files[0],
         "--values", values_files[1], "--values", temp_values] + flags
        + ["--dry-run=server", "--output", "json", "--namespace", NAMESPACE])
    assert temp_values.endswith(".yaml") and not os.path.exists(temp_values)  # removed when the module exits
    # The temporary file holds release_values, the chart digest and the secrets (empty ones left out).
    assert helm.values_files[-1][1] == {"replicaCount": 3, "secrets": {"OAUTH2_CLIENT_SECRET": SECRET},
                                        "global": {"infernoOps": {"chartDigest": digest_of(chart)}}}
    assert result["upgrade_values"] == {"replicaCount": 3, "global": {"infernoOps": {"chartDigest": digest_of(chart)}}}


def test_a_set_file_value_is_passed_as_a_path(run, helm, tmp_path):
    motd = tmp_path / "motd.txt"
    motd.write_text("hello")
    result = run(set_values=[{"value": "logLevel=" + str(motd), "value_type": "file"}])
    assert helm.calls[-1][-7:-5] == ["--set-file", "logLevel=" + str(motd)]
    assert result["values"]["logLevel"] == "hello"


def test_without_the_chart_digest_the_values_are_release_values_alone(run, helm, chart):
    result = run(record_chart_digest=False)
    assert result["upgrade_values"] == {"replicaCount": 3}
    assert helm.values_files[-1][1] == {"replicaCount": 3, "secrets": {"OAUTH2_CLIENT_SECRET": SECRET}}
    assert result["chart_digest"] == digest_of(chart)  # still returned


def test_the_chart_digest_changes_with_any_chart_file(run, chart):
    before = run()["chart_digest"]
    (chart / "templates" / "deployment.yaml").write_text("kind: Deployment\n# edited\n")
    after = run()["chart_digest"]
    assert before.startswith("sha256:") and len(before) == len("sha256:") + 64 and after != before


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_release_that_is_not_installed_plans_an_install(run, helm, dynamic, chart, check_mode):
    result = run(check_mode=check_mode)
    assert (result["changed"], result["installed"], result["current"]) == (True, False, None)
    assert result["reasons"] == ["the release is not installed yet"]
    assert (result["next_revision"], result["revision_marker"]) == (1, {"global": {"infernoOps": {"revision": 1}}})
    assert result["desired"] == {"chart": "inferno-0.2.0", "app_version": "0.11.0"}
    assert result["objects"] == {"create": OBJECTS, "update": [], "delete": [], "unchanged": []}
    assert result["helm_version"] == "v3.17.2"
    assert result["values"] == {"replicaCount": 3, "logLevel": "warn", "copySecretToConfigMap": False,
                                "image": {"repository": "ghcr.io/inferno/inferno", "tag": "0.11.0"},
                                "monitoring": {"enabled": False}, "secrets": {"OAUTH2_CLIENT_SECRET": MASK},
                                "global": {"infernoOps": {"chartDigest": digest_of(chart)}}}
    # Reads only: helm renders with --dry-run=server, and the API is not asked anything without validate.
    assert helm.verbs() == ["version --template", "history inferno", "upgrade --install"]
    assert "--dry-run=server" in helm.calls[-1]
    assert dynamic.requests == [] and dynamic.dry_runs.applied == []


@pytest.mark.parametrize("check_mode", [False, True])
def test_an_unchanged_release_gives_changed_false_and_no_reasons(run, deployed, check_mode):
    result = run(check_mode=check_mode, diff=True)
    assert (result["changed"], result["reasons"], result["installed"]) == (False, [], True)
    assert result["current"] == {"revision": 3, "status": "deployed", "chart": "inferno-0.2.0", "app_version": "0.11.0"}
    assert (result["next_revision"], result["revision_marker"]) == (3, {"global": {"infernoOps": {"revision": 4}}})
    assert result["objects"] == {"create": [], "update": [], "delete": [], "unchanged": OBJECTS}
    assert "diff" not in result
    assert deployed.verbs() == ["version --template", "history inferno", "status inferno", "upgrade --install"]


def test_the_revision_marker_of_the_deployed_values_is_not_a_change(run, deployed):
    deployed.stored[3][0]["global"]["infernoOps"]["revision"] = 3
    assert run()["changed"] is False


@pytest.mark.parametrize("change, reasons", [
    ({"release_values": {"replicaCount": 4}},
     ["the user-supplied values differ", "1 object(s) would be changed: Deployment inferno-prod/inferno"]),
    ({"set_values": [{"value": "monitoring.enabled=false"}]}, ["the user-supplied values differ"]),
    ({"secret_values": {"OAUTH2_CLIENT_SECRET": "rotated-" + SECRET}},
     ["the user-supplied values differ", "1 object(s) would be changed: Secret inferno-prod/inferno-secrets"]),
    ({"metadata": {"name": "inferno", "version": "0.3.0", "appVersion": "0.12.0"}},
     ["the chart changes from inferno-0.2.0 to inferno-0.3.0", "the appVersion changes from 0.11.0 to 0.12.0"]),
])
def test_each_change_is_a_reason(run, deployed, change, reasons):
    if "metadata" in change:
        deployed.metadata = change.pop("metadata")
    result = run(**change)
    assert (result["changed"], result["reasons"], result["next_revision"]) == (True, reasons, 4)


@pytest.mark.parametrize("status", ["failed", "superseded"])
def test_a_latest_revision_that_is_not_deployed_is_a_reason(run, deployed, status):
    deployed.history[-1]["status"] = status
    result = run()
    assert result["reasons"] == ["the latest revision is '{0}', not 'deployed'".format(status)]


def test_diff_mode_shows_the_values_and_each_changed_object_with_secrets_masked(run, deployed):
    result = run(diff=True, release_values={"replicaCount": 4}, secret_values={"OAUTH2_CLIENT_SECRET": "new-secret"})
    assert [(entry["before_header"], entry["after_header"]) for entry in result["diff"]] == [
        ("user-supplied values (deployed)", "user-supplied values (planned)"),
        ("Deployment inferno-prod/inferno (deployed)", "Deployment inferno-prod/inferno (planned)"),
        ("Secret inferno-prod/inferno-secrets (deployed)", "Secret inferno-prod/inferno-secrets (planned)"),
    ]
    text = json.dumps(result)
    assert SECRET not in text and ENCODED not in text and "new-secret" not in text
    assert MASK + " (changed)" in result["diff"][0]["after"] and "replicas: 4" in result["diff"][1]["after"]


# --- what is refused ------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["pending-install", "pending-upgrade", "pending-rollback", "uninstalling"])
def test_a_stuck_release_is_refused(fail, deployed, status):
    deployed.history[-1]["status"] = status
    failed = fail()
    assert failed["msg"] == (
        "Release 'inferno' in namespace 'inferno-prod' is stuck in '{0}' at revision 3 (since 2026-11-23T10:00:00Z): "
        "another helm operation is running or was interrupted. If no helm process is running, roll back with "
        "playbooks/rollback.yml (or 'helm rollback inferno -n inferno-prod') and run again.".format(status))
    assert deployed.verbs() == ["version --template", "history inferno"]  # nothing rendered
    assert failed["helm_version"] == "v3.17.2"


@pytest.mark.parametrize("version", ["v3.5.0", "v3.12.3", "v2.17.0"])
def test_a_helm_too_old_is_refused_before_anything_else(fail, helm, dynamic, version):
    helm.version = version
    failed = fail(read_cluster=True, validate=True)
    assert failed["msg"] == "helm {0} is not supported: helm_plan needs helm 3.13.0 or newer (4.x included).".format(
        version)
    assert failed["helm_version"] == version
    assert helm.verbs() == ["version --template"] and dynamic.requests == []


@pytest.mark.parametrize("version", ["v3.13.0", "v3.17.2", "v4.0.1+g5c2dd3e"])
def test_helm_3_13_and_newer_are_supported(run, helm, version):
    helm.version = version
    assert run()["helm_version"] == version


def test_a_chart_that_does_not_render_fails_with_helm_s_words_and_no_secret(fail, helm, chart):
    helm.render_error = ("Error: values don't meet the specifications of the schema(s) in the following chart(s):\n"
                         "inferno:\n- secrets.OAUTH2_CLIENT_SECRET: Does not match pattern '^[a-z]+$': \"{0}\"\n"
                         .format(SECRET))
    failed = fail()
    assert failed["msg"].startswith("The chart {0} does not render with these values, so nothing was changed. Fix the "
                                    "value helm names below".format(chart))
    assert "- secrets.OAUTH2_CLIENT_SECRET: Does not match pattern '^[a-z]+$': \"********\"" in failed["msg"]
    assert SECRET not in json.dumps(failed)


@pytest.mark.parametrize("args, message", [
    ({"chart_ref": None}, "Give chart_ref to plan an upgrade, or rollback_to to plan a rollback."),
    ({"rollback_to": 2}, "Release 'inferno' is not installed in namespace 'inferno-prod': there is nothing to roll "
                         "back."),
])
def test_what_cannot_be_planned(fail, helm, args, message):
    assert fail(**args)["msg"] == message
    assert "upgrade --install" not in helm.verbs()


# --- rollback_to ----------------------------------------------------------------------------------

def test_a_rollback_plans_the_stored_revision_and_renders_nothing(run, deployed):
    result = run(rollback_to=2, validate=True, release_values={"ignored": True})
    assert result["changed"] is True
    assert result["desired"] == {"chart": "inferno-0.1.0", "app_version": "0.10.3"}
    assert result["reasons"] == [
        "the chart changes from inferno-0.2.0 to inferno-0.1.0", "the appVersion changes from 0.11.0 to 0.10.3",
        "the user-supplied values differ",
        "3 object(s) would be changed: ConfigMap inferno-prod/inferno-config, Deployment inferno-prod/inferno, "
        "Secret inferno-prod/inferno-secrets"]
    assert (result["values"], result["upgrade_values"], result["chart_digest"]) == ({"replicaCount": 2}, {}, "")
    assert deployed.calls[3:] == [
        [HELM, "history", "inferno", "--max", "256", "--output", "json", "--namespace", NAMESPACE],
        [HELM, "get", "values", "inferno", "--revision", "2", "--output", "json", "--namespace", NAMESPACE],
        [HELM, "get", "manifest", "inferno", "--revision", "2", "--namespace", NAMESPACE],
    ]
    assert "upgrade --install" not in deployed.verbs()
    assert "validated" not in result and deployed.values_files == []


def test_a_rollback_to_the_deployed_revision_changes_nothing(run, deployed):
    result = run(rollback_to=3)
    assert (result["changed"], result["reasons"], result["next_revision"]) == (False, [], 3)


@pytest.mark.parametrize("rollback_to, kept", [(1, "2, 3"), (4, "2, 3"), (7, "2, 3")])
def test_a_rollback_to_a_revision_not_in_history_is_refused(fail, deployed, rollback_to, kept):
    del deployed.history[0]  # helm keeps only revisions 2 and 3
    assert fail(rollback_to=rollback_to)["msg"] == (
        "Revision {0} of release 'inferno' is not in its history (kept: {1}); helm keeps only the last history_max "
        "revisions. Choose one of those.".format(rollback_to, kept))
    assert "get values" not in deployed.verbs()


# --- validate: the API server's dry run -----------------------------------------------------------

def dry_run_targets(dynamic):
    return [(applied["kind"], applied["namespace"], applied["name"], applied["body"]["metadata"].get("namespace"))
            for applied in dynamic.dry_runs.applied]


@pytest.mark.parametrize("check_mode", [False, True])
def test_validate_dry_runs_each_rendered_object_in_the_release_namespace(run, deployed, dynamic, check_mode):
    result = run(validate=True, check_mode=check_mode)
    assert result["validated"] == OBJECTS
    assert dry_run_targets(dynamic) == [
        ("ClusterRole", None, "inferno-reader", None),
        ("ConfigMap", NAMESPACE, "inferno-config", NAMESPACE),
        ("Deployment", NAMESPACE, "inferno", NAMESPACE),
        ("Secret", NAMESPACE, "inferno-secrets", NAMESPACE),
        ("Service", NAMESPACE, "inferno", NAMESPACE),
    ]
    for applied in dynamic.dry_runs.applied:
        assert (applied["dry_run"], applied["field_manager"], applied["force_conflicts"]) == (
            "All", "inferno-ops-preflight", True)
    assert dynamic.requests == []  # an installed release's namespace exists: not even read


def test_validate_sends_the_rendered_objects_themselves(run, dynamic):
    run(validate=True)
    deployment = [applied["body"] for applied in dynamic.dry_runs.applied if applied["kind"] == "Deployment"][0]
    assert deployment["spec"]["replicas"] == 3 and deployment["metadata"]["labels"]["app.kubernetes.io/version"] == (
        "0.11.0")
    assert [path for path, _query in dynamic.requests] == ["/api/v1/namespaces/" + NAMESPACE]


def test_validate_uses_a_stand_in_name_in_default_when_the_namespace_does_not_exist(run, dynamic):
    del dynamic.documents["/api/v1/namespaces/" + NAMESPACE]
    result = run(validate=True)
    assert result["validated"] == OBJECTS
    targets = dry_run_targets(dynamic)
    assert targets[0] == ("ClusterRole", None, "inferno-reader", None)  # cluster-scoped: as it is
    for _kind, namespace, name, body_namespace in targets[1:]:
        assert (namespace, body_namespace) == ("default", "default")
        assert name.startswith("inferno-ops-dry-run-") and len(name) == len("inferno-ops-dry-run-") + 10
    assert [applied["body"]["metadata"]["name"] for applied in dynamic.dry_runs.applied[1:]] == [
        target[2] for target in targets[1:]]


def test_a_refusal_in_the_stand_in_namespace_names_the_real_object(fail, dynamic):
    del dynamic.documents["/api/v1/namespaces/" + NAMESPACE]
    dynamic.dry_runs.denials["Deployment"] = (
        400, 'admission webhook "policy.example.com" denied the request: Deployment {name} in namespace '
             '"{namespace}" sets no resource limits')
    failed = fail(validate=True)
    assert failed["msg"].endswith(
        '\n- Deployment inferno-prod/inferno: admission webhook "policy.example.com" denied the request: Deployment '
        'inferno in namespace "inferno-prod" sets no resource limits')
    assert "inferno-ops-dry-run-" not in failed["msg"] and '"default"' not in failed["msg"]


@pytest.mark.parametrize("status", [401, 403])
def test_a_forbidden_dry_run_in_the_stand_in_namespace_is_left_to_the_install(run, dynamic, status):
    del dynamic.documents["/api/v1/namespaces/" + NAMESPACE]
    dynamic.dry_runs.denials["Secret"] = (status, 'secrets is forbidden: User "ci" cannot patch resource "secrets"')
    result = run(validate=True)
    assert result["validated"] == [label for label in OBJECTS if not label.startswith("Secret ")]


def test_a_refused_value_fails_with_the_server_s_words_and_where_the_value_comes_from(fail, dynamic):
    failed = fail(validate=True, release_values={"replicaCount": 3, "image": {"tag": "0.11.0 beta"}})
    assert failed["msg"] == (
        "The API server refuses 5 rendered object(s), so nothing was changed. Fix the value the message names (in the "
        "environment's values file, the inventory's values or the overrides):\n"
        "- ClusterRole inferno-prod/inferno-reader, ConfigMap inferno-prod/inferno-config, Deployment "
        "inferno-prod/inferno, Secret inferno-prod/inferno-secrets, Service inferno-prod/inferno: metadata.labels: "
        "Invalid value: \"0.11.0 beta\": a valid label must be an empty string or consist of alphanumeric characters, "
        "'-', '_' or '.' (that value comes from image.tag)")


def test_a_refusal_of_a_namespaced_object_in_place_is_not_rewritten(fail, deployed, dynamic):
    dynamic.dry_runs.denials["Service"] = (422, 'Service "{name}" is invalid: spec.ports[0].port: Invalid value: 8000: '
                                                "must be 80 in namespace \"{namespace}\"")
    message = fail(validate=True)["msg"]
    assert message.startswith("The API server refuses 1 rendered object(s)")
    assert message.endswith('\n- Service inferno-prod/inferno: spec.ports[0].port: Invalid value: 8000: must be 80 in '
                            'namespace "inferno-prod"')


def test_a_kind_the_cluster_does_not_serve_is_refused_with_a_clear_message(fail, dynamic):
    message = fail(validate=True, set_values=[{"value": "monitoring.enabled=true"}])["msg"]
    assert message.startswith("The API server refuses 1 rendered object(s), so nothing was changed.")
    assert message.endswith(
        "\n- ServiceMonitor inferno-prod/inferno: the cluster does not serve monitoring.coreos.com/v1 ServiceMonitor; "
        "install what defines it, or turn off the value that renders it")


def test_an_unreadable_namespace_fails_the_validation(fail, dynamic):
    dynamic.refuse("/api/v1/namespaces/" + NAMESPACE, 403, 'namespaces "inferno-prod" is forbidden')
    assert fail(validate=True)["msg"] == 'Cannot read namespace inferno-prod: namespaces "inferno-prod" is forbidden'


# --- read_cluster, secrets and inputs -------------------------------------------------------------

CLUSTER = {"kubernetes_version": "1.34.4", "api_versions": ["apps/v1", "rbac.authorization.k8s.io/v1", "v1"],
           "storage_classes": ["local-path"], "default_storage_classes": ["local-path"],
           "namespace": {"name": NAMESPACE, "exists": True, "labels": {"env": "prod"}}}


def test_read_cluster_returns_the_cluster_s_facts(run, dynamic):
    result = run(read_cluster=True, validate=True)
    assert result["cluster"] == CLUSTER
    assert sorted(path for path, _query in dynamic.requests) == sorted([
        "/version", "/api", "/apis", "/apis/storage.k8s.io/v1/storageclasses", "/api/v1/namespaces/" + NAMESPACE])
    assert result["validated"] == OBJECTS


def test_read_cluster_says_when_the_namespace_is_missing_and_validate_uses_that(run, dynamic):
    del dynamic.documents["/api/v1/namespaces/" + NAMESPACE]
    result = run(read_cluster=True, validate=True)
    assert result["cluster"]["namespace"] == {"name": NAMESPACE, "exists": False, "labels": {}}
    assert dynamic.paths().count("/api/v1/namespaces/" + NAMESPACE) == 1
    assert {applied["namespace"] for applied in dynamic.dry_runs.applied} == {None, "default"}


def test_without_read_cluster_there_is_no_cluster_key(run):
    assert "cluster" not in run()


def test_a_refused_cluster_read_fails_with_what_was_read_so_far(fail, dynamic):
    dynamic.refuse("/apis", 403, 'apis is forbidden: User "ci" cannot list')
    failed = fail(read_cluster=True)
    assert failed["msg"] == ('The Kubernetes API refused a request while reading what the cluster offers: apis is '
                             'forbidden: User "ci" cannot list')
    assert failed["helm_version"] == "v3.17.2"


def test_a_server_gone_during_the_dry_run_says_so_in_one_sentence(fail, dynamic, monkeypatch):
    def refused(*args, **kwargs):
        raise MaxRetryError(None, "/apis/apps/v1", NewConnectionError(
            None, "Failed to establish a new connection: [Errno 111] Connection refused"))

    monkeypatch.setattr(dynamic.dry_runs, "server_side_apply", refused)
    monkeypatch.setattr(dynamic, "server_side_apply", refused)
    dynamic.configuration = type("Configuration", (), {"host": "https://127.0.0.1:9"})()
    failed = fail(read_cluster=True, validate=True)
    assert failed["msg"].startswith("Cannot reach the Kubernetes API while validating the rendered objects: "
                                    "connection refused"), failed["msg"]
    assert "HTTPSConnectionPool" not in failed["msg"] and "Max retries" not in failed["msg"], failed["msg"]


def test_secret_values_never_appear_in_the_result(run, deployed):
    result = run(diff=True, return_manifest=True, release_values={"replicaCount": 3, "copySecretToConfigMap": True})
    text = json.dumps(result)
    assert SECRET not in text and ENCODED not in text
    assert result["values"]["secrets"] == {"OAUTH2_CLIENT_SECRET": MASK}
    assert "secrets" not in result["upgrade_values"]
    assert result["inputs"]["secret_keys"] == ["OAUTH2_CLIENT_SECRET"]
    # The copy in the ConfigMap is masked too, in the manifest and in the diff.
    config_map_diff = [entry for entry in result["diff"] if entry["after_header"].startswith("ConfigMap")][0]
    assert "OAUTH2_CLIENT_SECRET: " + MASK in config_map_diff["after"]
    assert "OAUTH2_CLIENT_SECRET: " + MASK in result["manifest"]


def test_the_inputs_name_the_kubeconfig_by_digest_only(run, tmp_path, values_files, chart):
    kubeconfig = str(tmp_path / "kubeconfig-prod.yaml")
    result = run(kubeconfig=kubeconfig, context="prod-eu", set_values=[{"value": "a=b"}])
    inputs = result["inputs"]
    assert inputs == {
        "chart_ref": str(chart), "rollback_to": None, "release_name": "inferno", "release_namespace": NAMESPACE,
        "values_files": values_files, "release_values": {"replicaCount": 3}, "secret_keys": ["OAUTH2_CLIENT_SECRET"],
        "set_values": [{"value": "a=b", "value_type": "raw"}],
        "kubeconfig_sha256": hashlib.sha256(kubeconfig.encode("utf-8")).hexdigest(), "context": "prod-eu",
        "host": None, "binary_path": HELM}
    assert "kubeconfig" not in inputs and kubeconfig not in json.dumps(result)


def test_the_inputs_name_the_api_server_and_never_the_token(run):
    inputs = run(host="https://10.0.0.1:6443", api_key="token-that-must-not-show")["inputs"]
    assert inputs["host"] == "https://10.0.0.1:6443" and inputs["kubeconfig_sha256"] is None
    assert "token-that-must-not-show" not in json.dumps(inputs)


def test_a_kubeconfig_given_as_a_dict_has_no_digest(run):
    assert run(kubeconfig={"apiVersion": "v1", "clusters": []})["inputs"]["kubeconfig_sha256"] is None


def without_temp_files(calls):
    """helm's argv with the temporary values file (a new name each run) named the same."""
    return [[re.sub(r"^/\S+/ansible-moduletmp-[^/]+/tmp\w+\.yaml$", "<temp values>", arg)
             for arg in call] for call in calls]


def test_the_module_reads_only_in_check_mode_and_out_of_it_alike(run, helm, dynamic):
    normal = run(validate=True, read_cluster=True)
    calls, applied = helm.calls, dynamic.dry_runs.applied
    helm.calls, dynamic.dry_runs.applied = [], []
    checked = run(validate=True, read_cluster=True, check_mode=True)
    assert checked == normal
    assert "<temp values>" in without_temp_files(calls)[-1]
    assert without_temp_files(helm.calls) == without_temp_files(calls) and dynamic.dry_runs.applied == applied
    assert all(call[1] in ("version", "history", "status", "get") or "--dry-run=server" in call for call in calls)
    assert all(entry["dry_run"] == "All" for entry in applied)


# Secret values that are not text are masked by their text, str(value).
def test_a_secret_value_that_is_not_text_is_masked_like_any_other(run):
    result = run(secret_values={"OAUTH2_CLIENT_SECRET": SECRET, "PIN": 123})
    assert result["desired"] == {"chart": "inferno-0.2.0", "app_version": "0.11.0"}
    assert result["values"]["secrets"] == {"OAUTH2_CLIENT_SECRET": MASK, "PIN": MASK}


def test_a_failure_with_a_secret_value_that_is_not_text_is_reported(fail, helm):
    helm.render_error = "Error: PIN 123 is too short"
    assert fail(secret_values={"PIN": 123})["msg"].endswith("\nError: PIN ******** is too short")


@pytest.mark.parametrize("secret", ["1", 7, '"', "e"])
def test_a_one_character_or_numeric_secret_leaves_the_result_whole(run, deployed, secret):
    """Issue 25, case 10: the scrub replaced secrets in the result's JSON text, so a secret "1" or 7
    turned numbers into masks and json.loads failed (a traceback instead of a plan)."""
    result = run(secret_values={"PIN": secret}, release_values={"replicaCount": 3})
    assert result["values"]["replicaCount"] == 3 and isinstance(result["next_revision"], int)
    assert result["values"]["secrets"]["PIN"] == MASK
