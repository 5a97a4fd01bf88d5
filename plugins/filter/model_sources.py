# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The models an inventory declares, as inferno.ops.model_delivery takes them.

An inventory's ``inferno_models`` entries may carry keys the module does not take (``smoke``,
for the verify role); an S3 source gets the presigned URL the models role made for it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleFilterError

DELIVERY_KEYS = ("name", "sha256", "source")


def model_sources(models, presigned=None):
    """``models`` with only the keys model_delivery takes, and each S3 source's presigned ``url``."""
    if not isinstance(models, list):
        raise AnsibleFilterError("inferno_models must be a list of models, each with name, source and sha256; got "
                                 "{0}".format(type(models).__name__))
    urls = {}
    for result in presigned or []:
        item = result.get("item") or {}
        if result.get("url") and item.get("source"):
            urls[(item.get("name"), item["source"])] = result["url"]
    delivered = []
    for model in models:
        if not isinstance(model, dict):
            raise AnsibleFilterError("each entry of inferno_models must be a mapping with name, source and sha256; "
                                     "got {0!r}".format(model))
        entry = dict((key, model.get(key) or "") for key in DELIVERY_KEYS)
        if entry["source"] and "://" not in entry["source"]:  # a file on the controller
            entry["source"] = os.path.expanduser(entry["source"])
        url = urls.get((model.get("name"), model.get("source")))
        if url:
            entry["url"] = url
        delivered.append(entry)
    return delivered


class FilterModule(object):
    def filters(self):
        return {"model_sources": model_sources}
