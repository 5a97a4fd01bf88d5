#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: config_export
short_description: Export a release's ConfigMaps, Secrets and Helm state as clean YAML, secrets redacted
version_added: 0.1.0
author:
  - Inferno Ops maintainers (@inferno-ops)
description:
  - Writes to O(dest), one file per object, the release's ConfigMaps and Secrets (selected by
    C(app.kubernetes.io/instance=<release_name>)), cleaned as kubectl-neat does (no status, uid,
    resourceVersion, managedFields...; Helm's ownership labels and annotations are kept so the
    objects can be re-applied under Helm).
  - Also writes the Helm release's user-supplied values, computed values and manifest for the
    current revision and the one before, and the history.
  - Secrets are redacted by default. Keys are kept and each non-empty value is replaced by the
    word C(redacted), in Secret objects, in the values under the chart's C(secrets) key and in
    the manifests; no digest of a value is kept, since an unsalted digest of a short secret is
    read back with a dictionary. A change of a secret value alone therefore does not change a
    redacted export. O(include_secrets=true) writes the real values, in files of mode 0600, and
    O(vault_password_file) encrypts every file that holds them with ansible-vault.
  - 'C(index.yaml) records the cluster, context, namespace, release, revision, time and a SHA-256
    of every file, except files that hold secret values (O(include_secrets=true)), for which it
    records C(not recorded: the file holds secret values). Files whose content is unchanged are
    not rewritten, and when nothing changed the index (and its time) stays as it was, so a
    re-run reports C(changed=false).'
  - No secret value is ever returned in the task result.
