# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One readable line per helm revision, for the status playbook.

The lines for backup sets come from the inferno.ops.backup_info module (its ``lines``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def format_revision(entry):
    """'3   deployed     inferno-0.8.0    2026-11-24T22:44:51  Upgrade complete'."""
    return "{0:<3} {1:<12} {2:<16} {3:<20} {4}".format(
        entry.get("revision", "?"),
        entry.get("status", "?"),
        entry.get("chart", "?"),
        str(entry.get("updated", ""))[:19],
        entry.get("description", ""),
    )


class FilterModule(object):
    def filters(self):
        return {"format_revision": format_revision}
