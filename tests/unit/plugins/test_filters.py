"""The roles' filters: --set overrides, secrets, the status summary lines, the options' bounds, and the
models an inventory declares."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.inferno.ops.plugins.filter import (
    helm_values,
    model_sources,
    out_of_bounds,
    release_history,
    restorable,
)
from ansible_collections.inferno.ops.plugins.module_utils import durations


def test_set_values_accepts_strings_and_dicts():
    assert helm_values.helm_set_values(["image.tag=0.8.1", {"value": "a={}", "value_type": "json"}]) == [
        {"value": "image.tag=0.8.1", "value_type": "raw"}, {"value": "a={}", "value_type": "json"}]
    assert helm_values.helm_set_values(None) == []


@pytest.mark.parametrize("overrides, message", [
    ("replicaCount=2", "must be a list"),
    (["replicaCount"], "'replicaCount' is not a 'path=value' override"),
    (["=2"], "is not a 'path=value' override"),
    ([{"value": "a=1", "value_type": "yaml"}], "value_type 'yaml' for 'a=1' must be one of raw, string, json, file"),
])
def test_set_values_refuses_malformed_overrides(overrides, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(")):
        helm_values.helm_set_values(overrides)


def test_secrets_without_a_value_are_left_out_and_redacted_from_text():
    secrets = {"A": "s3cr3t", "B": "", "C": None}
    assert helm_values.non_empty_secrets(secrets) == {"A": "s3cr3t"}
    assert helm_values.redact_secrets("helm said s3cr3t", secrets) == "helm said ********"


def test_history_line():
    line = release_history.format_revision({"revision": 3, "status": "failed", "chart": "inferno-0.8.0",
                                            "updated": "2026-11-24T22:44:51.4Z", "description": "Upgrade failed"})
    assert line.split() == ["3", "failed", "inferno-0.8.0", "2026-11-24T22:44:51", "Upgrade", "failed"]


def test_backup_lines_are_no_filter_any_more():
    """backup_sets and newest_ready_backup moved into inferno.ops.backup_info (its lines and backup)."""
    assert release_history.FilterModule().filters() == {"format_revision": release_history.format_revision}


# Go's time.ParseDuration, which helm's --timeout uses, in nanoseconds.
@pytest.mark.parametrize("text, nanoseconds", [
    ("10m", 600 * 10 ** 9), ("5m0s", 300 * 10 ** 9), ("1h30m", 5400 * 10 ** 9), ("1.5h", 5400 * 10 ** 9),
    ("300ms", 300 * 10 ** 6), (".5s", 500 * 10 ** 6), ("5.s", 5 * 10 ** 9), ("1us", 1000), ("1\u00b5s", 1000),
    ("+2s", 2 * 10 ** 9), ("-1m", -60 * 10 ** 9), ("0", 0), ("0s", 0), ("0.5ns", 0),
    ("2562047h47m16.854775807s", 2 ** 63 - 1),
])
def test_go_durations_parse_as_helm_parses_them(text, nanoseconds):
    assert durations.go_duration_ns(text) == nanoseconds


@pytest.mark.parametrize("text", [
    "", "-", "600", "5", "m", "5x", "5m0", "5 m", " 5m", "5m ", ".s", "1.2.3s", "1h-5m", "10 minutes",
    "2562047h47m16.854775808s", None, 600, ["5m"],
])
def test_go_durations_helm_refuses_are_not_parsed(text):
    assert durations.go_duration_ns(text) is None


@pytest.mark.parametrize("kind, good, bad", [
    ("seconds", [1, "1", "600", " 300 ", "+5", 300.0, 2 ** 40],
     [0, "0", -5, "-5", "abc", "10m", "", None, True, False, 1.5, "1.5", "5 0", [300], {"a": 1}]),
    ("duration", ["10m", "5m0s", "1ns", "1h30m", "90s"], ["0", "0s", "-1m", "0.5ns", "600", 600, "abc", "", None, True]),
    ("count", [0, "0", 10, "10"], [-1, "-1", "ten", 1.5, None, True, ""]),
    ("backup_id", ["", None, "nightly-1", "r12-20261128010000", "a", "0" * 40],
     ["Pre_Upgrade", "../../etc", "-a", "a-", "0" * 41, "a b", 12, True, ["a"]]),
])
def test_each_kind_has_its_bound(kind, good, bad):
    assert out_of_bounds.out_of_bounds({"good{0}".format(index): value for index, value in enumerate(good)}, kind) == []
    problems = out_of_bounds.out_of_bounds({"bad{0}".format(index): value for index, value in enumerate(bad)}, kind)
    assert [problem.split(" ", 1)[0] for problem in problems] == ["bad{0}".format(index) for index in range(len(bad))]


def test_the_message_names_the_variable_the_value_the_bound_and_the_fix():
    assert out_of_bounds.out_of_bounds({"inferno_restore_wait_timeout": "-5"}, "seconds", example=300) == [
        "inferno_restore_wait_timeout is -5; it must be a whole number of seconds above 0. "
        "Set it with -e inferno_restore_wait_timeout=300."]
    assert out_of_bounds.out_of_bounds({"inferno_deploy_timeout": "0s", "inferno_lifecycle_timeout": "10 minutes"},
                                       "duration") == [
        "inferno_deploy_timeout is 0s; it must be a helm duration above 0: a number with a unit (h, m, s, ms), "
        "such as 10m, 90s or 1h30m. Set it with -e inferno_deploy_timeout=10m.",
        'inferno_lifecycle_timeout is "10 minutes"; it must be a helm duration above 0: a number with a unit '
        "(h, m, s, ms), such as 10m, 90s or 1h30m. Set it with -e inferno_lifecycle_timeout=10m."]
    assert out_of_bounds.out_of_bounds({"inferno_deploy_history_max": -1}, "count") == [
        "inferno_deploy_history_max is -1; it must be a whole number, 0 or more. Set it with -e inferno_deploy_history_max=10."]


def test_a_duration_without_a_unit_is_told_so_and_given_in_seconds():
    assert out_of_bounds.out_of_bounds({"inferno_deploy_timeout": 600}, "duration") == [
        "inferno_deploy_timeout is 600, which has no unit (helm refuses it); it must be a helm duration above 0: "
        "a number with a unit (h, m, s, ms), such as 10m, 90s or 1h30m. Set it with -e inferno_deploy_timeout=600s."]


@pytest.mark.parametrize("value, shown", [
    ("", '""'), (None, "empty (null)"), ("5 m", '"5 m"'), (" 5", '" 5"'), (True, "True"), ([1], "[1]"), (-5, "-5"),
])
def test_the_value_is_shown_as_given(value, shown):
    assert out_of_bounds.out_of_bounds({"x": value}, "duration", example="1m")[0].startswith("x is {0}".format(shown))


@pytest.mark.parametrize("options, kind, message", [
    ({"x": 1}, "minutes", "kind 'minutes' must be one of backup_id, count, duration, seconds"),
    ([("x", 1)], "seconds", "takes a mapping of variable names to values, got list"),
])
def test_out_of_bounds_refuses_a_wrong_call(options, kind, message):
    with pytest.raises(AnsibleFilterError, match=message):
        out_of_bounds.out_of_bounds(options, kind)


def test_out_of_bounds_is_the_one_filter_of_its_file():
    assert out_of_bounds.FilterModule().filters() == {"out_of_bounds": out_of_bounds.out_of_bounds}


@pytest.mark.parametrize("value, fix", [
    ("Pre_Upgrade", "pre-upgrade"),
    ("../../etc/passwd", "etc-passwd"),
    ("___", "nightly-1"),
])
def test_a_bad_backup_id_is_named_with_the_nearest_good_one(value, fix):
    """Issue 25, case 8: the playbooks' bounds step refuses the id before anything is read or written."""
    assert out_of_bounds.out_of_bounds({"inferno_backup_id": value}, "backup_id") == [
        "inferno_backup_id is {0}; it must be 1-40 lowercase letters, digits or '-', starting and ending with a letter "
        "or digit (it becomes part of snapshot names, a label value and a folder name). Set it with "
        "-e inferno_backup_id={1}.".format(value, fix)]


