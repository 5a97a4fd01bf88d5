"""Benchmark deploy.yml against one bare kubernetes.core.helm task and raw helm, side by side
on one fresh local cluster. Prints figures; asserts only that deploy.yml's rerun changes
nothing (issue 4).

    python -m tools.benchmarks.deploy [--repeat N] [--helm PATH] [--save DIR]

Each round times three ways of deploying the dev chart, each in a fresh namespace of its
own, each twice: the install, then the same command again (a no-op). The order of the three
rotates from round to round so that whatever noise the machine makes hits them all alike.
  raw helm    helm upgrade --install --wait, dev values              bench-helm-<i>
  bare task   a one-task playbook on localhost: kubernetes.core.helm  bench-task-<i>
  deploy.yml  ansible-playbook deploy.yml -i inventories/dev          bench-deploy-<i>
Goals, medians of deploy.yml against the bare task: install <= 1.5x, no-op <= 2.0x.
deploy.yml against raw helm is printed for reference.

Both playbooks run with the ansible.posix.json stdout callback; from deploy.yml's output
the script prints where the time goes (startup, roles, slowest tasks, module calls) for its
install and its no-op rerun, and takes the rerun's changed count from the JSON stats.
Exit status: 0, 1 if a deploy.yml rerun changed something, 2 if a command failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
CHART = "files/helm/inferno"
VALUES = f"{CHART}/values-dev.yaml"
VARIANTS = ("raw helm", "bare task", "deploy.yml")
NAMESPACE_PREFIX = {"raw helm": "bench-helm", "bare task": "bench-task", "deploy.yml": "bench-deploy"}
STEPS = ("install", "no-op")
GOALS = {"install": 1.5, "no-op": 2.0}  # deploy.yml / bare task, medians
SLOWEST = 8
# Actions that run on the controller only, inside ansible-playbook: no module is sent off
# and run in a Python process of its own. Every other action that runs is a "module call".
CONTROLLER_ACTIONS = frozenset({
    "assert", "set_fact", "debug", "fail", "meta", "include_role", "import_role", "include_tasks",
    "import_tasks", "include_vars",
    # Also controller-only: the check of a role's meta/argument_specs.yml that Ansible adds in
    # front of the role ("Validating arguments against arg spec ..."), and the inventory ones.
    "validate_argument_spec", "set_stats", "add_host", "group_by",
})
ROLE_IN_PATH = re.compile(r"/roles/([^/]+)/")


class CommandFailed(Exception):
    """A benchmarked command exited non-zero."""


# -- parsing the ansible.posix.json callback's output (pure) -----------------------------------
def parse_report(stdout: str) -> dict:
    """The JSON document that ansible.posix.json prints at the end of the run.

    Anything printed before it (a plugin's stray line) is skipped: the document is the first
    JSON object that starts a line."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"^\{", stdout, re.MULTILINE):
        try:
            report = decoder.raw_decode(stdout, match.start())[0]
        except json.JSONDecodeError:
            continue
        if isinstance(report, dict) and "plays" in report and "stats" in report:
            return report
    raise ValueError("no ansible.posix.json report in the output")


def parse_time(stamp: str) -> datetime:
    """The callback's time stamps: ISO 8601 in UTC with a trailing Z."""
    return datetime.fromisoformat(stamp.removesuffix("Z") + "+00:00")


def normalize_action(action: str) -> str:
    """One name per action: `command` and `ansible.legacy.command` become ansible.builtin.command."""
    if action.startswith("ansible.legacy."):
        return "ansible.builtin." + action.removeprefix("ansible.legacy.")
    if action and "." not in action:
        return "ansible.builtin." + action
    return action


def is_module_call(action: str) -> bool:
    action = normalize_action(action)
    return bool(action) and not (
        action.startswith("ansible.builtin.") and action.removeprefix("ansible.builtin.") in CONTROLLER_ACTIONS)


def host_status(result: dict) -> str:
    if result.get("unreachable"):
        return "unreachable"
    if result.get("failed"):
        return "failed"
    if result.get("skipped"):
        return "skipped"
    return "changed" if result.get("changed") else "ok"


def role_of(name: str, path: str) -> str:
    """The short name of the role a task belongs to, or "(play)".

    Ansible names a role's tasks "<role> : <task>", with the role's FQCN, but not an
    include_role task inside a role: that one is placed by its file, roles/<role>/tasks/..."""
    if " : " in name:
        return name.split(" : ", 1)[0].rsplit(".", 1)[-1]
    match = ROLE_IN_PATH.search(path or "")
    return match.group(1) if match else "(play)"


def task_records(report: dict) -> list[dict]:
    """One record per task the callback saw, in run order."""
    records = []
    for play in report.get("plays", []):
        for entry in play.get("tasks", []):
            task, hosts = entry.get("task", {}), entry.get("hosts", {})
            duration = task.get("duration", {})
            seconds = 0.0
            if duration.get("start") and duration.get("end"):
                seconds = (parse_time(duration["end"]) - parse_time(duration["start"])).total_seconds()
            actions = {result.get("action", "") for result in hosts.values()}
            statuses = {host: host_status(result) for host, result in hosts.items()}
            items = sum(len(result["results"]) for host, result in hosts.items()
                        if isinstance(result.get("results"), list) and statuses[host] != "skipped")
            records.append({
                "name": task.get("name", ""),
                "role": role_of(task.get("name", ""), task.get("path", "")),
                "action": normalize_action(sorted(actions)[0]) if actions else "",
                "seconds": seconds,
                "statuses": statuses,
                "ran": sum(status != "skipped" for status in statuses.values()),
                "loop_items": items,
            })
    return records


def changed_total(report: dict) -> int:
    """Tasks changed, summed over hosts, from the report's stats (the recap's changed=)."""
    return sum(int(stats.get("changed", 0)) for stats in report.get("stats", {}).values())


def failure_messages(report: dict) -> list[str]:
    """A line per failed or unreachable task result: what a failed run printed in its recap."""
    messages = []
    for play in report.get("plays", []):
        for entry in play.get("tasks", []):
            for host, result in entry.get("hosts", {}).items():
                if host_status(result) in ("failed", "unreachable"):
                    detail = result.get("msg") or result.get("stderr") or ""
                    messages.append(f"{host}: {entry.get('task', {}).get('name', '')}: {str(detail)[:1500]}")
    return messages


def play_span(report: dict) -> float:
    """Seconds from the first play's start to the last task result."""
    starts = [parse_time(play["play"]["duration"]["start"]) for play in report.get("plays", [])
              if play.get("play", {}).get("duration", {}).get("start")]
    ends = [parse_time(play["play"]["duration"]["end"]) for play in report.get("plays", [])
            if play.get("play", {}).get("duration", {}).get("end")]
    return (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0


def breakdown(report: dict, wall_seconds: float, slowest: int = SLOWEST) -> dict:
    """Where one ansible-playbook run's time went."""
    tasks = task_records(report)
    span = play_span(report)
    task_seconds = sum(task["seconds"] for task in tasks)
    roles: dict[str, dict] = {}
    for task in tasks:
        role = roles.setdefault(task["role"], {"seconds": 0.0, "tasks": 0, "ran": 0, "module_calls": 0})
        role["seconds"] += task["seconds"]
        role["tasks"] += 1
        role["ran"] += task["ran"] > 0
        role["module_calls"] += task["ran"] if is_module_call(task["action"]) else 0
    calls = Counter()
    loop_items = Counter()
    for task in tasks:
        if task["ran"] and is_module_call(task["action"]):
            calls[task["action"]] += task["ran"]
            loop_items[task["action"]] += task["loop_items"]
    return {
        "wall_seconds": round(wall_seconds, 3),
        "play_seconds": round(span, 3),
        "outside_plays_seconds": round(wall_seconds - span, 3),
        "task_seconds": round(task_seconds, 3),
        "between_tasks_seconds": round(span - task_seconds, 3),
        "tasks": len(tasks),
        "tasks_ran": sum(task["ran"] > 0 for task in tasks),
        "tasks_skipped": sum(task["ran"] == 0 for task in tasks),
        "roles": {name: {**role, "seconds": round(role["seconds"], 3)} for name, role in roles.items()},
        "slowest": [{"task": task["name"], "action": task["action"], "seconds": round(task["seconds"], 3),
                     "status": ",".join(sorted(set(task["statuses"].values())))}
                    for task in sorted(tasks, key=lambda task: -task["seconds"])[:slowest]],
        "module_calls": sum(calls.values()),
        "module_calls_by_action": dict(sorted(calls.items(), key=lambda item: (-item[1], item[0]))),
        "module_call_loop_items": {action: count for action, count in loop_items.items() if count},
        "changed": changed_total(report),
    }


# -- figures (pure) -------------------------------------------------------------------------
def median_index(values: list[float]) -> int:
    """The index of the (lower) median value: the run shown as typical."""
    order = sorted(range(len(values)), key=lambda index: values[index])
    return order[(len(values) - 1) // 2]


def summarize(times: dict[str, dict[str, list[float]]]) -> dict:
    """Median, min and max per variant and step; ratios of the medians; goals met or not."""
    stats = {variant: {step: {"median": statistics.median(values), "min": min(values), "max": max(values)}
                       for step, values in steps.items()} for variant, steps in times.items()}
    ratios = {}
    for step in STEPS:
        deploy = stats["deploy.yml"][step]["median"]
        bare, helm = stats["bare task"][step]["median"], stats["raw helm"][step]["median"]
        ratios[step] = {"deploy_over_bare": deploy / bare if bare else float("inf"),
                        "deploy_over_helm": deploy / helm if helm else float("inf")}
        ratios[step]["goal"] = GOALS[step]
        ratios[step]["pass"] = ratios[step]["deploy_over_bare"] <= GOALS[step]
    return {"stats": stats, "ratios": ratios}


def format_table(summary: dict) -> list[str]:
    cell = "{median:6.1f} ({min:.1f}-{max:.1f})"
    lines = [f"{'seconds':<9}" + "".join(f"{variant:>19}" for variant in VARIANTS)
             + f"{'deploy.yml/bare task':>24}  {'goal':<12}{'deploy.yml/helm':>16}"]
    for step in STEPS:
        ratio = summary["ratios"][step]
        mark = "PASS" if ratio["pass"] else "MISS"
        lines.append(f"{step:<9}" + "".join(f"{cell.format(**summary['stats'][variant][step]):>19}"
                                            for variant in VARIANTS)
                     + f"{ratio['deploy_over_bare']:23.2f}x  {'<= ' + str(ratio['goal']) + 'x ' + mark:<12}"
                     + f"{ratio['deploy_over_helm']:15.2f}x")
    lines.append("cells: median (min-max) over the rounds; ratios are of the medians")
    return lines


def format_breakdown(title: str, figures: dict, reference: dict | None = None) -> list[str]:
    lines = [f"{title}:",
             f"  ansible-playbook wall time {figures['wall_seconds']:7.2f} s",
             f"    outside the plays        {figures['outside_plays_seconds']:7.2f} s"
             "  (startup: Python, collections, inventory, parsing; and exit)",
             f"    plays, first to last task {figures['play_seconds']:6.2f} s",
             f"      sum of task times      {figures['task_seconds']:7.2f} s"
             f"  ({figures['tasks']} tasks: {figures['tasks_ran']} ran, {figures['tasks_skipped']} skipped)",
             f"      between tasks          {figures['between_tasks_seconds']:7.2f} s"]
    if reference:
        lines.append(f"  (bare task, same step: wall {reference['wall_seconds']:.2f} s, outside the play "
                     f"{reference['outside_plays_seconds']:.2f} s, its task {reference['task_seconds']:.2f} s)")
    lines.append("  time per role:")
    for role, values in figures["roles"].items():
        lines.append(f"    {values['seconds']:6.2f} s  {role:<14} {values['tasks']:3} tasks, {values['ran']:3} ran, "
                     f"{values['module_calls']:3} module calls")
    lines.append(f"  slowest {len(figures['slowest'])} tasks:")
    for task in figures["slowest"]:
        lines.append(f"    {task['seconds']:6.2f} s  {task['task']}  [{task['action']}, {task['status']}]")
    lines.append(f"  module calls (tasks that ran, not controller-side): {figures['module_calls']}")
    for action, count in figures["module_calls_by_action"].items():
        items = figures["module_call_loop_items"].get(action)
        lines.append(f"    {count:3}  {action}" + (f"  ({items} loop items)" if items else ""))
    return lines


# -- running --------------------------------------------------------------------------------
def run(argv: list[str], env: dict) -> tuple[float, str]:
    """Run a command from the repository root; return its wall time and standard output."""
    started = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        try:
            detail = "\n".join(failure_messages(parse_report(done.stdout))) or done.stderr[-4000:]
        except ValueError:
            detail = (done.stdout + done.stderr)[-4000:]
        raise CommandFailed(f"{' '.join(argv)} failed ({done.returncode}):\n{detail}")
    return seconds, done.stdout


def helm_argv(helm: str, namespace: str) -> list[str]:
    return [helm, "upgrade", "--install", "inferno", CHART, "-f", VALUES,
            "-n", namespace, "--create-namespace", "--wait", "--timeout", "5m"]


def write_bare_playbook(folder: Path, helm: str | None) -> Path:
    """The one-task playbook. The namespace comes as -e bench_namespace."""
    helm_task = {"release_name": "inferno", "release_namespace": "{{ bench_namespace }}",
                 "create_namespace": True, "chart_ref": str(ROOT / CHART),
                 "values_files": [str(ROOT / VALUES)], "wait": True}
    if helm:
        helm_task["binary_path"] = helm
    play = {"name": "One bare kubernetes.core.helm task", "hosts": "localhost", "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "tasks": [{"name": "Install or upgrade the release", "kubernetes.core.helm": helm_task}]}
    path = folder / "bare-helm-task.yml"
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    return path


def bare_argv(playbook: Path, namespace: str) -> list[str]:
    # Run from the repository root like deploy.yml, so both read the same ansible.cfg.
    return [str(VENV_BIN / "ansible-playbook"), str(playbook), "-e", f"bench_namespace={namespace}"]


def deploy_argv(helm: str | None, namespace: str) -> list[str]:
    # Like raw helm, on kwok's simulated nodes: the local-cluster host's real-node layer is dropped.
    argv = [str(VENV_BIN / "ansible-playbook"), "deploy.yml", "-i", "inventories/dev",
            "-e", '{"inferno_values_files": []}', "-e", f"inferno_namespace={namespace}"]
    return argv + (["-e", f"inferno_helm_binary={helm}"] if helm else [])


def main() -> int:  # pylint: disable=too-many-locals,too-many-statements
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="rounds to time (default 3)")
    parser.add_argument("--helm", help="helm binary for all three (default: helm on PATH, .venv/bin first)")
    parser.add_argument("--save", type=Path, help="also write each playbook run's JSON report into this folder")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    from tools.local_cluster.cluster import LocalCluster  # pylint: disable=import-outside-toplevel

    helm_given = str(Path(args.helm).resolve()) if args.helm else None
    helm = helm_given or str(VENV_BIN / "helm")
    env = {key: value for key, value in os.environ.items() if key not in ("ANSIBLE_CONFIG", "INFERNO_CONTEXT")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_JSON_INDENT="0")
    times = {variant: {step: [] for step in STEPS} for variant in VARIANTS}
    figures: dict[str, dict[str, list[dict]]] = {variant: {step: [] for step in STEPS}
                                                 for variant in ("bare task", "deploy.yml")}

    def timed(variant: str, index: int) -> None:
        namespace = f"{NAMESPACE_PREFIX[variant]}-{index}"
        argv = {"raw helm": lambda: helm_argv(helm, namespace),
                "bare task": lambda: bare_argv(playbook, namespace),
                "deploy.yml": lambda: deploy_argv(helm_given, namespace)}[variant]()
        for step in STEPS:
            seconds, stdout = run(argv, env)
            times[variant][step].append(seconds)
            if variant in figures:
                report = parse_report(stdout)
                figures[variant][step].append(breakdown(report, seconds))
                if args.save:
                    name = f"{variant.replace(' ', '-').replace('.', '-')}-{step}-{index}.json"
                    (args.save / name).write_text(json.dumps(report, indent=1))

    root = Path(tempfile.mkdtemp(prefix="inferno-bench-deploy-"))
    playbook = write_bare_playbook(root, helm_given)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        shutil.copy(playbook, args.save)
    cluster = LocalCluster(root / "cluster", real_node=False)  # all three on kwok nodes
    try:
        kubeconfig = cluster.up()["kubeconfig"]
        env.update(KUBECONFIG=kubeconfig, INFERNO_KUBECONFIG=kubeconfig)
        for index in range(args.repeat):
            order = VARIANTS[index % 3:] + VARIANTS[:index % 3]
            for variant in order:
                timed(variant, index)
            line = "; ".join(f"{variant} {times[variant]['install'][-1]:.1f}/{times[variant]['no-op'][-1]:.1f} s"
                             for variant in order)
            print(f"round {index + 1}/{args.repeat} (install/no-op): {line}", file=sys.stderr)
    except CommandFailed as error:
        print(f"FAIL: {error}", file=sys.stderr)
        return 2
    finally:
        cluster.down()
        shutil.rmtree(root, ignore_errors=True)

    summary = summarize(times)
    deploy_changed = [figure["changed"] for figure in figures["deploy.yml"]["no-op"]]
    bare_changed = [figure["changed"] for figure in figures["bare task"]["no-op"]]
    print(f"helm: {helm}  rounds: {args.repeat}  (order of the three rotates per round)")
    print("\n".join(format_table(summary)))
    print(f"no-op reruns changed=: deploy.yml {deploy_changed}, bare task {bare_changed}")
    shown = {}
    for step in STEPS:
        index = median_index(times["deploy.yml"][step])
        shown[step] = {"round": index + 1, "deploy.yml": figures["deploy.yml"][step][index],
                       "bare task": figures["bare task"][step][median_index(times["bare task"][step])]}
    print()
    print("Where the time goes in deploy.yml (the round with the median wall time; ansible.posix.json times)")
    for step, title in (("no-op", "no-op rerun"), ("install", "install")):
        print("\n".join(format_breakdown(f"{title}, round {shown[step]['round']}", shown[step]["deploy.yml"],
                                         shown[step]["bare task"])))
    print(json.dumps({
        "helm": helm, "repeat": args.repeat, "seconds": times,
        "median_seconds": {variant: {step: round(values["median"], 2) for step, values in steps.items()}
                           for variant, steps in summary["stats"].items()},
        "ratios": {step: {key: round(value, 3) if isinstance(value, float) else value
                          for key, value in ratio.items()} for step, ratio in summary["ratios"].items()},
        "goals": GOALS, "deploy_rerun_changed": deploy_changed, "bare_rerun_changed": bare_changed,
        "where_the_time_goes": shown,
    }))
    if any(deploy_changed):
        print(f"FAIL: the deploy.yml rerun reported changes {deploy_changed}; it must be idempotent (changed=0)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
