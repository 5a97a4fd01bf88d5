"""A role reads only what its argument_specs declare, or what a module returned within it.

Every Jinja expression in a role's tasks, vars and defaults is searched for variables with
another role's prefix (inferno_deploy_*, inferno_backup_*...). Setting another role's inputs,
as the keys of an include_role's vars, is how roles hand things over and is allowed; reading
another role's variables or facts is not. The only exceptions are the deprecated
collection-wide names that happen to carry a role's prefix: they are still read as
fallbacks, with a deprecation warning.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(path.name for path in (REPO / "roles").iterdir() if (path / "meta" / "argument_specs.yml").exists())
PREFIXED = re.compile(r"\binferno_({0})_[a-z0-9_]+".format("|".join(ROLES)))
TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
# Keys whose whole value is a Jinja expression.
CONDITIONS = ("when", "that", "until", "failed_when", "changed_when")
# Deprecated collection-wide names, read as fallbacks: the role that may read each.
DEPRECATED_FALLBACKS = {
    "inferno_backup_root": {"backup", "restore", "preflight"},
    "inferno_backup_before_upgrade": {"deploy", "preflight"},
    "inferno_backup_enabled": {"preflight"},
    "inferno_restore_confirm": {"lifecycle"},
}


def expressions(node, key=None):
    """Every Jinja expression in a parsed YAML tree (dict keys are names, not read)."""
    if isinstance(node, dict):
        for child_key, value in node.items():
            yield from expressions(value, child_key)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item, key)
    elif isinstance(node, str):
        if key in CONDITIONS:
            yield node
        yield from TEMPLATE.findall(node)
    elif isinstance(node, bool) and key in CONDITIONS:
        return


def foreign_reads(role):
    """(file, variable) for each variable of another role that ``role`` reads."""
    found = set()
    for folder in ("tasks", "vars", "defaults"):
        for path in sorted((REPO / "roles" / role / folder).glob("*.yml")):
            for expression in expressions(yaml.safe_load(path.read_text())):
                for match in PREFIXED.finditer(expression):
                    variable, owner = match.group(0), match.group(1)
                    if owner != role and role not in DEPRECATED_FALLBACKS.get(variable, ()):
                        found.add((str(path.relative_to(REPO)), variable))
    return sorted(found)


@pytest.mark.parametrize("role", ROLES)
def test_a_role_reads_no_other_role_s_variables(role):
    assert foreign_reads(role) == []


def test_the_check_finds_a_foreign_read():
    tasks = [{"name": "x", "ansible.builtin.debug": {"msg": "{{ inferno_deploy_plan.next_revision }}"},
              "when": "inferno_preflight_plan is defined"}]
    found = [match.group(0) for text in expressions(tasks) for match in PREFIXED.finditer(text)]
    assert found == ["inferno_deploy_plan", "inferno_preflight_plan"]
    # Handing a role its inputs is allowed: keys are names, not reads.
    include = [{"ansible.builtin.include_role": {"name": "inferno.ops.backup"},
                "vars": {"inferno_backup_id": "{{ inferno_deploy_release_name }}"}}]
    assert [match.group(0) for text in expressions(include) for match in PREFIXED.finditer(text)] == [
        "inferno_deploy_release_name"]
