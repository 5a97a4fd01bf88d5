"""What the action plugin tests share: an action built around a fake task, a scripted
``_execute_module``, a fake clock, and the progress lines it printed.

An action plugin runs modules through ``ActionBase._execute_module``; here that method is
replaced by ``Modules``, which records each call (module name, arguments, ``wrap_async``, and
the task's ``async_val`` at that moment) and answers from what the test scripted for that
module: a list of results, taken in order (each a dict, or a function of the arguments that
returns one), or one function for every call. A module also moves the clock on, as a real one
takes time: ``takes`` seconds, or a function of the arguments and the result.

The fixtures:

- ``clock``: the time of ``plugin_utils.progress`` (its ``time.monotonic`` and ``time.sleep``);
- ``printed``: the lines ``Display().display`` got from ``progress.Progress``;
- ``modules``: the ``Modules`` stand-in for ``_execute_module``;
- ``make_action(action_class, args, check_mode=False, async_val=0)``: the action, with the
  task's arguments (module_defaults already in them, as ansible-core gives them) and its
  ``_execute_module`` patched; ``run_action(action)`` runs it with the task vars of host
  ``prod-cluster``.
"""

from __future__ import annotations

import types

import pytest

from ansible_collections.inferno.ops.plugins.plugin_utils import progress

HOST = "prod-cluster"


class Clock(object):
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class Modules(object):
    """``_execute_module``'s stand-in: scripted answers per module, and every call recorded."""

    def __init__(self, clock):
        self.clock = clock
        self.answers = {}
        self.takes = {}  # module -> seconds each run takes (a number, or a function of the args)
        self.calls = []
        self.task = None

    def script(self, module, *answers, takes=0.5):
        """``module`` answers these, one per call, in order."""
        self.answers[module] = list(answers)
        self.takes[module] = takes

    def answer_with(self, module, function, takes=0.5):
        """``module`` answers every call with ``function(args)``."""
        self.answers[module] = function
        self.takes[module] = takes

    def __call__(self, module_name=None, module_args=None, task_vars=None, wrap_async=False, **kwargs):
        args = dict(module_args or {})
        self.calls.append(types.SimpleNamespace(module=module_name, args=args, wrap_async=wrap_async,
                                                async_val=self.task.async_val))
        answers = self.answers[module_name]
        answer = answers if callable(answers) else answers.pop(0)
        answer = dict(answer(args) if callable(answer) else answer)
        takes = self.takes[module_name]
        self.clock.now += takes(args, answer) if callable(takes) else takes
        return answer

    def of(self, module):
        return [call for call in self.calls if call.module == module]


class FakeShell:
    """A shell plugin's options; records each async_dir set, to check the job's private folder."""

    def __init__(self):
        self.tmpdir = None
        self.options = {"async_dir": "~/.ansible_async"}
        self.async_dirs = []

    def get_option(self, name):
        return self.options[name]

    def set_option(self, name, value):
        self.options[name] = value
        if name == "async_dir":
            self.async_dirs.append(value)


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(progress, "time", types.SimpleNamespace(monotonic=fake.monotonic, sleep=fake.sleep))
    return fake


@pytest.fixture(autouse=True)
def printed(monkeypatch):
    lines = []
    monkeypatch.setattr(progress, "Display", lambda: types.SimpleNamespace(display=lines.append))
    return lines


@pytest.fixture
def modules(clock):
    return Modules(clock)


@pytest.fixture
def make_action(modules, monkeypatch):
    def make(action_class, args, check_mode=False, async_val=0, transport="ssh"):
        task = types.SimpleNamespace(args=dict(args), async_val=async_val, check_mode=check_mode, action="test",
                                     environment=[], collections=[])
        # "ssh": the job is polled with async_status (the local path, which reads the result file, has
        # its own tests in test_progress.py).
        connection = types.SimpleNamespace(has_native_async=False, _shell=FakeShell(), transport=transport)
        action = action_class(task, connection, None, None, None, None)
        modules.task = task
        monkeypatch.setattr(action, "_execute_module", modules)
        monkeypatch.setattr(action, "_remove_tmp_path", lambda path: None)
        monkeypatch.setattr(action, "_remote_expand_user", lambda path: path.replace("~", "/home/ops"))
        monkeypatch.setattr(action, "get_shell_option", lambda name, default=None: default)
        return action
    return make


@pytest.fixture
def run_action():
    def run(action):
        return action.run(task_vars={"inventory_hostname": HOST})
    return run
