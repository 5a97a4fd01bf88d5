"""Build the collection with the real ansible-galaxy and check what ships.

The tarball is built from the work tree as it is, so these tests catch a
manifest allowlist in galaxy.yml that lets caches, virtual environments, build
output, compiled binaries or stray local files into the artifact, that drops a
file the collection needs, or that ships a test which cannot run from the
installed collection; and an artifact that does not install.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path, PurePosixPath

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# The ansible-galaxy that belongs to the Python running pytest (.venv/bin).
ANSIBLE_GALAXY = Path(sys.executable).parent / "ansible-galaxy"

# No path component of a shipped file may be one of these.
FORBIDDEN_COMPONENTS = frozenset({".venv", "__pycache__", ".pytest_cache", ".cache"})
# Nor may a shipped file sit under one of these top-level paths.
FORBIDDEN_PREFIXES = ("build/", "tests/output/")
ELF_MAGIC = b"\x7fELF"

# What the tarball leaves out on purpose (galaxy.yml's manifest): the developer tooling, the
# checkout's own settings, and the tests that need the checkout's tools/ or scripts/ or a
# cluster. Every other file git tracks must ship.
LEFT_OUT = (
    ".ci/", ".gitignore", ".yamllint", "ruff.toml", "Makefile", "conftest.py", "ansible.cfg", "deploy.yml",
    "galaxy.yml", "collections/", "execution-environment/", "requirements/", "scripts/", "tools/",
    "tests/integration/", "tests/chart/", "tests/collection/", "molecule/local/",
)
# Files a checkout can hold by accident, each where an allowlist line would otherwise take it
# (files/ ships whole; roles/ ships its *.yml), and where the issue names them (the root).
STRAYS = (
    ".env", ".coverage", "x.yml~", ".x.swp", ".DS_Store",
    "files/.env", "files/helm/inferno/.coverage", "files/helm/inferno/values.yaml~",
    "files/helm/inferno/templates/.deployment.yaml.swp", "files/helm/inferno/templates/.DS_Store",
    "files/helm/inferno/templates/.cache/rendered.yaml", "roles/deploy/tasks/.cache/state.yml",
    "roles/deploy/tasks/main.yml~", "tests/unit/.coverage", "tests/unit/plugins/.x.swp",
)
# The checkout's folders that a copy for a test build can do without (large, or not ours).
NOT_COPIED = (".git", ".venv", "build", ".ansible", ".cache", ".pytest_cache", ".ruff_cache", "__pycache__")
# How deep galaxy.yml's `prune */*/*/*/.*` lines reach: dot-directories in folders this deep.
PRUNED_DEPTH = 4
# Shipped tests may not reach these folders of the checkout: they do not ship.
CHECKOUT_ONLY = frozenset({"tools", "scripts"})


def run_galaxy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ansible-galaxy and fail the test with its output if it fails."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    result = subprocess.run(
        [str(ANSIBLE_GALAXY), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"ansible-galaxy {' '.join(args)} exited with {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def build_and_install(work: Path) -> Path:
    """Build the collection from this checkout into ``work`` and install it there, as a user
    does; returns the installed inferno/ops directory (its collections path is three levels up)."""
    run_galaxy("collection", "build", "--output-path", str(work), str(REPO_ROOT), cwd=work)
    tarball = next(work.glob("inferno-ops-*.tar.gz"))
    run_galaxy("collection", "install", "--offline", "--force", "--no-deps", str(tarball), "-p",
               str(work / "collections"), cwd=work)
    installed = work / "collections" / "ansible_collections" / "inferno" / "ops"
    assert (installed / "MANIFEST.json").is_file()
    return installed


@pytest.fixture(name="tarball", scope="module")
def fixture_tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the collection once for every test in this module."""
    if not ANSIBLE_GALAXY.exists():
        pytest.fail(f"{ANSIBLE_GALAXY} not found: run the tests with the project's .venv Python")
    output_dir = tmp_path_factory.mktemp("dist")
    run_galaxy("collection", "build", "--output-path", str(output_dir), str(REPO_ROOT), cwd=output_dir)
    built = sorted(output_dir.glob("inferno-ops-*.tar.gz"))
    assert len(built) == 1, f"expected one tarball in {output_dir}, found {built}"
    return built[0]


@pytest.fixture(name="members", scope="module")
def fixture_members(tarball: Path) -> list[tarfile.TarInfo]:
    """List the tarball's members."""
    with tarfile.open(tarball) as archive:
        return archive.getmembers()


def test_tarball_is_built(tarball: Path) -> None:
    assert tarball.is_file()
    assert tarball.stat().st_size > 0


def test_tarball_has_metadata(members: list[tarfile.TarInfo]) -> None:
    names = {member.name for member in members}
    assert {"MANIFEST.json", "FILES.json", "meta/runtime.yml", "LICENSE"} <= names


def test_tarball_leaves_out_caches_and_build_output(members: list[tarfile.TarInfo]) -> None:
    unwanted = []
    for member in members:
        name = member.name.removeprefix("./")
        if FORBIDDEN_COMPONENTS.intersection(Path(name).parts):
            unwanted.append(name)
        elif any(f"{name}/".startswith(prefix) for prefix in FORBIDDEN_PREFIXES):
            unwanted.append(name)
    assert not unwanted, f"development files in the tarball: {unwanted}"


