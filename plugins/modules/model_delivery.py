#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: model_delivery
short_description: Put declared models on a release's models claim, each checked against its SHA-256 first
version_added: 0.1.0
author:
  - Inferno Ops maintainers (@inferno-ops)
description:
  - Makes the release's models claim (the claim its Deployment mounts as the C(models) volume)
    hold the models of O(models), each under its file name, which is the model id Inferno
    serves it as.
  - The work happens in a short-lived fetch pod in the release's namespace that mounts the
    claim. It runs on the node where Inferno's pod mounts the claim, so a ReadWriteOnce claim
    works while Inferno runs. It copies the pod security settings, node selector and
    tolerations of the release's pod template, so its files are owned by Inferno's user and it
    passes the namespace's Pod Security level. It is deleted when the task ends.
  - A URL source (https, http, or the presigned URL of an S3 object) goes straight from its
    server into the pod; the controller never holds the bytes. A file on the controller is
    streamed into the pod once, through the Kubernetes API.
  - The bytes land under a hidden temporary name on the claim (C(.<name>.partial), which
    Inferno does not list), are checked against the declared SHA-256 in the pod, and only then
    are renamed into place. A rename within the claim is atomic, so Inferno reads the old file
    or the new one, never a part. When any model fails its check, no model is put in place and
    the files already there keep serving.
  - Before anything is copied, every source is probed (a one-byte GET of each URL) and the
    sizes of all the models to copy are compared with the free space on the claim. A missing
    object, refused credentials, an unreachable server and a claim too small each fail with
    one sentence that names the model and the fix, and nothing changes.
  - The claim keeps a record, C(.inferno-models.json), of each model's SHA-256 with the size
    and modification time the file had when it was checked. A model whose file still matches
    its record is not read again, so a rerun reads no model and reports no change. A file the
    record does not describe is read once, in the pod, to learn its digest.
  - A C(*.gguf) file on the claim that O(models) does not declare is listed and kept, unless
    O(remove_undeclared=true).
