# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way our modules reach the Kubernetes API.

Connection options and their rules (kubeconfig, context, host, api_key, validate_certs,
ca_cert, proxies, impersonation...) are kubernetes.core's: its AUTH_ARG_SPEC for the
code, its k8s_auth_options doc fragment for the docs, its client factory for the
configuration. We take the plain ``kubernetes.client.ApiClient`` underneath and use the
typed APIs, so a module makes only the requests it needs (no API discovery).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
from contextlib import contextmanager

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException

try:
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError as TransportError
except ImportError:  # AnsibleK8SModule reports the missing library
    client = None
    TransportError = OSError

    class ApiException(Exception):
        """Stands in when the kubernetes library is missing."""


# The typed API classes (client.CoreV1Api...) and the error a refused request raises.
__all__ = ["ApiException", "api_client", "api_error_text", "client", "connection_argument_spec", "k8s_module",
           "reported_api_errors"]


def connection_argument_spec(**options):
    """kubernetes.core's connection options plus the module's own."""
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(options)
    return spec


def k8s_module(argument_spec, **kwargs):
    """An AnsibleK8SModule (checks the kubernetes and PyYAML libraries) with check mode."""
    return AnsibleK8SModule(argument_spec=argument_spec, supports_check_mode=True, **kwargs)


def api_client(module):
    """A kubernetes.client.ApiClient for the module's connection options."""
    try:
        return get_api_client(module=module).client.client
    except CoreException as error:
        module.fail_json(msg="Cannot build a Kubernetes client from the connection options: {0}".format(error))


def api_error_text(error):
    """The API server's own message for a failed request, else the exception text."""
    body = getattr(error, "body", None)
    if body:
        try:
            return json.loads(body).get("message") or str(error)
        except (ValueError, AttributeError):
            return str(body)
    return str(error)


@contextmanager
def reported_api_errors(module, where="", next_step=None):
    """Turn a refused request or an unreachable server into fail_json with the server's words.

    ``next_step`` is called when a request fails; the sentence it returns (what was already
    done, how to finish) is added to the message.
    """
    try:
        yield
    except ApiException as error:
        module.fail_json(msg=with_next_step("The Kubernetes API refused a request{0}: {1}".format(
            where, api_error_text(error)), next_step))
    except (TransportError, OSError) as error:  # refused, timed out, TLS failure, name not found...
        module.fail_json(msg=with_next_step("Cannot reach the Kubernetes API{0}: {1}".format(where, error), next_step))


def with_next_step(message, next_step):
    advice = next_step() if next_step else ""
    return "{0}. {1}".format(message.rstrip("."), advice) if advice else message
