"""helm lint --strict, kubernetes-validate --strict (oldest and newest schemas) and checkov,
run on real renders of every environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .rendering import ENVIRONMENTS, REPO, run_helm, template_args

VENV = Path(sys.executable).parent.parent
# kubernetes-validate >= 1.29 ships schemas from 1.25 on; `make setup` installs 1.28.3, which
# still ships 1.20, beside the venv (see scripts/setup.sh).
OLD_VALIDATOR = VENV / "opt" / "kubernetes-validate-1.28.3"
CRD_KINDS = {"ServiceMonitor", "VerticalPodAutoscaler"}
ACCEPTED = yaml.safe_load((Path(__file__).parent / "checkov-accepted.yaml").read_text())


@pytest.mark.parametrize("env", [None, *ENVIRONMENTS])
def test_helm_lint_strict(env):
    values = ["-f", f"files/helm/inferno/values-{env}.yaml"] if env else []
    result = run_helm("lint", "--strict", "files/helm/inferno", *values, "--namespace", "default", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_helm_lint_strict_catches_bad_values():
    result = run_helm("lint", "--strict", "files/helm/inferno", "--set", "replicaCount=-2", check=False)
    assert result.returncode != 0
    assert "replicaCount" in result.stdout + result.stderr


def newest_schema_version() -> str:
    import kubernetes_validate

    schemas = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    versions = [d.name[1:].split("-")[0] for d in schemas.iterdir() if d.name.endswith("-local-strict")]
    return max(versions, key=lambda v: tuple(int(p) for p in v.split(".")))


def validate(manifest: Path, version: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath:
        assert (pythonpath / "kubernetes_validate").is_dir(), f"{pythonpath} missing: run `make setup`"
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", version, str(manifest)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def rendered_file(tmp_path: Path, name: str, kube_version: str, *extra: str) -> tuple[Path, int]:
    env = None if name == "everything" else name
    args = template_args(env, "--kube-version", kube_version, *extra, namespace="inferno-test")
    docs = [d for d in yaml.safe_load_all(run_helm(*args).stdout) if d and d["kind"] not in CRD_KINDS]
    path = tmp_path / f"{name}-{kube_version}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path, len(docs)


# Every optional object switched on, so that each template meets the schemas.
EVERYTHING = ["-f", "files/helm/inferno/values-prod.yaml", "--set", "service.external.type=NodePort",
              "--set", "service.external.nodePort=30080", "--set", "podAntiAffinity.type=hard",
              "--set", "service.external.externalIPs={10.0.0.1}", "--set", "persistence.cache.existingClaim=cache",
              "--set", "imagePullSecrets[0].name=regcred", "--set", "priorityClassName=high"]


@pytest.mark.parametrize("target", ["oldest", "newest"])
@pytest.mark.parametrize("name", [*ENVIRONMENTS, "everything"])
def test_kubernetes_validate_strict(tmp_path, name, target):
    if target == "oldest":
        version, pythonpath = "1.20.0", OLD_VALIDATOR
    else:
        version, pythonpath = newest_schema_version(), None
    extra = EVERYTHING if name == "everything" else []
    manifest, count = rendered_file(tmp_path, name, version, *extra)
    result = validate(manifest, version, pythonpath)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == count, result.stdout


def test_kubernetes_validate_rejects_a_bad_manifest(tmp_path):
    """The validator really checks: an unknown field in a Deployment fails under --strict."""
    manifest, _count = rendered_file(tmp_path, "prod", "1.20.0")
    text = manifest.read_text().replace("revisionHistoryLimit: 10", "revisionHistoryLimit: 10\n  replica: 3")
    manifest.write_text(text)
    assert validate(manifest, "1.20.0", OLD_VALIDATOR).returncode != 0


def run_checkov(manifest: Path, skips: list[str]) -> dict:
    args = [str(VENV / "bin" / "checkov"), "-f", str(manifest), "--framework", "kubernetes", "--quiet",
            "--compact", "--skip-download", "-o", "json"]
    if skips:
        args += ["--skip-check", ",".join(skips)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


@pytest.fixture(scope="module")
def prod_manifest(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("checkov") / "prod.yaml"
    path.write_text(run_helm(*template_args("prod")).stdout)
    return path


def test_checkov_prod_has_no_failed_checks_beyond_the_accepted_ones(prod_manifest):
    for entry in ACCEPTED:
        assert entry["reason"].strip(), f"{entry['id']} needs a written reason"
    report = run_checkov(prod_manifest, [entry["id"] for entry in ACCEPTED])
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 50


def test_checkov_accepted_list_is_not_stale(prod_manifest):
    """Each accepted finding still occurs; one that no longer does must leave the list."""
    report = run_checkov(prod_manifest, [])
    failing = {c["check_id"] for c in report["results"]["failed_checks"]}
    assert failing == {entry["id"] for entry in ACCEPTED}
