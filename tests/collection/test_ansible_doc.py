"""ansible-doc documents every filter, module and role entry point of the installed collection.

The collection is built and installed as a user gets it (ansible-galaxy collection build, then
install, as in test_build.py), and ansible-doc runs from outside the checkout with only the
installed tree on ANSIBLE_COLLECTIONS_PATH. What must be documented is read from that tree:

- filters: every name that a ``FilterModule.filters()`` in plugins/filter/*.py returns, found by
  importing the modules, so a new filter without a plugins/filter/<name>.yml fails here;
- modules: every plugins/modules/*.py;
- roles: every entry point of every roles/<role>/meta/argument_specs.yml.

ansible-doc exits 0 even for a name it cannot find (it only warns), so each check also looks
for every name in its JSON output, with the short description the source gives. The calls are
batched (several names per call) and run at the same time.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.collection.test_build import ANSIBLE_GALAXY, build_and_install

ANSIBLE_DOC = Path(sys.executable).parent / "ansible-doc"
COLLECTION = "inferno.ops"

# Run in a fresh Python with only the installed tree added to the path: prints
# {filter name: the plugins/filter file that defines it} as JSON.
DISCOVER_FILTERS = r"""
import importlib, json, pathlib, sys
collections, plugin_dir = sys.argv[1], pathlib.Path(sys.argv[2])
sys.path.insert(0, collections)
found = {}
for path in sorted(plugin_dir.glob("*.py")):
    if path.stem == "__init__":
        continue
    module = importlib.import_module("ansible_collections.inferno.ops.plugins.filter." + path.stem)
    if not str(pathlib.Path(module.__file__).resolve()).startswith(str(plugin_dir.resolve())):
        raise SystemExit("imported {0} from {1}, not from the installed tree".format(path.stem, module.__file__))
    for name in module.FilterModule().filters():
        found[name] = path.name
print(json.dumps(found))
"""


def environment() -> dict[str, str]:
    # ANSIBLE_CONFIG="" keeps the checkout's ansible.cfg (whose collections path is the
    # checkout itself) out, should the variable be inherited.
    return dict(os.environ, ANSIBLE_CONFIG="", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")


@pytest.fixture(name="installed", scope="module")
def fixture_installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build and install the collection once; return the installed inferno/ops directory."""
    if not ANSIBLE_GALAXY.exists() or not ANSIBLE_DOC.exists():
        pytest.fail(f"{ANSIBLE_GALAXY.parent} has no ansible-galaxy or ansible-doc: run the tests with the .venv Python")
    return build_and_install(tmp_path_factory.mktemp("docs"))


def collections_dir(installed: Path) -> Path:
    return installed.parents[2]


@pytest.fixture(name="filters", scope="module")
def fixture_filters(installed: Path) -> dict[str, str]:
    """{filter name: its plugin file}, from importing the installed filter plugins."""
    result = subprocess.run([sys.executable, "-c", DISCOVER_FILTERS, str(collections_dir(installed)),
                             str(installed / "plugins" / "filter")],
                            capture_output=True, text=True, timeout=60, check=False, env=environment())
    assert result.returncode == 0, result.stdout + result.stderr
    found = json.loads(result.stdout)
    assert found, "no filters found in the installed plugins/filter"
    return found


def modules(installed: Path) -> list[str]:
    return sorted(path.stem for path in (installed / "plugins" / "modules").glob("*.py") if path.stem != "__init__")


def module_short_description(path: Path) -> str:
    """short_description from a module's DOCUMENTATION string, read without importing it."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DOCUMENTATION" for t in node.targets):
            return yaml.safe_load(ast.literal_eval(node.value))["short_description"]
    raise AssertionError(f"{path} has no DOCUMENTATION")


def role_entry_points(installed: Path) -> dict[str, dict[str, str]]:
    """{role: {entry point: short_description}} from each installed role's meta/argument_specs.yml."""
    found = {}
    for specs in sorted((installed / "roles").glob("*/meta/argument_specs.yml")):
        body = yaml.safe_load(specs.read_text(encoding="utf-8"))["argument_specs"]
        found[specs.parents[1].name] = {entry: spec.get("short_description") for entry, spec in body.items()}
    return found


