# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options that name the Helm release a module works on: the code side of the
inferno.ops.release doc fragment, so every module spells them the same way."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def release_options(**options):
    """release_name and release_namespace (as kubernetes.core.helm names them), plus ``options``."""
    spec = dict(
        release_name=dict(type="str", required=True, aliases=["name"]),
        release_namespace=dict(type="str", required=True, aliases=["namespace"]),
    )
    spec.update(options)
    return spec
