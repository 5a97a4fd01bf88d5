#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: model_completion
short_description: Ask a release's Inferno for a completion through its Service, and check the answer
version_added: 0.1.0
author:
  - Inferno Ops maintainers (@inferno-ops)
description:
  - Sends C(POST /v1/completions) to the release's Service (the one with a port named C(http)),
    through the Kubernetes API server's Service proxy, so the controller needs no route to the
    cluster's addresses.
  - Succeeds when Inferno answers 200 with a non-empty text, and, with O(expect), when the text
    is O(expect). Anything else fails with one sentence that names the model, what Inferno
    answered and the likely cause. C(/v1/models) lists any file in the models folder, even with
    no backend compiled in, so only a completion shows that Inferno can serve a model.
  - The request's sampling works around two bugs of Inferno 0.10.3 (its sampler ranks by a
    probability that llama-cpp-2 leaves at 0) - a temperature under 0.01 always returns the
    last vocabulary id, and the default C(top_k) of 40 keeps ids 0-39 only - so it sends
    O(temperature) 0.1, a O(top_k) above any vocabulary size, and C(top_p) 1.0.
  - Reads only. A request that the proxy answers 502 or 503 (an endpoint changing), or that
    Inferno answers 400 C(BackendAlreadyInitialized) (0.10.3 serves one request at a time, and
    refuses one that comes while another loads a model), is sent again, at most O(attempts) times.
options:
  model:
    description: The model id, its file name on the models claim.
    type: str
    required: true
  prompt:
    description: The prompt. Keep it short; a prompt longer than the chart's batch size fails.
    type: str
    required: true
  expect:
    description: The exact text the completion must be; omitted, any non-empty text passes.
    type: str
  max_tokens:
    description: Tokens to generate.
    type: int
    default: 16
  temperature:
    description: Sampling temperature (0.1 or more; see the description).
    type: float
    default: 0.1
  top_k:
    description: Candidates kept when sampling; above the model's vocabulary size keeps them all.
    type: int
    default: 1000000
  timeout:
    description: Seconds to wait for each answer (a model loads on its first request).
    type: int
    default: 120
  attempts:
    description: Requests sent at most, when the proxy answers 502 or 503 or Inferno is busy.
    type: int
    default: 3
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - inferno.ops.release
  - inferno.ops.read_only
requirements:
  - kubernetes >= 24.2.0
seealso:
  - module: inferno.ops.model_delivery
notes:
  - The connecting user needs C(get) on C(services/proxy) and C(create) on C(services/proxy) in the
    release's namespace, and C(list) on Services.
"""

EXAMPLES = r"""
- name: Ask the alphabet model to continue abc
  inferno.ops.model_completion:
    release_name: inferno
    release_namespace: inferno-dev
    model: alphabet.gguf
    prompt: abc
    max_tokens: 5
    expect: defgh
  register: answer
"""

RETURN = r"""
text:
  description: The completion's text.
  returned: when Inferno answered 200
  type: str
  sample: defgh
status:
  description: The HTTP status Inferno (or the proxy) answered.
  returned: always
  type: int
service:
  description: The Service and port the request went to.
  returned: always
  type: str
  sample: inferno:8000
seconds:
  description: Seconds the answer took.
  returned: always
  type: float
line:
  description: One readable line with the model, the prompt, the answer and the time.
  returned: on success
  type: str
  sample: "alphabet.gguf completed 'abc' with 'defgh' in 0.02 s"
"""

import json
import time

from ansible_collections.inferno.ops.plugins.module_utils.args_common import K8S_CONNECTION, RELEASE, argument_spec
from ansible_collections.inferno.ops.plugins.module_utils.kube_client import (
    ApiException,
    dynamic_client,
    get_json,
    k8s_module,
    reported_api_errors,
)

RETRIED = (502, 503)
# Inferno 0.10.3 has one llama backend per process: a request that comes while another one loads
# a model is answered 400 with this error, and succeeds when sent again.
BUSY = "BackendAlreadyInitialized"


def worth_retrying(status, text):
    return status in RETRIED or (status == 400 and BUSY in text)


def http_service(dynamic, namespace, release):
    """(name, port) of the release's Service with a port named http."""
    services = get_json(dynamic, "/api/v1/namespaces/{0}/services".format(namespace),
                        label_selector="app.kubernetes.io/instance={0}".format(release))
    for service in services.get("items") or []:
        if not (service.get("spec") or {}).get("selector"):
            continue
        for port in service["spec"].get("ports") or []:
            if port.get("name") == "http":
                return service["metadata"]["name"], port["port"]
    return None, None


