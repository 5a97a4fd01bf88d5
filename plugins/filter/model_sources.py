# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The models an inventory declares, as inferno.ops.model_delivery takes them.

An inventory's ``inferno_models`` entries may carry keys the module does not take (``smoke``,
for the verify role), and a controller path may start with ``~``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleFilterError

DELIVERY_KEYS = ("name", "sha256", "source")


def model_sources(models):
    """``models`` with only the keys model_delivery takes, and ``~`` expanded in controller paths."""
    if not isinstance(models, list):
        raise AnsibleFilterError("inferno_models must be a list of models, each with name, source and sha256; got "
                                 "{0}".format(type(models).__name__))
    delivered = []
    for model in models:
        if not isinstance(model, dict):
            raise AnsibleFilterError("each entry of inferno_models must be a mapping with name, source and sha256; "
                                     "got {0!r}".format(model))
        entry = dict((key, model.get(key) or "") for key in DELIVERY_KEYS)
        if entry["source"] and "://" not in entry["source"]:  # a file on the controller
            entry["source"] = os.path.expanduser(entry["source"])
        delivered.append(entry)
    return delivered


class FilterModule(object):
    def filters(self):
        return {"model_sources": model_sources}
