"""Unit tests of the deploy benchmark's parsing of ansible.posix.json output and its figures."""

from __future__ import annotations

import json

import pytest

from tools.benchmarks import deploy


def stamp(seconds: float) -> str:
    """A callback time stamp, `seconds` after 12:00:00 UTC."""
    whole = int(seconds)
    return f"2026-01-01T12:00:{whole:02d}.{round((seconds - whole) * 1e6):06d}Z"


def task(name: str, path: str, start: float, end: float | None, hosts: dict) -> dict:
    duration = {"start": stamp(start)} | ({"end": stamp(end)} if end is not None else {})
    return {"task": {"name": name, "id": name, "path": path, "duration": duration}, "hosts": hosts}


ROLES = "/work/main/collections/ansible_collections/inferno/ops/roles"
# Shaped like `ANSIBLE_STDOUT_CALLBACK=ansible.posix.json ansible-playbook deploy.yml` (ansible-core
# 2.19, ansible.posix 2.1): two plays, one host, times in UTC.
SAMPLE = {
    "plays": [
        {"play": {"name": "Check every cluster before changing any", "id": "p1", "path": "deploy.yml:7",
                  "duration": {"start": stamp(1.0), "end": stamp(3.0)}},
         "tasks": [
             task("inferno.ops.preflight : Validating arguments against arg spec 'main'",
                  f"{ROLES}/preflight/meta/argument_specs.yml", 1.0, 1.1,
                  {"local-cluster": {"action": "ansible.builtin.validate_argument_spec", "changed": False}}),
             task("inferno.ops.preflight : Check the inputs", f"{ROLES}/preflight/tasks/inputs.yml:2", 1.1, 1.2,
                  {"local-cluster": {"action": "ansible.builtin.assert", "changed": False}}),
             task("inferno.ops.preflight : Find helm", f"{ROLES}/preflight/tasks/helm.yml:2", 1.2, 2.0,
                  {"local-cluster": {"action": "ansible.builtin.command", "changed": False}}),
             task("inferno.ops.preflight : Skipped when not prod", f"{ROLES}/preflight/tasks/cluster.yml:9",
                  2.0, 2.05, {"local-cluster": {"action": "kubernetes.core.k8s_info", "changed": False,
                                                "skipped": True, "skip_reason": "Conditional result was False"}}),
             task("inferno.ops.preflight : Read the cluster", f"{ROLES}/preflight/tasks/cluster.yml:2", 2.05, 3.0,
                  {"local-cluster": {"action": "kubernetes.core.k8s_info", "changed": False}}),
        ]},
        {"play": {"name": "Deploy to one cluster at a time", "id": "p2", "path": "deploy.yml:17",
                  "duration": {"start": stamp(3.2), "end": stamp(7.0)}},
         "tasks": [
             task("inferno.ops.deploy : Plan the release", f"{ROLES}/deploy/tasks/plan.yml:2", 3.2, 5.2,
                  {"local-cluster": {"action": "inferno.ops.helm_plan", "changed": False}}),
             task("inferno.ops.deploy : Remember the plan", f"{ROLES}/deploy/tasks/plan.yml:9", 5.2, 5.3,
                  {"local-cluster": {"action": "ansible.builtin.set_fact", "changed": False}}),
             task("inferno.ops.deploy : Label namespaces", f"{ROLES}/deploy/tasks/namespace.yml:3", 5.3, 5.8,
                  {"local-cluster": {"action": "command", "changed": True, "msg": "All items completed",
                                     "results": [{"item": 1}, {"item": 2}]}}),
             task("inferno.ops.deploy : Skipped loop", f"{ROLES}/deploy/tasks/namespace.yml:9", 5.8, 5.85,
                  {"local-cluster": {"action": "ansible.builtin.command", "changed": False, "skipped": True,
                                     "msg": "All items skipped", "results": [{"item": 1}]}}),
             # An include_role task in a role is not named after the role.
             task("Back up the installed release before upgrading it", f"{ROLES}/deploy/tasks/backup.yml:6",
                  5.85, 5.9, {"local-cluster": {"action": "ansible.builtin.include_role", "changed": False,
                                                "skipped": True}}),
             task("Include the checks", "/work/main/playbooks/checks.yml:4", 5.9, 5.95,
                  {"local-cluster": {"action": "ansible.builtin.include_tasks", "changed": False}}),
             task("inferno.ops.verify : Wait for the rollout", f"{ROLES}/verify/tasks/main.yml:2", 6.0, 6.9,
                  {"local-cluster": {"action": "ansible.legacy.command", "changed": False}}),
             task("inferno.ops.verify : Started, no result", f"{ROLES}/verify/tasks/main.yml:8", 6.9, None, {}),
        ]},
    ],
    "stats": {"local-cluster": {"changed": 1, "failures": 0, "ignored": 0, "ok": 9, "rescued": 0,
                                "skipped": 2, "unreachable": 0}},
    "custom_stats": {},
    "global_custom_stats": {},
}


