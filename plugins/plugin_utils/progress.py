# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress lines for the long waits of this collection's action plugins.

Modules cannot print while they run: they answer once, at the end. So the waits a user
watches (helm's ``--wait``, a snapshot becoming ready, a release rolling out) are driven from
the controller by an action plugin, which prints one line per poll with what is still not
ready, and returns what the module returned:

- ``Progress`` says when a line is due (at most one per interval, none before the first
  interval is over, so a fast task prints nothing extra) and prints it, prefixed with the
  host, through ``Display().display``. In a worker process ansible-core sends that to the
  main process, which prints it at once, while the task still runs.
- ``ModuleJob`` runs a module as an async job (ansible-core's async_wrapper, as ``async:``
  on a task does) and polls it with ``async_status``, so that the action can read the
  cluster between polls.
- ``ProgressAction`` is the action plugins' common ``run``: the module once, as ansible runs
  it, or the subclass's wait with lines; ``job_with_progress`` runs a module as a job with a
  line per interval.
- ``release_state`` and ``backup_state`` turn what inferno.ops.release_health and
  inferno.ops.backup_info return into the text of a line: names and states only, never a value.

Controller-side code, shared by plugins/action/*.py; unit-tested in tests/unit/plugins/action/.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import tempfile
import time

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash
from ansible_collections.inferno.ops.plugins.module_utils.args_common import HELM_CONNECTION, K8S_CONNECTION

# Connection options that group/inferno.ops.k8s and group/inferno.ops.helm give a task
# through module_defaults, by name with their aliases. An action passes on the ones its task
# has, as it has them, to the modules it runs: all of them to this collection's modules,
# helm's own to kubernetes.core.helm.
K8S_OPTIONS = dict(K8S_CONNECTION, binary_path=HELM_CONNECTION["binary_path"])
HELM_OPTIONS = HELM_CONNECTION
# Pods or snapshots named in a line; the rest are counted.
NOT_READY_SHOWN = 3
# Keys async_status adds to the job's own result.
JOB_KEYS = ("ansible_job_id", "started", "finished", "results_file", "erased")


class Progress(object):
    """Prints ``[host] waiting for <subject> (<elapsed>s of <timeout>s): <state>``, at most once per ``interval``.

    ``interval`` 0 prints nothing. The first line is due ``interval`` seconds after the start.
    """

    def __init__(self, host, subject, timeout, interval, clock=None, show=None):
        self.host = host
        self.subject = subject
        self.timeout = timeout
        self.interval = interval
        self.clock = clock or time.monotonic
        self.show = show or Display().display
        self.started = self.clock()
        self.last = self.started
        self.lines = 0

    def elapsed(self):
        return self.clock() - self.started

    def due(self):
        return self.interval > 0 and self.clock() - self.last >= self.interval

    def line(self, state, elapsed=None):
        limit = " of {0}s".format(int(self.timeout)) if self.timeout else ""
        return "[{0}] waiting for {1} ({2}s{3}): {4}".format(
            self.host, self.subject, int(self.elapsed() if elapsed is None else elapsed), limit, state)

    def report(self, observe):
        """Start the next interval, and print the line for the state ``observe()`` reads.

        The interval counts from when the reading starts, so that the lines keep to the
        interval however long a reading takes; the line shows the time the reading started.
        """
        self.last = self.clock()
        elapsed = self.last - self.started
        state = observe()
        self.show(self.line(state, elapsed))
        self.lines += 1


def _names_and_states(entries, total_word):
    """'<ready> of <total> <total_word> ready; name: state; ...' for entries of {name, ready, state}."""
    waiting = [entry for entry in entries if not entry.get("ready")]
    parts = ["{0} of {1} {2} ready".format(len(entries) - len(waiting), len(entries), total_word)]
    parts.extend("{0}: {1}".format(entry.get("name", "?"), entry.get("state") or "not ready")
                 for entry in waiting[:NOT_READY_SHOWN])
    if len(waiting) > NOT_READY_SHOWN:
        parts.append("{0} more not ready".format(len(waiting) - NOT_READY_SHOWN))
    return parts, waiting


def release_state(health):
    """What is still not ready in a release, from inferno.ops.release_health's result (wait=false).

    The pods and their states first; when every pod is ready (old replicas terminating, a
    Service without endpoints yet), the problems the module reports; a failed read, its message.
    """
    if health.get("failed"):
        return "could not read the release: {0}".format(health.get("msg", "no message"))
    pods = health.get("pods") or []
    parts, waiting = _names_and_states(pods, "pods") if pods else (["no pods yet"], [])
    if not waiting:
        problems = health.get("problems") or []
        parts.extend(problems if problems else ["rolled out, helm is finishing"])
    return "; ".join(parts)


def backup_state(info, backup_id):
    """What is still not ready in backup ``backup_id``, from inferno.ops.backup_info's result."""
    if info.get("failed"):
        return "could not read the snapshots: {0}".format(info.get("msg", "no message"))
    found = [entry for entry in info.get("backup_sets") or [] if entry.get("backup_id") == backup_id]
    if not found:
        return "no snapshot of backup {0} yet".format(backup_id)
    backup = found[0]
    errors = backup.get("errors") or {}
    entries = [dict(name=name, ready=name not in backup.get("not_ready", []),
                    state=errors.get(name) or "not ready yet") for name in backup.get("snapshots") or []]
    return "; ".join(_names_and_states(entries, "snapshots")[0])


def connection_args(args, options):
    """The connection options of ``options`` (a spec) that the task gives, as it gives them,
    by their own names (a value given by an alias, such as ssl_ca_cert, is found too)."""
    found = {}
    for name, option in options.items():
        for key in [name] + list(option.get("aliases") or []):
            if args.get(key) is not None:
                found[name] = args[key]
                break
    return found


def raw_options(options):
    """A spec that takes ``options`` (and their aliases) as they come: the modules check them."""
    return dict((name, dict(type="raw", aliases=list(option.get("aliases") or [])))
                for name, option in options.items())


def wait_settings(args, wait_default, timeout_default):
    """(wait, wait_timeout, progress_interval) of a task's arguments, or None when one is not
    a boolean or a whole number: the module then runs once and refuses it in its own words."""
    try:
        return (boolean(args.get("wait", wait_default), strict=True), int(args.get("wait_timeout", timeout_default)),
                int(args.get("progress_interval", 5)))
    except (TypeError, ValueError):
        return None


def release_names(args):
    """(release name, namespace) from a module's arguments, aliases included."""
    return (args.get("release_name") or args.get("name"),
            args.get("release_namespace") or args.get("namespace"))


class ModuleJob(object):
    """A module run as an async job from an action plugin, polled until it ends.

    ``action`` is the running ActionBase; its ``_execute_module`` starts the job (through
    ansible-core's async_wrapper, the way ``async:`` on a task does).

    This collection's modules run on the controller (``connection: local``). There the job
    keeps its result file in a folder of its own, made private (0700): the result of a helm
    job holds the release's values, secrets included, and async_wrapper writes it readable by
    all. The job is polled by reading that file, as async_status would but without a module
    run per poll (about 0.4 s each here), so its end is seen within ``poll_seconds`` (0.2 s);
    ``cleanup`` removes the folder, result included, whatever happened. Over any other
    connection the job uses the connection's async_dir and is polled and cleaned up with
    async_status, once a second, pointed at the folder the wrapper reports (``results_file``):
    ansible would expand ``~`` to the passwd home, not to the job's $HOME.
    """

    LOCAL_TRANSPORTS = ("local", "ansible.builtin.local", "ansible.legacy.local")

    def __init__(self, action, task_vars):
        self.action = action
        self.task_vars = task_vars
        self.jid = None
        self.results_file = None
        self.private_dir = None
        self.local = getattr(action._connection, "transport", None) in self.LOCAL_TRANSPORTS
        self.poll_seconds = 0.2 if self.local else 1.0

    def start(self, module_name, module_args, time_limit):
        """Start the job; returns None, or the failed result when it could not start."""
        task = self.action._task
        shell = self.action._connection._shell
        saved_limit, saved_dir = task.async_val, shell.get_option("async_dir")
        if self.local:
            self.private_dir = tempfile.mkdtemp(prefix="inferno-ops-job-")
            shell.set_option("async_dir", self.private_dir)
        task.async_val = int(time_limit)  # async_wrapper's time limit is read from the task
        try:
            started = self.action._execute_module(module_name=module_name, module_args=module_args,
                                                  task_vars=self.task_vars, wrap_async=True)
        finally:
            task.async_val = saved_limit
            shell.set_option("async_dir", saved_dir)
        if started.get("failed") or not started.get("ansible_job_id"):
            self.remove_private_dir()
            return dict(started, failed=True, msg=started.get("msg") or "The job did not start.")
        self.jid = started["ansible_job_id"]
        self.results_file = started.get("results_file") or os.path.join(self.private_dir or "", self.jid)
        return None

    def status(self):
        """async_status's answer: ``finished`` true once the job's result is in."""
        if self.local:
            return self.read_results_file()
        return self.action._execute_module(
            module_name="ansible.legacy.async_status", task_vars=self.task_vars,
            module_args=dict(jid=self.jid, _async_dir=os.path.dirname(self.results_file)))

    def read_results_file(self):
        """What async_status answers, read from the job's file (async_wrapper replaces it whole)."""
        running = dict(started=1, finished=0, ansible_job_id=self.jid, results_file=self.results_file)
        try:
            with open(self.results_file) as handle:
                text = handle.read()
        except (IOError, OSError):
            return running  # not written yet
        try:
            data = json.loads(text)
        except ValueError:
            return running if not text.strip() else dict(
                running, failed=True, finished=1, msg="Could not parse the job's result: {0}".format(text[:200]))
        if data.get("started") and not data.get("finished"):
            return dict(running, **data)
        return dict(data, finished=1, ansible_job_id=self.jid, results_file=self.results_file)

    def cleanup(self):
        try:
            if self.jid is not None and not self.local:
                self.action._execute_module(
                    module_name="ansible.legacy.async_status", task_vars=self.task_vars,
                    module_args=dict(jid=self.jid, mode="cleanup", _async_dir=os.path.dirname(self.results_file)))
        finally:
            self.jid = None
            self.remove_private_dir()

    def remove_private_dir(self):
        if self.private_dir:
            shutil.rmtree(self.private_dir, ignore_errors=True)
            self.private_dir = None

    @staticmethod
    def stopped(status):
        """Whether async_wrapper stopped the job at its time limit (its result is only that)."""
        return bool(status.get("failed")) and "child_pid" in status and status.get("msg") == "Timeout exceeded"

    @staticmethod
    def result(status):
        """The job's own result, without the keys async_status adds."""
        return dict((key, value) for key, value in status.items() if key not in JOB_KEYS)


def wait_for_job(job, progress, observe, check_every=None, give_up_after=None, sleep=None):
    """Poll ``job`` every ``check_every`` seconds (the job's ``poll_seconds`` by default) until
    it finishes; when a line is due, print ``observe()`` (a state text). Returns async_status's
    last answer, or None when the job is still running after ``give_up_after`` seconds."""
    sleep = sleep or time.sleep
    check_every = check_every or job.poll_seconds
    while True:
        sleep(check_every)
        status = job.status()
        if status.get("finished") or status.get("failed"):
            return status
        if give_up_after is not None and progress.elapsed() >= give_up_after:
            return None
        if progress.due():
            progress.report(observe)


def job_with_progress(action, task_vars, module, module_args, time_limit, progress, observe):
    """Run ``module`` as a job stopped after ``time_limit`` seconds, with ``progress`` lines of
    ``observe()`` while it runs. Returns (result, stopped): the module's result (or the failure
    that kept the job from starting), or (None, True) when the job was stopped at its time
    limit or never answered."""
    job = ModuleJob(action, task_vars)
    failed = job.start(module, module_args, time_limit)
    if failed:
        return failed, False
    try:
        status = wait_for_job(job, progress, observe, give_up_after=time_limit + 30)
    finally:
        job.cleanup()
    if status is None or job.stopped(status):
        return None, True
    return job.result(status), False


class ProgressAction(ActionBase):
    """An action plugin for a module whose wait shows progress.

    ``plan(task_vars)`` returns the module's arguments and, when this task waits with lines,
    a callable that does so and returns the result; None runs the module once, as ansible
    would without the plugin (also whenever the task itself is ``async``). By default the
    arguments are the task's, and it waits with lines when ``timing(args)`` gives
    (wait_timeout, progress_interval), through ``wait_with_progress(args, task_vars, timeout,
    interval)``.
    """

    _supports_check_mode = True
    _supports_async = True
    MODULE = None

    def timing(self, args):
        raise NotImplementedError

    def wait_with_progress(self, args, task_vars, timeout, interval):
        raise NotImplementedError

    def plan(self, task_vars):
        args = dict(self._task.args)
        timing = self.timing(args)
        if timing is None:
            return args, None
        return args, lambda: self.wait_with_progress(args, task_vars, *timing)

    def run(self, tmp=None, task_vars=None):
        result = super(ProgressAction, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        task_vars = task_vars or {}
        module_args, wait_with_progress = self.plan(task_vars)
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        if wait_with_progress is None or self._task.async_val or self._connection.has_native_async:
            outcome = self._execute_module(module_name=self.MODULE, module_args=module_args, task_vars=task_vars,
                                           wrap_async=wrap_async)
        else:
            outcome = wait_with_progress()
        result = merge_hash(result, outcome)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
