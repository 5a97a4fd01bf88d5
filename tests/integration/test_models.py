"""Models delivered by the collection, and the real Inferno serving them, on the real node.

deploy.yml and playbooks/models.yml put declared models on the release's models claim through
inferno.ops.model_delivery's fetch pod (the local cluster's model-fetcher image: busybox and
curl), and the verify role asks each one for a completion through the Service. The models are
the alphabet models of tools/models (shift 1 answers ``abc`` with ``defgh``, shift 2 with
``egikm``), so every answer tells which file served it.

Remote sources live on this machine and are reached by the pods at the real node's address on
the host-only interface (network.NODE_ADDRESS): an HTTP server of the test, and SeaweedFS (the
session's s3_server, on loopback) through a TCP relay there. Nothing leaves the host.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import socket
import threading
import time
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from tools.local_cluster import images, inferno_binary, network
from tools.models import alphabet_model
from tools.s3_server.relay import Relay

from .kube import eventually, forget_backups
from .playbooks import QUICK_START, REPO, ansible_playbook, extra_vars, history
from .test_least_rbac import ServiceAccounts, audited_verbs, expected_verbs, granted_verbs, rbac_difference, write_ca_file
from .test_real_node import get, post

NAMESPACE = "real-models"
SAMPLING = {"temperature": 0.1, "top_k": 1000, "top_p": 1.0}
# A sequential stream of completions: Inferno 0.10.3 has one backend per process and, when no
# model is preloaded, answers a second concurrent request 400 (BackendAlreadyInitialized).
STREAM_LIMIT = 3000


@dataclass
class Model:
    path: Path
    sha256: str
    answer: str  # what it answers "abc" with, 5 tokens

    def declared(self, name: str, source: str | None = None, smoke: bool = True) -> dict:
        entry = {"name": name, "source": source or str(self.path), "sha256": self.sha256}
        if smoke:
            entry["smoke"] = {"prompt": "abc", "expect": self.answer, "max_tokens": 5}
        return entry


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Model]:
    folder = tmp_path_factory.mktemp("models")
    made = {}
    for shift in (1, 2):
        path = alphabet_model.write_alphabet_model(folder / f"shift{shift}.gguf", shift)
        made[f"shift{shift}"] = Model(path, sha256_of(path), alphabet_model.expected_text("abc", 5, shift))
    assert made["shift1"].answer == "defgh" and made["shift2"].answer == "egikm"
    return made


class SourceHandler(http.server.SimpleHTTPRequestHandler):
    """Files of a folder, with Range support; /huge.gguf claims a petabyte and sends nothing more."""

    def log_message(self, *_args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/huge.gguf":
            self.send_response(206)
            self.send_header("Content-Range", f"bytes 0-0/{10**15}")
            self.send_header("Content-Length", "1")
            self.end_headers()
            self.wfile.write(b"G")
            return
        path = Path(self.translate_path(self.path))
        ranged = self.headers.get("Range")
        if not path.is_file() or not ranged:
            super().do_GET()
            return
        data = path.read_bytes()
        start, _, end = ranged.removeprefix("bytes=").partition("-")
        first, last = int(start), min(int(end or len(data) - 1), len(data) - 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.send_header("Content-Length", str(last - first + 1))
        self.end_headers()
        self.wfile.write(data[first:last + 1])


@pytest.fixture(scope="module")
def web(local_cluster, models):
    """An HTTP server on the real node's address, serving the models' folder."""
    folder = models["shift1"].path.parent
    server = http.server.ThreadingHTTPServer((network.NODE_ADDRESS, 0),
                                             functools.partial(SourceHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{network.NODE_ADDRESS}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def s3_models(local_cluster, s3_server, models):
    """A bucket with both models, and the S3 settings that reach it from the controller and the pods."""
    bucket = s3_server.create_bucket(f"models-{os.urandom(3).hex()}")
    for name, model in models.items():
        s3_server.client().upload_file(str(model.path), bucket, f"gguf/{name}.gguf")
    relay = Relay(int(s3_server.endpoint_url.rsplit(":", 1)[1]))
    settings = {"inferno_models_s3_endpoint_url": relay.url,
                "inferno_models_s3_region": s3_server.region,
                "inferno_models_s3_access_key": s3_server.access_key,
                "inferno_models_s3_secret_key": s3_server.secret_key}
    yield bucket, settings
    relay.close()


@dataclass
class Release:
    namespace: str
    service_ip: str
    folder: Path  # the models claim's folder on the node


def claim_folder(cluster, namespace: str) -> Path:
    core = client.CoreV1Api(cluster.api)
    claim = core.read_namespaced_persistent_volume_claim("inferno-models-pvc", namespace)
    volume = core.read_persistent_volume(claim.spec.volume_name)
    return cluster.control_plane.csi_layout().volumes / volume.spec.csi.volume_handle


def play(cluster, playbook: str, *args: str, check_ok: bool = True, tmp: Path | None = None,
         env: dict | None = None):
    common = ["-i", "inventories/dev", "-e", f"inferno_namespace={NAMESPACE}", *extra_vars(inferno_values=QUICK_START)]
    if tmp is not None:
        common += ["-e", f"inferno_backups_dir={tmp}"]
    run = ansible_playbook(playbook, *common, *args, kubeconfig=None if env else cluster.kubeconfig, env=env,
                           timeout=900)
    if check_ok:
        assert run.returncode == 0, run.output[-6000:]
    return run


def completion(release: Release, model: str, prompt: str = "abc", timeout: float = 60.0) -> tuple[int, str]:
    status, body = post(f"http://{release.service_ip}:8000/v1/completions",
                        {"model": model, "prompt": prompt, "max_tokens": 5, **SAMPLING}, timeout=timeout)
    return status, (json.loads(body)["choices"][0]["text"] if status == 200 else body)


def listed(release: Release) -> list[str]:
    status, body = get(f"http://{release.service_ip}:8000/v1/models")
    assert status == 200, body
    return sorted(item["id"] for item in json.loads(body)["data"])


def task_output(output: str, task: str) -> str:
    return output.split(f"TASK [{task}", 1)[1].split("TASK [", 1)[0]


@pytest.fixture(scope="module")
def release(local_cluster, models) -> Release:
    """deploy.yml with one declared model from the controller: delivered, then asked by verify."""
    run = play(local_cluster, "deploy.yml", *extra_vars(inferno_models=[models["shift1"].declared("alphabet.gguf")]))
    assert "alphabet.gguf: add from" in run.output
    assert "alphabet.gguf completed 'abc' with 'defgh'" in run.output, run.output[-3000:]
    service = client.CoreV1Api(local_cluster.api).read_namespaced_service("inferno", NAMESPACE)
    yield Release(NAMESPACE, service.spec.cluster_ip, claim_folder(local_cluster, NAMESPACE))
    client.CoreV1Api(local_cluster.api).delete_namespace(NAMESPACE)
    forget_backups(local_cluster, NAMESPACE)


def on_claim(release: Release) -> dict[str, str]:
    """The claim's files as the node sees them: name -> SHA-256 (dot files included)."""
    return {path.name: sha256_of(path) for path in release.folder.iterdir() if path.is_file()}


