"""Benchmark model delivery on the local cluster's real node, side by side with a plain copy (issue 26).

    python -m tools.benchmarks.models [--size-mib 1024] [--repeat 1]

Uses the running local cluster (``scripts/cluster up`` first; the real node is needed) and a
throwaway SeaweedFS (tools/s3_server) that the node's pods reach through a relay on the node's
address. Each round, in a fresh namespace:

  deploy -> first completion   ansible-playbook deploy.yml -i inventories/dev with the alphabet
                               model declared (a file on the controller, with a smoke prompt):
                               the wall time from its start to its end, which is the verify
                               role's completion answered
  boto3 download               s3.download_file of the model object to local disk on this
                               machine, through the same relay the pods use: the plain copy
  boto3 + sha256               the same, then hashlib's SHA-256 of the file: the plain copy with
                               the check the delivery makes before a model goes live
  one-task playbook            ansible-playbook of one debug task on localhost: what any
                               playbook costs before its first task (for the rerun)
  S3 delivery                  ansible-playbook playbooks/models.yml with the same object
                               declared (s3://): wall time, and the delivery module's own time
  rerun                        the same command again, the model present: wall time and module time

Goals: S3 delivery (wall) <= 1.5x the boto3 download; rerun (wall) <= 3 s. Figures as median
(min-max) over the rounds. The model object is random bytes (the delivery checks a digest, not a
format), so no completion is asked of it. Exit status: 0, or 2 if a command failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config
from kubernetes import client, config

from tools.models import alphabet_model
from tools.s3_server.relay import Relay
from tools.s3_server.server import S3Server

from .deploy import parse_report

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
NAMESPACE_PREFIX = "bench-models"
GOALS = {"S3 delivery / boto3": 1.5, "rerun (s)": 3.0}
DELIVERY_TASK = "Put the models on the models claim"


class CommandFailed(Exception):
    """A benchmarked command exited non-zero."""


def random_file(path: Path, size_mib: int) -> str:
    """``size_mib`` MiB of random bytes at ``path``; returns their SHA-256."""
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        for index in range(size_mib):
            chunk = hashlib.sha256(block + index.to_bytes(4, "big")).digest() * (1 << 15)  # 1 MiB, varied
            out.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def playbook(name: str, namespace: str, variables: dict, kubeconfig: str) -> tuple[float, dict]:
    """Run a playbook with the JSON callback; (wall seconds, the report)."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "INFERNO_KUBECONFIG": kubeconfig,
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_JSON_INDENT": "0"}
    argv = [str(VENV_BIN / "ansible-playbook"), name, "-i", "inventories/dev", "-e", f"inferno_namespace={namespace}",
            "-e", json.dumps(variables)]
    started = time.monotonic()
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise CommandFailed(f"{name} exited {result.returncode}: {result.stdout[-3000:]}{result.stderr[-2000:]}")
    return wall, parse_report(result.stdout)


def one_task_playbook(work: Path) -> float:
    """Wall seconds of ansible-playbook running one debug task on localhost: Ansible's own start-up."""
    path = work / "one-task.yml"
    path.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: {msg: hi}\n")
    started = time.monotonic()
    subprocess.run([str(VENV_BIN / "ansible-playbook"), str(path), "-i", "localhost,", "-c", "local"], cwd=ROOT,
                   capture_output=True, check=True, timeout=300)
    return time.monotonic() - started


def module_seconds(report: dict) -> float | None:
    for play in report["plays"]:
        for task in play["tasks"]:
            if DELIVERY_TASK in task["task"]["name"]:
                for host in task["hosts"].values():
                    if "seconds" in host:
                        return float(host["seconds"])
    return None


