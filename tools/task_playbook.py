"""A one-task playbook on localhost that saves the task's registered result as JSON.

The integration tests and the benchmarks run single module tasks this way, through the
real ansible-playbook, and read back exactly what the module returned.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def write_task_playbook(workdir: Path, task: dict) -> tuple[Path, Path]:
    """Write the playbook for `task` into workdir; return its path and where the result will be."""
    result_file = workdir / f"result-{time.monotonic_ns()}.json"
    save = {"name": "Save the result", "check_mode": False,
            "ansible.builtin.copy": {"content": "{{ result | to_json }}", "dest": str(result_file)}}
    playbook = workdir / f"task-{time.monotonic_ns()}.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False,
                                     "tasks": [{**task, "register": "result"}, save],
                                     "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}}]))
    return playbook, result_file