def test_deploy_delivers_a_controller_file_that_serves_through_the_service(local_cluster, release, models):
    files = on_claim(release)
    assert files["alphabet.gguf"] == models["shift1"].sha256
    assert not [name for name in files if name.endswith(".partial")]
    # Owned by Inferno's user: the fetch pod ran with the release's pod security context.
    assert (release.folder / "alphabet.gguf").stat().st_uid == 1000
    record = json.loads((release.folder / ".inferno-models.json").read_text())
    assert record["models"]["alphabet.gguf"]["sha256"] == models["shift1"].sha256
    assert listed(release) == ["alphabet.gguf"]
    assert completion(release, "alphabet.gguf") == (200, "defgh")
    # The fetch pod is gone.
    pods = client.CoreV1Api(local_cluster.api).list_namespaced_pod(
        NAMESPACE, label_selector="app.kubernetes.io/component=model-delivery").items
    assert [p.metadata.name for p in pods if not p.metadata.deletion_timestamp] == []


def test_an_s3_object_is_fetched_by_presigned_url_and_no_credential_is_shown(local_cluster, release, models,
                                                                             s3_models, s3_server):
    bucket, settings = s3_models
    declared = [models["shift1"].declared("alphabet.gguf"),
                models["shift2"].declared("shift2.gguf", f"s3://{bucket}/gguf/shift2.gguf")]
    run = play(local_cluster, "playbooks/models.yml", *extra_vars(inferno_models=declared, **settings))
    assert run.changed() == 1
    assert f"shift2.gguf: add from s3://{bucket}/gguf/shift2.gguf" in run.output
    assert "shift2.gguf completed 'abc' with 'egikm'" in run.output
    for secret in (s3_server.secret_key, "X-Amz-Signature", "X-Amz-Credential"):
        assert secret not in run.output
    assert listed(release) == ["alphabet.gguf", "shift2.gguf"]
    assert completion(release, "shift2.gguf") == (200, "egikm")
    assert completion(release, "alphabet.gguf") == (200, "defgh")


