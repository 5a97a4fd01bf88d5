"""The README tables list what the code has, no more and no less.

- plugins/modules/README.md: its table (first header cell ``Module``) names every module
  in plugins/modules/*.py;
- roles/<role>/README.md: its variables table (first header cell ``Variable``) names every
  option of the role's meta/argument_specs.yml (all entry points).

A row counts when its first cell is a single code span (`name`); other rows (notes,
separators) are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(path.name for path in (REPO / "roles").iterdir() if path.is_dir())
CODE_CELL = re.compile(r"^`([^`]+)`$")


def cells(line: str) -> list[str] | None:
    """The cells of a markdown table row, or None when the line is not one."""
    line = line.strip()
    if not line.startswith("|"):
        return None
    # A `|` inside a code span is escaped as `\\|` in GitHub markdown; it does not split cells.
    parts = re.split(r"(?<!\\)\|", line.strip("|"))
    return [part.strip() for part in parts]


def table_names(markdown: str, first_header: str) -> list[str]:
    """The code names in the first column of every table whose header's first cell is ``first_header``."""
    names, in_table, header_seen = [], False, False
    for line in markdown.splitlines():
        row = cells(line)
        if row is None:
            in_table, header_seen = False, False
            continue
        if not header_seen:
            header_seen, in_table = True, row[0].lower() == first_header.lower()
            continue
        if in_table:
            match = CODE_CELL.match(row[0])
            if match:
                names.append(match.group(1))
    return names


def duplicates(names: list[str]) -> list[str]:
    return sorted({name for name in names if names.count(name) > 1})


def test_the_modules_table_lists_exactly_the_modules():
    readme = REPO / "plugins" / "modules" / "README.md"
    listed = table_names(readme.read_text(encoding="utf-8"), "Module")
    modules = sorted(path.stem for path in (REPO / "plugins" / "modules").glob("*.py") if path.stem != "__init__")
    assert listed, f"{readme.relative_to(REPO)} has no table whose first column is Module"
    assert not duplicates(listed), f"{readme.relative_to(REPO)} lists {duplicates(listed)} more than once"
    assert sorted(listed) == modules, (
        f"{readme.relative_to(REPO)}: add rows for {sorted(set(modules) - set(listed))}, "
        f"remove rows for {sorted(set(listed) - set(modules))}")


def role_options(role: str) -> list[str]:
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    return sorted({name for body in specs["argument_specs"].values() for name in (body.get("options") or {})})


@pytest.mark.parametrize("role", ROLES)
def test_each_role_readme_lists_exactly_its_options(role):
    readme = REPO / "roles" / role / "README.md"
    assert readme.is_file(), f"roles/{role} has no README.md"
    listed = table_names(readme.read_text(encoding="utf-8"), "Variable")
    assert listed, f"roles/{role}/README.md has no variables table (first header cell: Variable)"
    assert not duplicates(listed), f"roles/{role}/README.md lists {duplicates(listed)} more than once"
    options = role_options(role)
    assert sorted(listed) == options, (
        f"roles/{role}/README.md against meta/argument_specs.yml: add rows for {sorted(set(options) - set(listed))}, "
        f"remove rows for {sorted(set(listed) - set(options))}")


def test_the_table_reader_takes_only_code_names_of_the_right_table():
    markdown = "\n".join([
        "| Module | What |", "|---|---|", "| `a` | x |", "| b | not code |", "| `c` and more | not one span |",
        "", "| File | What |", "|---|---|", "| `other.py` | another table |",
        "", "| Module | What |", "| --- | --- |", "| `d\\|e` | escaped pipe |",
    ])
    assert table_names(markdown, "Module") == ["a", "d\\|e"]
    assert table_names(markdown, "File") == ["other.py"]