def test_parse_report_skips_what_comes_before_the_document():
    stdout = "a stray line {not json}\n{broken\n" + json.dumps(SAMPLE, indent=4) + "\n"
    assert deploy.parse_report(stdout) == SAMPLE
    assert deploy.parse_report(json.dumps(SAMPLE)) == SAMPLE  # ANSIBLE_JSON_INDENT=0: one line


def test_parse_report_without_a_document():
    with pytest.raises(ValueError):
        deploy.parse_report("PLAY RECAP *****\nlocalhost : ok=1 changed=0\n")


def test_parse_time():
    assert (deploy.parse_time(stamp(2.5)) - deploy.parse_time(stamp(1.0))).total_seconds() == 1.5
    assert deploy.parse_time(stamp(0)).utcoffset().total_seconds() == 0


@pytest.mark.parametrize("action, expected", [
    ("command", "ansible.builtin.command"),
    ("ansible.legacy.command", "ansible.builtin.command"),
    ("ansible.builtin.command", "ansible.builtin.command"),
    ("inferno.ops.helm_plan", "inferno.ops.helm_plan"),
    ("", ""),
])
def test_normalize_action(action, expected):
    assert deploy.normalize_action(action) == expected


@pytest.mark.parametrize("action, expected", [
    ("ansible.builtin.assert", False), ("set_fact", False), ("ansible.builtin.debug", False),
    ("ansible.builtin.fail", False), ("meta", False), ("ansible.builtin.include_role", False),
    ("ansible.builtin.import_role", False), ("include_tasks", False), ("ansible.builtin.import_tasks", False),
    ("ansible.builtin.include_vars", False), ("ansible.builtin.validate_argument_spec", False), ("", False),
    ("ansible.builtin.command", True), ("command", True), ("ansible.builtin.copy", True),
    ("ansible.builtin.tempfile", True), ("ansible.builtin.file", True), ("kubernetes.core.helm", True),
    ("inferno.ops.helm_plan", True), ("community.general.assert", True),
])
def test_is_module_call(action, expected):
    assert deploy.is_module_call(action) is expected


@pytest.mark.parametrize("result, expected", [
    ({"changed": False}, "ok"), ({"changed": True}, "changed"), ({"skipped": True, "changed": False}, "skipped"),
    ({"failed": True, "changed": True}, "failed"), ({"unreachable": True}, "unreachable"),
])
def test_host_status(result, expected):
    assert deploy.host_status(result) == expected


def test_role_of():
    assert deploy.role_of("inferno.ops.deploy : Plan the release", "") == "deploy"
    assert deploy.role_of("deploy : Plan the release", f"{ROLES}/verify/tasks/main.yml:2") == "deploy"
    assert deploy.role_of("Plan", f"{ROLES}/deploy/tasks/plan.yml:2") == "deploy"
    assert deploy.role_of("Include the checks", "/work/main/playbooks/checks.yml:4") == "(play)"


def test_task_records():
    records = deploy.task_records(SAMPLE)
    assert len(records) == 13
    plan = records[5]
    assert plan["name"] == "inferno.ops.deploy : Plan the release"
    assert plan["role"] == "deploy"
    assert plan["action"] == "inferno.ops.helm_plan"
    assert plan["seconds"] == pytest.approx(2.0)
    assert plan["statuses"] == {"local-cluster": "ok"} and plan["ran"] == 1
    label, skipped_loop = records[7], records[8]
    assert label["action"] == "ansible.builtin.command" and label["loop_items"] == 2
    assert label["statuses"] == {"local-cluster": "changed"}
    assert skipped_loop["ran"] == 0 and skipped_loop["loop_items"] == 0
    unfinished = records[-1]
    assert unfinished["seconds"] == 0.0 and unfinished["ran"] == 0 and unfinished["action"] == ""