def test_a_rerun_copies_and_reads_nothing(local_cluster, release, models, s3_models):
    bucket, settings = s3_models
    declared = [models["shift1"].declared("alphabet.gguf"),
                models["shift2"].declared("shift2.gguf", f"s3://{bucket}/gguf/shift2.gguf")]
    before = {name: (release.folder / name).stat().st_mtime_ns for name in ("alphabet.gguf", "shift2.gguf")}
    run = play(local_cluster, "playbooks/models.yml", *extra_vars(inferno_models=declared, **settings))
    assert run.changed() == 0, run.output[-3000:]
    shown = task_output(run.output, "inferno.ops.models : Show the models on the claim")
    assert "alphabet.gguf: present" in shown and "shift2.gguf: present" in shown
    assert before == {name: (release.folder / name).stat().st_mtime_ns for name in before}


def test_models_yml_runs_as_a_service_account_with_only_files_rbac_models_yaml(local_cluster, release, models,
                                                                             tmp_path):
    """A token bound to files/rbac/models.yaml only (docs/rbac.md), no kubeconfig: a delivery and its
    smoke completion work, and the file grants exactly the verbs the run's requests used."""
    accounts = ServiceAccounts(local_cluster, NAMESPACE, write_ca_file(local_cluster, tmp_path / "ca.crt"),
                               REPO / "files" / "rbac")
    home = tmp_path / "home"
    home.mkdir()
    try:
        token = accounts.bind("models")
        run = play(local_cluster, "playbooks/models.yml", *extra_vars(inferno_models=[
            models["shift1"].declared("alphabet.gguf"), models["shift2"].declared("rbac.gguf")]),
            env=accounts.environment(token, home))
        assert "rbac.gguf completed 'abc' with 'egikm'" in run.output
        assert token not in run.output
        used = audited_verbs(local_cluster.control_plane.layout.audit_log, NAMESPACE).get("models-runner", {})
        expected = expected_verbs("models", used)
        assert granted_verbs("models") == expected, rbac_difference("models", granted_verbs("models"), expected)
    finally:
        accounts.remove()
        # rbac.gguf goes again, so that the tests after this one see the claim they expect.
        play(local_cluster, "playbooks/models.yml", "-e", "inferno_models_remove_undeclared=true", *extra_vars(
            inferno_models=[models["shift1"].declared("alphabet.gguf"), models["shift2"].declared(
                "shift2.gguf", smoke=False)]))


def test_check_mode_shows_the_replacement_and_changes_nothing(local_cluster, release, models):
    before = on_claim(release)
    declared = [models["shift2"].declared("alphabet.gguf", smoke=False)]
    run = play(local_cluster, "playbooks/models.yml", "--check", "--diff", *extra_vars(inferno_models=declared))
    task = task_output(run.output, "inferno.ops.models : Put the models on the models claim")
    assert f"-{models['shift1'].sha256}  alphabet.gguf" in task
    assert f"+{models['shift2'].sha256}  alphabet.gguf" in task
    assert "alphabet.gguf: replace from" in run.output
    assert "shift2.gguf: on the claim but not declared, kept" in run.output
    assert on_claim(release) == before


@pytest.mark.parametrize("case", ["wrong digest", "missing URL", "unreachable URL", "refused S3 credentials",
                                  "missing S3 key", "larger than the claim", "path in the name", "duplicate name"])
