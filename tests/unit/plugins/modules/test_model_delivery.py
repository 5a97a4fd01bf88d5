"""inferno.ops.model_delivery run through its main(), on a fake Kubernetes API and a fake fetch pod.

``FakeCluster`` answers the typed API methods the module calls (the release's Deployment, the
pods, the fetch pod's create, read and delete) and stands in for ``kubernetes.stream.stream``,
the module's way into the fetch pod. Each exec really runs the script the module sends, with
``sh -c <script> sh <args...>`` and the bytes the module writes to its stdin, against a
temporary folder that stands in for the claim (``models.MOUNT`` points there). On the PATH of
those shells, ``curl`` is a fake that answers from the URLs a test serves (and logs its
arguments), ``df`` reports the free space a test sets, and ``touch`` fails on a read-only
claim, so STATE_SCRIPT reports it not writable. ``sha256sum``, ``stat``, ``head``, ``mv`` and
``rm`` are the real ones.

So the tests assert what ends up on the claim (the files, their bytes, the record), which
scripts ran with which arguments and stdin, what the fetch pod looked like, that it is always
deleted, and the messages and results.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import types

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from ansible_collections.inferno.ops.plugins.module_utils import models as contract
from ansible_collections.inferno.ops.plugins.modules import model_delivery

NAMESPACE = "ns"
CLAIM = "inferno-models-pvc"
SELECTOR = "app.kubernetes.io/instance=inferno"
SCRIPTS = {
    contract.STATE_SCRIPT: "state", contract.DIGEST_SCRIPT: "digest", contract.PROBE_SCRIPT: "probe",
    contract.FETCH_SCRIPT: "fetch", contract.RECEIVE_SCRIPT: "receive", contract.COMMIT_SCRIPT: "commit",
    contract.DISCARD_SCRIPT: "discard",
}
WRITES = {"fetch", "receive", "commit", "discard"}

ALPHABET = bytes(range(256)) * 12  # 3 KiB
ALPHABET_V2 = bytes(reversed(range(256))) * 12
QWEN = b"GGUF" + bytes(range(97, 123)) * 200
MIRROR = "https://mirror.example/models/qwen.gguf"
SIGNATURE = "0badc0ffee15a5ecre7"
PRESIGNED = ("https://s3.example.internal/models/c.gguf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE"
             "&X-Amz-Signature=" + SIGNATURE)
PAST = 1700000000  # the modification time of files put on the claim by hand
EXEC_SECONDS = 20  # a script still running after this long in a test would never end


def sha(data):
    return hashlib.sha256(data).hexdigest()


# --- the fetch pod's tools ---------------------------------------------------------------------

CURL = r'''
"""curl, as far as PROBE_SCRIPT and FETCH_SCRIPT use it, answering from the served URLs."""
import json
import os
import shutil
import sys

args = sys.argv[1:]
with open(os.environ["FAKE_CURL_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
with open(os.environ["FAKE_CURL_SERVED"]) as served_file:
    served = json.load(served_file)


def option(name):
    return args[args.index(name) + 1] if name in args else None


def say(text, exit_code):
    sys.stdout.flush()
    sys.stderr.write(text + "\n")
    sys.exit(exit_code)


REASONS = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 410: "Gone", 500: "Internal Server Error"}
url = args[-1]
probe = option("-r") == "0-0"
answer = served.get(url)
while answer is not None and "redirect" in answer and "-L" in args:
    if probe:
        sys.stdout.write("HTTP/1.1 302 Found\r\nLocation: {0}\r\nContent-Length: 0\r\n\r\n".format(answer["redirect"]))
    answer = served.get(answer["redirect"])
if answer is None:
    say("curl: (6) Could not resolve host: {0}".format(url.split("/")[2].split("?")[0]), 6)
status, body = answer["status"], answer.get("body")
size = os.path.getsize(body) if body else 0
if probe:
    if status == 200 and answer.get("ranges", True):
        sys.stdout.write("HTTP/1.1 206 Partial Content\r\nContent-Length: 1\r\nContent-Range: bytes 0-0/{0}\r\n\r\n".format(
            size))
    elif status == 200 and not answer.get("length", True):
        sys.stdout.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    elif status == 200:
        sys.stdout.write("HTTP/1.1 200 OK\r\nContent-Length: {0}\r\n\r\n".format(size))
        if size > int(option("--max-filesize")):
            say("curl: (63) Maximum file size exceeded", 63)
    else:
        sys.stdout.write("HTTP/1.1 {0} {1}\r\nContent-Type: application/xml\r\nContent-Length: 243\r\n\r\n".format(
            status, REASONS[status]))
    sys.exit(0)
status = answer.get("fetch_status", status)
if status >= 400 and "-f" in args:
    say("curl: (22) The requested URL returned error: {0}".format(status), 22)
if option("-o") == "-":  # to stdout, as the fetch script pipes it into tee and sha256sum
    with open(answer.get("fetched", body), "rb") as fetched:
        shutil.copyfileobj(fetched, sys.stdout.buffer)
else:
    shutil.copyfile(answer.get("fetched", body), option("-o"))
'''

DF = r"""#!/bin/sh
echo "Filesystem     1024-blocks      Used Available Capacity Mounted on"
echo "claim              9999999         1 ${FAKE_FREE_KIB} 1% /models"
"""

TOUCH = r"""#!/bin/sh
if [ -n "${FAKE_READ_ONLY:-}" ]; then
  echo "touch: $1: Read-only file system" >&2
  exit 1