def test_changed_total():
    assert deploy.changed_total(SAMPLE) == 1
    two_hosts = {"stats": {"a": {"changed": 0}, "b": {"changed": 3}}}
    assert deploy.changed_total(two_hosts) == 3
    assert deploy.changed_total({"stats": {}}) == 0


def test_failure_messages():
    failed = json.loads(json.dumps(SAMPLE))
    failed["plays"][1]["tasks"][0]["hosts"]["local-cluster"].update(failed=True, msg="helm: no such release")
    assert deploy.failure_messages(failed) == [
        "local-cluster: inferno.ops.deploy : Plan the release: helm: no such release"]
    assert not deploy.failure_messages(SAMPLE)


def test_breakdown():
    figures = deploy.breakdown(SAMPLE, wall_seconds=9.0, slowest=3)
    assert figures["play_seconds"] == pytest.approx(6.0)
    assert figures["outside_plays_seconds"] == pytest.approx(3.0)
    assert figures["task_seconds"] == pytest.approx(5.65)  # 2.0 in the first play, 3.65 in the second
    assert figures["between_tasks_seconds"] == pytest.approx(0.35)
    assert (figures["tasks"], figures["tasks_ran"], figures["tasks_skipped"]) == (13, 9, 4)
    assert list(figures["roles"]) == ["preflight", "deploy", "(play)", "verify"]
    assert figures["roles"]["preflight"] == {"seconds": 2.0, "tasks": 5, "ran": 4, "module_calls": 2}
    assert figures["roles"]["deploy"] == {"seconds": 2.7, "tasks": 5, "ran": 3, "module_calls": 2}
    assert figures["roles"]["(play)"] == {"seconds": 0.05, "tasks": 1, "ran": 1, "module_calls": 0}
    assert figures["roles"]["verify"] == {"seconds": 0.9, "tasks": 2, "ran": 1, "module_calls": 1}
    assert [task["task"] for task in figures["slowest"]] == [
        "inferno.ops.deploy : Plan the release", "inferno.ops.preflight : Read the cluster",
        "inferno.ops.verify : Wait for the rollout"]
    assert figures["slowest"][0] == {"task": "inferno.ops.deploy : Plan the release",
                                     "action": "inferno.ops.helm_plan", "seconds": 2.0, "status": "ok"}
    assert figures["module_calls"] == 5
    assert figures["module_calls_by_action"] == {"ansible.builtin.command": 3, "inferno.ops.helm_plan": 1,
                                                 "kubernetes.core.k8s_info": 1}
    assert figures["module_call_loop_items"] == {"ansible.builtin.command": 2}
    assert figures["changed"] == 1
    text = "\n".join(deploy.format_breakdown("no-op rerun", figures, figures))
    assert "module calls (tasks that ran, not controller-side): 5" in text
    assert "(2 loop items)" in text


def test_median_index():
    assert deploy.median_index([3.0, 1.0, 2.0]) == 2
    assert deploy.median_index([5.0]) == 0
    assert deploy.median_index([4.0, 1.0, 3.0, 2.0]) == 3  # the lower of the two middle values


def test_summarize_and_table():
    times = {"raw helm": {"install": [2.0, 3.0, 4.0], "no-op": [0.5, 0.4, 0.6]},
             "bare task": {"install": [4.0, 4.0, 5.0], "no-op": [2.0, 2.5, 2.1]},
             "deploy.yml": {"install": [5.0, 6.0, 7.0], "no-op": [4.4, 5.0, 4.6]}}
    summary = deploy.summarize(times)
    assert summary["stats"]["bare task"]["no-op"] == {"median": 2.1, "min": 2.0, "max": 2.5}
    install, noop = summary["ratios"]["install"], summary["ratios"]["no-op"]
    assert install["deploy_over_bare"] == pytest.approx(1.5) and install["pass"]  # at the goal passes
    assert install["deploy_over_helm"] == pytest.approx(2.0)
    assert noop["deploy_over_bare"] == pytest.approx(4.6 / 2.1) and not noop["pass"]
    lines = deploy.format_table(summary)
    assert "raw helm" in lines[0] and "bare task" in lines[0] and "deploy.yml" in lines[0]
    assert lines[1].startswith("install") and "PASS" in lines[1] and "1.50x" in lines[1]
    assert lines[2].startswith("no-op") and "MISS" in lines[2] and "(0.4-0.6)" in lines[2]
