# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask the API server to validate rendered objects without storing them.

``helm upgrade --dry-run=server`` renders with the cluster's capabilities but does not send
the objects for validation, so a value the API server refuses (a label that is not a valid
label value, say) is only found by the real upgrade, which then fails and rolls back. Here
each object is sent as a server-side apply with ``dryRun=All``: the server runs its defaulting,
validation and admission, stores nothing, and says what it refuses.

When the release's namespace does not exist yet (a first install), namespaced objects cannot
be sent there: they are sent to ``default`` under a generated name instead (nothing exists
under that name, so nothing is merged with them), and the refusals are reported under their
real names.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

from ansible_collections.inferno.ops.plugins.module_utils.kube_client import ApiException, api_error_text

try:
    from kubernetes.dynamic.exceptions import ResourceNotFoundError, ResourceNotUniqueError
except ImportError:  # the module reports the missing kubernetes library
    ResourceNotFoundError = ResourceNotUniqueError = LookupError

FIELD_MANAGER = "inferno-ops-preflight"
STAND_IN_NAMESPACE = "default"


def stand_in_name(obj):
    """A name nothing in the stand-in namespace has: derived from the object, short enough for any kind."""
    digest = hashlib.sha256(json.dumps(obj.get("metadata", {}).get("name", "")).encode("utf-8")).hexdigest()[:10]
    return "inferno-ops-dry-run-" + digest


def validate(dynamic, objects, namespace, namespace_exists):
    """Dry-run apply each (kind, namespace, name) -> object of ``objects``.

    ``dynamic`` is kubernetes.core's dynamic client (kube_client.dynamic_client), whose
    discovery is cached between runs. Returns (validated labels, refusals): each refusal
    names the object and gives the API server's message. Kinds the cluster does not serve
    are refused with a clear message.
    """
    validated, refusals = [], []
    for key in sorted(objects):
        kind, object_namespace, name = key
        label = "{0} {1}/{2}".format(kind, object_namespace, name)
        obj = json.loads(json.dumps(objects[key]))
        try:
            resource = dynamic.resources.get(api_version=obj.get("apiVersion"), kind=kind)
        except (ResourceNotFoundError, ResourceNotUniqueError):
            refusals.append((label, "the cluster does not serve {0} {1}; install what defines it, or turn off the "
                             "value that renders it".format(obj.get("apiVersion"), kind)))
            continue
        target_namespace = None
        if resource.namespaced:
            target_namespace = object_namespace
            if object_namespace == namespace and not namespace_exists:
                target_namespace = STAND_IN_NAMESPACE
                obj["metadata"]["name"] = stand_in_name(obj)
            obj["metadata"]["namespace"] = target_namespace
        try:
            dynamic.server_side_apply(resource, body=obj, name=obj["metadata"]["name"], namespace=target_namespace,
                                      field_manager=FIELD_MANAGER, force_conflicts=True, dry_run="All")
            validated.append(label)
        except ApiException as error:
            if error.status in (401, 403) and target_namespace == STAND_IN_NAMESPACE:
                # Not allowed to dry-run in the stand-in namespace: the real install validates it.
                continue
            message = api_error_text(error)
            if target_namespace == STAND_IN_NAMESPACE and target_namespace != object_namespace:
                message = message.replace(obj["metadata"]["name"], name).replace(
                    'namespace "{0}"'.format(STAND_IN_NAMESPACE), 'namespace "{0}"'.format(namespace))
            refusals.append((label, message))
    return validated, refusals


INVALID_VALUE = re.compile(r'Invalid value: "((?:[^"\\]|\\.)*)"')


def value_paths(values, text, path=""):
    """The dotted paths of the leaves of ``values`` equal to ``text`` (secrets are not searched)."""
    found = []
    if isinstance(values, dict):
        for key in sorted(values):
            if not path and key == "secrets":
                continue
            found.extend(value_paths(values[key], text, "{0}.{1}".format(path, key) if path else str(key)))
    elif isinstance(values, list):
        for index, item in enumerate(values):
            found.extend(value_paths(item, text, "{0}[{1}]".format(path, index)))
    elif values is not None and not isinstance(values, bool) and str(values) == text:
        found.append(path)
    return found


def describe_refusals(refusals, values):
    """One line per distinct reason, naming its objects and the values that hold a refused value.

    ``refusals`` is a list of (object label, server message); the object's own name is taken
    out of the message so that the same reason given for many objects is said once.
    """
    reasons = {}
    for label, message in refusals:
        reason = re.sub(r'^\S+ "[^"]*" is invalid: ', "", message)
        reasons.setdefault(reason, []).append(label)
    lines = []
    for reason in sorted(reasons, key=lambda key: reasons[key][0]):
        line = "- {0}: {1}".format(", ".join(reasons[reason]), reason)
        sources = sorted(set(path for text in INVALID_VALUE.findall(reason) for path in value_paths(values, text)))
        if sources:
            line += " (that value comes from {0})".format(", ".join(sources))
        lines.append(line)
    return lines
