# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of inferno.ops.release_health: a line per poll while it waits.

With ``wait``, the module runs for at most ``progress_interval`` seconds at a time (its own
``wait_timeout``), and after each run that ended unhealthy at that limit this action prints
what is still not ready and runs it again, until the release is healthy or the task's
``wait_timeout`` is spent. The module polls every second within each run, so the wait ends as
soon as it did before; and since it does not fail on a timeout, a long wait cut into short
ones answers the same. The task's arguments, module_defaults included (the module is in
group/inferno.ops.k8s), go to the module as they are.

Without ``wait``, with ``progress_interval`` 0, or when one run covers the whole wait, the
module runs once, as it would without this plugin. Documentation: plugins/modules/release_health.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.inferno.ops.plugins.plugin_utils.progress import (
    Progress,
    ProgressAction,
    release_names,
    release_state,
    wait_settings,
)

MODULE = "inferno.ops.release_health"


def waits(args):
    """(wait_timeout, progress_interval) when the task waits long enough to print a line, else None.

    Values the module would refuse are left to it: the module then runs once and says why.
    """
    settings = wait_settings(args, wait_default=False, timeout_default=300)
    if settings is None:
        return None
    wait, timeout, interval = settings
    if not wait or interval <= 0 or timeout <= interval:
        return None
    return timeout, interval


class ActionModule(ProgressAction):

    MODULE = MODULE

    def timing(self, args):
        return waits(args)  # in check mode too: the module only reads

    def wait_with_progress(self, args, task_vars, timeout, interval):
        name, namespace = release_names(args)
        progress = Progress(task_vars.get("inventory_hostname", "localhost"), "{0}/{1}".format(namespace, name),
                            timeout, interval)
        while True:
            run_for = max(1, min(interval, int(math.ceil(timeout - progress.elapsed()))))
            health = self._execute_module(module_name=MODULE, module_args=dict(args, wait_timeout=run_for),
                                          task_vars=task_vars)
            # The module stops before its wait_timeout only when waiting cannot help (helm
            # says the release is not deployed as expected): then so does this loop.
            if (health.get("failed") or health.get("healthy") or health.get("waited_seconds", 0) < run_for
                    or progress.elapsed() >= timeout):
                break
            progress.report(lambda health=health: release_state(health))
        if not health.get("failed"):
            health["waited_seconds"] = round(progress.elapsed(), 1)
        return health
