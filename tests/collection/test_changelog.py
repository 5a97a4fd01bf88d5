"""The release notes are what antsibull-changelog makes from the fragments, as they are now.

- ``antsibull-changelog lint`` (the real tool) passes on changelogs/fragments, and every
  fragment uses only the sections changelogs/config.yaml knows;
- changelogs/changelog.yaml passes ``antsibull-changelog lint-changelog-yaml --strict``;
- CHANGELOG.rst and changelogs/changelog.yaml are byte for byte what ``make changelog``
  (scripts/changelog.py) writes now: it runs on a copy of the collection and the results are
  compared. So a fragment added, edited or removed, or a module, filter or role added, without
  ``make changelog`` fails here;
- no version_added (modules and their options, filters, role entry points and their options)
  is later than galaxy.yml's version: antsibull-changelog announces a plugin in the release
  its version_added names, so a later one would leave it out of every changelog.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ANTSIBULL_CHANGELOG = BIN / "antsibull-changelog"
REBUILD = REPO / "scripts" / "changelog.py"
FRAGMENTS = REPO / "changelogs" / "fragments"
CONFIG = yaml.safe_load((REPO / "changelogs" / "config.yaml").read_text(encoding="utf-8"))
VERSION = Version(str(yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))["version"]))
# What antsibull-changelog reads to make a release: the fragments and the plugins' documentation.
RELEASE_INPUTS = ["galaxy.yml", "meta", "plugins", "roles", "changelogs"]
OUTPUTS = ["CHANGELOG.rst", "changelogs/changelog.yaml"]
FIX = "run `make changelog` and commit CHANGELOG.rst and changelogs/changelog.yaml"


def run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               ANSIBLE_CONFIG="", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run([str(arg) for arg in argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def known_sections() -> set[str]:
    return ({name for name, _title in CONFIG["sections"]}
            | {CONFIG["prelude_section_name"], CONFIG["trivial_section_name"]})


def test_antsibull_changelog_lint_passes():
    result = run(ANTSIBULL_CHANGELOG, "lint", cwd=REPO)
    assert result.returncode == 0 and not result.stdout.strip(), (
        f"antsibull-changelog lint (rc {result.returncode}):\n{result.stdout}{result.stderr}")


@pytest.mark.parametrize("fragment", sorted(path.name for path in FRAGMENTS.glob("*.yml")))
def test_every_fragment_section_is_known(fragment: str):
    content = yaml.safe_load((FRAGMENTS / fragment).read_text(encoding="utf-8")) or {}
    unknown = sorted(section for section in content
                     if section not in known_sections()
                     and not section.startswith(("add plugin.", "add object.")))
    assert not unknown, (f"changelogs/fragments/{fragment} uses {unknown}; use one of {sorted(known_sections())} "
                         "(development tooling goes under trivial)")


def test_changelog_yaml_is_valid():
    result = run(ANTSIBULL_CHANGELOG, "lint-changelog-yaml", "--strict", "changelogs/changelog.yaml", cwd=REPO)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_the_changelog_is_what_the_fragments_make_now(tmp_path: Path):
    copy = tmp_path / "ansible_collections" / "inferno" / "ops"
    copy.mkdir(parents=True)
    for name in RELEASE_INPUTS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, copy / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".plugin-cache.yaml"))
        else:
            shutil.copy2(source, copy / name)
    shutil.copy2(REPO / "CHANGELOG.rst", copy / "CHANGELOG.rst")

    result = run(sys.executable, REBUILD, "--root", copy, cwd=tmp_path)
    assert result.returncode == 0, f"scripts/changelog.py failed:\n{result.stdout}{result.stderr}"
    stale = [name for name in OUTPUTS
             if (copy / name).read_text(encoding="utf-8") != (REPO / name).read_text(encoding="utf-8")]
    assert not stale, f"{stale} differ from what the fragments and plugin docs make now: {FIX}"


def version_added(node: object, where: str) -> Iterator[tuple[str, str]]:
    """(place, version_added) for every version_added in a documentation tree."""
    if isinstance(node, dict):
        if "version_added" in node:
            yield where, str(node["version_added"])
        for key, value in node.items():
            yield from version_added(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from version_added(value, f"{where}[{index}]")


def documentation() -> Iterator[tuple[str, object]]:
    for path in sorted((REPO / "plugins" / "modules").glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id == "DOCUMENTATION"):
                yield f"plugins/modules/{path.name}", yaml.safe_load(ast.literal_eval(node.value))
    for path in sorted((REPO / "plugins" / "filter").glob("*.yml")):
        yield f"plugins/filter/{path.name}", yaml.safe_load(path.read_text(encoding="utf-8"))
    for path in sorted((REPO / "roles").glob("*/meta/argument_specs.yml")):
        yield str(path.relative_to(REPO)), yaml.safe_load(path.read_text(encoding="utf-8"))


def test_no_version_added_is_later_than_the_collection_version():
    late = [f"{source}: {place} {added}"
            for source, doc in documentation()
            for place, added in version_added(doc, "")
            if Version(added) > VERSION]
    assert not late, f"galaxy.yml's version is {VERSION}, but version_added says later in: {late}"
