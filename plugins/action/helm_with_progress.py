# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""inferno.ops.helm_with_progress: kubernetes.core.helm, with a line per poll while helm waits.

kubernetes.core.helm's own action plugin does not support ``async``, so a task cannot run it
in the background and poll it. This action runs the kubernetes.core.helm *module* as an async
job instead, with the options of ``helm`` and the connection options of the task; every
``progress_interval`` seconds it asks inferno.ops.release_health (wait=false) what is not ready
yet and prints a line (pod names and states only: helm's result, which holds the release's
values, is never printed); once the job ends it returns the job's result as the module gave
it, so ``register``, ``failed_when``, ``no_log`` and a ``rescue`` see what they saw before.

In check mode, with ``progress_interval`` 0, or with ``async`` on the task, the module runs
once, without lines. Documentation: plugins/modules/helm_with_progress.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.inferno.ops.plugins.module_utils.durations import go_duration_ns
from ansible_collections.inferno.ops.plugins.plugin_utils.progress import (
    HELM_OPTIONS,
    K8S_OPTIONS,
    Progress,
    ProgressAction,
    connection_args,
    job_with_progress,
    raw_options,
    release_names,
    release_state,
)

MODULE = "kubernetes.core.helm"
OBSERVER = "inferno.ops.release_health"
# helm's own default for --timeout.
HELM_DEFAULT_TIMEOUT = 300
# The job's time limit beyond helm's timeout, counted twice (an atomic upgrade that fails
# waits again while it rolls back): pulling and rendering the chart, hooks, history.
JOB_MARGIN = 300

ARGUMENT_SPEC = dict(
    helm=dict(type="dict", required=True),
    progress_interval=dict(type="int", default=5),
    job_timeout=dict(type="int"),
)
# The connection options come from module_defaults (group/inferno.ops.k8s, group/inferno.ops.helm)
# and are passed on as the task has them: kubernetes.core.helm and release_health check them.
ARGUMENT_SPEC.update(raw_options(K8S_OPTIONS))
ARGUMENT_SPEC.update(raw_options(HELM_OPTIONS))


def helm_timeout(helm_args):
    """Seconds helm waits (its ``timeout`` or ``wait_timeout``, a Go duration; 5m when unset)."""
    text = helm_args.get("timeout") or helm_args.get("wait_timeout")
    nanoseconds = go_duration_ns(str(text)) if text else None
    return nanoseconds // 10 ** 9 if nanoseconds else HELM_DEFAULT_TIMEOUT


class ActionModule(ProgressAction):

    MODULE = MODULE

    def plan(self, task_vars):
        dummy, args = self.validate_argument_spec(ARGUMENT_SPEC)
        helm_args = connection_args(self._task.args, HELM_OPTIONS)
        helm_args.update(args["helm"])  # the task's own helm options win
        if self._task.check_mode or args["progress_interval"] <= 0:
            return helm_args, None
        return helm_args, lambda: self.run_with_progress(args, helm_args, task_vars)

    def run_with_progress(self, args, helm_args, task_vars):
        name, namespace = release_names(helm_args)
        timeout = helm_timeout(helm_args)
        job_timeout = args["job_timeout"] or 2 * timeout + JOB_MARGIN
        observer_args = dict(connection_args(self._task.args, K8S_OPTIONS), release_name=name,
                             release_namespace=namespace)

        def observe():
            return release_state(self._execute_module(module_name=OBSERVER, module_args=dict(observer_args),
                                                      task_vars=task_vars))

        progress = Progress(task_vars.get("inventory_hostname", "localhost"), "{0}/{1}".format(namespace, name),
                            timeout, args["progress_interval"])
        result, stopped = job_with_progress(self, task_vars, MODULE, helm_args, job_timeout, progress, observe)
        if stopped:
            return dict(failed=True, msg=(
                "helm did not end within {0}s (job_timeout) and was stopped: release {1} in {2} may be left in a "
                "pending state. Run playbooks/status.yml to see it; a stuck release needs a rollback "
                "(playbooks/rollback.yml) before the next upgrade.").format(job_timeout, name, namespace))
        return result
