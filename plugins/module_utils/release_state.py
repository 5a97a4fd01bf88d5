# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of a Helm release's state: its history, status, values and manifest.

Every module that needs to know where a release stands asks this class, and every helm
command it runs goes through kubernetes.core's runner (``AnsibleHelmModule``), which turns
the module's connection options (a kubeconfig path or dict, context, host, api_key,
ca_cert, validate_certs) into helm's environment. So helm reaches the same cluster, as the
same user, as the module's API calls.

Failures raise ``ReleaseStateError`` with a message a user can act on; the module decides
how to report it (usually ``fail_json``, after masking secrets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.kubernetes.core.plugins.module_utils.helm import AnsibleHelmModule
from ansible_collections.inferno.ops.plugins.module_utils.args_common import (
    HELM_CONNECTION,
    RELEASE,
    argument_spec,
    mutually_exclusive,
)

# Operations a release can be stuck in; helm refuses a new upgrade until they end.
PENDING_STATUSES = ("pending-install", "pending-upgrade", "pending-rollback", "uninstalling")
# As many revisions as helm can keep (history_max is at most 256 in practice).
ALL_REVISIONS = 256
_NOT_FOUND = re.compile(r"release: not found|release not found|not found", re.I)


class ReleaseStateError(Exception):
    """A helm command failed; the text says what to check."""


def helm_runner(module):
    """kubernetes.core's helm runner for ``module`` (an AnsibleHelmModule is used as it is)."""
    if isinstance(module, AnsibleHelmModule):
        return module
    # AnsibleK8SModule keeps the AnsibleModule it wraps in _module.
    return AnsibleHelmModule(module=getattr(module, "_module", module))


def run_release_module(work, check=None, **options):
    """The main() of a module that works on one release with helm only.

    Builds the AnsibleHelmModule (kubernetes.core's helm connection options, the release
    options and ``options``, check mode), fails with ``check(params)`` when it returns a
    message, else exits with ``work(module)``; a ReleaseStateError becomes fail_json.
    """
    module = AnsibleHelmModule(
        argument_spec=argument_spec(HELM_CONNECTION, RELEASE, **options),
        mutually_exclusive=mutually_exclusive(HELM_CONNECTION),
        supports_check_mode=True,
    )
    problem = check(module.params) if check else None
    if problem:
        module.fail_json(msg=problem)
    try:
        result = work(module)
    except ReleaseStateError as error:
        module.fail_json(msg=str(error))
    module.exit_json(**result)


def entry_summary(entry):
    """The fields of a history entry the roles show and compare."""
    return dict(
        revision=entry.get("revision"),
        status=entry.get("status"),
        chart=entry.get("chart"),
        app_version=entry.get("app_version") or "",
        updated=entry.get("updated") or "",
        description=entry.get("description") or "",
    )


def stuck_message(name, namespace, latest):
    """Why a release in a pending state refuses changes, and how to free it."""
    return (
        "Release '{0}' in namespace '{1}' is stuck in '{2}' at revision {3} (since {4}): another helm operation is "
        "running or was interrupted. If no helm process is running, roll back with playbooks/rollback.yml (or "
        "'helm rollback {0} -n {1}') and run again.".format(
            name, namespace, latest["status"], latest["revision"], latest.get("updated"))
    )


class ReleaseState(object):
    """Reads release ``name`` in ``namespace`` with helm; caches what it read once."""

    def __init__(self, module, name, namespace):
        self.runner = helm_runner(module)
        self.name = name
        self.namespace = namespace
        self._history = {}
        self.helm_calls = 0

    # --- helm -----------------------------------------------------------------------
    def argv(self, args):
        """The full helm command line for ``args`` in the release's namespace."""
        return [self.runner.get_helm_binary()] + list(args) + ["--namespace", self.namespace]

    def run(self, args):
        """(rc, stdout, stderr) of helm ``args``; the connection options become helm's environment."""
        self.helm_calls += 1
        return self.runner.run_helm_command(self.argv(args), fails_on_error=False)

    def read_json(self, args, what):
        rc, out, err = self.run(list(args) + ["--output", "json"])
        if rc != 0:
            raise ReleaseStateError("Cannot read {0} of release '{1}' in namespace '{2}': {3}".format(
                what, self.name, self.namespace, err.strip() or out.strip()))
        try:
            return json.loads(out) if out.strip() else None
        except ValueError as error:
            raise ReleaseStateError("helm returned unreadable JSON for {0} of release '{1}': {2}".format(
                what, self.name, error)) from error

    def helm_version(self):
        """helm's version, e.g. 'v3.17.2'."""
        rc, out, err = self.runner.run_helm_command(
            [self.runner.get_helm_binary(), "version", "--template", "{{ .Version }}"], fails_on_error=False)
        self.helm_calls += 1
        if rc != 0:
            raise ReleaseStateError("helm could not be run as '{0}': {1}".format(
                self.runner.get_helm_binary(), err.strip() or out.strip()))
        return out.strip()

    # --- the release ------------------------------------------------------------------
    def history(self, max_revisions=ALL_REVISIONS):
        """The last ``max_revisions`` entries, oldest first; [] when the release is not installed."""
        for cached_max, entries in self._history.items():
            if cached_max >= max_revisions or len(entries) < cached_max:
                return entries[-max_revisions:]
        rc, out, err = self.run(["history", self.name, "--max", str(max_revisions), "--output", "json"])
        if rc != 0:
            if _NOT_FOUND.search(err):
                entries = []
            else:
                raise ReleaseStateError(
                    "Cannot read the history of release '{0}' in namespace '{1}': {2}. Check that the cluster is "
                    "reachable with these connection options (kubeconfig, context, host).".format(
                        self.name, self.namespace, err.strip()))
        else:
            entries = json.loads(out) if out.strip() else []
        self._history[max_revisions] = entries
        return entries

    def forget(self):
        """Drop what was read, after a command that changed the release."""
        self._history = {}

    def latest(self):
        """The newest history entry, or None when the release is not installed."""
        entries = self.history(1)
        return entries[-1] if entries else None

    def require_not_pending(self):
        """The newest entry; raises when the release is stuck in a pending operation."""
        latest = self.latest()
        if latest and latest["status"] in PENDING_STATUSES:
            raise ReleaseStateError(stuck_message(self.name, self.namespace, latest))
        return latest

    def status(self):
        """``helm status``: the latest revision's user-supplied values (config), manifest and info."""
        return self.read_json(["status", self.name], "the status") or {}

    def values(self, revision=None, all_values=False):
        """User-supplied values (or, with ``all_values``, the computed ones) of a revision."""
        args = ["get", "values", self.name]
        if revision is not None:
            args += ["--revision", str(revision)]
        if all_values:
            args.append("--all")
        return self.read_json(args, "the values" + (" of revision {0}".format(revision) if revision else "")) or {}

    def manifest(self, revision=None):
        """The rendered manifest of a revision, as helm stored it."""
        args = ["get", "manifest", self.name]
        if revision is not None:
            args += ["--revision", str(revision)]
        rc, out, err = self.run(args)
        if rc != 0:
            raise ReleaseStateError("Cannot read the manifest{0} of release '{1}' in namespace '{2}': {3}".format(
                " of revision {0}".format(revision) if revision else "", self.name, self.namespace, err.strip()))
        return out
