#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This file holds the documentation only: the work is done on the controller, by
# plugins/action/helm_with_progress.py, as ansible.builtin.pause's is.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: helm_with_progress
short_description: Run kubernetes.core.helm and print the release's rollout while helm waits
version_added: 0.1.0
author:
  - Inferno Ops maintainers (@inferno-ops)
description:
  - Runs the M(kubernetes.core.helm) module with the options in O(helm), in the background
    (an async job), and, while it runs, prints a line every O(progress_interval) seconds with
    what in the release is still not ready, its pods and their states (else its problems), as
    M(inferno.ops.release_health) reports them. A helm run over within the first
    O(progress_interval) seconds prints nothing extra.
  - 'A line reads "[prod-cluster] waiting for inferno-prod/inferno (42s of 600s): 1 of 2 pods ready;
    inferno-7d9f-x2x: ContainerCreating": the host, the namespace and release, the time waited of
    helm''s timeout, then what is not ready.'
  - The lines hold names and states only. The result is the one M(kubernetes.core.helm)
    returns, which holds the release's values; give the task C(no_log) when they are secret.
  - Returns, and fails, as M(kubernetes.core.helm) does, so C(register), C(failed_when) and a
    C(rescue) behave the same.
  - Needed because M(kubernetes.core.helm)'s action plugin does not support C(async), so a task
    cannot poll it.
options:
  helm:
    description:
      - The options of M(kubernetes.core.helm) (C(release_name), C(release_namespace), C(chart_ref),
        C(release_values), C(wait), C(timeout)...), passed on as given.
      - The connection options of this task (from C(module_defaults) through the
        C(group/inferno.ops.k8s) and C(group/inferno.ops.helm) groups) that
        M(kubernetes.core.helm) takes are added, unless O(helm) gives them.
    type: dict
    required: true
  progress_interval:
    description:
      - Seconds between progress lines; the job itself is checked every second.
      - C(0) runs helm without lines, as M(kubernetes.core.helm) alone would.
    type: int
    default: 5
  job_timeout:
    description:
      - Seconds the helm job may run before it is stopped and the task fails, saying the
        release may be left pending.
      - Default, twice helm's C(timeout) (or C(wait_timeout), else helm's 5m) plus 300
        seconds, so that helm's own timeout, and an atomic rollback after it, end first.
    type: int
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - inferno.ops.helm_binary
attributes:
  check_mode:
    support: full
    description: M(kubernetes.core.helm) runs once in check mode, without the background job or lines.
  diff_mode:
    support: full
    description: As M(kubernetes.core.helm).
notes:
  - The M(kubernetes.core.helm) module runs on the target without its action plugin, which, on
    a local connection, looks a relative C(kubeconfig) up in the role's files and decrypts a
    vaulted one. Give an absolute, plain C(kubeconfig), as this collection's own modules need.
  - While the job runs, its result (with the release's values) is in ansible's async
    directory (C(~/.ansible_async) on the target), as with C(async) on a task; it is removed
    when the job ends, also when the task fails.
  - With C(async) on the task, or a connection with its own async (Windows), the module runs
    without lines.
requirements:
  - kubernetes.core (M(kubernetes.core.helm)) and helm, as M(kubernetes.core.helm) needs them.
seealso:
  - module: kubernetes.core.helm
  - module: inferno.ops.release_health
"""

EXAMPLES = r"""
- name: Install or upgrade the production release, showing the rollout every 10 seconds
  inferno.ops.helm_with_progress:
    progress_interval: 10
    helm:
      release_name: inferno
      release_namespace: inferno-prod
      chart_ref: /srv/charts/inferno
      values_files:
        - /srv/values/prod.yaml
      wait: true
      timeout: 10m
      atomic: true
  register: upgrade
  no_log: true  # the result holds the release's values
  module_defaults:
    group/inferno.ops.k8s:
      kubeconfig: /etc/inferno/prod.kubeconfig
      context: prod-cluster
"""

RETURN = r"""
status:
  description: The release's status after the run, as M(kubernetes.core.helm) returns it.
  returned: as M(kubernetes.core.helm) returns it
  type: dict
command:
  description: The helm command M(kubernetes.core.helm) ran.
  returned: as M(kubernetes.core.helm) returns it
  type: str
stdout:
  description: helm's output.
  returned: as M(kubernetes.core.helm) returns it
  type: str
stderr:
  description: helm's errors.
  returned: as M(kubernetes.core.helm) returns it
  type: str
"""
