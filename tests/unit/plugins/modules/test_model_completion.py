"""inferno.ops.model_completion run through its main(), on a fake dynamic client and a fake clock.

The module finds the release's Service with ``kube_client.get_json`` (served by ``fake_dynamic``
from conftest.py), then POSTs the completion through the API server's Service proxy with the
dynamic client's ``request``. ``FakeProxy`` wraps ``fake_dynamic``: it passes the GETs on, and
answers each POST with the next answer a test queued (a 200 with a body, or the exception the
dynamic client raises for another status), recording what was sent.
"""

from __future__ import annotations

import json
import types

import pytest
from kubernetes.client.rest import ApiException
from kubernetes.dynamic.exceptions import api_exception
from urllib3.exceptions import ReadTimeoutError

from ansible_collections.inferno.ops.plugins.modules import model_completion

NAMESPACE = "inferno-dev"
SERVICES = "/api/v1/namespaces/{0}/services".format(NAMESPACE)
SELECTOR = "app.kubernetes.io/instance=inferno"
COMPLETIONS = "/api/v1/namespaces/{0}/services/inferno:8000/proxy/v1/completions".format(NAMESPACE)
WHERE = "model alphabet.gguf of inferno-dev/inferno (through Service inferno:8000)"


def completion(text):
    return {"id": "cmpl-1", "object": "text_completion", "model": "alphabet.gguf",
            "choices": [{"index": 0, "text": text, "finish_reason": "length"}]}


def refusal(status, body, reason="Error"):
    """What the dynamic client raises when the proxy answers ``status`` with ``body``."""
    error = ApiException(status=status, reason=reason)
    error.body = body
    return api_exception(error)


class FakeProxy(object):
    def __init__(self, dynamic):
        self.dynamic = dynamic
        self.answers = []  # each POST takes the first: a document (200), bytes (200), or an exception
        self.posts = []  # (path, body, query)

    def built_for(self, module):
        self.dynamic.built_for(module)
        return self

    def request(self, method, path, body=None, serialize=True, **query):
        if method == "get":
            return self.dynamic.request(method, path, serialize=serialize, **query)
        assert (method, serialize) == ("post", False)
        self.posts.append((path, body, query))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode("utf-8")
        return types.SimpleNamespace(data=data, status=200)


@pytest.fixture
def sleeps(monkeypatch):
    done = []
    monkeypatch.setattr(model_completion, "time", types.SimpleNamespace(monotonic=lambda: 100.0, sleep=done.append))
    return done


@pytest.fixture
def proxy(fake_dynamic, monkeypatch, sleeps):
    fake_dynamic.documents[SERVICES] = {"kind": "ServiceList", "items": [
        # Endpoints by hand (no selector): not Inferno's, even with a port named http.
        {"metadata": {"name": "inferno-external"}, "spec": {"ports": [{"name": "http", "port": 80}]}},
        {"metadata": {"name": "inferno-headless"}, "spec": {"selector": {"app": "inferno"},
                                                            "ports": [{"name": "grpc", "port": 9000}]}},
        {"metadata": {"name": "inferno"}, "spec": {"selector": {"app": "inferno"}, "ports": [
            {"name": "metrics", "port": 9090}, {"name": "http", "port": 8000}]}},
    ]}
    fake = FakeProxy(fake_dynamic)
    monkeypatch.setattr(model_completion, "dynamic_client", fake.built_for)
    return fake


def module_args(args):
    return dict({"release_name": "inferno", "release_namespace": NAMESPACE, "model": "alphabet.gguf",
                 "prompt": "abc"}, **args)


@pytest.fixture
def run(run_module):
    return lambda check_mode=False, **args: run_module(model_completion.main, module_args(args), check_mode=check_mode)


@pytest.fixture
def fail(fail_module):
    return lambda **args: fail_module(model_completion.main, module_args(args))


