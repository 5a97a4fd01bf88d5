"""The chart README documents every value of values.yaml."""

from __future__ import annotations

import yaml

from .rendering import CHART


def leaf_keys(tree: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            keys += leaf_keys(value, path + ".")
        else:
            keys.append(path)
    return keys


def test_every_value_is_in_the_readme_table():
    readme = (CHART / "README.md").read_text()
    documented = {line.split("|")[1].strip() for line in readme.splitlines() if line.startswith("| ")}
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = []
    for key in leaf_keys(values):
        # A documented object (e.g. resources) covers the keys inside it.
        parts = key.split(".")
        if not any(".".join(parts[:n]) in documented for n in range(1, len(parts) + 1)):
            missing.append(key)
    assert missing == [], "regenerate the README values table (see its Values section)"