options:
  models:
    description:
      - The models the claim must hold.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The file name, and so the model id Inferno serves it as (C(model) in a completion
            request). It must end in C(.gguf) and hold no path parts.
        type: str
        required: true
      sha256:
        description:
          - The model file's SHA-256, 64 hexadecimal digits.
        type: str
        required: true
      source:
        description:
          - Where the model comes from, as the task's output and messages show it; one of
            C(https://...), C(http://...), C(s3://<bucket>/<key>) or a path on the controller.
          - An S3 source is fetched through a presigned URL that the module makes on the
            controller from the O(s3_endpoint_url), O(s3_region), O(s3_access_key) and
            O(s3_secret_key) options (botocore's own chain - environment, profile, instance role -
            when the keys are not given), so the cluster needs no S3 credentials.
          - A path is taken as given (no C(~) expansion), relative to the directory the playbook runs
            in; the P(inferno.ops.model_sources#filter) filter the role uses expands C(~).
        type: str
        required: true
      url:
        description:
          - The URL the fetch pod downloads from, when it is not O(models[].source) itself, such
            as a presigned URL made elsewhere. It is never shown.
        type: str
  s3_endpoint_url:
    description:
      - The S3 endpoint of C(s3://) sources (MinIO, Ceph, SeaweedFS...); omitted, AWS's. The
        controller and the cluster must both reach it under this URL, since a presigned URL is
        signed for its host.
    type: str
  s3_region:
    description: The S3 region of C(s3://) sources.
    type: str
  s3_access_key:
    description: The S3 access key; omitted, botocore's chain (C(AWS_ACCESS_KEY_ID), a profile...).
    type: str
  s3_secret_key:
    description: The S3 secret key; omitted, botocore's chain (C(AWS_SECRET_ACCESS_KEY)...).
    type: str
  presign_seconds:
    description: Seconds a presigned URL stays valid; at least what the copy takes.
    type: int
    default: 3600
  remove_undeclared:
    description:
      - Remove the C(*.gguf) files on the claim that O(models) does not declare.
    type: bool
    default: false
  fetcher_image:
    description:
      - The fetch pod's image. It needs C(sh), C(curl), C(sha256sum), C(df), C(awk), C(stat),
        C(head), C(cut) and C(mv); curl's own image has them all.
    type: str
    default: docker.io/curlimages/curl:8.11.1
  timeout:
    description:
      - Seconds the whole delivery may take, fetch pod included; the fetch pod ends by itself
        after this long even if the controller is gone.
    type: int
    default: 3600
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - inferno.ops.release
attributes:
  check_mode:
    support: full
    description:
      - Starts the fetch pod with the claim mounted read-only to read what it holds, probes the
        sources, and reports what would be added, replaced or removed. Copies and removes nothing.
  diff_mode:
    support: full
    description: One C(<sha256>  <name>) line per model, before and after.
requirements:
  - kubernetes >= 24.2.0
  - boto3, for C(s3://) sources
seealso:
  - module: inferno.ops.model_completion
notes:
  - The connecting user needs, in the release's namespace, C(get) on Deployments and
    PersistentVolumeClaims, C(list) on Pods, C(create), C(get) and C(delete) on Pods, and
    C(create) on C(pods/exec).
"""

EXAMPLES = r"""
- name: Deliver a model from an HTTPS mirror and one from the controller
  inferno.ops.model_delivery:
    release_name: inferno
    release_namespace: inferno-dev
    models:
      - name: qwen2.5-0.5b-instruct-q4_k_m.gguf
        source: https://models.example.internal/qwen2.5-0.5b-instruct-q4_k_m.gguf
        sha256: 74a4da8c9fdbcd15bd1f6d01d621410d31c6fc00986f5eb687824e7b93d7a9db
      - name: alphabet.gguf
        source: files/models/alphabet.gguf
        sha256: 0c8d7a1b6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b
  register: delivered

- name: Show what changed
  ansible.builtin.debug:
    msg: "{{ delivered.lines }}"
"""

RETURN = r"""
models:
  description: Each model declared, then each undeclared C(*.gguf) file on the claim, with what was done.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The file name (the model id).
      type: str
    action:
      description:
        - C(add), C(replace) or C(keep) for a declared model; C(remove) or C(undeclared) (kept)
          for a file nobody declares. In check mode, what would be done.
      type: str
    sha256:
      description: The declared SHA-256.
      type: str
    present_sha256:
      description: The digest of the file that was there before, when known.
      type: str
    source:
      description: Where it came from, without a URL's query string or password.
      type: str
    size:
      description: Bytes copied, for models added or replaced.
      type: int
lines:
  description: One readable line per model.
  returned: always
  type: list
  elements: str
  sample: ["alphabet.gguf: add from files/models/alphabet.gguf (466 KiB), sha256 0c8d7a1b6e5f..."]
claim:
  description: The models claim.
  returned: always
  type: str
  sample: inferno-models-pvc
node:
  description: The node the fetch pod ran on (where Inferno mounts the claim), or null.
  returned: always
  type: str
free_bytes:
  description: Free bytes on the claim before the delivery.
  returned: always
  type: int
seconds:
  description: Seconds the delivery took, fetch pod included.
  returned: always
  type: float
"""

import binascii
import os
import time

from ansible_collections.inferno.ops.plugins.module_utils import models as contract
from ansible_collections.inferno.ops.plugins.module_utils.args_common import K8S_CONNECTION, RELEASE, argument_spec
from ansible_collections.inferno.ops.plugins.module_utils.kube_client import (
    ApiException,
    api_client,
    client,
    failure_message,
    k8s_module,
)

try:
    from kubernetes.stream import stream
except ImportError:  # AnsibleK8SModule reports the missing library
    stream = None

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # needed for s3:// sources only; deliver() says so
    boto3 = None
    BotoCoreError = ClientError = Exception

CHUNK = 1024 * 1024
POD_START_SECONDS = 120
PROBE_SECONDS = 30


class DeliveryError(Exception):
    """One sentence for the user; nothing more was changed."""


class ModelDelivery(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.namespace = self.params["release_namespace"]
        self.release = self.params["release_name"]
        self.core = client.CoreV1Api(api_client(module))
        self.apps = client.AppsV1Api(self.core.api_client)
        self.pod_name = None
        self.committing = False
        self.urls = {}  # model name -> the URL the pod fetches (presigned for S3); never shown
        self.started = time.monotonic()
        self.deadline = self.started + self.params["timeout"]

    # --- where the claim is ------------------------------------------------------------------
    def deployments(self):
        selector = "app.kubernetes.io/instance={0}".format(self.release)
        return self.apps.list_namespaced_deployment(self.namespace, label_selector=selector).items

    def find_claim(self, deployments):
        """The Deployment's pod template, its models claim, and the node where a pod mounts it."""
        for deployment in deployments:
            template = self.core.api_client.sanitize_for_serialization(deployment.spec.template)
            for volume in (template.get("spec") or {}).get("volumes") or []:
                if volume.get("name") == "models" and volume.get("persistentVolumeClaim"):
                    claim = volume["persistentVolumeClaim"]["claimName"]
                    return template, claim, self.mounting_node(claim)
        if not deployments:
            raise DeliveryError(
                "Release {0} has no Deployment in namespace {1}: install it first (ansible-playbook deploy.yml), "
                "or check release_name and release_namespace".format(self.release, self.namespace))
        raise DeliveryError(
            "Release {0} in {1} mounts no models claim (its pod template has no 'models' volume from a "
            "PersistentVolumeClaim): set persistence.enabled=true in its values, so there is a claim to hold "
            "models".format(self.release, self.namespace))

    def mounting_node(self, claim):
        """The node of a running pod (ours excluded) that mounts the claim; a ReadWriteOnce claim is usable only there."""
        for pod in self.core.list_namespaced_pod(self.namespace).items:
            if pod.status.phase != "Running" or not pod.spec.node_name or pod.metadata.deletion_timestamp:
                continue
            if (pod.metadata.labels or {}).get("app.kubernetes.io/component") == contract.COMPONENT:
                continue
            if any(v.persistent_volume_claim and v.persistent_volume_claim.claim_name == claim
                   for v in pod.spec.volumes or []):
                return pod.spec.node_name
        return None

    # --- the fetch pod -----------------------------------------------------------------------
    def start_pod(self, template, claim, node):
        self.pod_name = "{0}-models-{1}".format(self.release[:40], binascii.hexlify(os.urandom(3)).decode())
        body = contract.fetch_pod(self.pod_name, self.namespace, self.release, template, self.params["fetcher_image"],
                                  node, claim, read_only=self.module.check_mode,
                                  deadline_seconds=max(60, int(self.params["timeout"])))
        self.core.create_namespaced_pod(self.namespace, body)
        waited_until = time.monotonic() + POD_START_SECONDS
        while True:
            pod = self.core.read_namespaced_pod(self.pod_name, self.namespace)
            if pod.status.phase == "Running":
                return
            problem = self.pod_problem(pod)
            if problem or time.monotonic() > waited_until:
                raise DeliveryError(
                    "The fetch pod {0}/{1} did not start within {2}s{3}. Nothing was changed on claim {4}".format(
                        self.namespace, self.pod_name, POD_START_SECONDS, ": " + problem if problem else
                        " (kubectl describe pod shows why)", claim))
            time.sleep(0.5)

    def pod_problem(self, pod):
        if pod.status.phase in ("Failed", "Succeeded"):
            return "it ended ({0})".format(pod.status.phase)
        for status in pod.status.container_statuses or []:
            waiting = status.state and status.state.waiting
            if waiting and waiting.reason in ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"):
                return ("its image {0} cannot be pulled ({1}): set inferno_models_fetcher_image (fetcher_image) to an "
                        "image the node can pull, with sh, curl and sha256sum".format(
                            self.params["fetcher_image"], waiting.reason))
            if waiting and waiting.reason in ("CreateContainerConfigError", "CreateContainerError"):
                return "{0}: {1}".format(waiting.reason, waiting.message)
        return None

    def delete_pod(self):
        if not self.pod_name:
            return
        try:
            self.core.delete_namespaced_pod(self.pod_name, self.namespace, grace_period_seconds=0)
        except ApiException as error:
            if error.status != 404:
                self.module.warn("The fetch pod {0}/{1} could not be deleted ({2}); it ends by itself after {3}s".format(
                    self.namespace, self.pod_name, error.reason, self.params["timeout"]))

    def run(self, script, args=(), stdin=None, stdin_file=None, stdin_size=0):
        """Run ``script`` in the fetch pod: (exit code, stdout and stderr together)."""
        response = stream(self.core.connect_get_namespaced_pod_exec, self.pod_name, self.namespace,
                          command=["sh", "-c", script, "sh"] + [str(arg) for arg in args], container="fetch",
                          stdin=stdin is not None or stdin_file is not None, stdout=True, stderr=True, tty=False,
                          _preload_content=False)
        try:
            if stdin is not None:
                response.write_stdin(stdin)
            if stdin_file is not None:
                sent = 0
                with open(stdin_file, "rb") as source:
                    while sent < stdin_size:
                        chunk = source.read(min(CHUNK, stdin_size - sent))
                        if not chunk:
                            break
                        response.write_stdin(chunk)
                        sent += len(chunk)
                        response.update(timeout=0)
            response.run_forever(timeout=max(1, self.deadline - time.monotonic()))
            if response.is_open():
                raise DeliveryError("The fetch pod's work did not finish within the timeout of {0}s: raise timeout "
                                    "(inferno_models_timeout_seconds)".format(self.params["timeout"]))
            output = (response.read_stdout() or "") + (response.read_stderr() or "")
            return response.returncode, output
        finally:
            response.close()

    # --- what the claim holds ----------------------------------------------------------------
    def read_state(self):
        code, output = self.run(contract.STATE_SCRIPT, [contract.MOUNT])
        if code != 0:
            raise DeliveryError("Cannot read the models claim in the fetch pod ({0})".format(output.strip()[-300:]))
        return contract.parse_state(output)

    def digest_of(self, name):
        code, output = self.run(contract.DIGEST_SCRIPT, [contract.MOUNT + "/" + name])
        digest = output.strip()
        if code != 0 or not contract.SHA256.fullmatch(digest):
            raise DeliveryError("Cannot read the digest of {0} on the models claim ({1})".format(name, digest[-300:]))
        return digest

    def source_size(self, model):
        """The bytes a model's source holds; raises DeliveryError when it cannot be read."""
        source = model["source"]
        if contract.source_kind(source) == "file":
            path = source
            if not os.path.isfile(path) or not os.access(path, os.R_OK):
                raise DeliveryError("Model {0}'s source {1} is not a readable file on the controller: check the path "
                                    "(it is read on the machine that runs ansible-playbook)".format(model["name"], source))
            return os.path.getsize(path)
        code, output = self.run(contract.PROBE_SCRIPT, [PROBE_SECONDS], stdin=self.urls[model["name"]] + "\n")
        status, size, words = contract.parse_probe(output)
        shown = contract.shown_source(source)
        if status is None:
            raise DeliveryError("Model {0}'s source {1} cannot be reached from the cluster ({2}): check the URL and "
                                "that pods in {3} may reach its server".format(model["name"], shown, words, self.namespace))
        if status in (401, 403):
            raise DeliveryError(
                "Model {0}'s source {1} refused the request ({2}): {3}".format(
                    model["name"], shown, words,
                    "check the S3 access key and secret key (inferno_models_s3_access_key, inferno_models_s3_secret_key) "
                    "and that they may read the object" if contract.source_kind(source) == "s3" else
                    "the URL needs credentials the fetch pod does not have; use a URL it may read"))
        if status == 404:
            raise DeliveryError("Model {0}'s source {1} does not exist ({2}): check the {3}".format(
                model["name"], shown, words, "bucket and key" if contract.source_kind(source) == "s3" else "URL"))
        if status >= 400:
            raise DeliveryError("Model {0}'s source {1} answered {2}: check the source".format(model["name"], shown, words))
        if size is None:
            raise DeliveryError("Model {0}'s source {1} does not say its size ({2}, with neither Content-Range nor "
                                "Content-Length): serve it from a server that does".format(model["name"], shown, words))
        return size

    # --- the delivery ------------------------------------------------------------------------
    def deliver(self):
        models = self.params["models"]
        problems = contract.declaration_problems(models)
        if problems:
            raise DeliveryError("; ".join(problems) + ". Nothing was read or changed")
        self.urls = self.fetch_urls(models)
        self.result = dict(claim=None, node=None, models=[], lines=[], free_bytes=None)
        deployments = self.deployments()
        if self.module.check_mode and not deployments:
            # deploy.yml --check before the first install: there is no claim yet, so every model is added.
            entries = contract.plan(models, {}, {}, False)
            self.result.update(models=entries, lines=[line(entry) for entry in entries], changed=bool(entries))
            if self.module._diff:
                self.result["diff"] = contract.diff(entries)
            return self.result
        template, claim, node = self.find_claim(deployments)
        self.result.update(claim=claim, node=node)
        self.start_pod(template, claim, node)
        state = self.read_state()
        self.result["free_bytes"] = state["free"]
        entries = contract.plan(models, state["files"], state["record"], self.params["remove_undeclared"])
        declared = dict((model["name"], model) for model in models)
        record = dict((name, entry) for name, entry in state["record"].items() if name in state["files"])
        for entry in entries:
            if entry["action"] == "verify":  # a file the record does not describe: read its digest once
                entry["present_sha256"] = self.digest_of(entry["name"])
                entry["action"] = contract.KEEP if entry["present_sha256"] == entry["sha256"] else contract.REPLACE
                if entry["action"] == contract.KEEP:
                    listed = state["files"][entry["name"]]
                    record[entry["name"]] = dict(sha256=entry["sha256"], size=listed["size"], mtime=listed["mtime"],
                                                 source=entry["source"])
        copies = [entry for entry in entries if entry["action"] in (contract.ADD, contract.REPLACE)]
        for entry in copies:
            entry["size"] = self.source_size(declared[entry["name"]])
        self.check_space(copies, state, claim)
        self.result["models"] = entries
        self.result["lines"] = [line(entry) for entry in entries]
        removals = [entry["name"] for entry in entries if entry["action"] == contract.REMOVE]
        self.result["changed"] = bool(copies or removals)
        if self.module._diff:
            self.result["diff"] = contract.diff(entries)
        if self.module.check_mode or (not self.result["changed"] and record == state["record"]):
            return self.result
        if not self.result["changed"] and not state["writable"]:
            return self.result  # the record only spares a later run some reading: not worth failing for
        if not state["writable"]:
            raise DeliveryError("The models claim {0} cannot be written from the fetch pod (a read-only claim, or one "
                                "owned by another user): check its access modes and the release's fsGroup".format(claim))
        partials = []
        try:
            for entry in copies:
                partials.append(contract.partial_name(entry["name"]))
                self.copy(declared[entry["name"]], entry)
        except DeliveryError:
            self.run(contract.DISCARD_SCRIPT, [contract.MOUNT] + partials)
            raise
        self.commit(copies, removals, record)
        return self.result

    def fetch_urls(self, models):
        """The URL the pod fetches each remote model from: its own, or a presigned one for S3 (made here, offline)."""
        urls = {}
        for model in models:
            kind = contract.source_kind(model["source"])
            if model.get("url") or kind == "url":
                urls[model["name"]] = model.get("url") or model["source"]
            elif kind == "s3":
                urls[model["name"]] = self.presign(model)
        return urls

    def presign(self, model):
        if boto3 is None:
            raise DeliveryError("Model {0} comes from {1}, and presigning an S3 URL needs the Python package boto3 on "
                                "the controller: pip install boto3. Nothing was read or changed".format(
                                    model["name"], model["source"]))
        bucket, key = model["source"][len("s3://"):].split("/", 1)
        if not getattr(self, "s3", None):
            session = boto3.session.Session(aws_access_key_id=self.params["s3_access_key"] or None,
                                            aws_secret_access_key=self.params["s3_secret_key"] or None,
                                            region_name=self.params["s3_region"] or None)
            style = {"addressing_style": "path"} if self.params["s3_endpoint_url"] else {}
            self.s3 = session.client("s3", endpoint_url=self.params["s3_endpoint_url"] or None,
                                     config=Config(signature_version="s3v4", s3=style))
        try:
            return self.s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                                  ExpiresIn=self.params["presign_seconds"])
        except (BotoCoreError, ClientError) as error:
            raise DeliveryError("Model {0}'s source {1} cannot be presigned ({2}): set inferno_models_s3_access_key and "
                                "inferno_models_s3_secret_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY). Nothing "
                                "was read or changed".format(model["name"], model["source"], type(error).__name__)) from error

    def check_space(self, copies, state, claim):
        needed = sum(entry["size"] for entry in copies)
        # Leftovers of an earlier attempt are replaced, so their bytes count as free.
        reclaimed = sum(state["files"].get(contract.partial_name(entry["name"]), {}).get("size", 0) for entry in copies)
        free = state["free"]
        if free is not None and needed > free + reclaimed:
            names = ", ".join("{0} ({1})".format(entry["name"], contract.human_bytes(entry["size"])) for entry in copies)
            raise DeliveryError(
                "The models to copy need {0} ({1}), and the models claim {2} has {3} free: grow the claim "
                "(persistence.models.size in the release's values, if its StorageClass allows expansion) or remove "
                "models it no longer needs (inferno_models_remove_undeclared). Nothing was copied or changed".format(
                    contract.human_bytes(needed), names, claim, contract.human_bytes(free + reclaimed)))

    def copy(self, model, entry):
        partial = contract.MOUNT + "/" + contract.partial_name(entry["name"])
        if contract.source_kind(model["source"]) == "file":
            code, output = self.run(contract.RECEIVE_SCRIPT, [partial, entry["size"]],
                                    stdin_file=model["source"], stdin_size=entry["size"])
        else:
            code, output = self.run(contract.FETCH_SCRIPT, [partial], stdin=self.urls[model["name"]] + "\n")
        digest, size = contract.parse_digest(output)
        if digest is None:
            raise DeliveryError("Copying model {0} from {1} failed ({2}). Nothing was put in place, and the models "
                                "already on the claim keep serving".format(entry["name"], entry["source"], size))
        if digest != entry["sha256"]:
            raise DeliveryError(
                "Model {0} from {1} has SHA-256 {2} ({3} bytes), but inferno_models declares {4}: fix the sha256 "
                "(sha256sum prints it) or the source. The copy was discarded, nothing was put in place, and the "
                "models already on the claim keep serving".format(
                    entry["name"], entry["source"], digest, size, entry["sha256"]))

    def commit(self, copies, removals, record):
        self.committing = True
        for name in removals:
            record.pop(name, None)
        pending = dict((entry["name"], entry) for entry in copies)
        # The record is written last, once the files are in place; times come from the renamed files.
        names = [entry["name"] for entry in copies]
        text = contract.record_text(dict(record, **dict((name, dict(
            sha256=pending[name]["sha256"], size=pending[name]["size"], mtime=0, source=pending[name]["source"]))
            for name in names)))
        code, output = self.run(contract.COMMIT_SCRIPT, [contract.MOUNT, len(text.encode("utf-8"))] + names +
                                ["--remove"] + removals, stdin=text)
        if code != 0:
            raise DeliveryError("Putting the checked models in place failed ({0})".format(output.strip()[-300:]))
        placed = {}
        for row in output.splitlines():
            if row.startswith("placed "):
                name = row.split(" ", 3)[3]
                placed[name] = int(row.split(" ", 3)[2])
        if placed:  # the record with the renamed files' own times, so the next run reads none of them
            for name, mtime in placed.items():
                record[name] = dict(sha256=pending[name]["sha256"], size=pending[name]["size"], mtime=mtime,
                                    source=pending[name]["source"])
            text = contract.record_text(record)
            self.run(contract.COMMIT_SCRIPT, [contract.MOUNT, len(text.encode("utf-8")), "--remove"], stdin=text)


def line(entry):
    digest = (entry.get("sha256") or entry.get("present_sha256") or "")[:12]
    if entry["action"] == contract.UNDECLARED:
        return "{0}: on the claim but not declared, kept (remove_undeclared removes it)".format(entry["name"])
    if entry["action"] == contract.REMOVE:
        return "{0}: not declared, removed".format(entry["name"])
    if entry["action"] == contract.KEEP:
        return "{0}: present, sha256 {1}...".format(entry["name"], digest)
    return "{0}: {1} from {2} ({3}), sha256 {4}...".format(
        entry["name"], entry["action"], entry["source"], contract.human_bytes(entry.get("size") or 0), digest)


def main():
    module = k8s_module(argument_spec(
        K8S_CONNECTION,
        RELEASE,
        models=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            sha256=dict(type="str", required=True),
            source=dict(type="str", required=True),
            url=dict(type="str", no_log=True),
        )),
        remove_undeclared=dict(type="bool", default=False),
        fetcher_image=dict(type="str", default="docker.io/curlimages/curl:8.11.1"),
        timeout=dict(type="int", default=3600),
        s3_endpoint_url=dict(type="str"),
        s3_region=dict(type="str"),
        s3_access_key=dict(type="str", no_log=True),
        s3_secret_key=dict(type="str", no_log=True),
        presign_seconds=dict(type="int", default=3600),
    ))
    for option in ("timeout", "presign_seconds"):
        if module.params[option] <= 0:
            module.fail_json(msg="{0} must be a number of seconds above 0, got {1}. Nothing was read or changed.".format(
                option, module.params[option]))
    delivery = ModelDelivery(module)
    try:
        result = delivery.deliver()
    except DeliveryError as error:
        # Nothing was put in place (a failure in the commit itself is the one exception).
        result = dict(getattr(delivery, "result", {}), changed=getattr(delivery, "committing", False))
        module.fail_json(msg="{0}.".format(str(error).rstrip(".")), **result)
    except ApiException as error:
        module.fail_json(msg=failure_message(error, " in {0}".format(delivery.namespace)) + ". Nothing was put in place.")
    finally:
        delivery.delete_pod()
    result["seconds"] = round(time.monotonic() - delivery.started, 2)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
