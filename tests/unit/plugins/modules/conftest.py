"""What every module test shares: running a module's main() with arguments, and reading how it ended.

``AnsibleModule.exit_json`` and ``fail_json`` are patched to raise, carrying the result, so a
test reads it from the exception instead of from stdout (and no ``sys.exit`` ends the session).
Like the real ones, they first delete the files the module registered for cleanup (helm's
temporary values file and kubeconfig), so a test can assert they are gone.

The connection options fall back to ``K8S_AUTH_*`` environment variables; those are removed,
so a module sees only the arguments its test gives.

The fixtures a test file uses:

- ``run_module(main, args, check_mode=False, diff=False)``: the result main() exits with; a
  failure raises ``AnsibleFailJson``, which fails the test and shows the module's message;
- ``fail_module(main, args, check_mode=False, diff=False)``: the result main() fails with
  (``msg`` and ``failed`` included); an exit fails the test;
- ``fake_dynamic``: a stand-in for kubernetes.core's dynamic client that answers the plain GETs
  of ``kube_client.get_json`` from the documents a test serves, and records each request. The
  test patches its module's ``dynamic_client`` to return it.

Each test file keeps its own fake cluster, and wraps these fixtures with its module's usual arguments.
"""

from __future__ import annotations

import json
import os
import types

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from kubernetes.client.rest import ApiException
from kubernetes.dynamic.exceptions import api_exception


class ModuleEnded(Exception):
    """The module called exit_json or fail_json: ``result`` is what it passed."""

    def __init__(self, result):
        super().__init__(result)
        self.result = result


class AnsibleExitJson(ModuleEnded):
    """exit_json was called."""


class AnsibleFailJson(ModuleEnded):
    """fail_json was called; the result has ``msg`` and ``failed``."""


def exit_json(self, **result):
    self.do_cleanup_files()
    raise AnsibleExitJson(result)


def fail_json(self, msg, **result):
    self.do_cleanup_files()
    raise AnsibleFailJson(dict(result, msg=msg, failed=True))


@pytest.fixture
def module_exits(monkeypatch):
    """exit_json and fail_json raise AnsibleExitJson and AnsibleFailJson."""
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


@pytest.fixture
def no_connection_env(monkeypatch):
    """The connection options fall back to K8S_AUTH_* variables: a test sees only its own arguments."""
    for name in list(os.environ):
        if name.startswith("K8S_AUTH_"):
            monkeypatch.delenv(name)


def run_main(main, args, check_mode, diff, ending):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(ending) as ended:
        main()
    return ended.value.result


@pytest.fixture
def run_module(module_exits, no_connection_env):
    """run_module(main, args, check_mode=False, diff=False) -> the result main() exited with."""
    def run(main, args, check_mode=False, diff=False):
        return run_main(main, args, check_mode, diff, AnsibleExitJson)

    return run


@pytest.fixture
def fail_module(module_exits, no_connection_env):
    """fail_module(main, args, check_mode=False, diff=False) -> the result main() failed with."""
    def fail(main, args, check_mode=False, diff=False):
        return run_main(main, args, check_mode, diff, AnsibleFailJson)

    return fail


class FakeDynamicClient(object):
    """kubernetes.core's dynamic client, as far as kube_client.get_json uses it.

    ``documents`` maps a path to the JSON document a GET returns; ``errors`` maps a path to the
    exception a GET raises; any other path is a 404, as the API server answers it. ``requests``
    lists each GET as (path, query parameters). ``modules`` lists the modules it was built for.
    """

    def __init__(self):
        self.documents = {}
        self.errors = {}
        self.requests = []
        self.modules = []

    def built_for(self, module):
        """Stands in for kube_client.dynamic_client(module)."""
        self.modules.append(module)
        return self

    def refuse(self, path, status, message):
        """GET ``path`` fails with ``status`` and the server's ``message``, as the dynamic client raises it."""
        self.errors[path] = self.refusal(status, message)

    @staticmethod
    def refusal(status, message):
        """The exception the dynamic client raises for an answer ``status`` with the server's ``message``."""
        error = ApiException(status=status, reason="Refused")
        error.body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                                 "code": status})
        return api_exception(error)

    def request(self, method, path, serialize=True, **query):
        assert (method, serialize) == ("get", False), "get_json reads plain JSON"
        self.requests.append((path, query))
        if path in self.errors:
            raise self.errors[path]
        if path not in self.documents:
            raise self.refusal(404, "the server could not find the requested resource")
        return types.SimpleNamespace(data=json.dumps(self.documents[path]).encode("utf-8"))

    def paths(self):
        return [path for path, _query in self.requests]


@pytest.fixture
def fake_dynamic():
    return FakeDynamicClient()