@pytest.fixture(name="docs", scope="module")
def fixture_docs(installed: Path, filters: dict[str, str]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every ansible-doc call the tests check, started at once: {call id: its result}."""
    names = {
        "filter": sorted(filters),
        "module": modules(installed),
        "role": sorted(role_entry_points(installed)),
    }
    calls = {kind: ["-t", kind, "--json", *(f"{COLLECTION}.{name}" for name in names[kind])] for kind in names}
    calls["filter-list"] = ["-t", "filter", "-l", COLLECTION]
    calls["filter-list-json"] = ["-t", "filter", "-l", "--json", COLLECTION]
    env = dict(environment(), ANSIBLE_COLLECTIONS_PATH=str(collections_dir(installed)), COLUMNS="200")
    cwd = collections_dir(installed).parent
    started = {call: subprocess.Popen([str(ANSIBLE_DOC), *args], cwd=cwd, env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for call, args in calls.items()}
    results = {}
    for call, process in started.items():
        stdout, stderr = process.communicate(timeout=120)
        results[call] = subprocess.CompletedProcess(calls[call], process.returncode, stdout, stderr)
    return results


def output(result: subprocess.CompletedProcess[str]) -> dict:
    """The JSON ansible-doc printed, once it has exited 0."""
    assert result.returncode == 0, (
        f"ansible-doc {' '.join(result.args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout)


def test_every_filter_has_a_doc_file_that_ansible_doc_shows(docs, filters, installed):
    shown = output(docs["filter"])
    problems = []
    for name in sorted(filters):
        doc_file = installed / "plugins" / "filter" / f"{name}.yml"
        if not doc_file.is_file():
            problems.append(f"{name} (in {filters[name]}) has no plugins/filter/{name}.yml")
            continue
        expected = yaml.safe_load(doc_file.read_text(encoding="utf-8"))["DOCUMENTATION"]["short_description"]
        doc = shown.get(f"{COLLECTION}.{name}", {}).get("doc") or {}
        if doc.get("short_description") != expected or not expected:
            problems.append(f"{name}: ansible-doc shows {doc.get('short_description')!r}, {doc_file.name} says "
                            f"{expected!r}\n{docs['filter'].stderr}")
        elif Path(doc["filename"]) != doc_file:
            problems.append(f"{name}: ansible-doc read {doc['filename']}, not the installed {doc_file}")
    assert not problems, "\n".join(problems)


def test_the_filter_list_names_every_filter(docs, filters):
    listed = output(docs["filter-list-json"])
    assert sorted(listed) == sorted(f"{COLLECTION}.{name}" for name in filters), docs["filter-list-json"].stderr
    assert all(listed.values()), f"filters without a short description: {listed}"
    text = docs["filter-list"]
    assert text.returncode == 0, text.stdout + text.stderr
    assert sorted(line.split()[0] for line in text.stdout.splitlines() if line.strip()) == sorted(listed), text.stdout


def test_every_module_is_documented(docs, installed):
    shown = output(docs["module"])
    problems = []
    for name in modules(installed):
        expected = module_short_description(installed / "plugins" / "modules" / f"{name}.py")
        doc = shown.get(f"{COLLECTION}.{name}", {}).get("doc") or {}
        if not expected or doc.get("short_description") != expected:
            problems.append(f"{name}: ansible-doc shows {doc.get('short_description')!r}, its DOCUMENTATION says "
                            f"{expected!r}")
    assert modules(installed), "no modules in the installed plugins/modules"
    assert not problems, "\n".join(problems) + "\n" + docs["module"].stderr


def test_every_role_entry_point_is_documented(docs, installed):
    shown = output(docs["role"])
    roles = role_entry_points(installed)
    assert roles, "no role with a meta/argument_specs.yml in the installed collection"
    problems = []
    for role, entry_points in roles.items():
        documented = shown.get(f"{COLLECTION}.{role}", {}).get("entry_points") or {}
        for entry, expected in entry_points.items():
            got = (documented.get(entry) or {}).get("short_description")
            if not expected or got != expected:
                problems.append(f"{role} {entry}: ansible-doc shows {got!r}, meta/argument_specs.yml says {expected!r}")
    assert not problems, "\n".join(problems) + "\n" + docs["role"].stderr
