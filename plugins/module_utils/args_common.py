# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument specs our modules share, defined once.

Connection options are kubernetes.core's own, imported rather than copied:

- ``K8S_CONNECTION``: ``AUTH_ARG_SPEC`` (kubeconfig, context, host, api_key, validate_certs,
  ca_cert, client certificates, proxies, impersonation), documented by the
  ``kubernetes.core.k8s_auth_options`` fragment. For modules that only call the API.
- ``HELM_CONNECTION``: ``HELM_AUTH_ARG_SPEC`` (binary_path, kubeconfig, context, host,
  api_key, ca_cert, validate_certs), documented by ``kubernetes.core.helm_common_options``,
  with its mutually exclusive pairs ``HELM_MUTUALLY_EXCLUSIVE``. For modules that run helm;
  their API calls are built from the same options (``kube_client.api_client``), so helm and
  the API always reach the same cluster as the same user.

``RELEASE`` names the release a module works on (the ``inferno.ops.release`` fragment).

``argument_spec(*parts, **options)`` deep-copies the parts, so no module can change a spec
another module shares.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.helm_args_common import (
    HELM_AUTH_ARG_SPEC,
    HELM_AUTH_MUTUALLY_EXCLUSIVE,
)

K8S_CONNECTION = AUTH_ARG_SPEC
HELM_CONNECTION = HELM_AUTH_ARG_SPEC
HELM_MUTUALLY_EXCLUSIVE = HELM_AUTH_MUTUALLY_EXCLUSIVE

RELEASE = dict(
    release_name=dict(type="str", required=True, aliases=["name"]),
    release_namespace=dict(type="str", required=True, aliases=["namespace"]),
)


def argument_spec(*parts, **options):
    """One spec from ``parts`` (deep-copied, later ones win) and the module's own ``options``."""
    spec = {}
    for part in parts:
        spec.update(copy.deepcopy(part))
    spec.update(copy.deepcopy(options))
    return spec


def mutually_exclusive(*parts):
    """The mutually exclusive pairs of the connection specs used, as fresh lists."""
    pairs = []
    if HELM_CONNECTION in parts:
        pairs.extend(list(pair) for pair in HELM_MUTUALLY_EXCLUSIVE)
    return pairs
