"""Build the collection with the real ansible-galaxy and check what ships.

The tarball is built from the work tree as it is, so these tests catch a
build_ignore in galaxy.yml that lets caches, virtual environments, build
output or compiled binaries into the artifact, and an artifact that does not
install.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# The ansible-galaxy that belongs to the Python running pytest (.venv/bin).
ANSIBLE_GALAXY = Path(sys.executable).parent / "ansible-galaxy"

# No path component of a shipped file may be one of these.
FORBIDDEN_COMPONENTS = frozenset({".venv", "__pycache__", ".pytest_cache", ".cache"})
# Nor may a shipped file sit under one of these top-level paths.
FORBIDDEN_PREFIXES = ("build/", "tests/output/")
ELF_MAGIC = b"\x7fELF"


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