def test_bad_input_fails_with_one_sentence_and_the_old_model_keeps_serving(local_cluster, release, models, web,
                                                                           s3_models, case):
    bucket, settings = s3_models
    good = models["shift2"].declared("alphabet.gguf", smoke=False)  # would replace alphabet.gguf, if it could
    with socket.socket() as probe:
        probe.bind((network.NODE_ADDRESS, 0))
        closed_port = probe.getsockname()[1]  # bound, never listening: refused at once
        declared, expected, more = {
            "wrong digest": ([{**good, "name": "other.gguf", "sha256": models["shift1"].sha256}],
                             f"Model other.gguf from {models['shift2'].path} has SHA-256 {models['shift2'].sha256} "
                             f"({models['shift2'].path.stat().st_size} bytes), but inferno_models declares "
                             f"{models['shift1'].sha256}", {}),
            "missing URL": ([{**good, "source": f"{web}/nowhere.gguf"}],
                            f"Model alphabet.gguf's source {web}/nowhere.gguf does not exist (HTTP 404", {}),
            "unreachable URL": ([{**good, "source": f"http://{network.NODE_ADDRESS}:{closed_port}/m.gguf"}],
                                f"Model alphabet.gguf's source http://{network.NODE_ADDRESS}:{closed_port}/m.gguf cannot "
                                "be reached from the cluster (curl: (7) Failed to connect", {}),
            "refused S3 credentials": ([{**good, "source": f"s3://{bucket}/gguf/shift2.gguf"}],
                                       f"Model alphabet.gguf's source s3://{bucket}/gguf/shift2.gguf refused the "
                                       "request (HTTP 403 Forbidden): check the S3 access key and secret key",
                                       {"inferno_models_s3_secret_key": "wrong" + "0" * 35}),
            "missing S3 key": ([{**good, "source": f"s3://{bucket}/gguf/nothing.gguf"}],
                               f"Model alphabet.gguf's source s3://{bucket}/gguf/nothing.gguf does not exist (HTTP 404 "
                               "Not Found): check the bucket and key", {}),
            "larger than the claim": ([{**good, "name": "huge.gguf", "source": f"{web}/huge.gguf"}],
                                      "The models to copy need 909.5 TiB (huge.gguf (909.5 TiB)), and the models claim "
                                      "inferno-models-pvc has", {}),
            "path in the name": ([{**good, "name": "../alphabet.gguf"}],
                                 "inferno_models[0] (../alphabet.gguf) has the name '../alphabet.gguf'", {}),
            "duplicate name": ([good, good], "inferno_models[1] (alphabet.gguf) repeats the name alphabet.gguf of "
                                             "inferno_models[0]", {}),
        }[case]
        before = on_claim(release)
        run = play(local_cluster, "playbooks/models.yml", *extra_vars(inferno_models=declared, **{**settings, **more}),
                   check_ok=False)
    assert run.returncode != 0
    message = " ".join(run.output.split())
    assert expected in message, run.output[-3000:]
    assert settings["inferno_models_s3_secret_key"] not in run.output and "X-Amz-Signature" not in run.output
    assert on_claim(release) == before  # no partial left, nothing replaced
    assert completion(release, "alphabet.gguf") == (200, "defgh")


def test_an_https_or_http_source_goes_straight_into_the_claim(local_cluster, release, models, web, s3_models):
    bucket, settings = s3_models
    declared = [models["shift1"].declared("alphabet.gguf"),
                models["shift2"].declared("shift2.gguf", f"s3://{bucket}/gguf/shift2.gguf"),
                models["shift2"].declared("web.gguf", f"{web}/shift2.gguf")]
    run = play(local_cluster, "playbooks/models.yml", *extra_vars(inferno_models=declared, **settings))
    assert f"web.gguf: add from {web}/shift2.gguf" in run.output
    assert "web.gguf completed 'abc' with 'egikm'" in run.output
    assert on_claim(release)["web.gguf"] == models["shift2"].sha256


class CompletionStream:
    """Ask for a completion again and again, one at a time, and count what comes back."""

    def __init__(self, release: Release, model: str):
        self.release, self.model = release, model
        self.answers: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.answers) + len(self.failures) < STREAM_LIMIT:
            try:
                status, text = completion(self.release, self.model, timeout=30)
                (self.answers if status == 200 else self.failures).append(text if status == 200 else f"{status} {text}")
            except (OSError, urllib.error.URLError) as error:
                self.failures.append(f"{type(error).__name__}: {error}")

    def __enter__(self) -> CompletionStream:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def test_replacing_a_model_under_a_stream_of_completions_fails_none(local_cluster, release, models, s3_models):
    """The stream is Inferno's only client: without a preloaded model, 0.10.3 answers a request that
    comes while another loads a model 400 (BackendAlreadyInitialized), so no smoke prompt here."""
    bucket, settings = s3_models
    declared = [models["shift2"].declared("alphabet.gguf", smoke=False),
                models["shift2"].declared("shift2.gguf", f"s3://{bucket}/gguf/shift2.gguf", smoke=False)]
    with CompletionStream(release, "alphabet.gguf") as stream:
        time.sleep(2)
        run = play(local_cluster, "playbooks/models.yml", *extra_vars(inferno_models=declared, **settings))
        time.sleep(2)
    assert "alphabet.gguf: replace from" in run.output
    sent = len(stream.answers) + len(stream.failures)
    switched = stream.answers.index("egikm") if "egikm" in stream.answers else None
    print(f"replacement under load: {sent} completions, {len(stream.failures)} failed, "
          f"{stream.answers.count('defgh')} from the old model, {stream.answers.count('egikm')} from the new")
    assert stream.failures == [], stream.failures[:5]
    assert sent > 20 and switched is not None and set(stream.answers[:switched]) == {"defgh"}
    assert set(stream.answers[switched:]) == {"egikm"}  # once replaced, only the new model answers
    assert completion(release, "alphabet.gguf") == (200, "egikm")