options:
  dest:
    description:
      - Folder to write to; created when missing.
    type: path
    required: true
  include_secrets:
    description:
      - Write the real secret values (files of mode 0600) instead of C(redacted).
    type: bool
    default: false
  vault_password_file:
    description:
      - With O(include_secrets=true), encrypt the files that hold secret values (the Secrets,
        and each revision's values and manifest) with C(ansible-vault) and this password file
        (or vault password client script), the one you give C(ansible-playbook
        --vault-password-file). Read them back the same way; M(ansible.builtin.copy) and the
        C(file) lookup decrypt them when the playbook has the password.
      - An unchanged export is not rewritten; each file is decrypted and compared.
    type: path
  vault_id:
    description:
      - The vault id label to encrypt with (C(--vault-id <label>@<vault_password_file>)).
    type: str
  label_selectors:
    description:
      - Label selectors for the ConfigMaps and Secrets. Default, the release's.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - inferno.ops.release
  - kubernetes.core.k8s_auth_options
  - inferno.ops.helm_binary
attributes:
  check_mode:
    support: full
    description: Reports what would be written; writes nothing.
  diff_mode:
    support: full
    description: The exported file names and digests before and after.
requirements:
  - kubernetes >= 24.2.0
  - helm >= 3.13 (4.x included)
  - ansible-vault (from ansible-core, found on PATH or beside the Python running the module), for O(vault_password_file)
notes:
  - The Helm part runs helm with the same connection options, translated as
    M(kubernetes.core.helm) does; options helm has no equivalent for (proxies, impersonation)
    reach only the Kubernetes API part.
  - To encrypt, the plain text is handed to C(ansible-vault) in a private (0700) temporary
    folder inside O(dest), which is removed before the module returns.
"""

EXAMPLES = r"""
- name: Export the production release's configuration before an upgrade
  inferno.ops.config_export:
    release_name: inferno
    release_namespace: inferno-prod
    dest: /var/backups/inferno/pre-upgrade-r12/config
  register: export

- name: Keep the real secret values, encrypted with the inventory's vault password
  inferno.ops.config_export:
    release_name: inferno
    release_namespace: inferno-prod
    dest: /var/backups/inferno/nightly/config
    include_secrets: true
    vault_password_file: ~/.vault-pass
"""

RETURN = r"""
dest:
  description: Where the export is.
  returned: always
  type: str
revision:
  description: The release's current revision.
  returned: always
  type: int
files:
  description: Every exported file, relative to O(dest), with its SHA-256 (none for a file that holds secret values).
  returned: always
  type: dict
encrypted:
  description: Files encrypted with ansible-vault, relative to O(dest).
  returned: always
  type: list
  elements: str
redacted:
  description:
    - Secret objects exported with their values redacted, relative to O(dest); also listed
      in the index, so that a restore leaves them out.
  returned: always
  type: list
  elements: str
written:
  description: Files written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
counts:
  description: ConfigMaps, Secrets and Helm revisions exported.
  returned: always
  type: dict
api_list_calls:
  description: Kubernetes list requests made (one page each).
  returned: always
  type: int
elapsed_seconds:
  description: How long reading and writing took.
  returned: always
  type: float
"""

import datetime
import json
import os
import shutil
import sys
import tempfile
import time

from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible_collections.inferno.ops.plugins.module_utils import export
from ansible_collections.inferno.ops.plugins.module_utils.backup_archive import LEFTOVER_VAULT_STAGING
from ansible_collections.inferno.ops.plugins.module_utils.args_common import K8S_CONNECTION, RELEASE, argument_spec
from ansible_collections.inferno.ops.plugins.module_utils.kube_client import (
    api_client,
    client,
    k8s_module,
    reported_api_errors,
)
from ansible_collections.inferno.ops.plugins.module_utils.release_state import ReleaseState, ReleaseStateError

PAGE = 500
INDEX = "index.yaml"
VAULT_HEADER = "$ANSIBLE_VAULT;"


class Exporter(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.api = api_client(module)
        self.namespace = self.params["release_namespace"]
        self.release = self.params["release_name"]
        self.list_calls = 0
        # helm history, get values and get manifest, with the module's connection options.
        self.state = ReleaseState(module, self.release, self.namespace)
        self.files = {}
        self.modes = {}
        # Files that hold secret values when include_secrets is set: encrypted with a vault password.
        self.secret_paths = set()
        self.encrypting = bool(self.params["include_secrets"] and self.params["vault_password_file"])
        self.started = time.monotonic()

    # --- reading -----------------------------------------------------------------
    def listed(self, lister, kind):
        """The objects as the API serves them (plain JSON, not the client's models: a third of the time)."""
        selector = ",".join(self.params["label_selectors"] or ["app.kubernetes.io/instance={0}".format(self.release)])
        objects, token = [], None
        while True:
            response = lister(self.namespace, label_selector=selector, limit=PAGE, _continue=token,
                              _preload_content=False)
            page = json.loads(response.data)
            self.list_calls += 1
            for obj in page.get("items") or []:
                obj["apiVersion"], obj["kind"] = "v1", kind
                objects.append(export.clean_object(obj))
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
        return sorted(objects, key=lambda obj: obj["metadata"]["name"])

    # --- building the files ---------------------------------------------------------
    def add(self, path, text, secret=False):
        self.files[path] = text
        self.modes[path] = 0o600 if secret or self.params["include_secrets"] else 0o644
        if secret:
            self.secret_paths.add(path)

    def build(self):
        secrets_kept = self.params["include_secrets"]
        for obj in self.listed(client.CoreV1Api(self.api).list_namespaced_config_map, "ConfigMap"):
            self.add("configmaps/{0}.yaml".format(obj["metadata"]["name"]), export.to_yaml(obj))
        secrets = self.listed(client.CoreV1Api(self.api).list_namespaced_secret, "Secret")
        for obj in secrets:
            self.add("secrets/{0}.yaml".format(obj["metadata"]["name"]),
                     export.to_yaml(obj if secrets_kept else export.redact_secret(obj)), secret=True)
        history = self.state.history()
        if not history:
            self.module.fail_json(msg="Release '{0}' is not installed in namespace '{1}' (helm history finds no "
                                      "revision): there is nothing to export. Check release_name and "
                                      "release_namespace.".format(self.release, self.namespace))
        self.add("helm/history.yaml", export.to_yaml(history))
        deployed = [entry["revision"] for entry in history if entry["status"] == "deployed"]
        current = deployed[-1] if deployed else history[-1]["revision"]
        revisions = [revision for revision in (current - 1, current) if revision in [e["revision"] for e in history]]
        for revision in revisions:
            base = "helm/revision-{0}/".format(revision)
            for name, all_values in (("values.yaml", False), ("values-computed.yaml", True)):
                values = self.state.values(revision, all_values=all_values)
                self.add(base + name, export.to_yaml(values if secrets_kept else export.redact_values(values)),
                         secret=True)
            manifest = self.state.manifest(revision)
            self.add(base + "manifest.yaml", manifest if secrets_kept else export.redact_manifest(manifest), secret=True)
        counts = dict(configmaps=sum(1 for path in self.files if path.startswith("configmaps/")),
                      secrets=len(secrets), revisions=len(revisions))
        return current, counts

    # --- writing -------------------------------------------------------------------
    def read(self, path):
        try:
            with open(os.path.join(self.params["dest"], path), "rb") as handle:
                return handle.read().decode("utf-8")
        except (IOError, OSError):
            return None

    def write(self, path, text, mode):
        target = os.path.join(self.params["dest"], path)
        folder = os.path.dirname(target)
        if not os.path.isdir(folder):
            os.makedirs(folder, 0o700)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(handle, "wb") as stream:
            stream.write(to_bytes(text))
        os.chmod(temporary, mode)
        os.rename(temporary, target)

    # --- ansible-vault -------------------------------------------------------------------
    def vault(self, action, paths):
        """Encrypt or decrypt files in place with one ansible-vault call."""
        ansible_module = self.module._module
        binary = ansible_module.get_bin_path("ansible-vault", required=True,
                                             opt_dirs=[os.path.dirname(sys.executable)])
        password_file = self.params["vault_password_file"]
        if self.params["vault_id"]:
            password = ["--vault-id", "{0}@{1}".format(self.params["vault_id"], password_file)]
            if action == "encrypt":
                password += ["--encrypt-vault-id", self.params["vault_id"]]
        else:
            password = ["--vault-password-file", password_file]
        rc, out, err = ansible_module.run_command([binary, action] + password + list(paths))
        if rc != 0:
            self.module.fail_json(msg="ansible-vault {0} failed in {1}: {2}{3}".format(
                action, self.params["dest"], err.strip() or out.strip(),
                " Use the vault password the export was encrypted with, or another dest." if action == "decrypt" else ""))

    def through_vault(self, action, texts):
        """{path: text} after ansible-vault `action`, via a private folder outside dest.

        The plaintext never enters dest, which the backup uploads: it goes through a folder
        (mode 0700) in the module's own temporary folder, which Ansible removes after the task.
        """
        if not texts:
            return {}
        folder = tempfile.mkdtemp(dir=self.module._module.tmpdir, prefix="vault-")  # mode 0700
        try:
            numbered = dict((path, os.path.join(folder, str(number))) for number, path in enumerate(sorted(texts)))
            for path, temporary in numbered.items():
                with open(temporary, "wb") as stream:
                    stream.write(to_bytes(texts[path]))
            self.vault(action, [numbered[path] for path in sorted(numbered)])
            converted = {}
            for path, temporary in numbered.items():
                with open(temporary, "rb") as stream:
                    converted[path] = to_text(stream.read())
            return converted
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def remove_old_staging(self):
        """Remove the plaintext folders (.vault-*) that earlier versions staged inside dest,
        which a killed run left behind; the S3 upload leaves them out too (backup_archive.STAGING)."""
        for name in os.listdir(self.params["dest"]):
            path = os.path.join(self.params["dest"], name)
            if name.startswith(LEFTOVER_VAULT_STAGING) and os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)

    def existing_texts(self):
        """What each file holds now, decrypted when it is a vault file; None when missing."""
        texts = dict((path, self.read(path)) for path in self.files)
        if self.encrypting:
            sealed = dict((path, text) for path, text in texts.items() if text and text.startswith(VAULT_HEADER))
            texts.update(self.through_vault("decrypt", sealed))
        return texts

    def needs_writing(self, path, existing):
        if existing is None or existing != self.files[path]:
            return True
        # Same content, but it must end up encrypted (or no longer encrypted).
        sealed_now = (self.read(path) or "").startswith(VAULT_HEADER)
        return sealed_now != (self.encrypting and path in self.secret_paths)

    def run(self):
        try:
            with reported_api_errors(self.module, " in {0}".format(self.namespace)):
                revision, counts = self.build()
                host = self.api.configuration.host
        except ReleaseStateError as error:
            self.module.fail_json(msg=str(error))
        # A file that holds secret values gets no digest: an unsalted digest of a file whose other
        # fields are known is read back with a dictionary, even when the file itself is vaulted.
        holds_secrets = self.secret_paths if self.params["include_secrets"] else set()
        digests = dict((path, export.NO_DIGEST if path in holds_secrets else export.sha256_text(text))
                       for path, text in self.files.items())
        previous = export.yaml.safe_load(self.read(INDEX) or "{}") or {}
        old_files = previous.get("files") or {}
        existing = self.existing_texts()
        written = sorted(path for path in self.files if self.needs_writing(path, existing[path]))
        # The old index may come from a bucket (a restored backup): only files inside dest are ours to remove.
        outside = sorted(path for path in old_files if path not in self.files
                         and export.inside(self.params["dest"], path) is None)
        for path in outside:
            self.module.warn("The old {0} lists {1!r}, which is not a file inside {2}: left alone.".format(
                INDEX, path, self.params["dest"]))
        stale = sorted(path for path in old_files if path not in self.files and path not in outside)
        encrypted = sorted(self.secret_paths) if self.encrypting else []
        # Secret objects whose values were replaced by digests: a restore must not apply them.
        redacted = [] if self.params["include_secrets"] else sorted(
            path for path in self.secret_paths if path.startswith("secrets/"))
        identity = dict(cluster=host, context=self.params.get("context") or "", namespace=self.namespace,
                        release=self.release, revision=revision, encrypted=encrypted, redacted=redacted)
        changed = bool(written or stale) or any(previous.get(key) != value for key, value in identity.items())
        result = dict(changed=changed, dest=self.params["dest"], revision=revision, files=digests, written=written,
                      removed=stale, encrypted=encrypted, redacted=redacted, counts=counts,
                      api_list_calls=self.list_calls)
        result["elapsed_seconds"] = round(time.monotonic() - self.started, 2)
        if self.module._diff:
            result["diff"] = dict(
                before="".join("{0} {1}\n".format(path, old_files[path]) for path in sorted(old_files)),
                after="".join("{0} {1}\n".format(path, digests[path]) for path in sorted(digests)))
        if self.module.check_mode or not changed:
            return result
        sealed = self.through_vault("encrypt", dict(
            (path, self.files[path]) for path in written if path in encrypted))
        for path in written:
            self.write(path, sealed.get(path, self.files[path]), self.modes[path])
        for path in stale:
            target = export.inside(self.params["dest"], path)
            if os.path.isfile(target) and not os.path.islink(target):
                os.remove(target)
        self.remove_old_staging()
        exported_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.write(INDEX, export.to_yaml(export.index_document(identity, digests, exported_at)), 0o644)
        result["elapsed_seconds"] = round(time.monotonic() - self.started, 2)
        return result


def main():
    module = k8s_module(
        argument_spec(
            K8S_CONNECTION,
            RELEASE,
            dest=dict(type="path", required=True),
            include_secrets=dict(type="bool", default=False),
            vault_password_file=dict(type="path", no_log=False),
            vault_id=dict(type="str"),
            label_selectors=dict(type="list", elements="str", default=[]),
            binary_path=dict(type="path"),
        )
    )
    if module.params["vault_password_file"] and not module.params["include_secrets"]:
        module.fail_json(msg="vault_password_file encrypts the real secret values, which are exported only with "
                             "include_secrets=true; without it the export holds no secret value and needs no encryption.")
    if module.params["vault_id"] and not module.params["vault_password_file"]:
        module.fail_json(msg="vault_id labels the password in vault_password_file: give vault_password_file too.")
    module.exit_json(**Exporter(module).run())


if __name__ == "__main__":
    main()
