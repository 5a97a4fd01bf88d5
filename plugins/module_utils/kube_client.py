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
import re
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
__all__ = ["ApiException", "api_client", "api_error_text", "client", "dynamic_client", "failure_message",
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
    except (ApiException, TransportError, OSError) as error:  # refused, timed out, TLS failure, name not found...
        module.fail_json(msg=with_next_step(failure_message(error, where), next_step))


def failure_message(error, where=""):
    """One sentence for a request that failed: the server's refusal, expired credentials, or why it is unreachable."""
    if isinstance(error, ApiException):
        if getattr(error, "status", None) == 401:
            return ("The Kubernetes API refused the credentials{0} (401 Unauthorized): the token or client certificate "
                    "has expired or is not valid. Get fresh credentials (log in again, or a new ServiceAccount token) "
                    "and run again".format(where))
        return "The Kubernetes API refused a request{0}: {1}".format(where, api_error_text(error))
    return "Cannot reach the Kubernetes API{0}: {1}".format(where, unreachable(error))


# What urllib3's long error chains mean, in a few words, with the fix.
TRANSPORT_CAUSES = (
    (re.compile(r"Connection refused", re.I), "connection refused"),
    (re.compile(r"timed? ?out", re.I), "no answer (timed out)"),
    (re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed", re.I),
     "its TLS certificate is not trusted (check the certificate authority: the kubeconfig's certificate-authority, "
     "or ca_cert / K8S_AUTH_SSL_CA_CERT)"),
    (re.compile(r"Name or service not known|nodename nor servname|name resolution|getaddrinfo failed", re.I),
     "its host name does not resolve"),
    (re.compile(r"No route to host|Network is unreachable", re.I), "no route to it"),
)


def unreachable(error):
    """'<cause> at <host:port>. <fix>' for a transport error, instead of urllib3's whole chain."""
    text = str(error)
    cause = next((words for pattern, words in TRANSPORT_CAUSES if pattern.search(text)), None)
    host = re.search(r"host='([^']+)', port=(\d+)", text)
    where = " at {0}:{1}".format(host.group(1), host.group(2)) if host else ""
    if cause is None:
        return "{0}. Check that the cluster is up and that the connection options point at it".format(text)
    return ("{0}{1}. Check that the cluster is up and that the kubeconfig's server (or host / K8S_AUTH_HOST) points "
            "at it".format(cause, where))


def with_next_step(message, next_step):
    advice = next_step() if next_step else ""
    return "{0}. {1}".format(message.rstrip("."), advice) if advice else message