def test_undeclared_models_stay_unless_their_removal_is_asked(local_cluster, release, models):
    declared = [models["shift2"].declared("alphabet.gguf", smoke=False)]
    play(local_cluster, "playbooks/models.yml", *extra_vars(
        inferno_models=[*declared, models["shift1"].declared("extra.gguf", smoke=False)]))
    run = play(local_cluster, "playbooks/models.yml", *extra_vars(inferno_models=declared))
    assert run.changed() == 0
    assert "extra.gguf: on the claim but not declared, kept" in run.output
    assert "extra.gguf" in listed(release)
    run = play(local_cluster, "playbooks/models.yml", "-e", "inferno_models_remove_undeclared=true",
               *extra_vars(inferno_models=declared))
    assert run.changed() == 1
    assert "extra.gguf: not declared, removed" in run.output
    assert listed(release) == ["alphabet.gguf"]
    record = json.loads((release.folder / ".inferno-models.json").read_text())
    assert sorted(record["models"]) == ["alphabet.gguf"]


def test_a_rollback_with_volumes_brings_the_old_model_back(local_cluster, release, models, tmp_path):
    """The backup a prod-style upgrade takes holds the models claim; rolling back with volumes
    restores the model that served before the upgrade, shown by what it answers."""
    assert completion(release, "alphabet.gguf") == (200, "egikm")  # shift 2, from the test before
    revision = history(local_cluster, NAMESPACE)[-1]["revision"]
    upgrade = {**QUICK_START, "podAnnotations": {"inferno.ops/test": "model-upgrade"}}
    play(local_cluster, "deploy.yml", "-e", "inferno_pre_upgrade_backup=true", *extra_vars(
        inferno_values=upgrade, inferno_models=[models["shift1"].declared("alphabet.gguf")]), tmp=tmp_path)
    assert completion(release, "alphabet.gguf") == (200, "defgh")
    play(local_cluster, "playbooks/rollback.yml", "-e", f"inferno_lifecycle_rollback_revision={revision}",
         "-e", "inferno_lifecycle_rollback_restore_volumes=true", "-e", "inferno_lifecycle_rollback_restore_confirm=inferno",
         tmp=tmp_path)
    release.folder = claim_folder(local_cluster, NAMESPACE)  # the claim was restored in place: a new volume
    def answered():
        try:
            return completion(release, "alphabet.gguf", timeout=10)
        except (OSError, urllib.error.URLError) as error:
            return f"{type(error).__name__}: {error}"
    eventually(lambda: answered() == (200, "egikm"), timeout=180, what="the model of before the upgrade answering again")
    record = json.loads((release.folder / ".inferno-models.json").read_text())
    assert record["models"]["alphabet.gguf"]["sha256"] == models["shift2"].sha256


def test_an_image_without_a_backend_lists_the_model_but_cannot_serve_it_and_verify_says_so(local_cluster, models):
    """The negative control: the same Inferno built with no model backend (images.py). /v1/models lists
    the delivered file all the same, a completion answers 400, and deploy.yml's verify fails naming why."""
    namespace = "real-no-backend"
    image = {"image": {"repository": images.INFERNO_NO_BACKEND_REPOSITORY, "tag": inferno_binary.INFERNO_VERSION}}
    run = ansible_playbook("deploy.yml", "-i", "inventories/dev", "-e", f"inferno_namespace={namespace}", *extra_vars(
        inferno_values={**QUICK_START, **image}, inferno_models=[models["shift1"].declared("alphabet.gguf")]),
        kubeconfig=local_cluster.kubeconfig, timeout=900)
    try:
        assert run.returncode != 0
        assert "alphabet.gguf: add from" in run.output  # delivered: the failure is the completion's
        message = " ".join(run.output.split())
        assert ("Inferno did not complete 'abc' with model alphabet.gguf of real-no-backend/inferno (through Service "
                "inferno:8000): it answered 400") in message, run.output[-3000:]
        assert "No suitable backend found for model" in message
        assert ("Likely cause: the image has no model backend compiled in (`inferno run --help` lists the backends): "
                "use an image built with --features gguf") in message
        service = client.CoreV1Api(local_cluster.api).read_namespaced_service("inferno", namespace)
        bare = Release(namespace, service.spec.cluster_ip, Path())
        assert listed(bare) == ["alphabet.gguf"]
        status, text = completion(bare, "alphabet.gguf")
        assert status == 400 and "No suitable backend found" in text, text
    finally:
        client.CoreV1Api(local_cluster.api).delete_namespace(namespace)