def test_tarball_has_no_elf_binaries(tarball: Path) -> None:
    binaries = []
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            if not member.isfile():
                continue
            extracted = archive.extractfile(member)
            assert extracted is not None
            with extracted:
                if extracted.read(len(ELF_MAGIC)) == ELF_MAGIC:
                    binaries.append(member.name)
    assert not binaries, f"ELF binaries in the tarball: {binaries}"


def test_tarball_installs_with_the_chart(tarball: Path, tmp_path: Path) -> None:
    collections_dir = tmp_path / "collections"
    # --offline: Galaxy is out of reach; kubernetes.core must resolve from the
    # collections already installed (the `ansible` package bundles it).
    # --force: a developer may already have the collection installed (molecule links it into
    # ~/.ansible/collections); this test must install the tarball it just built.
    run_galaxy("collection", "install", "--offline", "--force", str(tarball), "-p", str(collections_dir), cwd=tmp_path)
    installed = collections_dir / "ansible_collections" / "inferno" / "ops"
    assert (installed / "MANIFEST.json").is_file()
    assert (installed / "files" / "helm" / "inferno" / "Chart.yaml").is_file()


def shipped_names(members: list[tarfile.TarInfo]) -> set[str]:
    """The files (not folders) in the tarball, as paths relative to the collection root."""
    return {member.name.removeprefix("./") for member in members if member.isfile()}


def test_tarball_ships_every_tracked_file_but_the_ones_left_out(members: list[tarfile.TarInfo]) -> None:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    tracked = {name for name in listed.decode().split("\0") if name and (REPO_ROOT / name).is_file()}
    expected = {name for name in tracked if not name.startswith(LEFT_OUT)}
    shipped = shipped_names(members)
    assert not expected - shipped, f"tracked files the manifest drops: {sorted(expected - shipped)}"
    left_out = sorted(name for name in shipped if name.startswith(LEFT_OUT))
    assert not left_out, f"files that should stay in the checkout: {left_out}"


def test_tarball_ships_the_tooling_configuration_galaxy_reads(members: list[tarfile.TarInfo]) -> None:
    # .ansible-lint: the importer's ansible-lint reads it; the ignore file: ansible-test sanity.
    assert {".ansible-lint", "tests/sanity/ignore-2.19.txt", "files/helm/inferno/.helmignore"} <= shipped_names(members)


def test_manifest_keeps_stray_files_out(tmp_path: Path) -> None:
    tree = tmp_path / "inferno-ops"
    shutil.copytree(REPO_ROOT, tree, symlinks=True, ignore=shutil.ignore_patterns(*NOT_COPIED))
    for stray in STRAYS:
        (tree / stray).parent.mkdir(parents=True, exist_ok=True)
        (tree / stray).write_text("stray\n")
    output_dir = tmp_path / "dist"
    run_galaxy("collection", "build", "--output-path", str(output_dir), str(tree), cwd=tmp_path)
    (built,) = output_dir.glob("inferno-ops-*.tar.gz")
    with tarfile.open(built) as archive:
        shipped = shipped_names(archive.getmembers())
    assert "roles/deploy/tasks/main.yml" in shipped
    assert not shipped.intersection(STRAYS), f"stray files in the tarball: {sorted(shipped.intersection(STRAYS))}"


def test_no_shipped_folder_is_deeper_than_the_manifest_prunes(members: list[tarfile.TarInfo]) -> None:
    # galaxy.yml prunes dot-directories inside folders down to the fourth level (prune */*/*/*/.*).
    too_deep = sorted(name for name in shipped_names(members) if len(PurePosixPath(name).parent.parts) > PRUNED_DEPTH)
    assert not too_deep, f"files deeper than galaxy.yml's prune lines reach; add one: {too_deep}"


def checkout_only_references(source: str) -> list[str]:
    """Imports of tools/ or scripts/, and path literals that start in them, in Python source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] in CHECKOUT_ONLY]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in CHECKOUT_ONLY:
            found.append(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            parts = [part for part in PurePosixPath(node.value.strip()).parts if part not in (".", "..")]
            if node.value.strip() in CHECKOUT_ONLY or ("/" in node.value and parts and parts[0] in CHECKOUT_ONLY):
                found.append(repr(node.value))
    return found


def test_shipped_tests_do_not_reach_the_checkout(tarball: Path) -> None:
    reaching = {}
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            name = member.name.removeprefix("./")
            if not member.isfile() or not name.startswith(("tests/", "molecule/")):
                continue
            extracted = archive.extractfile(member)
            assert extracted is not None
            with extracted:
                text = extracted.read().decode()
            if name.endswith(".py"):
                found = checkout_only_references(text)
            elif name.endswith((".yml", ".yaml")):
                found = [word for word in ("tools/", "scripts/") if word in text]
            else:
                continue
            if found:
                reaching[name] = found
    assert not reaching, f"shipped tests that use the checkout's tools/ or scripts/: {reaching}"


def test_the_reference_check_sees_imports_and_paths() -> None:
    source = 'import tools.local_cluster\nfrom scripts import x\nPATH = "scripts/cluster"\nNAME = "tools"\nOK = "a/tools"\n'
    assert checkout_only_references(source) == ["tools.local_cluster", "scripts", "'scripts/cluster'", "'tools'"]
