# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Go durations, as helm's ``--timeout`` parses them (Go's ``time.ParseDuration``).

Shared by the ``out_of_bounds`` filter (role options) and the modules that take a helm
duration (``release_rollback``'s ``wait_timeout``), so both refuse the same values.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from fractions import Fraction

# An optional sign, then one or more number-and-unit pairs ("1h30m", "1.5s", "300ms");
# a bare "0" is the only unitless value.
GO_UNITS_NS = {"ns": 1, "us": 1000, "\u00b5s": 1000, "\u03bcs": 1000, "ms": 10 ** 6, "s": 10 ** 9,
               "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}
GO_PART = re.compile("([0-9]+\\.?[0-9]*|\\.[0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
GO_MAX_NS = 2 ** 63 - 1
DURATION_BOUND = "a helm duration above 0: a number with a unit (h, m, s, ms), such as 10m, 90s or 1h30m"


def go_duration_ns(text):
    """The nanoseconds of a Go duration string, or None when Go's time.ParseDuration would refuse it."""
    if not isinstance(text, str):
        return None
    body = text[1:] if text[:1] in ("-", "+") else text
    if body == "0":
        return 0
    if not body:
        return None
    total, position = Fraction(0), 0
    for match in GO_PART.finditer(body):
        if match.start() != position:
            return None
        total += Fraction(match.group(1)) * GO_UNITS_NS[match.group(2)]
        position = match.end()
    if position != len(body) or position == 0:
        return None
    nanoseconds = int(total)  # Go drops what is below a nanosecond
    if nanoseconds > GO_MAX_NS:
        return None
    return -nanoseconds if text.startswith("-") else nanoseconds


def positive_duration(text):
    """True when ``text`` is a Go duration above 0."""
    nanoseconds = go_duration_ns(text)
    return nanoseconds is not None and nanoseconds > 0
