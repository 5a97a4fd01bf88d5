#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: helm_plan
short_description: Tell whether a Helm upgrade would change a release, and show what would change
version_added: 0.1.0
author:
  - Inferno Ops maintainers (@inferno-ops)
description:
  - Renders a chart the way C(helm upgrade --install --dry-run=server) would, with the same
    layers of values as M(kubernetes.core.helm), and compares the result with the latest
    revision of the release.
  - A release would change when it is not installed, when its latest revision is not
    C(deployed), when the chart name, version or appVersion differs, when the user-supplied
    values differ, or when any rendered object differs. The object comparison catches chart
    template edits made without a version bump, which kubernetes.core.helm's own check misses
    when the helm-diff plugin is absent.
  - Reads only; it never changes the cluster, so it runs the same in check mode. C(changed)
    is true when an upgrade would change the release.
  - Fails with an explanation when the chart does not render with the values (schema or
    cross-field errors), when the cluster cannot be read, or when the release is stuck in a
    pending operation.
  - Values under the chart's C(secrets) key and the data of Secret objects are masked in
    every output and diff.
options:
  chart_ref:
    description:
      - Path to the chart directory or packaged chart.
      - Required unless O(rollback_to) is given.
    type: path
  rollback_to:
    description:
      - Plan a rollback instead of an upgrade. The desired state is then revision O(rollback_to)
        as helm stored it (its chart, user-supplied values and manifest), nothing is rendered,
        and the values options are ignored.
      - Fails when that revision is no longer in the release's history.
    type: int
  values_files:
    description:
      - Values files, applied in order after the chart's own values.yaml.
    type: list
    elements: path
    default: []
  release_values:
    description:
      - Values applied after O(values_files), as M(kubernetes.core.helm) does with its
        O(kubernetes.core.helm#module:release_values).
    type: dict
    default: {}
    aliases: [values]
  secret_values:
    description:
      - Values for the chart's C(secrets) key, merged under C(secrets) after O(release_values).
      - Kept apart so that Ansible masks them in the task's arguments; empty strings are dropped.
    type: dict
    default: {}
  set_values:
    description:
      - C(--set)-style overrides, applied last, in the format of
        M(kubernetes.core.helm)'s O(kubernetes.core.helm#module:set_values).
    type: list
    elements: dict
    default: []
    suboptions:
      value:
        description:
          - The C(key=value) text, as on the helm command line.
        type: str
        required: true
      value_type:
        description:
          - C(raw) uses C(--set), the others C(--set-string), C(--set-json) and C(--set-file).
        type: str
        choices: [raw, string, json, file]
        default: raw
  record_chart_digest:
    description:
      - Record a SHA-256 digest of the chart's files in the values as
        C(global.infernoOps.chartDigest).
      - The digest shows which chart content a release was built from, and makes a template
        edit count as a values change.
    type: bool
    default: true
  return_manifest:
    description:
      - Also return the rendered manifest (Secret data masked).
    type: bool
    default: false
  validate:
    description:
      - Send every rendered object to the API server as a server-side apply with C(dryRun=All)
        (field manager C(inferno-ops-preflight)), so that a value the server refuses - a label
        value with a space, an immutable field changed - fails here, before anything changes.
        C(helm upgrade --dry-run=server) renders with the cluster's capabilities but does not
        send the objects for validation.
      - When the namespace does not exist yet, namespaced objects are validated in the
        C(default) namespace under a generated name; nothing is stored either way.
      - Not done for O(rollback_to), whose target revision was applied before.
    type: bool
    default: false
  read_cluster:
    description:
      - Also return what the cluster offers, as M(inferno.ops.cluster_info) does, for
        O(release_namespace), in RV(cluster). Saves a module call before a deploy.
    type: bool
    default: false
extends_documentation_fragment:
  - inferno.ops.release
  - kubernetes.core.helm_common_options
attributes:
  check_mode:
    support: full
    description: Reads only; check mode behaves like a normal run.
  diff_mode:
    support: full
    description: One diff for the user-supplied values and one per created, changed or removed object.
requirements:
  - helm >= 3.13 (4.x included)
  - PyYAML
  - kubernetes >= 24.2.0 (for O(validate) and O(read_cluster))
seealso:
  - module: kubernetes.core.helm
  - module: kubernetes.core.helm_template
notes:
  - The comparison is between what helm would apply and what helm applied last. Live objects
    edited outside helm (drift) are not compared; a helm upgrade reconciles them only for the
    fields the chart sets.
  - Without the helm-diff plugin, M(kubernetes.core.helm) decides whether to upgrade by
    comparing the deployed values with its O(kubernetes.core.helm#module:values_files) alone
    when any are given, so changes in O(kubernetes.core.helm#module:release_values) or
    O(kubernetes.core.helm#module:set_values) can go unseen. Write RV(revision_marker) to a
    values file and pass it last; its value differs from the deployed one, so the upgrade
    this module asks for is carried out. Plans ignore C(global.infernoOps.revision).
"""

EXAMPLES = r"""
- name: Show what rolling back to revision 3 would change
  inferno.ops.helm_plan:
    release_name: inferno
    release_namespace: inferno-prod
    rollback_to: 3
  diff: true

- name: Plan the upgrade of the production release
  inferno.ops.helm_plan:
    chart_ref: "{{ inferno_chart_dir }}"
    release_name: inferno
    release_namespace: inferno-prod
    values_files:
      - "{{ inferno_chart_dir }}/values-prod.yaml"
    release_values:
      replicaCount: 4
    secret_values:
      OAUTH2_CLIENT_SECRET: "{{ vault_oauth2_client_secret }}"
    kubeconfig: ~/.kube/config
    context: prod-eu
  register: plan

- name: Upgrade only when the plan says so
  kubernetes.core.helm:
    name: inferno
    chart_ref: "{{ inferno_chart_dir }}"
    release_namespace: inferno-prod
    values_files:
      - "{{ inferno_chart_dir }}/values-prod.yaml"
    release_values: "{{ plan.upgrade_values | combine({'secrets': secrets}) }}"
  when: plan.changed
  no_log: true
"""

RETURN = r"""
installed:
  description: Whether the release has any revision in the namespace.
  returned: always
  type: bool
  sample: true
reasons:
  description: Why an upgrade would change the release; empty when it would not.
  returned: always
  type: list
  elements: str
  sample: ["the user-supplied values differ", "1 object(s) would be changed: Deployment inferno-prod/inferno"]
current:
  description: The latest revision, or null when the release is not installed.
  returned: always
  type: dict
  contains:
    revision:
      description: Revision number.
      type: int
      sample: 4
    status:
      description: Helm status of that revision.
      type: str
      sample: deployed
    chart:
      description: Chart name and version.
      type: str
      sample: inferno-0.8.0
    app_version:
      description: The chart's appVersion.
      type: str
      sample: 0.8.0
desired:
  description: The chart that would be applied (for a rollback, the target revision's).
  returned: always
  type: dict
  contains:
    chart:
      description: Chart name and version.
      type: str
      sample: inferno-0.8.0
    app_version:
      description: The chart's appVersion.
      type: str
      sample: 0.8.0
next_revision:
  description: The revision the release will be at after the upgrade (the current one when nothing would change).
  returned: always
  type: int
  sample: 5
objects:
  description: Objects by what an upgrade would do to them, each as C(Kind namespace/name).
  returned: always
  type: dict
  contains:
    create:
      description: Objects that would be created.
      type: list
      elements: str
    update:
      description: Objects that would be changed.
      type: list
      elements: str
    delete:
      description: Objects that would be removed.
      type: list
      elements: str
    unchanged:
      description: Objects that would stay as they are.
      type: list
      elements: str
values:
  description: The computed values (chart defaults merged with every layer), secrets masked.
  returned: always
  type: dict
upgrade_values:
  description:
    - The values to hand to M(kubernetes.core.helm) as O(kubernetes.core.helm#module:release_values),
      without the secrets; includes the chart digest when O(record_chart_digest=true).
  returned: always
  type: dict
revision_marker:
  description:
    - Values that record the revision an upgrade is made for, C(global.infernoOps.revision);
      see the notes for why a values file should carry them.
  returned: always
  type: dict
  sample: {global: {infernoOps: {revision: 4}}}
inputs:
  description:
    - What the plan was made from - the options naming the chart, release, values and
      connection, with the secrets by key only - so that a later task can tell whether the
      plan still applies to its own inputs.
  returned: always
  type: dict
chart_digest:
  description: SHA-256 of the chart's files.
  returned: always
  type: str
  sample: sha256:5e1f...
manifest:
  description: The rendered manifest, Secret data masked.
  returned: when O(return_manifest=true)
  type: str
helm_version:
  description: The version of the helm that rendered the plan.
  returned: always
  type: str
  sample: v3.17.2
validated:
  description: The objects the API server accepted in a dry run, each as C(Kind namespace/name).
  returned: when O(validate=true)
  type: list
  elements: str
cluster:
  description: What the cluster offers, with the keys M(inferno.ops.cluster_info) returns.
  returned: when O(read_cluster=true)
  type: dict
  contains:
    kubernetes_version:
      description: The server's version, without the leading v.
      type: str
    api_versions:
      description: Every group/version the cluster serves.
      type: list
      elements: str
    storage_classes:
      description: Names of the StorageClasses.
      type: list
      elements: str
    default_storage_classes:
      description: The StorageClasses marked as the default.
      type: list
      elements: str
    namespace:
      description: O(release_namespace), with C(name), C(exists) and C(labels).
      type: dict
"""

import hashlib
import json
import os
import tempfile

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.inferno.ops.plugins.module_utils import dry_run, release_plan
from ansible_collections.inferno.ops.plugins.module_utils.args_common import (
    HELM_CONNECTION,
    RELEASE,
    argument_spec as common_argument_spec,
    mutually_exclusive,
)
from ansible_collections.inferno.ops.plugins.module_utils.cluster import read_cluster, read_namespace
from ansible_collections.inferno.ops.plugins.module_utils.kube_client import (
    ApiException,
    TransportError,
    api_error_text,
    dynamic_client,
    failure_message,
    k8s_module,
)
from ansible_collections.inferno.ops.plugins.module_utils.redaction import (
    mask_values,
    redact_text,
    redact_tree,
    secret_strings,
)
from ansible_collections.inferno.ops.plugins.module_utils.release_state import ReleaseState, ReleaseStateError


def argument_spec():
    return common_argument_spec(
        HELM_CONNECTION,
        RELEASE,
        chart_ref=dict(type="path"),
        rollback_to=dict(type="int"),
        values_files=dict(type="list", elements="path", default=[]),
        release_values=dict(type="dict", default={}, aliases=["values"]),
        secret_values=dict(type="dict", default={}, no_log=True),
        set_values=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                value=dict(type="str", required=True),
                value_type=dict(type="str", default="raw", choices=["raw", "string", "json", "file"]),
            ),
        ),
        record_chart_digest=dict(type="bool", default=True),
        return_manifest=dict(type="bool", default=False),
        validate=dict(type="bool", default=False),
        read_cluster=dict(type="bool", default=False),
    )


def chart_digest(chart_ref):
    """SHA-256 over the chart's file names and contents (or of the packaged chart)."""
    digest = hashlib.sha256()
    if os.path.isfile(chart_ref):
        paths = [chart_ref]
        base = os.path.dirname(chart_ref)
    else:
        base = chart_ref
        paths = []
        for folder, dirnames, filenames in os.walk(chart_ref):
            dirnames.sort()
            paths.extend(os.path.join(folder, name) for name in sorted(filenames))
    for path in paths:
        digest.update(os.path.relpath(path, base).encode("utf-8") + b"\0")
        with open(path, "rb") as handle:
            digest.update(handle.read())
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


class Planner(object):
    def __init__(self, module):
        # An AnsibleK8SModule (for the API client); helm runs through kubernetes.core's
        # runner with the same connection options (release_state.helm_runner).
        self.module = module
        self.params = module.params
        self.namespace = self.params["release_namespace"]
        self.state = ReleaseState(module, self.params["release_name"], self.namespace)
        self.secrets = dict(
            (key, value) for key, value in (self.params["secret_values"] or {}).items() if value not in (None, "")
        )
        self._client = None
        # Returned with a failure too, so that a caller can say what is wrong with helm or the cluster.
        self.read_so_far = {}

    def fail(self, msg, **kwargs):
        details = dict(self.read_so_far)
        details.update(kwargs)
        self.module.fail_json(msg=redact_text(msg, [str(value) for value in self.secrets.values()]), **details)

    @property
    def dynamic(self):
        """kubernetes.core's dynamic client, built once, for the cluster reads and the dry runs."""
        if self._client is None:
            self._client = dynamic_client(self.module)
        return self._client

    def current_release(self):
        latest = self.state.require_not_pending()
        if latest is None:
            return None
        status = self.state.status()
        return {
            "revision": latest["revision"],
            "status": latest["status"],
            "chart": latest["chart"],
            "app_version": latest.get("app_version") or "",
            "values": release_plan.without_revision_marker(status.get("config")),
            "manifest": status.get("manifest") or "",
        }

    def stored_revision(self, revision):
        """What helm stored for a revision: its chart and app version, user values and manifest."""
        entries = dict((entry["revision"], entry) for entry in self.state.history())
        if revision not in entries:
            self.fail(
                "Revision {0} of release '{1}' is not in its history (kept: {2}); helm keeps only the last "
                "history_max revisions. Choose one of those.".format(
                    revision, self.state.name, ", ".join(str(key) for key in sorted(entries)) or "none"
                )
            )
        entry = entries[revision]
        return {
            "chart": entry["chart"],
            "app_version": entry.get("app_version") or "",
            "values": release_plan.without_revision_marker(self.state.values(revision)),
            "manifest": self.state.manifest(revision),
        }

    def cluster(self):
        try:
            return read_cluster(self.dynamic, self.namespace)
        except (ApiException, TransportError, OSError) as error:
            self.fail(failure_message(error, " while reading what the cluster offers"))

    def validate(self, desired_objects, namespace_exists, values):
        """Dry-run every rendered object on the API server; fail with what it refuses."""
        try:
            validated, refusals = dry_run.validate(self.dynamic, desired_objects, self.namespace, namespace_exists)
        except (ApiException, TransportError, OSError) as error:
            self.fail(failure_message(error, " while validating the rendered objects"))
        if refusals:
            self.fail(
                "The API server refuses {0} rendered object(s), so nothing was changed. Fix the value the message "
                "names (in the environment's values file, the inventory's values or the overrides):\n{1}".format(
                    len(refusals), "\n".join(dry_run.describe_refusals(refusals, values))))
        return validated

    def inputs(self):
        """What the plan was made from (secrets by key only), so a caller can tell whether it still applies."""
        params = self.params
        kubeconfig = params.get("kubeconfig")
        return dict(
            chart_ref=params["chart_ref"],
            rollback_to=params["rollback_to"],
            release_name=params["release_name"],
            release_namespace=self.namespace,
            values_files=params["values_files"],
            release_values=params["release_values"],
            secret_keys=sorted(self.secrets),
            set_values=params["set_values"],
            # The kubeconfig option is no_log: compared by digest, as a path (or None for a dict).
            kubeconfig_sha256=hashlib.sha256(kubeconfig.encode("utf-8")).hexdigest()
            if isinstance(kubeconfig, str) else None,
            context=params.get("context"),
            host=params.get("host"),
            binary_path=params.get("binary_path"),
        )

    def namespace_exists(self):
        try:
            return read_namespace(self.dynamic, self.namespace)["exists"]
        except ApiException as error:
            self.fail("Cannot read namespace {0}: {1}".format(self.namespace, api_error_text(error)))

    def upgrade_values(self, digest):
        values = dict(self.params["release_values"] or {})
        if self.params["record_chart_digest"]:
            values = release_plan.coalesce_values(values, {"global": {"infernoOps": {"chartDigest": digest}}})
        return values

    def render(self, values):
        params = self.params
        args = ["upgrade", "--install", params["release_name"], params["chart_ref"], "--reset-values"]
        for path in params["values_files"]:
            args += ["--values", path]
        # The values (secrets included) go into the module's private temporary folder (0700), not
        # the shared /tmp; Ansible removes the folder after the task.
        handle, values_path = tempfile.mkstemp(suffix=".yaml", dir=getattr(self.module, "_module", self.module).tmpdir)
        self.state.runner.add_cleanup_file(values_path)
        with os.fdopen(handle, "w") as stream:
            json.dump(values, stream)
        args += ["--values", values_path]
        for item in params["set_values"]:
            flag = "--set" if item["value_type"] == "raw" else "--set-" + item["value_type"]
            args += [flag, item["value"]]
        args += ["--dry-run=server", "--output", "json"]
        rc, out, err = self.state.run(args)
        if rc != 0:
            self.fail(
                "The chart {0} does not render with these values, so nothing was changed. Fix the value helm "
                "names below (in the environment's values file, the inventory's values or the overrides):\n{1}".format(
                    params["chart_ref"], err.strip()
                )
            )
        return json.loads(out)

    def desired_upgrade(self):
        """What an upgrade would apply: the chart rendered with every layer of values."""
        digest = chart_digest(self.params["chart_ref"])
        upgrade_values = self.upgrade_values(digest)
        applied = upgrade_values
        if self.secrets:
            applied = release_plan.coalesce_values(upgrade_values, {"secrets": self.secrets})
        rendered = self.render(applied)
        metadata = rendered["chart"]["metadata"]
        desired = {
            "chart": release_plan.chart_label(metadata["name"], metadata["version"]),
            "app_version": metadata.get("appVersion") or "",
            "values": rendered.get("config") or {},
            "manifest": rendered.get("manifest"),
        }
        computed = release_plan.coalesce_values(rendered["chart"].get("values") or {}, desired["values"])
        return desired, computed, upgrade_values, digest

    def plan(self):
        try:
            return self.plan_or_raise()
        except ReleaseStateError as error:
            self.fail(str(error))

    def plan_or_raise(self):
        helm_version = self.read_so_far["helm_version"] = self.state.helm_version()
        if not release_plan.helm_supported(helm_version):
            self.fail("helm {0} is not supported: helm_plan needs helm {1} or newer (4.x included).".format(
                helm_version, release_plan.MIN_HELM_VERSION))
        cluster = None
        if self.params["read_cluster"]:
            cluster = self.read_so_far["cluster"] = self.cluster()
        current = self.current_release()
        if self.params["rollback_to"]:
            if current is None:
                self.fail("Release '{0}' is not installed in namespace '{1}': there is nothing to roll back.".format(
                    self.params["release_name"], self.namespace))
            desired = self.stored_revision(self.params["rollback_to"])
            computed, upgrade_values, digest = desired["values"], {}, ""
        elif self.params["chart_ref"]:
            desired, computed, upgrade_values, digest = self.desired_upgrade()
        else:
            self.fail("Give chart_ref to plan an upgrade, or rollback_to to plan a rollback.")
        deployed_objects = release_plan.split_manifest((current or {}).get("manifest"), self.namespace)
        desired_objects = release_plan.split_manifest(desired.get("manifest"), self.namespace)
        validated = None
        if self.params["validate"] and not self.params["rollback_to"]:
            namespace_exists = (cluster or {}).get("namespace", {}).get("exists")
            if namespace_exists is None:
                namespace_exists = current is not None or self.namespace_exists()
            validated = self.validate(desired_objects, namespace_exists, computed)
        changes = release_plan.compare_objects(deployed_objects, desired_objects)
        reasons = release_plan.change_reasons(current, desired, changes)
        changed = bool(reasons)
        result = dict(
            changed=changed,
            installed=current is not None,
            reasons=reasons,
            current=None
            if current is None
            else dict((key, current[key]) for key in ("revision", "status", "chart", "app_version")),
            desired=dict((key, desired[key]) for key in ("chart", "app_version")),
            next_revision=(current["revision"] if current else 0) + (1 if changed else 0),
            objects=dict(
                (action, [release_plan.key_label(key) for key in keys]) for action, keys in changes.items()
            ),
            values=mask_values(computed),
            upgrade_values=upgrade_values,
            revision_marker=release_plan.revision_marker((current["revision"] if current else 0) + 1),
            chart_digest=digest,
            helm_version=helm_version,
            inputs=self.inputs(),
        )
        if cluster is not None:
            result["cluster"] = cluster
        if validated is not None:
            result["validated"] = validated
        if self.params["return_manifest"]:
            result["manifest"] = release_plan.masked_manifest(desired_objects)
        if changed and self.module._diff:
            result["diff"] = release_plan.build_diffs(current, desired, deployed_objects, desired_objects, changes)
        # Last line of defence: a secret echoed anywhere above (an error text, a value copied
        # into a ConfigMap by hand) is masked before the result leaves the module.
        return redact_tree(result, [str(value) for value in self.secrets.values()] + secret_strings(desired["values"]))


def main():
    module = k8s_module(argument_spec(), mutually_exclusive=mutually_exclusive(HELM_CONNECTION))
    if not release_plan.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    result = Planner(module).plan()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
