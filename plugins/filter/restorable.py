# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which files of a configuration export a restore must not apply (the export may come from a bucket)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.inferno.ops.plugins.module_utils.export import not_restorable as why_not


def not_restorable(texts, paths, root):
    """One sentence per file of ``paths`` (under ``root``, with ``texts`` its contents) that is not restorable."""
    if len(texts) != len(paths):
        raise AnsibleFilterError("not_restorable needs one text per path, got {0} texts and {1} paths".format(
            len(texts), len(paths)))
    problems = []
    for text, path in zip(texts, paths, strict=True):
        relative = os.path.relpath(path, root)
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError:
            problems.append("{0} is not YAML".format(relative))
            continue
        problem = why_not(relative, document)
        if problem:
            problems.append(problem)
    return problems


class FilterModule(object):
    def filters(self):
        return {"not_restorable": not_restorable}
