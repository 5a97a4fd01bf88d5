"""Render files/helm/inferno with the real helm binary, and look objects up in the result."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "files" / "helm" / "inferno"
ENVIRONMENTS = ("dev", "staging", "prod")
# The namespace each environment is installed into, as in the guide's quick-start commands.
NAMESPACES = {"dev": "default", "staging": "inferno-staging", "prod": "inferno-prod"}


def helm_binary() -> str:
    """The helm that `make setup` installed (.venv/bin/helm), else the one on PATH."""
    candidates = [os.environ.get("HELM"), str(REPO / ".venv" / "bin" / "helm"), shutil.which("helm")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("helm not found: run `make setup` (it installs .venv/bin/helm) or set HELM=/path/to/helm")


class HelmError(Exception):
    """helm exited non-zero; the message is its stderr."""


def run_helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([helm_binary(), *args], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        raise HelmError(result.stderr)
    return result


class Render:
    """The objects of one `helm template` run, looked up by kind and name."""

    def __init__(self, manifest: str, notes: str = ""):
        self.docs = [doc for doc in yaml.safe_load_all(manifest) if doc]
        self.notes = notes

    def kinds(self) -> list[str]:
        return sorted(doc["kind"] for doc in self.docs)

    def all(self, kind: str) -> list[dict]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def maybe(self, kind: str, name: str | None = None) -> dict | None:
        found = [doc for doc in self.all(kind) if name is None or doc["metadata"]["name"] == name]
        assert len(found) <= 1, f"several {kind} objects named {name}"
        return found[0] if found else None

    def get(self, kind: str, name: str | None = None) -> dict:
        doc = self.maybe(kind, name)
        assert doc is not None, f"no {kind} {name or ''} in the render; kinds: {self.kinds()}"
        return doc

    @property
    def container(self) -> dict:
        return self.get("Deployment")["spec"]["template"]["spec"]["containers"][0]

    @property
    def pod_spec(self) -> dict:
        return self.get("Deployment")["spec"]["template"]["spec"]

    @property
    def env(self) -> dict:
        return self.get("ConfigMap", "inferno-config")["data"]


def template_args(env: str | None, *extra: str, namespace: str | None = None) -> list[str]:
    """Arguments for `helm template inferno <chart>` in the guide's form, with our chart path."""
    args = ["template", "inferno", "./files/helm/inferno"]
    if env:
        args += ["-f", f"files/helm/inferno/values-{env}.yaml"]
    namespace = namespace or (NAMESPACES[env] if env else None)
    if namespace:
        args += ["-n", namespace]
    return args + list(extra)


def render(env: str | None, *extra: str, namespace: str | None = None) -> Render:
    manifest = run_helm(*template_args(env, *extra, namespace=namespace)).stdout
    return Render(manifest)