def test_the_expected_text_passes(run, proxy, sleeps):
    proxy.answers = [completion("defgh")]
    result = run(expect="defgh", max_tokens=5)
    assert result == {"changed": False, "text": "defgh", "status": 200, "service": "inferno:8000", "seconds": 0.0,
                      "line": "alphabet.gguf completed 'abc' with 'defgh' in 0.0 s"}
    assert proxy.dynamic.requests == [(SERVICES, {"label_selector": SELECTOR})]
    assert proxy.posts == [(COMPLETIONS, {"model": "alphabet.gguf", "prompt": "abc", "max_tokens": 5,
                                          "temperature": 0.1, "top_k": 1000000, "top_p": 1.0, "stream": False},
                            {"_request_timeout": 120})]
    assert sleeps == []


def test_without_expect_any_text_passes_and_the_sampling_can_be_set(run, proxy):
    proxy.answers = [completion(" jumps over")]
    result = run(check_mode=True, temperature=0.7, top_k=40, timeout=5)
    assert result["text"] == " jumps over" and result["changed"] is False
    _path, body, query = proxy.posts[0]
    assert (body["temperature"], body["top_k"], body["max_tokens"], query) == (0.7, 40, 16, {"_request_timeout": 5})


def test_another_text_fails_naming_both(fail, proxy):
    proxy.answers = [completion("zzzzz")]
    result = fail(expect="defgh")
    assert result["msg"] == ("Model alphabet.gguf of inferno-dev/inferno (through Service inferno:8000) answered 'abc' "
                             "with 'zzzzz', not the expected 'defgh': check that the model on the claim is the one "
                             "declared (playbooks/models.yml checks its sha256)")
    assert (result["text"], result["status"], result["service"]) == ("zzzzz", 200, "inferno:8000")


def test_an_empty_text_fails_without_expect(fail, proxy):
    proxy.answers = [completion(" \n")]
    assert fail()["msg"].startswith("Model alphabet.gguf of inferno-dev/inferno (through Service inferno:8000) "
                                    "answered 'abc' with an empty text: the model loads but produces nothing")


def test_an_empty_expected_text_is_compared_like_any_other(run, fail, proxy):
    proxy.answers = [completion(""), completion("x")]
    assert run(expect="")["text"] == ""
    assert "answered 'abc' with 'x', not the expected ''" in fail(expect="")["msg"]


@pytest.mark.parametrize("answer", [b"<html>Bad Gateway</html>", {"choices": []}, {"error": "x"},
                                    {"choices": [{"index": 0}]}, [1, 2]])
def test_an_answer_that_is_not_a_completion_fails(fail, proxy, answer):
    proxy.answers = [answer]
    result = fail()
    assert result["msg"].startswith("Inferno answered {0} with something that is not a completion: ".format(WHERE))
    assert result["status"] == 200 and "text" not in result


def test_no_suitable_backend_fails_with_the_message_about_a_backend(fail, proxy, sleeps):
    proxy.answers = [refusal(400, b"No suitable backend found for model alphabet.gguf\n", "Bad Request")]
    result = fail(expect="defgh")
    assert result["msg"] == (
        "Inferno did not complete 'abc' with {0}: it answered 400 No suitable backend found for model alphabet.gguf. "
        "Likely cause: the image has no model backend compiled in (`inferno run --help` lists the backends): use an "
        "image built with --features gguf, as files/image/Dockerfile builds it.".format(WHERE))
    assert result["status"] == 400 and "text" not in result
    assert len(proxy.posts) == 1 and sleeps == []  # a 400 is not sent again


@pytest.mark.parametrize("status, body, cause", [
    (404, "model not found: other.gguf", "the model is not in the models folder: deliver it (playbooks/models.yml) "
                                         "and check its name"),
    (400, "Model other.gguf Not Found", "the model is not in the models folder: deliver it (playbooks/models.yml) "
                                        "and check its name"),
    (500, "failed to load model: invalid magic", "the model failed to load or to run: check that the file is a GGUF "
                                                 "model and the pod's log"),
    (422, "missing field `prompt`", "check the model and the request"),
])
def test_each_refusal_names_its_likely_cause(fail, proxy, status, body, cause):
    proxy.answers = [refusal(status, body)]
    result = fail()
    assert result["msg"] == "Inferno did not complete 'abc' with {0}: it answered {1} {2}. Likely cause: {3}.".format(
        WHERE, status, body, cause)
    assert result["status"] == status