def test_only_v1_configmaps_and_secrets_with_names_are_restorable():
    """Issue 25, case 5: a restore applied any kind it found under configmaps/ or secrets/."""
    files = {
        "configmaps/inferno-config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: inferno-config}\n",
        "secrets/inferno-secrets.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: inferno-secrets}\n",
        "configmaps/binding.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: x}\n",
        "secrets/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        "configmaps/nameless.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
        "configmaps/list.yaml": "- apiVersion: v1\n",
        "configmaps/broken.yaml": "a: [\n",
        "elsewhere.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    }
    paths = ["/backup/config/" + name for name in files]
    assert restorable.not_restorable(list(files.values()), paths, "/backup/config") == [
        "configmaps/binding.yaml is rbac.authorization.k8s.io/v1 RoleBinding, not v1 ConfigMap",
        "secrets/config.yaml is v1 ConfigMap, not v1 Secret",
        "configmaps/nameless.yaml has no metadata.name",
        "configmaps/list.yaml is not a Kubernetes object",
        "configmaps/broken.yaml is not YAML",
        "elsewhere.yaml is not under configmaps/ or secrets/",
    ]


# --- model_sources: the models an inventory declares, as inferno.ops.model_delivery takes them ----

def test_model_sources_keeps_only_the_delivery_keys_and_leaves_the_inventory_alone():
    models = [
        {"name": "a.gguf", "sha256": "a" * 64, "source": "files/models/a.gguf",
         "smoke": {"prompt": "abc", "expect": "defgh"}},
        {"name": "b.gguf", "sha256": "b" * 64, "source": "https://mirror.example/b.gguf"},
        {"name": "c.gguf", "sha256": "c" * 64, "source": "s3://models/c.gguf", "url": "https://given.example/c.gguf"},
    ]
    assert model_sources.model_sources(models) == [
        {"name": "a.gguf", "sha256": "a" * 64, "source": "files/models/a.gguf"},
        {"name": "b.gguf", "sha256": "b" * 64, "source": "https://mirror.example/b.gguf"},
        {"name": "c.gguf", "sha256": "c" * 64, "source": "s3://models/c.gguf"},
    ]
    assert "smoke" in models[0] and models[2]["url"] == "https://given.example/c.gguf"  # the inventory is left alone


def test_model_sources_expands_the_home_of_a_controller_path_only(monkeypatch):
    monkeypatch.setenv("HOME", "/home/operator")
    models = [{"name": "a.gguf", "sha256": "a" * 64, "source": "~/models/a.gguf"},
              {"name": "b.gguf", "sha256": "b" * 64, "source": "https://mirror.example/~user/b.gguf"}]
    assert [entry["source"] for entry in model_sources.model_sources(models)] == [
        "/home/operator/models/a.gguf", "https://mirror.example/~user/b.gguf"]


def test_model_sources_with_missing_keys():
    """A missing key becomes "", so model_delivery names what is missing instead of Ansible refusing the call."""
    assert model_sources.model_sources([{"name": "a.gguf", "sha256": None}]) == [
        {"name": "a.gguf", "sha256": "", "source": ""}]
    assert model_sources.model_sources([]) == []


@pytest.mark.parametrize("models, message", [
    ({"name": "a.gguf"}, "inferno_models must be a list of models, each with name, source and sha256; got dict"),
    ("a.gguf", "inferno_models must be a list of models, each with name, source and sha256; got str"),
    (None, "inferno_models must be a list of models, each with name, source and sha256; got NoneType"),
    (["a.gguf"], "each entry of inferno_models must be a mapping with name, source and sha256; got 'a.gguf'"),
])
def test_model_sources_refuses_what_is_not_a_list_of_mappings(models, message):
    with pytest.raises(AnsibleFilterError, match=message):
        model_sources.model_sources(models)


def test_model_sources_is_the_one_filter_of_its_file():
    assert model_sources.FilterModule().filters() == {"model_sources": model_sources.model_sources}
