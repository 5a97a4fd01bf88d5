# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way our modules reach the Kubernetes API.

Connection options and their rules are kubernetes.core's (see args_common), and so is the
client factory. ``dynamic_client`` gives kubernetes.core's dynamic client, whose discovery
is cached between runs; ``get_json`` reads a path as plain JSON through it, which avoids
importing the kubernetes library's typed API classes (about a second per module run).
``api_client`` gives the plain ApiClient, for modules that use the typed APIs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from contextlib import contextmanager

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
__all__ = ["ApiException", "api_client", "api_error_text", "client", "dynamic_client",
           "get_json", "k8s_module", "reported_api_errors"]


def k8s_module(argument_spec, **kwargs):
    """An AnsibleK8SModule (checks the kubernetes and PyYAML libraries) with check mode."""
    return AnsibleK8SModule(argument_spec=argument_spec, supports_check_mode=True, **kwargs)


def api_client(module):
    """A kubernetes.client.ApiClient for the module's connection options."""
    try:
        return get_api_client(module=module).client.client
    except CoreException as error:
        module.fail_json(msg="Cannot build a Kubernetes client from the connection options: {0}".format(error))


def dynamic_client(module):
    """kubernetes.core's dynamic client (discovery cached between runs), for kinds known only at run time."""
    try:
        return get_api_client(module=module).client
    except CoreException as error:
        module.fail_json(msg="Cannot build a Kubernetes client from the connection options: {0}".format(error))


def get_json(dynamic, path, **query):
    """GET ``path`` with the dynamic client and return the plain JSON document (camelCase keys).

    Raises ApiException (the dynamic client's errors are its subclasses) or a transport error.
    """
    response = dynamic.request("get", path, serialize=False, **query)
    return json.loads(response.data.decode("utf-8"))


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