fi
exec "${REAL_TOUCH}" "$@"
"""


def executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


# --- the fake cluster --------------------------------------------------------------------------

def deployment(volumes=None):
    container = client.V1Container(name="inferno", image="inferno:0.10.3", security_context=client.V1SecurityContext(
        run_as_user=1000, run_as_non_root=True, allow_privilege_escalation=False,
        capabilities=client.V1Capabilities(drop=["ALL"])))
    if volumes is None:
        volumes = [client.V1Volume(name="cache", empty_dir=client.V1EmptyDirVolumeSource()),
                   client.V1Volume(name="models", persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(
                       claim_name=CLAIM))]
    template = client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app.kubernetes.io/instance": "inferno"}),
        spec=client.V1PodSpec(
            containers=[container], volumes=volumes, node_selector={"pool": "gpu"},
            security_context=client.V1PodSecurityContext(fs_group=1000, run_as_user=1000),
            tolerations=[client.V1Toleration(key="gpu", operator="Exists", effect="NoSchedule")]))
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name="inferno", namespace=NAMESPACE, labels={"app.kubernetes.io/instance": "inferno"}),
        spec=client.V1DeploymentSpec(selector=client.V1LabelSelector(match_labels={"app": "inferno"}), template=template))


def pod(name, node, phase="Running", component=None, deleting=False, claim=CLAIM):
    labels = {"app.kubernetes.io/instance": "inferno"}
    if component:
        labels["app.kubernetes.io/component"] = component
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, namespace=NAMESPACE, labels=labels,
                                     deletion_timestamp="2026-11-24T12:00:00Z" if deleting else None),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c")], node_name=node, volumes=[
            client.V1Volume(name="models", persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(
                claim_name=claim))]),
        status=client.V1PodStatus(phase=phase))


class FakeExec(object):
    """kubernetes.stream's WSClient for one exec, as the module uses it: stdin in, then run to the end."""

    def __init__(self, cluster, kind, command, stdin_open, env):
        self.cluster, self.kind, self.command, self.stdin_open, self.env = cluster, kind, command, stdin_open, env
        self.args = command[4:]
        self.stdin = b""
        self.writes = 0
        self.open = True
        self.closed = False
        self.returncode = None
        self.stdout = self.stderr = ""

    def write_stdin(self, data):
        assert self.stdin_open, "the {0} exec was opened without stdin".format(self.kind)
        assert self.open and not self.closed
        self.stdin += data.encode("utf-8") if isinstance(data, str) else data
        self.writes += 1

    def update(self, timeout=None):
        assert self.open

    def run_forever(self, timeout=None):
        """Run the script to its end. As in the pod, its stdin stays open: a script that reads to the end of it
        never ends, and is reported still running (after EXEC_SECONDS here)."""
        assert timeout is not None and timeout >= 1
        if self.kind in self.cluster.hang:
            return  # still running when the time is up
        if self.kind in self.cluster.before:
            self.cluster.before[self.kind]()
        with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
            process = subprocess.Popen(self.command, stdin=subprocess.PIPE if self.stdin_open else subprocess.DEVNULL,
                                       stdout=stdout, stderr=stderr, env=self.env)
            try:
                if self.stdin_open:
                    try:
                        process.stdin.write(self.stdin)
                        process.stdin.flush()
                    except BrokenPipeError:
                        pass
                try:
                    self.returncode = process.wait(timeout=EXEC_SECONDS)
                except subprocess.TimeoutExpired:
                    return  # still open
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                if process.stdin:
                    process.stdin.close()
            stdout.seek(0)
            stderr.seek(0)
            self.stdout, self.stderr = stdout.read().decode("utf-8"), stderr.read().decode("utf-8")
        self.open = False

    def is_open(self):
        return self.open

    def read_stdout(self, timeout=None):
        return self.stdout

    def read_stderr(self, timeout=None):
        return self.stderr

    def close(self):
        self.closed = True


class FakeCluster(object):
    def __init__(self, tmp_path):
        self.claim = tmp_path / "claim"
        self.claim.mkdir()
        self.controller = tmp_path / "controller"
        self.controller.mkdir()
        self.served_dir = tmp_path / "served"
        self.served_dir.mkdir()
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        (self.bin / "curl.py").write_text(CURL)
        executable(self.bin / "curl", '#!/bin/sh\nexec "{0}" "{1}" "$@"\n'.format(sys.executable, self.bin / "curl.py"))
        executable(self.bin / "df", DF)
        executable(self.bin / "touch", TOUCH)
        self.curl_log = tmp_path / "curl.log"
        self.curl_log.write_text("")
        self.served_file = tmp_path / "served.json"
        self.served = {}
        self.free_kib = 10 * 1024 * 1024  # 10 GiB
        self.read_only_claim = False
        self.hang = set()  # kinds of exec that never finish
        self.before = {}  # kind of exec -> what happens on the claim just before it runs

        self.deployments = [deployment()]
        # Listed before Inferno's pod: one of our own fetch pods and a terminating Inferno pod, which don't count.
        self.pods = [pod("inferno-models-old", "node-z", component=contract.COMPONENT),
                     pod("inferno-old", "node-y", deleting=True),
                     pod("inferno-0", "node-a")]
        self.phases = ["Pending", "Running"]  # what reading the fetch pod answers, in turn; the last one stays
        self.waiting = None  # (reason, message) of the fetch container, while the pod is Pending
        self.refuse_create = []  # the first one is raised by the create
        self.created = []  # pod bodies
        self.live = {}  # pod name -> body, while it exists
        self.deleted = []  # names, one per delete call
        self.execs = []  # FakeExec, in order
        self.sleeps = []

    # --- what a test sets up ---------------------------------------------------------------
    def put(self, name, data, recorded=True, source="files/models/x.gguf", mtime=PAST):
        """A file on the claim, as an earlier delivery (recorded) or a person (not recorded) left it."""
        path = self.claim / name
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
        if recorded:
            record = contract.parse_record(self.record_text())
            record[name] = {"sha256": sha(data), "size": len(data), "mtime": mtime, "source": source}
            (self.claim / contract.RECORD).write_text(contract.record_text(record))
        return path

    def source(self, name, data):
        path = self.controller / name
        path.write_bytes(data)
        return str(path)

    def serve(self, url, data=None, status=200, **more):
        answer = dict(status=status, **more)
        if data is not None:
            answer["body"] = str(self.served_dir / sha(url.encode("utf-8")))
            with open(answer["body"], "wb") as body:
                body.write(data)
        self.served[url] = answer

    # --- what a test reads -----------------------------------------------------------------
    def record_text(self):
        path = self.claim / contract.RECORD
        return path.read_text() if path.exists() else None

    def record(self):
        document = json.loads(self.record_text())
        assert document["format"] == contract.RECORD_FORMAT
        return document["models"]

    def files(self):
        """Every entry of the claim, hidden ones too: name -> (bytes, modification time in ns)."""
        return dict((entry.name, (entry.read_bytes(), entry.stat().st_mtime_ns)) for entry in self.claim.iterdir())

    def ran(self):
        return [run.kind for run in self.execs]

    def curl_calls(self):
        return [json.loads(row) for row in self.curl_log.read_text().splitlines()]

    def pod_name(self):
        assert len(self.created) == 1
        return self.created[0]["metadata"]["name"]

    # --- the API methods the module calls --------------------------------------------------
    def list_deployments(self, namespace, label_selector=None):
        assert (namespace, label_selector) == (NAMESPACE, SELECTOR)
        return client.V1DeploymentList(items=self.deployments)

    def list_pods(self, namespace, **query):
        assert namespace == NAMESPACE
        return client.V1PodList(items=self.pods)

    def create_pod(self, namespace, body):
        assert namespace == NAMESPACE and body["metadata"]["namespace"] == NAMESPACE
        self.created.append(copy.deepcopy(body))
        if self.refuse_create:
            raise self.refuse_create[0]
        self.live[body["metadata"]["name"]] = copy.deepcopy(body)
        return body

    def read_pod(self, name, namespace):
        if name not in self.live:
            raise ApiException(status=404, reason="Not Found")
        phase = self.phases.pop(0) if len(self.phases) > 1 else self.phases[0]
        statuses = None
        if self.waiting and phase == "Pending":
            statuses = [client.V1ContainerStatus(
                name="fetch", image=self.live[name]["spec"]["containers"][0]["image"], image_id="", ready=False,
                restart_count=0, state=client.V1ContainerState(waiting=client.V1ContainerStateWaiting(
                    reason=self.waiting[0], message=self.waiting[1])))]
        return client.V1Pod(metadata=client.V1ObjectMeta(name=name, namespace=namespace),
                            status=client.V1PodStatus(phase=phase, container_statuses=statuses))

    def delete_pod(self, name, namespace, grace_period_seconds=None):
        assert namespace == NAMESPACE and grace_period_seconds == 0
        self.deleted.append(name)
        if self.live.pop(name, None) is None:
            raise ApiException(status=404, reason="Not Found")

    def stream(self, method, name, namespace, command=None, container=None, stdin=False, stdout=False, stderr=False,
               tty=None, _preload_content=True):
        """kubernetes.stream.stream: an exec in the fetch pod."""
        assert method.__name__ == "connect_get_namespaced_pod_exec"
        assert name in self.live, "an exec in a pod that does not exist"
        assert (namespace, container, stdout, stderr, tty, _preload_content) == (NAMESPACE, "fetch", True, True, False,
                                                                                 False)
        assert command[:2] == ["sh", "-c"] and command[3] == "sh" and all(isinstance(arg, str) for arg in command)
        kind = SCRIPTS[command[2]]
        spec = self.live[name]["spec"]
        mount = spec["containers"][0]["volumeMounts"][0]
        assert mount["mountPath"] == contract.MOUNT == str(self.claim)
        assert spec["volumes"][0]["persistentVolumeClaim"]["claimName"] == CLAIM
        read_only = mount["readOnly"] or self.read_only_claim
        with open(str(self.served_file), "w") as served:
            json.dump(self.served, served)
        env = dict(os.environ, PATH="{0}:{1}".format(self.bin, os.environ.get("PATH", "/usr/bin:/bin")),
                   FAKE_CURL_LOG=str(self.curl_log), FAKE_CURL_SERVED=str(self.served_file),
                   FAKE_FREE_KIB=str(self.free_kib), REAL_TOUCH=shutil.which("touch") or "/usr/bin/touch",
                   FAKE_READ_ONLY="1" if read_only else "")
        run = FakeExec(self, kind, list(command), stdin, env)
        self.execs.append(run)
        return run

    def sleep(self, seconds):
        self.sleeps.append(seconds)


