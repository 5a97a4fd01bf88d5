#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_info
short_description: Read where a Helm release stands - its latest revision, history and values
version_added: 0.1.0
author:
  - Inferno Ops maintainers (@inferno-ops)
description:
  - Reads a release with C(helm history) (and C(helm status) for O(values=true)), through the
    same connection options as the collection's other modules.
  - Never fails because the release is missing; RV(installed) says whether it is there, so the
    caller can word its own error.
  - Fails when helm cannot reach the cluster, and with O(fail_when_pending=true) when the
    release is stuck in a pending operation, naming how to free it.
  - Values under the chart's C(secrets) key are masked.
options:
  history_max:
    description:
      - How many revisions of history to return, newest last. C(0) returns only RV(release).
    type: int
    default: 10
  values:
    description:
      - Also return the latest revision's user-supplied values (secrets masked).
    type: bool
    default: false
  fail_when_pending:
    description:
      - Fail when the latest revision is C(pending-install), C(pending-upgrade),
        C(pending-rollback) or C(uninstalling).
    type: bool
    default: false
extends_documentation_fragment:
  - inferno.ops.release
  - kubernetes.core.helm_common_options
  - inferno.ops.read_only
requirements:
  - helm >= 3.13 (4.x included)
seealso:
  - module: kubernetes.core.helm_info
  - module: inferno.ops.release_health
"""

EXAMPLES = r"""
- name: Read the release's latest revision and its history
  inferno.ops.release_info:
    release_name: inferno
    release_namespace: inferno-prod
    history_max: 10
  register: release

- name: Fail unless the release is deployed
  ansible.builtin.assert:
    that: release.installed and release.release.status == 'deployed'
    fail_msg: "inferno is {{ release.release.status | default('not installed') }}"
"""

RETURN = r"""
installed:
  description: Whether the release has any revision in the namespace.
  returned: always
  type: bool
  sample: true
pending:
  description: Whether the latest revision is in a pending operation.
  returned: always
  type: bool
  sample: false
release:
  description: The latest revision, or null when the release is not installed.
  returned: always
  type: dict
  contains:
    revision:
      description: Revision number.
      type: int
      sample: 4
    status:
      description: Helm status of that revision.
      type: str
      sample: deployed
    chart:
      description: Chart name and version.
      type: str
      sample: inferno-0.8.0
    app_version:
      description: The chart's appVersion.
      type: str
      sample: 0.8.0
    updated:
      description: When the revision was made.
      type: str
      sample: "2026-11-27T19:02:11.123456789Z"
    description:
      description: What helm recorded for it.
      type: str
      sample: Upgrade complete
history:
  description: The last O(history_max) revisions, oldest first, each with the keys of RV(release).
  returned: always
  type: list
  elements: dict
helm_version:
  description: The version of the helm that read the release.
  returned: always
  type: str
  sample: v3.17.2
values:
  description: The latest revision's user-supplied values, secrets masked.
  returned: when O(values=true) and the release is installed
  type: dict
"""

from ansible_collections.inferno.ops.plugins.module_utils.redaction import mask_values
from ansible_collections.inferno.ops.plugins.module_utils.release_state import (
    PENDING_STATUSES,
    ReleaseState,
    ReleaseStateError,
    entry_summary,
    run_release_module,
    stuck_message,
)


def read_release(module):
    params = module.params
    state = ReleaseState(module, params["release_name"], params["release_namespace"])
    entries = state.history(max(params["history_max"], 1))
    latest = entries[-1] if entries else None
    pending = bool(latest and latest["status"] in PENDING_STATUSES)
    if pending and params["fail_when_pending"]:
        raise ReleaseStateError(stuck_message(state.name, state.namespace, latest))
    result = dict(
        changed=False,
        installed=latest is not None,
        pending=pending,
        release=entry_summary(latest) if latest else None,
        history=[entry_summary(entry) for entry in entries[-params["history_max"]:]] if params["history_max"] else [],
        helm_version=state.helm_version(),
    )
    if params["values"] and latest:
        result["values"] = mask_values(state.values())
    return result


def main():
    run_release_module(
        read_release,
        check=lambda params: "history_max must be 0 or more, got {0}.".format(params["history_max"])
        if params["history_max"] < 0 else None,
        history_max=dict(type="int", default=10),
        values=dict(type="bool", default=False),
        fail_when_pending=dict(type="bool", default=False),
    )


if __name__ == "__main__":
    main()
