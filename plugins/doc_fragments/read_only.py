# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Modules that only read from the cluster.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    description: Reads only; check mode behaves like a normal run.
  diff_mode:
    support: none
    description: Nothing to compare.
requirements:
  - kubernetes >= 24.2.0
"""