@pytest.fixture
def cluster(monkeypatch, tmp_path):
    fake = FakeCluster(tmp_path)
    monkeypatch.setattr(contract, "MOUNT", str(fake.claim))
    monkeypatch.setattr(model_delivery, "api_client", lambda module: client.ApiClient())
    monkeypatch.setattr(model_delivery, "stream", fake.stream)
    # The module's clock only: each reading is a quarter second later, and waiting takes no time.
    monkeypatch.setattr(model_delivery, "time", types.SimpleNamespace(monotonic=itertools.count(0, 0.25).__next__,
                                                                      sleep=fake.sleep))
    patches = {
        (client.AppsV1Api, "list_namespaced_deployment"): fake.list_deployments,
        (client.CoreV1Api, "list_namespaced_pod"): fake.list_pods,
        (client.CoreV1Api, "create_namespaced_pod"): fake.create_pod,
        (client.CoreV1Api, "read_namespaced_pod"): fake.read_pod,
        (client.CoreV1Api, "delete_namespaced_pod"): fake.delete_pod,
    }
    for (api, method), answer in patches.items():
        monkeypatch.setattr(api, method, lambda self, *args, _answer=answer, **kwargs: _answer(*args, **kwargs))
    return fake


def module_args(args):
    return dict({"release_name": "inferno", "release_namespace": NAMESPACE}, **args)


@pytest.fixture
def run(run_module):
    """The module's result; the test fails if the module does."""
    def run_model_delivery(models, check_mode=False, diff=False, **args):
        return run_module(model_delivery.main, module_args(dict(args, models=models)), check_mode=check_mode,
                          diff=diff)

    return run_model_delivery


@pytest.fixture
def fail(fail_module):
    """The result of a run that must fail (msg included)."""
    def fail_model_delivery(models, check_mode=False, **args):
        return fail_module(model_delivery.main, module_args(dict(args, models=models)), check_mode=check_mode)

    return fail_model_delivery


def declared(name, data, source, **more):
    return dict(name=name, sha256=sha(data), source=source, **more)


def assert_pod_gone(cluster):
    """The fetch pod was created once, and deleted once, at the end."""
    assert cluster.deleted == [cluster.pod_name()] and cluster.live == {}


# --- a first delivery --------------------------------------------------------------------------

def test_a_first_delivery_streams_a_controller_file_checks_it_and_puts_it_in_place(run, cluster, monkeypatch):
    monkeypatch.setattr(model_delivery, "CHUNK", 1000)  # 3072 bytes go in four writes
    source = cluster.source("alphabet.gguf", ALPHABET)
    result = run([declared("alphabet.gguf", ALPHABET, source)])

    digest = sha(ALPHABET)
    assert result["changed"] is True
    assert result["models"] == [{"name": "alphabet.gguf", "action": "add", "sha256": digest, "source": source,
                                 "size": 3072}]
    assert result["lines"] == ["alphabet.gguf: add from {0} (3.0 KiB), sha256 {1}...".format(source, digest[:12])]
    assert (result["claim"], result["node"], result["free_bytes"]) == (CLAIM, "node-a", 10 * 1024 ** 3)
    assert isinstance(result["seconds"], float) and "diff" not in result

    # On the claim: the file under its name, no partial left, and the record with the file's own time.
    path = cluster.claim / "alphabet.gguf"
    assert path.read_bytes() == ALPHABET
    assert sorted(cluster.files()) == [contract.RECORD, "alphabet.gguf"]
    assert cluster.record() == {"alphabet.gguf": {"sha256": digest, "size": 3072, "mtime": int(path.stat().st_mtime),
                                                  "source": source}}

    # In the pod: read the claim, receive the bytes, then put them in place and write the record.
    assert cluster.ran() == ["state", "receive", "commit", "commit"]
    receive = cluster.execs[1]
    assert receive.args == [str(cluster.claim / ".alphabet.gguf.partial"), "3072"]
    assert receive.stdin == ALPHABET and receive.writes == 4
    first_commit = cluster.execs[2]
    assert first_commit.args[0] == str(cluster.claim) and first_commit.args[2:] == ["alphabet.gguf", "--remove"]
    assert int(first_commit.args[1]) == len(first_commit.stdin)
    assert all(run.closed for run in cluster.execs)
    assert cluster.curl_calls() == []


