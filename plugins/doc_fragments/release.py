# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The Helm release a module works on.
    DOCUMENTATION = r"""
options:
  release_name:
    description:
      - Name of the Helm release. Its objects carry the label C(app.kubernetes.io/instance=<release_name>).
    type: str
    required: true
    aliases: [name]
  release_namespace:
    description:
      - Namespace of the release.
    type: str
    required: true
    aliases: [namespace]
"""
