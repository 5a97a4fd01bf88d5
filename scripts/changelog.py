"""Rebuild the changelog of the version in galaxy.yml from changelogs/fragments (`make changelog`).

    changelog.py [--root DIR] [--date YYYY-MM-DD]

While a version is unpublished, fragments keep coming. So this drops that version's entry
from changelogs/changelog.yaml and has antsibull-changelog make it again from every fragment
that no earlier release took, and from the modules, filters and roles whose version_added is
that version; then CHANGELOG.rst is rendered. Running it twice gives the same files. The
release date stays as recorded unless --date is given (the first run records today).

It lints the fragments first and stops on an error. It refuses a version that has a git tag
(VERSION or vVERSION): that one is published, so bump galaxy.yml's version first.
DIR defaults to this checkout; tests/collection/test_changelog.py points it at a copy.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
from pathlib import Path

import yaml

CHANGES = Path("changelogs") / "changelog.yaml"
# antsibull-changelog's cache of plugin descriptions; --reload-plugins rebuilds it every run.
PLUGIN_CACHE = Path("changelogs") / ".plugin-cache.yaml"
# The tools of the Python running this script (.venv/bin under make).
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """The venv's copy of a tool, else the one on PATH."""
    candidate = BIN / name
    return str(candidate) if candidate.exists() else name


def run(root: Path, *argv: str) -> None:
    """Run a command in root; on failure, exit with its status (its output is already shown)."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", ANSIBLE_NOCOLOR="1")
    result = subprocess.run(argv, cwd=root, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"changelog.py: {' '.join(argv)} exited with {result.returncode}")


def is_tagged(root: Path, version: str) -> bool:
    """Whether git knows a tag VERSION or vVERSION (False outside a git checkout)."""
    try:
        result = subprocess.run(["git", "-C", str(root), "tag", "--list", version, f"v{version}"],
                                capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the collection's root (default: this checkout)")
    parser.add_argument("--date", type=datetime.date.fromisoformat,
                        help="release date to record (default: the recorded one, else today)")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()

    version = str(yaml.safe_load((root / "galaxy.yml").read_text())["version"])
    if is_tagged(root, version):
        print(f"changelog.py: {version} is tagged, so it is published and its changelog entry is final. "
              "Bump version in galaxy.yml, then run `make changelog` again.", file=sys.stderr)
        return 1

    config = yaml.safe_load((root / "changelogs" / "config.yaml").read_text())
    if not config.get("keep_fragments"):
        print("changelog.py: changelogs/config.yaml must set keep_fragments: true, or a release deletes the "
              "fragments this script rebuilds from.", file=sys.stderr)
        return 1

    run(root, tool("antsibull-changelog"), "lint")

    changes_path = root / CHANGES
    original = changes_path.read_text()
    changes = yaml.safe_load(original)
    releases = changes.get("releases") or {}
    old_entry = releases.pop(version, None) or {}
    date = args.date or old_entry.get("release_date") or datetime.date.today()
    changes["releases"] = releases
    changes_path.write_text(yaml.safe_dump(changes, sort_keys=False))
    try:
        run(root, tool("antsibull-changelog"), "release", "--version", version, "--date", str(date),
            "--reload-plugins", "--ansible-doc-bin", tool("ansible-doc"))
    except SystemExit:
        changes_path.write_text(original)
        raise
    finally:
        (root / PLUGIN_CACHE).unlink(missing_ok=True)
    print(f"changelog.py: {CHANGES} and CHANGELOG.rst hold {version} ({date}) as the fragments say")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