def test_the_fetch_pod_is_pinned_to_inferno_s_node_with_its_security_and_then_deleted(run, cluster):
    run([declared("alphabet.gguf", ALPHABET, cluster.source("alphabet.gguf", ALPHABET))], timeout=30,
        fetcher_image="registry.example/curl:8")
    body = cluster.created[0]
    assert re.match(r"^inferno-models-[0-9a-f]{6}$", body["metadata"]["name"])
    assert body["metadata"]["labels"]["app.kubernetes.io/component"] == contract.COMPONENT
    spec = body["spec"]
    assert spec["nodeSelector"] == {"pool": "gpu", "kubernetes.io/hostname": "node-a"}
    assert spec["securityContext"] == {"fsGroup": 1000, "runAsUser": 1000}
    assert spec["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert spec["activeDeadlineSeconds"] == 60  # never under a minute
    container = spec["containers"][0]
    assert container["image"] == "registry.example/curl:8"
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                            "runAsNonRoot": True, "runAsUser": 1000}
    assert container["volumeMounts"][0]["readOnly"] is False
    assert spec["volumes"][0] == {"name": "models", "persistentVolumeClaim": {"claimName": CLAIM, "readOnly": False}}
    assert cluster.sleeps == [0.5]  # Pending once, then Running
    assert_pod_gone(cluster)


def test_without_a_running_inferno_pod_the_fetch_pod_goes_where_the_scheduler_puts_it(run, cluster):
    cluster.pods = [pod("inferno-0", "node-a", phase="Pending"), pod("other", "node-b", claim="other-claim")]
    result = run([declared("alphabet.gguf", ALPHABET, cluster.source("alphabet.gguf", ALPHABET))])
    assert result["node"] is None
    assert cluster.created[0]["spec"]["nodeSelector"] == {"pool": "gpu"}


def test_a_url_source_goes_from_its_server_into_the_pod(run, cluster):
    cluster.serve(MIRROR, QWEN)
    result = run([declared("qwen.gguf", QWEN, MIRROR)])
    assert result["changed"] is True
    assert result["models"] == [{"name": "qwen.gguf", "action": "add", "sha256": sha(QWEN), "source": MIRROR,
                                 "size": len(QWEN)}]
    assert (cluster.claim / "qwen.gguf").read_bytes() == QWEN
    assert cluster.ran() == ["state", "probe", "fetch", "commit", "commit"]
    probe, fetch = cluster.execs[1], cluster.execs[2]
    # The URL comes on stdin, never in the command line.
    assert probe.stdin == fetch.stdin == (MIRROR + "\n").encode("utf-8")
    assert probe.args == [str(model_delivery.PROBE_SECONDS)]
    assert fetch.args == [str(cluster.claim / ".qwen.gguf.partial")]
    assert [call[-1] for call in cluster.curl_calls()] == [MIRROR, MIRROR]
    assert cluster.record()["qwen.gguf"]["source"] == MIRROR


@pytest.mark.parametrize("answer", [{"ranges": False}, {"redirect": "https://cdn.example/qwen.gguf"}])
def test_the_size_comes_from_a_server_that_ignores_ranges_or_redirects(run, cluster, answer):
    if "redirect" in answer:
        cluster.serve(MIRROR, status=302, redirect=answer["redirect"])
        cluster.serve(answer["redirect"], QWEN)
    else:
        cluster.serve(MIRROR, QWEN, ranges=False)
    result = run([declared("qwen.gguf", QWEN, MIRROR)])
    assert result["models"][0]["size"] == len(QWEN)
    assert (cluster.claim / "qwen.gguf").read_bytes() == QWEN


# --- a rerun -----------------------------------------------------------------------------------

def test_a_rerun_reads_no_model_when_the_record_matches(run, cluster):
    source = cluster.source("alphabet.gguf", ALPHABET)
    cluster.serve(MIRROR, QWEN)
    models = [declared("alphabet.gguf", ALPHABET, source), declared("qwen.gguf", QWEN, MIRROR)]
    run(models)
    before, record = cluster.files(), cluster.record_text()
    cluster.execs, cluster.created, cluster.deleted = [], [], []
    curl_calls = len(cluster.curl_calls())

    result = run(models)
    assert result["changed"] is False
    assert [(entry["name"], entry["action"], entry["present_sha256"]) for entry in result["models"]] == [
        ("alphabet.gguf", "keep", sha(ALPHABET)), ("qwen.gguf", "keep", sha(QWEN))]
    assert result["lines"] == ["alphabet.gguf: present, sha256 {0}...".format(sha(ALPHABET)[:12]),
                               "qwen.gguf: present, sha256 {0}...".format(sha(QWEN)[:12])]
    assert cluster.ran() == ["state"]  # no digest read, no probe, no copy, no record written
    assert len(cluster.curl_calls()) == curl_calls
    assert cluster.files() == before and cluster.record_text() == record
    assert_pod_gone(cluster)


def test_a_declared_model_with_a_new_digest_replaces_the_recorded_one(run, cluster):
    cluster.put("alphabet.gguf", ALPHABET, source="files/models/alphabet.gguf")
    source = cluster.source("alphabet.gguf", ALPHABET_V2)
    result = run([declared("alphabet.gguf", ALPHABET_V2, source)], diff=True)
    assert result["changed"] is True
    assert result["models"] == [{"name": "alphabet.gguf", "action": "replace", "sha256": sha(ALPHABET_V2),
                                 "present_sha256": sha(ALPHABET), "source": source, "size": 3072}]
    assert result["diff"] == {"before": "{0}  alphabet.gguf\n".format(sha(ALPHABET)),
                              "after": "{0}  alphabet.gguf\n".format(sha(ALPHABET_V2))}
    assert (cluster.claim / "alphabet.gguf").read_bytes() == ALPHABET_V2
    assert cluster.record()["alphabet.gguf"]["sha256"] == sha(ALPHABET_V2)
    assert cluster.ran() == ["state", "receive", "commit", "commit"]


# --- files the record does not describe --------------------------------------------------------

