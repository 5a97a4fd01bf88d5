# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of inferno.ops.pvc_snapshot: a line per poll while snapshots become ready.

With ``state=present`` or ``state=imported`` and ``wait``, the module runs as an async job,
unchanged (its own wait, timeout and errors); every ``progress_interval`` seconds this action
asks inferno.ops.backup_info how many of the backup's snapshots are ready and prints a line,
and once the job ends it returns the job's result, as the module gave it. The task's
arguments, module_defaults included (the module is in group/inferno.ops.k8s), go to the
module as they are, and its connection options to backup_info.

In check mode, without ``wait``, with ``progress_interval`` 0, for the deleting states (quick:
the storage deletes in the background), or with ``async`` on the task, the module runs as it
would without this plugin. Documentation: plugins/modules/pvc_snapshot.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.inferno.ops.plugins.module_utils.args_common import K8S_CONNECTION
from ansible_collections.inferno.ops.plugins.plugin_utils.progress import (
    Progress,
    ProgressAction,
    backup_state,
    connection_args,
    job_with_progress,
    release_names,
    wait_settings,
)

MODULE = "inferno.ops.pvc_snapshot"
OBSERVER = "inferno.ops.backup_info"
# The job may run this much longer than wait_timeout (reading the claims, creating the
# snapshots, making each content Retain) before async_wrapper stops it.
JOB_MARGIN = 300


def waits(args):
    """(wait_timeout, progress_interval) when the task waits for snapshots with progress lines, else None."""
    settings = wait_settings(args, wait_default=True, timeout_default=600)
    if settings is None:
        return None
    wait, timeout, interval = settings
    if not wait or interval <= 0 or timeout <= 0 or args.get("state", "present") not in ("present", "imported"):
        return None
    return timeout, interval


class ActionModule(ProgressAction):

    MODULE = MODULE

    def timing(self, args):
        return None if self._task.check_mode else waits(args)

    def wait_with_progress(self, args, task_vars, timeout, interval):
        name, namespace = release_names(args)
        backup_id = args.get("backup_id")
        # backup_info takes no binary_path.
        observer_args = dict(connection_args(args, K8S_CONNECTION), release_name=name, release_namespace=namespace)

        def observe():
            info = self._execute_module(module_name=OBSERVER, module_args=dict(observer_args), task_vars=task_vars)
            return backup_state(info, backup_id)

        progress = Progress(task_vars.get("inventory_hostname", "localhost"),
                            "backup {0} of {1}/{2}".format(backup_id, namespace, name), timeout, interval)
        result, stopped = job_with_progress(self, task_vars, MODULE, args, timeout + JOB_MARGIN, progress, observe)
        if stopped:
            return dict(failed=True, msg="inferno.ops.pvc_snapshot did not end within {0}s. Nothing was deleted: run "
                        "the task again with backup_id={1} to complete the backup.".format(
                            timeout + JOB_MARGIN, backup_id))
        return result
