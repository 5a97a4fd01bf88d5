# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # For modules that talk to the API and also ask helm about the release; the other
    # connection options come from kubernetes.core.k8s_auth_options.
    DOCUMENTATION = r"""
options:
  binary_path:
    description:
      - The path of a helm executable to use. Default, C(helm) found on PATH.
      - helm reaches the cluster with the same connection options as the API calls.
    type: path
"""
