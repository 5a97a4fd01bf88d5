# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounds of the roles' timing and retention options and backup ids, checked before anything is read.

argument_specs check an option's type; they cannot say "above 0" or "a helm duration". Each
role's tasks/bounds.yml runs this filter on its options and fails with the messages it
returns, before the role reads the cluster or changes anything.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.inferno.ops.plugins.module_utils.durations import DURATION_BOUND, positive_duration
from ansible_collections.inferno.ops.plugins.module_utils.snapshots import (
    BACKUP_ID_BOUND,
    suggested_backup_id,
    validate_backup_id,
)

WHOLE_NUMBER = re.compile(r"^\s*[-+]?[0-9]+\s*$")

KINDS = {
    "seconds": ("a whole number of seconds above 0", 600),
    "duration": (DURATION_BOUND, "10m"),
    "count": ("a whole number, 0 or more", 10),
    # An id may be left empty (the backup role then names the backup); a given one must be valid.
    "backup_id": (BACKUP_ID_BOUND, "nightly-1"),
}


def whole_number(value):
    """The value as an int when it is a whole number (an int, an integral float, a string of digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and WHOLE_NUMBER.match(value):
        return int(value)
    return None


def in_bounds(value, kind):
    """Whether ``value`` is within the bounds of ``kind`` (seconds, duration or count)."""
    if kind == "duration":
        return positive_duration(value)
    if kind == "backup_id":
        return value in (None, "") or (isinstance(value, str) and validate_backup_id(value) is None)
    number = whole_number(value)
    if number is None:
        return False
    return number > 0 if kind == "seconds" else number >= 0


def shown(value):
    """The value as the user typed it: plain when it is one word, quoted when empty or spaced."""
    if value is None:
        return "empty (null)"
    text = to_text(value) if isinstance(value, (str, int, float)) else to_text(json.dumps(value))
    if not text.strip() or text != text.strip() or " " in text:
        return json.dumps(text)
    return text


def out_of_bounds(options, kind, example=None):
    """One message per option of ``options`` ({variable: value}) whose value is out of the bounds of ``kind``."""
    if kind not in KINDS:
        raise AnsibleFilterError("out_of_bounds: kind {0!r} must be one of {1}".format(kind, ", ".join(sorted(KINDS))))
    if not isinstance(options, dict):
        raise AnsibleFilterError("out_of_bounds takes a mapping of variable names to values, got {0}".format(
            type(options).__name__))
    bound, default_example = KINDS[kind]
    problems = []
    for name, value in options.items():
        if in_bounds(value, kind):
            continue
        fix = default_example if example is None else example
        hint = ""
        if kind == "backup_id":
            fix = suggested_backup_id(value) or fix
        if kind == "duration":
            number = whole_number(value)
            if number is not None and number > 0:
                hint, fix = ", which has no unit (helm refuses it)", "{0}s".format(number)
        problems.append("{0} is {1}{2}; it must be {3}. Set it with -e {0}={4}.".format(
            name, shown(value), hint, bound, fix))
    return problems


class FilterModule(object):
    def filters(self):
        return {"out_of_bounds": out_of_bounds}
