#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_rollback
short_description: Roll a Helm release back to one of its revisions
version_added: 0.1.0
author:
  - Inferno Ops maintainers (@inferno-ops)
description:
  - Runs C(helm rollback <release> <revision>) through kubernetes.core's helm runner, so helm
    reaches the cluster with the same connection options as the collection's other modules.
    kubernetes.core has no module that rolls back.
  - Refuses, before anything changes, a revision that is not in the release's history, and a
    release stuck in a pending operation.
  - Always rolls back when asked (helm makes a new revision); use M(inferno.ops.helm_plan) with
    O(inferno.ops.helm_plan#module:rollback_to) first to find out whether it would change anything.
  - Returns the release's latest revision after the rollback, so no second read is needed.
options:
  revision:
    description:
      - The revision to return to.
    type: int
    required: true
  wait:
    description:
      - Wait until the rolled-back resources are ready (C(--wait)).
    type: bool
    default: true
  wait_timeout:
    description:
      - How long helm waits, as a helm duration (C(--timeout)) above 0, such as C(5m) or C(90s).
    type: str
    default: 5m
extends_documentation_fragment:
  - inferno.ops.release
  - kubernetes.core.helm_common_options
attributes:
  check_mode:
    support: full
    description: Checks the revision and reports the rollback as a change, without running it.
  diff_mode:
    support: none
    description: M(inferno.ops.helm_plan) with O(inferno.ops.helm_plan#module:rollback_to) shows the diff.
requirements:
  - helm >= 3.13 (4.x included)
seealso:
  - module: inferno.ops.helm_plan
  - module: inferno.ops.release_info
"""

EXAMPLES = r"""
- name: Roll the production release back to revision 3
  inferno.ops.release_rollback:
    release_name: inferno
    release_namespace: inferno-prod
    revision: 3
    wait_timeout: 10m
  register: rolled_back
"""

RETURN = r"""
release:
  description: The latest revision after the rollback (before it, in check mode).
  returned: always
  type: dict
  contains:
    revision:
      description: Revision number.
      type: int
      sample: 6
    status:
      description: Helm status of that revision.
      type: str
      sample: deployed
    chart:
      description: Chart name and version.
      type: str
    app_version:
      description: The chart's appVersion.
      type: str
    updated:
      description: When the revision was made.
      type: str
    description:
      description: What helm recorded for it.
      type: str
      sample: Rollback to 3
command:
  description: The helm command line run (or that would run, in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.inferno.ops.plugins.module_utils.durations import DURATION_BOUND, positive_duration
from ansible_collections.inferno.ops.plugins.module_utils.release_state import (
    ReleaseState,
    ReleaseStateError,
    entry_summary,
    run_release_module,
)


def roll_back(module):
    params = module.params
    state = ReleaseState(module, params["release_name"], params["release_namespace"])
    entries = state.history()
    if not entries:
        raise ReleaseStateError("Release '{0}' is not installed in namespace '{1}': there is nothing to roll back.".format(
            state.name, state.namespace))
    state.require_not_pending()
    kept = [entry["revision"] for entry in entries]
    if params["revision"] not in kept:
        raise ReleaseStateError(
            "Revision {0} is not in the history of {1} (kept revisions: {2}); helm keeps only the last history_max "
            "revisions. Choose one of those.".format(params["revision"], state.name, ", ".join(str(r) for r in kept)))
    args = ["rollback", state.name, str(params["revision"])]
    if params["wait"]:
        args += ["--wait", "--timeout", params["wait_timeout"]]
    command = state.argv(args)
    if module.check_mode:
        return dict(changed=True, release=entry_summary(entries[-1]), command=command)
    rc, out, err = state.run(args)
    if rc != 0:
        raise ReleaseStateError("helm rollback of {0} to revision {1} failed: {2}".format(
            state.name, params["revision"], (err or out).strip()))
    state.forget()  # the rollback made a revision: read the history again
    return dict(changed=True, release=entry_summary(state.latest()), command=command)


def option_problem(params):
    """Out-of-bounds options, refused before helm runs."""
    if params["revision"] < 1:
        return "revision must be 1 or more, got {0}.".format(params["revision"])
    if not positive_duration(params["wait_timeout"]):
        return "wait_timeout must be {0}, got {1!r}.".format(DURATION_BOUND, params["wait_timeout"])
    return None


def main():
    run_release_module(
        roll_back,
        check=option_problem,
        revision=dict(type="int", required=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="str", default="5m"),
    )


if __name__ == "__main__":
    main()