def changed(report: dict) -> int:
    return sum(stats.get("changed", 0) for stats in report["stats"].values())


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:  # pylint: disable=too-many-locals
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the S3 model (MiB)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds")
    args = parser.parse_args()
    subprocess.run([str(ROOT / "scripts" / "cluster"), "up"], check=True, capture_output=True, timeout=3600)
    kubeconfig = json.loads(subprocess.run([str(ROOT / "scripts" / "cluster"), "status"], check=True,
                                           capture_output=True, text=True).stdout)["kubeconfig"]
    core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    work = Path(tempfile.mkdtemp(prefix="inferno-ops-bench-models-"))
    server = S3Server(work / "s3").start()
    relay = Relay(int(server.endpoint_url.rsplit(":", 1)[1]))
    figures: dict[str, list[float]] = {key: [] for key in (
        "deploy -> first completion (s)", "boto3 download (s)", "boto3 + sha256 (s)", "S3 delivery (s)", "S3 delivery, module (s)",
        "rerun (s)", "rerun, module (s)", "one-task playbook (s)")}
    namespaces = []
    try:
        alphabet = alphabet_model.write_alphabet_model(work / "alphabet.gguf")
        alphabet_sha = hashlib.sha256(alphabet.read_bytes()).hexdigest()
        big = work / "big.gguf"
        big_sha = random_file(big, args.size_mib)
        s3 = server.client()
        relayed = boto3.session.Session().client(
            "s3", endpoint_url=relay.url, region_name=server.region, aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key, config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
        server.create_bucket("models")
        s3.upload_file(str(big), "models", "bench/big.gguf")
        big.unlink()
        print(f"model object: {args.size_mib} MiB in s3://models/bench/big.gguf (SeaweedFS on this machine, "
              f"reached by the pods through {relay.url})", flush=True)
        s3_settings = {"inferno_models_s3_endpoint_url": relay.url, "inferno_models_s3_region": server.region,
                       "inferno_models_s3_access_key": server.access_key,
                       "inferno_models_s3_secret_key": server.secret_key}
        declared = [{"name": "alphabet.gguf", "source": str(alphabet), "sha256": alphabet_sha,
                     "smoke": {"prompt": "abc", "expect": "defgh", "max_tokens": 5}}]
        for index in range(args.repeat):
            namespace = f"{NAMESPACE_PREFIX}-{index}-{os.urandom(2).hex()}"
            namespaces.append(namespace)
            wall, _ = playbook("deploy.yml", namespace, {"inferno_models": declared}, kubeconfig)
            figures["deploy -> first completion (s)"].append(wall)
            target = work / "download.gguf"
            started = time.monotonic()
            relayed.download_file("models", "bench/big.gguf", str(target))
            figures["boto3 download (s)"].append(time.monotonic() - started)
            with target.open("rb") as copied:
                if hashlib.file_digest(copied, "sha256").hexdigest() != big_sha:
                    raise CommandFailed("the boto3 download does not have the object's digest")
            figures["boto3 + sha256 (s)"].append(time.monotonic() - started)
            target.unlink()
            with_big = [*declared, {"name": "big.gguf", "source": "s3://models/bench/big.gguf", "sha256": big_sha}]
            wall, report = playbook("playbooks/models.yml", namespace, {"inferno_models": with_big, **s3_settings},
                                    kubeconfig)
            figures["S3 delivery (s)"].append(wall)
            figures["S3 delivery, module (s)"].append(module_seconds(report) or float("nan"))
            wall, report = playbook("playbooks/models.yml", namespace, {"inferno_models": with_big, **s3_settings},
                                    kubeconfig)
            if changed(report):
                raise CommandFailed(f"the rerun in {namespace} changed {changed(report)} task(s)")
            figures["rerun (s)"].append(wall)
            figures["rerun, module (s)"].append(module_seconds(report) or float("nan"))
            figures["one-task playbook (s)"].append(one_task_playbook(work))
            print(f"round {index + 1}: " + ", ".join(f"{key} {values[-1]:.2f}" for key, values in figures.items()),
                  flush=True)
    except CommandFailed as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 2
    finally:
        for namespace in namespaces:
            core.delete_namespace(namespace)
        relay.close()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nmodel delivery, {args.size_mib} MiB from S3, {args.repeat} round(s); seconds, median (min-max)")
    for key, values in figures.items():
        print(f"  {key:34s} {summary(values)}")
    ratio = statistics.median(figures["S3 delivery (s)"]) / statistics.median(figures["boto3 download (s)"])
    module_ratio = statistics.median(figures["S3 delivery, module (s)"]) / statistics.median(figures["boto3 download (s)"])
    hashed_ratio = statistics.median(figures["S3 delivery, module (s)"]) / statistics.median(
        figures["boto3 + sha256 (s)"])
    rerun = statistics.median(figures["rerun (s)"])
    print(f"  {'S3 delivery / boto3':34s} {ratio:7.2f}x  goal <= {GOALS['S3 delivery / boto3']}x  "
          f"{'PASS' if ratio <= GOALS['S3 delivery / boto3'] else 'MISS'}  (module only: {module_ratio:.2f}x; "
          f"module against boto3 + sha256: {hashed_ratio:.2f}x)")
    print(f"  {'rerun':34s} {rerun:7.2f}s  goal <= {GOALS['rerun (s)']}s  "
          f"{'PASS' if rerun <= GOALS['rerun (s)'] else 'MISS'}  (module only: "
          f"{statistics.median(figures['rerun, module (s)']):.2f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