def test_a_present_file_without_a_record_is_read_once_then_kept(run, cluster):
    cluster.put("alphabet.gguf", ALPHABET, recorded=False)
    models = [declared("alphabet.gguf", ALPHABET, cluster.source("alphabet.gguf", ALPHABET))]
    result = run(models)
    assert result["changed"] is False
    assert [(entry["action"], entry["present_sha256"]) for entry in result["models"]] == [("keep", sha(ALPHABET))]
    assert cluster.ran() == ["state", "digest", "commit"]  # the digest, then the record alone
    assert cluster.execs[1].args == [str(cluster.claim / "alphabet.gguf")]
    assert cluster.execs[2].args[2:] == ["--remove"]
    assert (cluster.claim / "alphabet.gguf").stat().st_mtime == PAST  # not copied again
    assert cluster.record() == {"alphabet.gguf": {"sha256": sha(ALPHABET), "size": 3072, "mtime": PAST,
                                                  "source": models[0]["source"]}}

    cluster.execs = []
    assert run(models)["changed"] is False
    assert cluster.ran() == ["state"]


def test_the_record_forgets_a_file_that_is_gone(run, cluster):
    cluster.put("alphabet.gguf", ALPHABET)
    cluster.put("gone.gguf", b"removed by hand")
    (cluster.claim / "gone.gguf").unlink()
    result = run([declared("alphabet.gguf", ALPHABET, "files/models/x.gguf")])
    assert result["changed"] is False
    assert [entry["name"] for entry in result["models"]] == ["alphabet.gguf"]
    assert cluster.ran() == ["state", "commit"]  # the record alone
    assert list(cluster.record()) == ["alphabet.gguf"]


def test_a_present_file_whose_digest_cannot_be_read_fails(fail, cluster):
    path = cluster.put("by-hand.gguf", ALPHABET, recorded=False)
    cluster.before["digest"] = path.unlink  # gone between the listing and the digest
    result = fail([declared("by-hand.gguf", ALPHABET, "files/models/by-hand.gguf")])
    assert re.match(r"^Cannot read the digest of by-hand\.gguf on the models claim \(.*by-hand\.gguf: no such file, "
                    r"or not readable\)\.$", result["msg"]), result["msg"]
    assert cluster.ran() == ["state", "digest"]
    assert_pod_gone(cluster)


def test_a_claim_that_cannot_be_read_fails(fail, cluster):
    cluster.before["state"] = lambda: cluster.claim.rename(cluster.claim.with_name("elsewhere"))
    result = fail([declared("alphabet.gguf", ALPHABET, "files/models/alphabet.gguf")])
    assert result["msg"].startswith("Cannot read the models claim in the fetch pod (")
    assert "cd" in result["msg"] and str(cluster.claim) in result["msg"]
    assert cluster.ran() == ["state"]
    assert_pod_gone(cluster)


def test_a_file_changed_since_its_record_is_read_again(run, cluster):
    cluster.put("alphabet.gguf", ALPHABET)
    # Same size, new time: someone copied another file over it.
    path = cluster.put("alphabet.gguf", ALPHABET_V2, recorded=False, mtime=PAST + 60)
    source = cluster.source("alphabet.gguf", ALPHABET)
    result = run([declared("alphabet.gguf", ALPHABET, source)])
    assert [(entry["action"], entry["present_sha256"]) for entry in result["models"]] == [
        ("replace", sha(ALPHABET_V2))]
    assert result["changed"] is True
    assert cluster.ran() == ["state", "digest", "receive", "commit", "commit"]
    assert path.read_bytes() == ALPHABET


# --- check mode --------------------------------------------------------------------------------