def test_a_502_is_sent_again_and_a_200_then_passes(run, proxy, sleeps):
    proxy.answers = [refusal(502, "Error trying to reach service: dial tcp 10.0.0.5:8000: connect: connection refused"),
                     refusal(503, "no endpoints available for service \"inferno\""), completion("defgh")]
    result = run(expect="defgh")
    assert (result["status"], result["text"]) == (200, "defgh")
    assert len(proxy.posts) == 3 and sleeps == [2, 2]
    assert len(set(json.dumps(post, sort_keys=True) for post in proxy.posts)) == 1  # the same request each time


BUSY = 'Inference error: BackendAlreadyInitialized'


def test_a_busy_backend_is_asked_again(run, proxy, sleeps):
    """Inferno 0.10.3 answers 400 BackendAlreadyInitialized to a request that comes while another loads a model."""
    proxy.answers = [refusal(400, BUSY, "Bad Request"), completion("defgh")]
    result = run(expect="defgh")
    assert (result["status"], result["text"]) == (200, "defgh")
    assert len(proxy.posts) == 2 and sleeps == [2]


def test_a_backend_busy_at_every_attempt_fails_naming_the_cause(fail, proxy, sleeps):
    proxy.answers = [refusal(400, BUSY, "Bad Request")] * 3
    result = fail()
    assert result["msg"] == (
        "Inferno did not complete 'abc' with {0}: it answered 400 {1}. Likely cause: other requests kept Inferno's one "
        "backend busy each time (0.10.3 serves one request at a time when no model is preloaded): try again when it is "
        "less busy, or preload the model (extraArgs: --model).".format(WHERE, BUSY))
    assert len(proxy.posts) == 3 and sleeps == [2, 2]


def test_a_502_that_stays_fails_after_the_attempts(fail, proxy, sleeps):
    proxy.answers = [refusal(502, "Error trying to reach service: EOF")] * 2
    result = fail(attempts=2)
    assert result["msg"].startswith("Inferno did not complete 'abc' with {0}: it answered 502 Error trying to reach "
                                    "service: EOF. Likely cause: the model failed to load".format(WHERE))
    assert len(proxy.posts) == 2 and sleeps == [2] and result["status"] == 502


@pytest.mark.parametrize("attempts", [0, 1])
def test_one_attempt_at_least(fail, proxy, sleeps, attempts):
    proxy.answers = [refusal(503, "no endpoints")]
    assert fail(attempts=attempts)["status"] == 503
    assert len(proxy.posts) == 1 and sleeps == []


def test_no_answer_at_all_fails_with_status_nothing(fail, proxy, sleeps):
    proxy.answers = [ReadTimeoutError(None, "/x", "Read timed out. (read timeout=120)")]
    result = fail()
    assert result["msg"].startswith("Inferno did not complete 'abc' with {0}: it answered nothing ".format(WHERE))
    assert "Read timed out" in result["msg"] and result["status"] == 0
    assert len(proxy.posts) == 1 and sleeps == []


def test_no_service_with_an_http_port_fails_clearly(fail, proxy):
    proxy.dynamic.documents[SERVICES]["items"] = [
        item for item in proxy.dynamic.documents[SERVICES]["items"] if item["metadata"]["name"] != "inferno"]
    result = fail()
    assert result == {"failed": True, "status": 0, "service": "", "seconds": 0.0,
                      "msg": "Release inferno in inferno-dev has no Service with a port named http: deploy it first, or "
                             "check release_name and release_namespace."}
    assert proxy.posts == []


def test_a_refused_service_list_fails_with_the_api_s_words(fail, proxy):
    proxy.dynamic.refuse(SERVICES, 403, 'services is forbidden: User "dev" cannot list resource "services"')
    result = fail()
    assert result["msg"] == ('The Kubernetes API refused a request in inferno-dev: services is forbidden: User "dev" '
                             'cannot list resource "services"')
    assert proxy.posts == []
