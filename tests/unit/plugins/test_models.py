"""Pure logic of inferno.ops.model_delivery (module_utils/models.py): names, sources, the plan, the record,
what the fetch pod's scripts print and how it is read back, and the fetch pod's manifest.

STATE_SCRIPT is also run here with ``sh`` on a temporary folder, so parse_state is tested on what the
script really prints; the module tests (modules/test_model_delivery.py) run all the scripts that way.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess

import pytest

from ansible_collections.inferno.ops.plugins.module_utils import models as contract

DIGEST_A = hashlib.sha256(b"a").hexdigest()
DIGEST_B = hashlib.sha256(b"b").hexdigest()
DIGEST_C = hashlib.sha256(b"c").hexdigest()


def model(name="alphabet.gguf", sha256=DIGEST_A, source="files/models/alphabet.gguf", **more):
    return dict(name=name, sha256=sha256, source=source, **more)


# --- names -------------------------------------------------------------------------------------

def test_a_partial_is_hidden_and_not_a_model():
    assert contract.partial_name("alphabet.gguf") == ".alphabet.gguf.partial"
    assert contract.partial_name("alphabet.gguf").startswith(".")
    assert not contract.partial_name("alphabet.gguf").endswith(contract.MODEL_SUFFIX)


# --- sources -----------------------------------------------------------------------------------

@pytest.mark.parametrize("source, shown", [
    ("https://bucket.s3.example/models/a.gguf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=0badc0ffee",
     "https://bucket.s3.example/models/a.gguf"),
    ("https://user:s3cr3t@Mirror.Example:8443/a.gguf#part", "https://Mirror.Example:8443/a.gguf"),
    ("http://mirror.example/a.gguf", "http://mirror.example/a.gguf"),
    ("s3://models/qwen/a.gguf", "s3://models/qwen/a.gguf"),
    ("files/models/a.gguf", "files/models/a.gguf"),
    ("/srv/models/a.gguf?not-a-query", "/srv/models/a.gguf?not-a-query"),  # a path is shown as given
    ("", ""),
    (None, None),
])
def test_a_shown_source_has_no_query_string_and_no_password(source, shown):
    assert contract.shown_source(source) == shown


def test_a_shown_source_keeps_an_ipv6_host_in_brackets():
    assert contract.shown_source("http://[fd00::1]:8080/a.gguf?sig=1") == "http://[fd00::1]:8080/a.gguf"


@pytest.mark.parametrize("source", ["https://mirror.example:99999/a.gguf", "https://mirror.example:80a/a.gguf"])
def test_a_source_with_a_bad_port_is_a_declaration_problem_not_a_crash(source):
    assert contract.shown_source(source).startswith("https://mirror.example")
    assert len(contract.declaration_problems([model(source=source)])) == 1


@pytest.mark.parametrize("source, kind", [
    ("s3://models/a.gguf", "s3"),
    ("s3://models/qwen/a.gguf", "s3"),
    ("s3://models", None),
    ("s3://models/", None),
    ("https://mirror.example/a.gguf", "url"),
    ("http://mirror.example", "url"),
    ("https://", None),
    ("ftp://mirror.example/a.gguf", None),
    ("files/models/a.gguf", "file"),
    ("/srv/models/a.gguf", "file"),
    ("~/models/a.gguf", "file"),
    ("", None),
    (None, None),
])
def test_source_kind(source, kind):
    assert contract.source_kind(source) == kind


# --- declarations ------------------------------------------------------------------------------

def test_good_declarations_have_no_problems():
    assert contract.declaration_problems([
        model(),
        model("Qwen2.5-0.5B_instruct+q4.gguf", DIGEST_B.upper(), "https://mirror.example/q.gguf?sig=1"),
        model("c.gguf", DIGEST_C, "s3://models/c.gguf", url="https://s3.example/models/c.gguf?X-Amz-Signature=1"),
    ]) == []
    assert contract.declaration_problems([]) == []


@pytest.mark.parametrize("name", [
    "models/a.gguf", "../a.gguf", "a.bin", "a.gguf.partial", ".a.gguf", "a b.gguf", "", None, "-a.gguf",
    "a" * 247 + ".gguf",  # 252 characters: longer than a file name may be here
])
def test_a_name_that_is_not_a_top_level_gguf_file_is_refused(name):
    problems = contract.declaration_problems([model(name=name)])
    assert len(problems) == 1
    assert problems[0].startswith("inferno_models[0]")
    assert "has the name {0!r}".format(name or "") in problems[0]
    assert "must end in .gguf" in problems[0] and "no path parts (no '/')" in problems[0]


def test_the_longest_name_is_accepted():
    assert contract.declaration_problems([model(name="a" * 246 + ".gguf")]) == []


def test_the_problems_name_each_model_by_index_and_name():
    problems = contract.declaration_problems([
        model("a.gguf"),
        model("a.gguf", DIGEST_B),
        model("models/b.gguf"),
        model("c.gguf", "abc"),
        model("d.gguf", source="ftp://mirror.example/d.gguf?sig=secret"),
        model("e.gguf", source="s3://models/e.gguf"),
        model("f.gguf", sha256=None),
        model("a.gguf", DIGEST_C),
    ])
    assert problems == [
        "inferno_models[1] (a.gguf) repeats the name a.gguf of inferno_models[0]: two models cannot share one file; "
        "rename one or remove the duplicate",
        "inferno_models[2] (models/b.gguf) has the name 'models/b.gguf': a model's name is the file name Inferno serves "
        "it under, so it must end in .gguf, hold only letters, digits, '.', '_', '+' and '-', and no path parts (no "
        "'/'); for example llama-3-8b.Q4_K_M.gguf",
        "inferno_models[3] (c.gguf) has sha256 'abc': give the model's SHA-256 as 64 hexadecimal digits "
        "(sha256sum <file> prints it)",
        "inferno_models[4] (d.gguf) has the source 'ftp://mirror.example/d.gguf': use s3://<bucket>/<key>, "
        "https://<host>/<path> or a path to a file on the controller",
        "inferno_models[6] (f.gguf) has sha256 '': give the model's SHA-256 as 64 hexadecimal digits "
        "(sha256sum <file> prints it)",
        "inferno_models[7] (a.gguf) repeats the name a.gguf of inferno_models[0]: two models cannot share one file; "
        "rename one or remove the duplicate",
    ]


@pytest.mark.parametrize("digest", [DIGEST_A[:-1], DIGEST_A + "0", "g" * 64, " " + DIGEST_A, DIGEST_A + " "])
def test_a_digest_must_be_64_hexadecimal_digits(digest):
    assert [problem.split(":", 1)[0] for problem in contract.declaration_problems([model(sha256=digest)])] == [
        "inferno_models[0] (alphabet.gguf) has sha256 {0!r}".format(digest)]


def test_a_digest_with_a_trailing_newline_is_refused():
    digest = DIGEST_A + "\n"
    assert [problem.split(":", 1)[0] for problem in contract.declaration_problems([model(sha256=digest)])] == [
        "inferno_models[0] (alphabet.gguf) has sha256 {0!r}".format(digest)]


def test_a_problem_never_shows_a_query_string():
    problems = contract.declaration_problems([model(source="gopher://host/a.gguf?token=s3cr3t", sha256="x")])
    assert problems and not any("s3cr3t" in problem for problem in problems)


# --- the record --------------------------------------------------------------------------------

def test_the_record_round_trips():
    models = {"a.gguf": {"sha256": DIGEST_A, "size": 3, "mtime": 1700000000, "source": "files/a.gguf"}}
    text = contract.record_text(models)
    assert text.endswith("}\n")
    assert json.loads(text) == {"format": contract.RECORD_FORMAT, "models": models}
    assert contract.parse_record(text) == models


@pytest.mark.parametrize("text", [None, "", "{", "[]", "null", '"x"', '{"format": 1}', '{"models": null}',
                                  '{"models": []}'])
def test_an_absent_or_unreadable_record_is_empty(text):
    assert contract.parse_record(text) == {}


def test_a_record_entry_that_is_not_a_mapping_is_left_out():
    assert contract.parse_record('{"models": {"a.gguf": {"sha256": "x"}, "b.gguf": 5, "c.gguf": null}}') == {
        "a.gguf": {"sha256": "x"}}


@pytest.mark.parametrize("entry, listed, matches", [
    ({"size": 3, "mtime": 10}, {"size": 3, "mtime": 10}, True),
    ({"size": 3, "mtime": 10}, {"size": 3, "mtime": 11}, False),
    ({"size": 3, "mtime": 10}, {"size": 4, "mtime": 10}, False),
    ({"size": 3}, {"size": 3, "mtime": 10}, False),
    ({}, {"size": 3, "mtime": 10}, False),
    (None, {"size": 3, "mtime": 10}, False),
    ({"size": 3, "mtime": 10}, None, False),
])
def test_a_record_entry_matches_a_file_of_the_same_size_and_time(entry, listed, matches):
    assert contract.record_matches(entry, listed) is matches


# --- the plan ----------------------------------------------------------------------------------

LISTED = {
    "kept.gguf": {"size": 1, "mtime": 100},
    "replaced.gguf": {"size": 2, "mtime": 200},
    "by-hand.gguf": {"size": 3, "mtime": 300},
    "touched.gguf": {"size": 4, "mtime": 401},
    "zz-old.gguf": {"size": 5, "mtime": 500},
    "aa-unknown.gguf": {"size": 6, "mtime": 600},
    "notes.txt": {"size": 7, "mtime": 700},
    ".new.gguf.partial": {"size": 8, "mtime": 800},
}
RECORD = {
    "kept.gguf": {"sha256": DIGEST_A, "size": 1, "mtime": 100, "source": "files/kept.gguf"},
    "replaced.gguf": {"sha256": DIGEST_A, "size": 2, "mtime": 200, "source": "files/replaced.gguf"},
    "touched.gguf": {"sha256": DIGEST_A, "size": 4, "mtime": 400, "source": "files/touched.gguf"},
    "zz-old.gguf": {"sha256": DIGEST_C, "size": 5, "mtime": 500, "source": "s3://models/zz-old.gguf"},
    "gone.gguf": {"sha256": DIGEST_C, "size": 9, "mtime": 900, "source": "files/gone.gguf"},
}
DECLARED = [
    model("new.gguf", DIGEST_B, "https://mirror.example/new.gguf?X-Amz-Signature=s3cr3t"),
    model("kept.gguf", DIGEST_A.upper(), "files/kept.gguf"),
    model("replaced.gguf", DIGEST_B, "files/replaced.gguf"),
    model("by-hand.gguf", DIGEST_A, "files/by-hand.gguf"),
    model("touched.gguf", DIGEST_A, "files/touched.gguf"),
]


@pytest.mark.parametrize("remove_undeclared, undeclared", [(False, contract.UNDECLARED), (True, contract.REMOVE)])
def test_the_plan_keeps_what_the_record_vouches_for_and_reads_the_rest(remove_undeclared, undeclared):
    record, listed = copy.deepcopy(RECORD), copy.deepcopy(LISTED)
    assert contract.plan(DECLARED, listed, record, remove_undeclared) == [
        {"name": "new.gguf", "action": "add", "sha256": DIGEST_B, "source": "https://mirror.example/new.gguf"},
        {"name": "kept.gguf", "action": "keep", "sha256": DIGEST_A, "source": "files/kept.gguf",
         "present_sha256": DIGEST_A},
        {"name": "replaced.gguf", "action": "replace", "sha256": DIGEST_B, "source": "files/replaced.gguf",
         "present_sha256": DIGEST_A},
        {"name": "by-hand.gguf", "action": "verify", "sha256": DIGEST_A, "source": "files/by-hand.gguf"},
        {"name": "touched.gguf", "action": "verify", "sha256": DIGEST_A, "source": "files/touched.gguf"},
        # Undeclared *.gguf files, sorted; notes.txt and the partial are no models.
        {"name": "aa-unknown.gguf", "action": undeclared, "present_sha256": None, "source": None},
        {"name": "zz-old.gguf", "action": undeclared, "present_sha256": DIGEST_C, "source": "s3://models/zz-old.gguf"},
    ]
    assert (record, listed) == (RECORD, LISTED)  # read only


def test_an_undeclared_file_the_record_no_longer_matches_has_no_known_digest():
    listed = {"old.gguf": {"size": 5, "mtime": 501}}
    record = {"old.gguf": {"sha256": DIGEST_C, "size": 5, "mtime": 500, "source": "files/old.gguf"}}
    assert contract.plan([], listed, record, True) == [
        {"name": "old.gguf", "action": "remove", "present_sha256": None, "source": "files/old.gguf"}]


def test_an_empty_claim_adds_every_model_in_the_declared_order():
    declared = [model("b.gguf", DIGEST_B), model("a.gguf", DIGEST_A)]
    assert [(entry["name"], entry["action"]) for entry in contract.plan(declared, {}, {}, True)] == [
        ("b.gguf", "add"), ("a.gguf", "add")]


# --- the diff ----------------------------------------------------------------------------------

def test_the_diff_is_in_sha256sums_format():
    entries = [
        {"name": "new.gguf", "action": "add", "sha256": DIGEST_B},
        {"name": "kept.gguf", "action": "keep", "sha256": DIGEST_A, "present_sha256": DIGEST_A},
        {"name": "replaced.gguf", "action": "replace", "sha256": DIGEST_B, "present_sha256": DIGEST_A},
        {"name": "aa-unknown.gguf", "action": "undeclared", "present_sha256": None},
        {"name": "zz-old.gguf", "action": "remove", "present_sha256": DIGEST_C},
    ]
    assert contract.diff(entries) == {
        "before": "{0}  kept.gguf\n{0}  replaced.gguf\n(not read)  aa-unknown.gguf\n{1}  zz-old.gguf\n".format(
            DIGEST_A, DIGEST_C),
        "after": "{0}  new.gguf\n{1}  kept.gguf\n{0}  replaced.gguf\n(not read)  aa-unknown.gguf\n".format(
            DIGEST_B, DIGEST_A),
    }
    assert contract.diff([]) == {"before": "", "after": ""}


# --- sizes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("count, text", [
    (0, "0 bytes"), (1023, "1023 bytes"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (466 * 1024, "466.0 KiB"),
    (1024 ** 2, "1.0 MiB"), (int(4.4 * 1024 ** 3), "4.4 GiB"), (1024 ** 4, "1.0 TiB"), (3 * 1024 ** 5, "3072.0 TiB"),
])
def test_human_bytes(count, text):
    assert contract.human_bytes(count) == text


# --- what the scripts print --------------------------------------------------------------------

def test_parse_state():
    text = ("free_kib 2048\nwritable yes\nfile 3 1700000000 a.gguf\nfile 12 1700000001 name with spaces.gguf\n"
            "file 8 1700000002 .b.gguf.partial\nrecord\n" + contract.record_text({"a.gguf": {"sha256": DIGEST_A}}))
    assert contract.parse_state(text) == {
        "free": 2048 * 1024, "writable": True, "record": {"a.gguf": {"sha256": DIGEST_A}},
        "files": {"a.gguf": {"size": 3, "mtime": 1700000000}, "name with spaces.gguf": {"size": 12, "mtime": 1700000001},
                  ".b.gguf.partial": {"size": 8, "mtime": 1700000002}}}


@pytest.mark.parametrize("text", [
    "free_kib \nwritable no\nrecord\n",
    "free_kib -\nwritable \nrecord\n",
    "writable yes please\nrecord\n{",
    "",
])
def test_parse_state_of_a_claim_it_could_not_measure_or_write(text):
    assert contract.parse_state(text) == {"free": None, "writable": False, "files": {}, "record": {}}


def run_script(script, *args, cwd=None):
    completed = subprocess.run(["sh", "-c", script, "sh"] + [str(arg) for arg in args], capture_output=True,
                               check=False, cwd=cwd, timeout=30)
    return completed.returncode, completed.stdout.decode("utf-8") + completed.stderr.decode("utf-8")


def test_parse_state_reads_what_the_state_script_prints(tmp_path):
    (tmp_path / "a.gguf").write_bytes(b"abc")
    (tmp_path / "name with spaces.gguf").write_bytes(b"x" * 12)
    (tmp_path / ".b.gguf.partial").write_bytes(b"y" * 8)
    (tmp_path / ".hidden.gguf").write_bytes(b"z")  # not listed: neither a model nor a partial
    (tmp_path / "folder.gguf").mkdir()  # not a file
    (tmp_path / contract.RECORD).write_text(contract.record_text({"a.gguf": {"sha256": DIGEST_A}}))
    os.utime(tmp_path / "a.gguf", (1700000000, 1700000000))
    code, output = run_script(contract.STATE_SCRIPT, tmp_path)
    assert code == 0, output
    state = contract.parse_state(output)
    assert state["writable"] is True and state["free"] > 0 and state["free"] % 1024 == 0
    assert state["record"] == {"a.gguf": {"sha256": DIGEST_A}}
    assert state["files"] == {
        "a.gguf": {"size": 3, "mtime": 1700000000},
        "name with spaces.gguf": {"size": 12, "mtime": int(os.stat(tmp_path / "name with spaces.gguf").st_mtime)},
        ".b.gguf.partial": {"size": 8, "mtime": int(os.stat(tmp_path / ".b.gguf.partial").st_mtime)},
    }
    assert not (tmp_path / ".inferno-models.probe").exists()


def test_the_state_script_on_an_empty_claim(tmp_path):
    code, output = run_script(contract.STATE_SCRIPT, tmp_path)
    assert code == 0, output
    state = contract.parse_state(output)
    assert (state["files"], state["record"], state["writable"]) == ({}, {}, True)


@pytest.mark.parametrize("text, answer", [
    # A server that honours the range: the size from Content-Range.
    ("HTTP/1.1 206 Partial Content\r\nContent-Length: 1\r\nContent-Range: bytes 0-0/4242\r\n\r\nexit 0\n",
     (206, 4242, "HTTP 206 Partial Content")),
    ("HTTP/2 206 \r\ncontent-range: bytes 0-0/99\r\n\r\nexit 0\n", (206, 99, "HTTP 206")),
    # One that ignores it: the size from Content-Length, and --max-filesize stops curl.
    ("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\ncurl: (63) Maximum file size exceeded\nexit 63\n",
     (200, 1234, "HTTP 200 OK")),
    # After redirects, the last answer counts, not the redirect's Content-Length.
    ("HTTP/1.1 302 Found\r\nLocation: https://cdn.example/a\r\nContent-Length: 5\r\n\r\n"
     "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/777\r\n\r\nexit 0\n", (206, 777, "HTTP 206 Partial Content")),
    ("HTTP/1.1 302 Found\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nexit 0\n",
     (200, None, "HTTP 200 OK")),
    # Content-Length of an error page is no model's size.
    ("HTTP/1.1 404 Not Found\r\nContent-Length: 345\r\n\r\nexit 0\n", (404, None, "HTTP 404 Not Found")),
    ("HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n\r\nexit 0\n", (403, None, "HTTP 403 Forbidden")),
    # No answer at all: curl's own words, without the exit line.
    ("curl: (6) Could not resolve host: mirror.example\nexit 6\n",
     (None, None, "curl: (6) Could not resolve host: mirror.example")),
    ("curl: (28) Connection timed out after 30001 milliseconds\n\nexit 28\n",
     (None, None, "curl: (28) Connection timed out after 30001 milliseconds")),
])
def test_parse_probe(text, answer):
    assert contract.parse_probe(text) == answer


@pytest.mark.parametrize("text, answer", [
    ("digest {0} 4242\n".format(DIGEST_A), (DIGEST_A, 4242)),
    ("some noise\ndigest {0} 0\n".format(DIGEST_B), (DIGEST_B, 0)),
    ("curl: (22) The requested URL returned error: 404\nexit 22\n",
     (None, "curl: (22) The requested URL returned error: 404")),
    ("digest  \n", (None, "digest")),
    ("digest {0} 12\n".format(DIGEST_A.upper()), (None, "digest {0} 12".format(DIGEST_A.upper()))),
    ("head: write error: No space left on device\n", (None, "head: write error: No space left on device")),
])
def test_parse_digest(text, answer):
    assert contract.parse_digest(text) == answer


# --- the fetch pod -----------------------------------------------------------------------------

TEMPLATE = {
    "metadata": {"labels": {"app.kubernetes.io/instance": "inferno"}},
    "spec": {
        "containers": [
            {"name": "inferno", "image": "inferno:0.10.3",
             "securityContext": {"runAsUser": 1000, "runAsNonRoot": True, "readOnlyRootFilesystem": True}},
            {"name": "sidecar", "image": "sidecar:1", "securityContext": {"runAsUser": 0}},
        ],
        "securityContext": {"fsGroup": 1000, "runAsUser": 1000},
        "nodeSelector": {"pool": "gpu"},
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "imagePullSecrets": [{"name": "registry"}],
        "serviceAccountName": "inferno",
        "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": "inferno-models-pvc"}}],
    },
}


@pytest.mark.parametrize("read_only", [False, True])
def test_the_fetch_pod_takes_the_release_pods_security_placement_and_claim(read_only):
    template = copy.deepcopy(TEMPLATE)
    pod = contract.fetch_pod("inferno-models-abc123", "ns", "inferno", template, "curl:8", "node-a",
                             "inferno-models-pvc", read_only, 3600)
    assert template == TEMPLATE
    assert pod == {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "inferno-models-abc123", "namespace": "ns", "labels": {
            "app.kubernetes.io/instance": "inferno", "app.kubernetes.io/component": "model-delivery",
            "app.kubernetes.io/managed-by": "inferno.ops"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "activeDeadlineSeconds": 3600,
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "fetch", "image": "curl:8", "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"],
                "securityContext": {"runAsUser": 1000, "runAsNonRoot": True, "readOnlyRootFilesystem": True},
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "128Mi"}},
                "volumeMounts": [{"name": "models", "mountPath": "/models", "readOnly": read_only}],
            }],
            "volumes": [{"name": "models",
                         "persistentVolumeClaim": {"claimName": "inferno-models-pvc", "readOnly": read_only}}],
            "securityContext": {"fsGroup": 1000, "runAsUser": 1000},
            "nodeSelector": {"pool": "gpu", "kubernetes.io/hostname": "node-a"},
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "imagePullSecrets": [{"name": "registry"}],
        },
    }
    assert "serviceAccountName" not in pod["spec"]


def test_a_fetch_pod_without_a_node_or_a_template_security_context_still_drops_privileges():
    pod = contract.fetch_pod("p", "ns", "inferno", {"spec": {"containers": [{"name": "inferno"}]}}, "curl:8", None,
                             "claim", False, 60)
    spec = pod["spec"]
    assert spec["containers"][0]["securityContext"] == {"allowPrivilegeEscalation": False,
                                                        "capabilities": {"drop": ["ALL"]}}
    assert not set(spec) & {"nodeSelector", "securityContext", "tolerations", "imagePullSecrets"}
    assert contract.fetch_pod("p", "ns", "inferno", {}, "curl:8", "node-b", "claim", False, 60)["spec"][
        "nodeSelector"] == {"kubernetes.io/hostname": "node-b"}