def test_check_mode_reads_the_claim_read_only_and_copies_nothing(run, cluster):
    cluster.put("alphabet.gguf", ALPHABET, source="files/models/alphabet.gguf")
    cluster.put("by-hand.gguf", QWEN, recorded=False)
    cluster.put("old.gguf", b"old model", source="s3://models/old.gguf")
    cluster.serve(PRESIGNED, QWEN)
    source = cluster.source("alphabet.gguf", ALPHABET_V2)
    before = cluster.files()
    result = run([declared("alphabet.gguf", ALPHABET_V2, source),
                  declared("c.gguf", QWEN, "s3://models/c.gguf", url=PRESIGNED),
                  declared("by-hand.gguf", QWEN, "files/models/by-hand.gguf")],
                 check_mode=True, diff=True, remove_undeclared=True)

    assert cluster.files() == before
    assert not set(cluster.ran()) & WRITES
    assert cluster.ran() == ["state", "digest", "probe"]
    body = cluster.created[0]
    assert body["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] is True
    assert body["spec"]["volumes"][0]["persistentVolumeClaim"]["readOnly"] is True
    assert_pod_gone(cluster)

    assert result["changed"] is True
    assert [(entry["name"], entry["action"], entry.get("size")) for entry in result["models"]] == [
        ("alphabet.gguf", "replace", 3072), ("c.gguf", "add", len(QWEN)), ("by-hand.gguf", "keep", None),
        ("old.gguf", "remove", None)]
    assert result["diff"] == {
        "before": "{0}  alphabet.gguf\n{1}  by-hand.gguf\n{2}  old.gguf\n".format(
            sha(ALPHABET), sha(QWEN), sha(b"old model")),
        "after": "{0}  alphabet.gguf\n{1}  c.gguf\n{1}  by-hand.gguf\n".format(sha(ALPHABET_V2), sha(QWEN)),
    }
    for text in result["diff"].values():
        assert all(re.match(r"^[0-9a-f]{64}  [^ /]+\.gguf$", row) for row in text.splitlines())
    assert result["lines"] == [
        "alphabet.gguf: replace from {0} (3.0 KiB), sha256 {1}...".format(source, sha(ALPHABET_V2)[:12]),
        "c.gguf: add from s3://models/c.gguf (5.1 KiB), sha256 {0}...".format(sha(QWEN)[:12]),
        "by-hand.gguf: present, sha256 {0}...".format(sha(QWEN)[:12]),
        "old.gguf: not declared, removed",
    ]


def test_check_mode_with_nothing_to_do_changes_nothing(run, cluster):
    cluster.put("alphabet.gguf", ALPHABET)
    result = run([declared("alphabet.gguf", ALPHABET, "files/models/x.gguf")], check_mode=True, diff=True)
    assert result["changed"] is False
    assert result["diff"]["before"] == result["diff"]["after"] == "{0}  alphabet.gguf\n".format(sha(ALPHABET))
    assert cluster.ran() == ["state"]


def test_check_mode_before_the_first_install_adds_every_model_without_a_pod(run, cluster):
    cluster.deployments = []
    result = run([declared("alphabet.gguf", ALPHABET, "files/models/alphabet.gguf")], check_mode=True, diff=True)
    assert result["changed"] is True
    assert [(entry["name"], entry["action"]) for entry in result["models"]] == [("alphabet.gguf", "add")]
    assert result["diff"] == {"before": "", "after": "{0}  alphabet.gguf\n".format(sha(ALPHABET))}
    assert cluster.created == [] and cluster.execs == []


# --- a copy that does not match its digest -----------------------------------------------------

def test_a_wrong_digest_fails_discards_the_copy_and_leaves_the_claim_as_it_was(fail, cluster):
    cluster.put("alphabet.gguf", ALPHABET, source="files/models/alphabet.gguf")
    source = cluster.source("alphabet.gguf", ALPHABET_V2 + b"!")
    declared_digest = sha(b"what the inventory says")
    before, record = cluster.files(), cluster.record_text()
    result = fail([dict(name="alphabet.gguf", sha256=declared_digest.upper(), source=source)])
    assert result["msg"] == (
        "Model alphabet.gguf from {0} has SHA-256 {1} (3073 bytes), but inferno_models declares {2}: fix the sha256 "
        "(sha256sum prints it) or the source. The copy was discarded, nothing was put in place, and the models "
        "already on the claim keep serving.".format(source, sha(ALPHABET_V2 + b"!"), declared_digest))
    assert cluster.ran() == ["state", "receive", "discard"]
    assert cluster.execs[2].args == [str(cluster.claim), ".alphabet.gguf.partial"]
    assert cluster.files() == before and cluster.record_text() == record  # the old file, its time, no partial
    assert result["changed"] is False  # nothing was put in place
    assert_pod_gone(cluster)


def test_when_one_model_fails_its_check_no_model_is_put_in_place(fail, cluster):
    # The probe sees the right size, and the download gives other bytes.
    cluster.serve(MIRROR, QWEN, fetched=cluster.source("tampered.bin", QWEN[:-1] + b"!"))
    good = cluster.source("alphabet.gguf", ALPHABET)
    result = fail([declared("alphabet.gguf", ALPHABET, good), declared("qwen.gguf", QWEN, MIRROR)])
    assert result["msg"].startswith("Model qwen.gguf from {0} has SHA-256 {1} ({2} bytes), but inferno_models "
                                    "declares {3}: ".format(MIRROR, sha(QWEN[:-1] + b"!"), len(QWEN), sha(QWEN)))
    assert cluster.ran() == ["state", "probe", "receive", "fetch", "discard"]
    assert cluster.execs[-1].args == [str(cluster.claim), ".alphabet.gguf.partial", ".qwen.gguf.partial"]
    assert cluster.files() == {}  # the checked first model was not put in place either
    assert_pod_gone(cluster)


def test_a_download_that_fails_names_curl_s_words_not_the_url(fail, cluster):
    cluster.serve(PRESIGNED, QWEN, fetch_status=403)  # the presigned URL expired between the probe and the download
    result = fail([declared("c.gguf", QWEN, "s3://models/c.gguf", url=PRESIGNED)])
    assert result["msg"] == ("Copying model c.gguf from s3://models/c.gguf failed (curl: (22) The requested URL returned "
                             "error: 403). Nothing was put in place, and the models already on the claim keep serving.")
    assert cluster.ran() == ["state", "probe", "fetch", "discard"]
    assert cluster.execs[-1].args == [str(cluster.claim), ".c.gguf.partial"]
    assert SIGNATURE not in json.dumps(result)
    assert cluster.files() == {}


# --- free space --------------------------------------------------------------------------------

def test_too_little_free_space_fails_before_any_copy(fail, cluster):
    cluster.free_kib = 5
    cluster.serve(MIRROR, QWEN)
    result = fail([declared("alphabet.gguf", ALPHABET, cluster.source("alphabet.gguf", ALPHABET)),
                   declared("qwen.gguf", QWEN, MIRROR)])
    assert result["msg"] == (
        "The models to copy need 8.1 KiB (alphabet.gguf (3.0 KiB), qwen.gguf (5.1 KiB)), and the models claim "
        "inferno-models-pvc has 5.0 KiB free: grow the claim (persistence.models.size in the release's values, if its "
        "StorageClass allows expansion) or remove models it no longer needs (inferno_models_remove_undeclared). "
        "Nothing was copied or changed.")
    assert cluster.ran() == ["state", "probe"]
    assert cluster.files() == {}
    assert result["free_bytes"] == 5 * 1024 and result["claim"] == CLAIM
    assert_pod_gone(cluster)


def test_a_leftover_partial_counts_as_free_space(run, cluster):
    cluster.free_kib = 1
    cluster.put(".alphabet.gguf.partial", ALPHABET[:2048], recorded=False)  # an earlier attempt's
    result = run([declared("alphabet.gguf", ALPHABET, cluster.source("alphabet.gguf", ALPHABET))])
    assert result["changed"] is True
    assert sorted(cluster.files()) == [contract.RECORD, "alphabet.gguf"]


def test_just_enough_free_space_is_enough(run, cluster):
    cluster.free_kib = 3
    result = run([declared("alphabet.gguf", ALPHABET, cluster.source("alphabet.gguf", ALPHABET))])
    assert result["changed"] is True


# --- sources that cannot be read ---------------------------------------------------------------

S3_MODEL = dict(name="c.gguf", sha256=sha(QWEN), source="s3://models/c.gguf", url=PRESIGNED)
HTTPS_SOURCE = "https://mirror.example/models/c.gguf?token=" + SIGNATURE
HTTPS_MODEL = dict(name="c.gguf", sha256=sha(QWEN), source=HTTPS_SOURCE)


@pytest.mark.parametrize("model, answer, message", [
    (S3_MODEL, 404, "Model c.gguf's source s3://models/c.gguf does not exist (HTTP 404 Not Found): check the bucket "
                    "and key."),
    (S3_MODEL, 403, "Model c.gguf's source s3://models/c.gguf refused the request (HTTP 403 Forbidden): check the S3 "
                    "access key and secret key (inferno_models_s3_access_key, inferno_models_s3_secret_key) and that "
                    "they may read the object."),
    (S3_MODEL, None, "Model c.gguf's source s3://models/c.gguf cannot be reached from the cluster (curl: (6) Could "
                     "not resolve host: s3.example.internal): check the URL and that pods in ns may reach its server."),
    (HTTPS_MODEL, 404, "Model c.gguf's source https://mirror.example/models/c.gguf does not exist (HTTP 404 Not "
                       "Found): check the URL."),
    (HTTPS_MODEL, 401, "Model c.gguf's source https://mirror.example/models/c.gguf refused the request (HTTP 401 "
                       "Unauthorized): the URL needs credentials the fetch pod does not have; use a URL it may read."),
    (HTTPS_MODEL, 500, "Model c.gguf's source https://mirror.example/models/c.gguf answered HTTP 500 Internal Server "
                       "Error: check the source."),
    (HTTPS_MODEL, 410, "Model c.gguf's source https://mirror.example/models/c.gguf answered HTTP 410 Gone: check the "
                       "source."),
    (HTTPS_MODEL, None, "Model c.gguf's source https://mirror.example/models/c.gguf cannot be reached from the cluster "
                        "(curl: (6) Could not resolve host: mirror.example): check the URL and that pods in ns may reach "
                        "its server."),
])
def test_a_source_that_cannot_be_read_fails_in_one_sentence_without_its_url(fail, cluster, model, answer, message):
    url = model.get("url") or model["source"]
    if answer:
        cluster.serve(url, QWEN, status=answer)
    result = fail([dict(model)])
    assert result["msg"] == message
    assert cluster.ran() == ["state", "probe"]
    assert cluster.curl_calls()[0][-1] == url  # the pod asked for the whole URL...
    assert cluster.execs[1].stdin == (url + "\n").encode("utf-8")  # ...which came on stdin
    # ...and it is nowhere else: not in the result, not in any command line.
    assert SIGNATURE not in json.dumps(result)
    assert not any(SIGNATURE in arg for run in cluster.execs for arg in run.command)
    assert cluster.files() == {}
    assert_pod_gone(cluster)


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_source_that_does_not_say_its_size_fails(fail, cluster, check_mode):
    cluster.serve(MIRROR, QWEN, ranges=False, length=False)
    result = fail([declared("qwen.gguf", QWEN, MIRROR)], check_mode=check_mode)
    assert result["msg"] == ("Model qwen.gguf's source https://mirror.example/models/qwen.gguf does not say its size "
                             "(HTTP 200 OK, with neither Content-Range nor Content-Length): serve it from a server that "
                             "does.")
    assert cluster.ran() == ["state", "probe"]
    assert_pod_gone(cluster)


def test_a_controller_file_that_is_missing_fails_before_any_copy(fail, cluster, tmp_path):
    missing = str(tmp_path / "nowhere" / "alphabet.gguf")
    result = fail([declared("alphabet.gguf", ALPHABET, missing)])
    assert result["msg"] == ("Model alphabet.gguf's source {0} is not a readable file on the controller: check the path "
                             "(it is read on the machine that runs ansible-playbook).".format(missing))
    assert cluster.ran() == ["state"]
    assert_pod_gone(cluster)


# --- declarations ------------------------------------------------------------------------------

def test_duplicate_names_and_names_with_a_slash_fail_before_anything_is_read(fail, cluster):
    result = fail([declared("a.gguf", ALPHABET, "files/a.gguf"),
                   declared("a.gguf", QWEN, "files/b.gguf"),
                   declared("models/b.gguf", QWEN, "files/b.gguf"),
                   declared("../c.gguf", QWEN, "files/c.gguf")])
    assert result["msg"] == (
        "inferno_models[1] (a.gguf) repeats the name a.gguf of inferno_models[0]: two models cannot share one file; "
        "rename one or remove the duplicate; "
        "inferno_models[2] (models/b.gguf) has the name 'models/b.gguf': a model's name is the file name Inferno "
        "serves it under, so it must end in .gguf, hold only letters, digits, '.', '_', '+' and '-', and no path parts "
        "(no '/'); for example llama-3-8b.Q4_K_M.gguf; "
        "inferno_models[3] (../c.gguf) has the name '../c.gguf': a model's name is the file name Inferno serves it "
        "under, so it must end in .gguf, hold only letters, digits, '.', '_', '+' and '-', and no path parts (no '/'); "
        "for example llama-3-8b.Q4_K_M.gguf. Nothing was read or changed.")
    assert cluster.created == [] and cluster.execs == [] and cluster.deleted == []


def test_a_source_with_a_port_out_of_range_fails_before_anything_is_read(fail, cluster):
    result = fail([declared("a.gguf", ALPHABET, "https://mirror.example:99999/a.gguf")])
    assert result["msg"].startswith("inferno_models[0] (a.gguf) ")
    assert cluster.created == []


def test_a_digest_with_a_trailing_newline_fails_before_anything_is_read(fail, cluster):
    source = cluster.source("alphabet.gguf", ALPHABET)
    result = fail([dict(name="alphabet.gguf", sha256=sha(ALPHABET) + "\n", source=source)])
    assert result["msg"].startswith("inferno_models[0] (alphabet.gguf) has sha256 ")
    assert cluster.created == []


@pytest.mark.parametrize("timeout", [0, -5])
def test_a_timeout_must_be_above_zero(fail, cluster, timeout):
    result = fail([], timeout=timeout)
    assert result["msg"] == "timeout must be a number of seconds above 0, got {0}. Nothing was read or changed.".format(
        timeout)
    assert cluster.created == []


# --- undeclared files --------------------------------------------------------------------------

def test_an_undeclared_model_is_listed_and_kept(run, cluster):
    cluster.put("alphabet.gguf", ALPHABET)
    cluster.put("old.gguf", b"old model")
    cluster.put("notes.txt", b"not a model", recorded=False)
    before = cluster.files()
    result = run([declared("alphabet.gguf", ALPHABET, "files/models/x.gguf")])
    assert result["changed"] is False
    assert result["models"][1] == {"name": "old.gguf", "action": "undeclared", "present_sha256": sha(b"old model"),
                                   "source": "files/models/x.gguf"}
    assert result["lines"][1] == "old.gguf: on the claim but not declared, kept (remove_undeclared removes it)"
    assert len(result["models"]) == 2  # notes.txt is no model
    assert cluster.files() == before and cluster.ran() == ["state"]


def test_remove_undeclared_removes_undeclared_models_and_their_record(run, cluster):
    cluster.put("alphabet.gguf", ALPHABET)
    cluster.put("old.gguf", b"old model")
    cluster.put("by-hand.gguf", b"someone's", recorded=False)
    cluster.put("notes.txt", b"not a model", recorded=False)
    result = run([declared("alphabet.gguf", ALPHABET, "files/models/x.gguf")], remove_undeclared=True, diff=True)
    assert result["changed"] is True
    assert [(entry["name"], entry["action"]) for entry in result["models"]] == [
        ("alphabet.gguf", "keep"), ("by-hand.gguf", "remove"), ("old.gguf", "remove")]
    assert result["lines"][1:] == ["by-hand.gguf: not declared, removed", "old.gguf: not declared, removed"]
    assert result["diff"]["after"] == "{0}  alphabet.gguf\n".format(sha(ALPHABET))
    assert sorted(cluster.files()) == [contract.RECORD, "alphabet.gguf", "notes.txt"]
    assert list(cluster.record()) == ["alphabet.gguf"]
    assert cluster.ran() == ["state", "commit"]
    assert cluster.execs[1].args[2:] == ["--remove", "by-hand.gguf", "old.gguf"]


def test_an_empty_declaration_with_remove_undeclared_empties_the_claim(run, cluster):
    cluster.put("old.gguf", b"old model")
    result = run([], remove_undeclared=True)
    assert result["changed"] is True and result["lines"] == ["old.gguf: not declared, removed"]
    assert sorted(cluster.files()) == [contract.RECORD] and cluster.record() == {}


# --- the release and its claim -----------------------------------------------------------------

def test_no_deployment_for_the_release_fails_clearly(fail, cluster):
    cluster.deployments = []
    result = fail([declared("alphabet.gguf", ALPHABET, "files/models/alphabet.gguf")])
    assert result["msg"] == ("Release inferno has no Deployment in namespace ns: install it first (ansible-playbook "
                             "deploy.yml), or check release_name and release_namespace.")
    assert cluster.created == [] and cluster.execs == []


def test_a_release_without_a_models_claim_fails_clearly(fail, cluster):
    cluster.deployments = [deployment(volumes=[client.V1Volume(name="models", empty_dir=client.V1EmptyDirVolumeSource())])]
    result = fail([declared("alphabet.gguf", ALPHABET, "files/models/alphabet.gguf")])
    assert result["msg"] == ("Release inferno in ns mounts no models claim (its pod template has no 'models' volume "
                             "from a PersistentVolumeClaim): set persistence.enabled=true in its values, so there is a "
                             "claim to hold models.")
    assert cluster.created == []


def test_a_claim_the_fetch_pod_cannot_write_fails_before_any_copy(fail, cluster):
    cluster.read_only_claim = True
    result = fail([declared("alphabet.gguf", ALPHABET, cluster.source("alphabet.gguf", ALPHABET))])
    assert result["msg"] == ("The models claim inferno-models-pvc cannot be written from the fetch pod (a read-only "
                             "claim, or one owned by another user): check its access modes and the release's fsGroup.")
    assert cluster.ran() == ["state"]
    assert cluster.files() == {}
    assert_pod_gone(cluster)


# --- the fetch pod -----------------------------------------------------------------------------

@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff"])
def test_an_image_that_cannot_be_pulled_is_named(fail, cluster, reason):
    cluster.phases = ["Pending"]
    cluster.waiting = (reason, "pull access denied")
    result = fail([declared("alphabet.gguf", ALPHABET, "files/models/alphabet.gguf")],
                  fetcher_image="registry.invalid/curl:8")
    assert result["msg"] == (
        "The fetch pod ns/{0} did not start within 120s: its image registry.invalid/curl:8 cannot be pulled ({1}): set "
        "inferno_models_fetcher_image (fetcher_image) to an image the node can pull, with sh, curl and sha256sum. "
        "Nothing was changed on claim inferno-models-pvc.".format(cluster.pod_name(), reason))
    assert cluster.execs == [] and cluster.sleeps == []  # told at once, not after the whole wait
    assert_pod_gone(cluster)


def test_a_fetch_pod_that_never_starts_fails_after_its_wait(fail, cluster):
    cluster.phases = ["Pending"]
    result = fail([declared("alphabet.gguf", ALPHABET, "files/models/alphabet.gguf")])
    assert result["msg"] == ("The fetch pod ns/{0} did not start within 120s (kubectl describe pod shows why). Nothing "
                             "was changed on claim inferno-models-pvc.".format(cluster.pod_name()))
    assert len(cluster.sleeps) > 100
    assert_pod_gone(cluster)


@pytest.mark.parametrize("phase", ["Failed", "Succeeded"])
def test_a_fetch_pod_that_ends_at_once_fails(fail, cluster, phase):
    cluster.phases = [phase]
    result = fail([declared("alphabet.gguf", ALPHABET, "files/models/alphabet.gguf")])
    assert "did not start within 120s: it ended ({0}).".format(phase) in result["msg"]
    assert_pod_gone(cluster)


def test_a_refused_pod_create_fails_with_the_api_s_words(fail, cluster):
    refusal = ApiException(status=403, reason="Forbidden")
    cluster.refuse_create.append(refusal)
    refusal.body = json.dumps({"kind": "Status",
                               "message": 'pods is forbidden: User "dev" cannot create resource "pods" in the namespace "ns"'})
    result = fail([declared("alphabet.gguf", ALPHABET, "files/models/alphabet.gguf")])
    assert result["msg"] == ('The Kubernetes API refused a request in ns: pods is forbidden: User "dev" cannot create '
                             'resource "pods" in the namespace "ns". Nothing was put in place.')
    assert cluster.deleted == [cluster.pod_name()]  # tried, and its 404 taken quietly


def test_work_that_outlasts_the_timeout_fails_and_discards_its_copy(fail, cluster):
    cluster.hang = {"receive"}
    result = fail([declared("alphabet.gguf", ALPHABET, cluster.source("alphabet.gguf", ALPHABET))])
    assert result["msg"] == ("The fetch pod's work did not finish within the timeout of 3600s: raise timeout "
                             "(inferno_models_timeout_seconds).")
    assert cluster.ran() == ["state", "receive", "discard"]
    assert all(run.closed for run in cluster.execs)
    assert_pod_gone(cluster)


# --- S3 sources presigned by the module ------------------------------------------------------------

def test_an_s3_source_is_presigned_on_the_controller_and_only_the_pod_sees_the_url(fail, cluster):
    """botocore signs offline: the probe gets a SigV4 URL for the bucket and key at the endpoint, on stdin;
    the failure (nothing serves it here) shows the s3:// source only, and no key."""
    result = fail([dict(name="c.gguf", sha256=sha(QWEN), source="s3://models/qwen/c.gguf")],
                  s3_endpoint_url="http://s3.test:9000", s3_region="us-east-1", s3_access_key="AKIATESTKEY",
                  s3_secret_key="s3cr3t-key-never-shown", presign_seconds=600)
    probe = next(run for run in cluster.execs if run.kind == "probe")
    url = probe.stdin.decode().strip()
    assert url.startswith("http://s3.test:9000/models/qwen/c.gguf?")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=600" in url and "AKIATESTKEY" in url
    assert result["msg"].startswith("Model c.gguf's source s3://models/qwen/c.gguf cannot be reached from the cluster")
    shown = json.dumps(result)
    assert "X-Amz-Signature" not in shown and "s3cr3t-key-never-shown" not in shown
    assert all("X-Amz" not in " ".join(run.command) for run in cluster.execs)


def test_presigning_without_credentials_fails_before_anything_is_read(fail, cluster, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE",
                 "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = fail([dict(name="c.gguf", sha256=sha(QWEN), source="s3://models/c.gguf")],
                  s3_endpoint_url="http://s3.test:9000", s3_region="us-east-1")
    assert result["msg"] == (
        "Model c.gguf's source s3://models/c.gguf cannot be presigned (NoCredentialsError): set "
        "inferno_models_s3_access_key and inferno_models_s3_secret_key (or AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY). Nothing was read or changed.")
    assert cluster.created == [] and cluster.execs == []
