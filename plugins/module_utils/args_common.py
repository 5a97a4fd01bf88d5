# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument specs our modules share, defined once.

Connection options are kubernetes.core's own, imported rather than copied:

- ``K8S_CONNECTION``: ``AUTH_ARG_SPEC`` (kubeconfig, context, host, api_key, validate_certs,
  ca_cert, client certificates, proxies, impersonation), documented by the
  ``kubernetes.core.k8s_auth_options`` fragment, with the K8S_AUTH_* environment fallbacks of
  the helm options, so that a module that also runs helm gives it the same connection.
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


def _with_environment_fallbacks(spec):
    """``spec`` with the K8S_AUTH_* fallbacks kubernetes.core's helm options have.

    kubernetes.core's API client reads K8S_AUTH_HOST, K8S_AUTH_API_KEY, K8S_AUTH_SSL_CA_CERT...
    itself when an option is not given, but helm only gets what the module's parameters
    hold. With the fallbacks in the spec, both see the same connection, also when it comes
    from the environment only (AWX's bearer-token credential).
    """
    spec = copy.deepcopy(spec)
    for name, option in HELM_AUTH_ARG_SPEC.items():
        if name in spec and "fallback" in option and "fallback" not in spec[name]:
            spec[name]["fallback"] = option["fallback"]
    return spec


K8S_CONNECTION = _with_environment_fallbacks(AUTH_ARG_SPEC)
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