def cause(status, text):
    """Why Inferno 0.10.3 answers ``status`` with ``text``, and the fix."""
    if "No suitable backend" in text:
        return ("the image has no model backend compiled in (`inferno run --help` lists the backends): use an image "
                "built with --features gguf, as files/image/Dockerfile builds it")
    if BUSY in text:
        return ("other requests kept Inferno's one backend busy each time (0.10.3 serves one request at a time when "
                "no model is preloaded): try again when it is less busy, or preload the model (extraArgs: --model)")
    if status == 404 or "not found" in text.lower():
        return "the model is not in the models folder: deliver it (playbooks/models.yml) and check its name"
    if status >= 500:
        return "the model failed to load or to run: check that the file is a GGUF model and the pod's log"
    return "check the model and the request"


def main():
    module = k8s_module(argument_spec(
        K8S_CONNECTION,
        RELEASE,
        model=dict(type="str", required=True),
        prompt=dict(type="str", required=True),
        expect=dict(type="str"),
        max_tokens=dict(type="int", default=16, no_log=False),
        temperature=dict(type="float", default=0.1),
        top_k=dict(type="int", default=1000000),
        timeout=dict(type="int", default=120),
        attempts=dict(type="int", default=3),
    ))
    params = module.params
    namespace, release, model = params["release_namespace"], params["release_name"], params["model"]
    dynamic = dynamic_client(module)
    with reported_api_errors(module, " in {0}".format(namespace)):
        name, port = http_service(dynamic, namespace, release)
    if name is None:
        module.fail_json(msg="Release {0} in {1} has no Service with a port named http: deploy it first, or check "
                             "release_name and release_namespace.".format(release, namespace), status=0, service="",
                         seconds=0.0)
    path = "/api/v1/namespaces/{0}/services/{1}:{2}/proxy/v1/completions".format(namespace, name, port)
    body = dict(model=model, prompt=params["prompt"], max_tokens=params["max_tokens"],
                temperature=params["temperature"], top_k=params["top_k"], top_p=1.0, stream=False)
    result = dict(changed=False, service="{0}:{1}".format(name, port))
    started = time.monotonic()
    for attempt in range(max(1, params["attempts"])):
        try:
            response = dynamic.request("post", path, body=body, serialize=False,
                                       _request_timeout=params["timeout"])
            status, text = 200, response.data.decode("utf-8", "replace")
        except ApiException as error:
            status, text = error.status or 0, (getattr(error, "body", None) or str(error))
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
        except Exception as error:  # pylint: disable=broad-except  # urllib3's timeouts and resets
            status, text = 0, str(error)
        if not worth_retrying(status, text) or attempt + 1 >= params["attempts"]:
            break
        time.sleep(2)
    result.update(status=status, seconds=round(time.monotonic() - started, 2))
    where = "model {0} of {1}/{2} (through Service {3})".format(model, namespace, release, result["service"])
    if status != 200:
        module.fail_json(msg="Inferno did not complete {0!r} with {1}: it answered {2} {3}. Likely cause: {4}.".format(
            params["prompt"], where, status or "nothing", " ".join(text.split())[:300], cause(status, text)), **result)
    try:
        answer = json.loads(text)
        result["text"] = answer["choices"][0]["text"]
    except (ValueError, KeyError, IndexError, TypeError):
        module.fail_json(msg="Inferno answered {0} with something that is not a completion: {1}".format(
            where, " ".join(text.split())[:300]), **result)
    if params["expect"] is not None and result["text"] != params["expect"]:
        module.fail_json(msg="{0} answered {1!r} with {2!r}, not the expected {3!r}: check that the model on the claim "
                             "is the one declared (playbooks/models.yml checks its sha256)".format(
                                 where[0].upper() + where[1:], params["prompt"], result["text"], params["expect"]),
                         **result)
    if params["expect"] is None and not result["text"].strip():
        module.fail_json(msg="{0} answered {1!r} with an empty text: the model loads but produces nothing; check "
                             "that its vocabulary has no byte tokens only, and the pod's log".format(
                                 where[0].upper() + where[1:], params["prompt"]), **result)
    result["line"] = "{0} completed {1!r} with {2!r} in {3} s".format(
        model, params["prompt"], result["text"], result["seconds"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
