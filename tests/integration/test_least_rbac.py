"""Every playbook of the installed collection run with a ServiceAccount's token and no
kubeconfig, the ServiceAccount bound only to the Role and ClusterRole that the collection's
files/rbac/<playbook>.yaml documents (docs/rbac.md).

The collection is built with ansible-galaxy and installed; the playbooks run by their names
(inferno.ops.deploy...) from outside the checkout, as a user or AWX runs them.

The connection comes from K8S_AUTH_HOST, K8S_AUTH_API_KEY and K8S_AUTH_SSL_CA_CERT, as AWX's
bearer-token credential sets them; HOME holds no ~/.kube/config and the inventory's kubeconfig
points at a file that does not exist, so nothing but the token can reach the cluster.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes import client, utils

from tests.collection.test_build import build_and_install

from tests.chart.rendering import helm_binary

from .kube import pin_by_hand
from .playbooks import ON_SIMULATED_NODES, REPO, ansible_playbook, extra_vars, history

PLAYBOOKS = {"deploy": "inferno.ops.deploy", "status": "inferno.ops.status", "backup": "inferno.ops.backup",
             "restore": "inferno.ops.restore", "prune": "inferno.ops.prune_backups", "pin": "inferno.ops.pin_backup"}
# Every file of files/rbac: models.yml's is tested on the real node (test_models.py), where its
# fetch pod runs.
RBAC_FILES = {**PLAYBOOKS, "models": "inferno.ops.models"}


def documents(name: str, rbac: Path = REPO / "files" / "rbac") -> list[dict]:
    """The objects of files/rbac/<name>.yaml: one List (one YAML document, as ansible-test's yamllint wants)."""
    listed = yaml.safe_load((rbac / f"{name}.yaml").read_text())
    assert listed["kind"] == "List"
    return listed["items"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The collection built from this checkout and installed; returns the collections path."""
    return build_and_install(tmp_path_factory.mktemp("installed")).parents[2]


def test_every_playbook_has_an_rbac_file_and_the_docs_name_it():
    guide = (REPO / "docs" / "rbac.md").read_text()
    assert sorted(path.stem for path in (REPO / "files" / "rbac").glob("*.yaml")) == sorted(RBAC_FILES)
    for name in RBAC_FILES:
        kinds = {doc["kind"]: doc["metadata"]["name"] for doc in documents(name)}
        assert kinds["Role"] == f"inferno-ops-{name}"
        assert set(kinds) <= {"Role", "ClusterRole"}
        assert f"files/rbac/{name}.yaml" in guide
        for role_name in kinds.values():
            assert role_name in guide, role_name


# What helm does to each kind the chart can make: reads, creates and patches it, deletes it when
# an upgrade drops it or an atomic install fails, and lists and watches it for helm 4's --wait.
# The runs here use helm 3 and drop nothing, so only some of these show in the audit log.
HELM_VERBS = {"get", "list", "watch", "create", "patch", "delete"}
# The kinds of files/helm/inferno/templates, and where the API serves them.
CHART_KINDS = {"ConfigMap": ("", "configmaps"), "Secret": ("", "secrets"), "Service": ("", "services"),
               "ServiceAccount": ("", "serviceaccounts"), "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
               "Deployment": ("apps", "deployments"), "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers"),
               "VerticalPodAutoscaler": ("autoscaling.k8s.io", "verticalpodautoscalers"),
               "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
               "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
               "Role": ("rbac.authorization.k8s.io", "roles"), "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
               "ServiceMonitor": ("monitoring.coreos.com", "servicemonitors")}
NON_CSI_CLASS = "the class of a claim whose volume is not CSI is read by name (pvc_snapshot)"
SERVER_SIDE_CREATE = ("server-side apply of an exported object gone from the namespace: RBAC checks create, "
                      "and the audit log shows only the patch")
# Verbs that no request of these runs shows, each with the path that needs it.
UNOBSERVED = {
    "deploy": {("ClusterRole", "storage.k8s.io", "storageclasses", "get"): NON_CSI_CLASS,
               ("Role", "rbac.authorization.k8s.io", "roles", "bind"):
                   "the preflight's server-side dry run of the chart's RoleBinding before its Role exists: RBAC "
                   "checks bind on the Role (only the chart's, by name), and the audit log shows no such request"},
    "backup": {("Role", "", "persistentvolumeclaims", "get"): "inferno_backup_pvcs names the claims: read one by one",
               ("ClusterRole", "storage.k8s.io", "storageclasses", "get"): NON_CSI_CLASS},
    "restore": {("Role", "", "configmaps", "create"): SERVER_SIDE_CREATE,
                ("Role", "", "secrets", "create"): SERVER_SIDE_CREATE,
                ("ClusterRole", "storage.k8s.io", "storageclasses", "get"): NON_CSI_CLASS},
}


def chart_kinds() -> set[str]:
    return {match.group(1) for path in (REPO / "files/helm/inferno/templates").glob("*.yaml")
            for match in re.finditer(r"^kind: (\w+)$", path.read_text(), re.MULTILINE)}


def chart_role_rules() -> set[tuple[str, str, str]]:
    """What the chart's own Role grants: deploy must hold it, since RBAC lets no one grant more than
    they hold (an authorization check that the audit log does not show as a request)."""
    rendered = subprocess.run([str(helm_binary()), "template", "inferno", str(REPO / "files/helm/inferno")],
                              capture_output=True, text=True, check=True).stdout
    role = next(doc for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] == "Role")
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def expected_verbs(name: str, used: dict) -> dict[str, set[tuple[str, str, str]]]:
    """What files/rbac/<name>.yaml should grant: what the runs used, what helm does to the chart's
    kinds (deploy), what the chart's Role grants (deploy), and the UNOBSERVED verbs."""
    expected = {kind: set(used.get(kind, set())) for kind in ("Role", "ClusterRole")}
    if name == "deploy":
        expected["Role"] |= {(*CHART_KINDS[kind], verb) for kind in chart_kinds() for verb in HELM_VERBS}
        expected["Role"] |= chart_role_rules()
    for (kind, group, resource, verb) in UNOBSERVED.get(name, {}):
        expected[kind].add((group, resource, verb))
    return expected


def audited_verbs(audit_log: Path, namespace: str) -> dict[str, dict[str, set[tuple[str, str, str]]]]:
    """{account: {"Role": {(group, resource, verb)}, "ClusterRole": {...}}} of the requests each
    ServiceAccount of ``namespace`` made, from the API server's audit log. A request in a
    namespace needs the Role; one without (cluster-scoped objects) the ClusterRole. Refused ones
    (403) and requests for no object (discovery, self reviews) are left out."""
    prefix = f"system:serviceaccount:{namespace}:"
    used: dict[str, dict[str, set]] = {}
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        user, target = event["user"]["username"], event.get("objectRef") or {}
        if not user.startswith(prefix) or not target.get("resource") or event["responseStatus"]["code"] == 403:
            continue
        if target.get("apiGroup") == "authorization.k8s.io":
            continue
        resource = target["resource"] + ("/" + target["subresource"] if target.get("subresource") else "")
        scope = "Role" if target.get("namespace") else "ClusterRole"
        used.setdefault(user[len(prefix):], {"Role": set(), "ClusterRole": set()})[scope].add(
            (target.get("apiGroup") or "", resource, event["verb"]))
    return used


def granted_verbs(name: str) -> dict[str, set[tuple[str, str, str]]]:
    """{"Role": {(group, resource, verb)}, "ClusterRole": {...}} that files/rbac/<name>.yaml grants."""
    granted = {"Role": set(), "ClusterRole": set()}
    for doc in documents(name):
        for rule in doc["rules"]:
            granted[doc["kind"]] |= {(group, resource, verb) for group in rule["apiGroups"]
                                     for resource in rule["resources"] for verb in rule["verbs"]}
    return granted


def rbac_difference(name: str, granted: dict, used: dict) -> str:
    lines = [f"files/rbac/{name}.yaml does not match what {RBAC_FILES[name]} asked for:"]
    for kind in ("Role", "ClusterRole"):
        for label, items in (("granted, not expected", granted[kind] - used.get(kind, set())),
                             ("expected, not granted", used.get(kind, set()) - granted[kind])):
            lines += [f"  {kind} {label}: {group or 'core'} {resource} {verb}" for group, resource, verb in sorted(items)]
    return "\n".join(lines)


class ServiceAccounts:
    """One ServiceAccount per playbook in ``namespace``, bound as docs/rbac.md says; removes the
    cluster-wide bindings it made."""

    def __init__(self, cluster, namespace: str, ca_file: Path, rbac: Path):
        self.cluster, self.namespace, self.ca_file, self.rbac_files = cluster, namespace, ca_file, rbac
        self.core = client.CoreV1Api(cluster.api)
        self.rbac = client.RbacAuthorizationV1Api(cluster.api)
        self.cluster_bindings: list[str] = []
        self.cluster_roles: list[str] = []
        self.server = cluster.api.configuration.host

    def bind(self, name: str) -> str:
        """Apply files/rbac/<name>.yaml, make ServiceAccount <name>-runner bound to it; return its token."""
        account = f"{name}-runner"
        subject = [{"kind": "ServiceAccount", "name": account, "namespace": self.namespace}]
        self.core.create_namespaced_service_account(self.namespace, {"metadata": {"name": account}})
        for doc in documents(name, self.rbac_files):
            utils.create_from_dict(self.cluster.api, doc, namespace=self.namespace, apply=True)
            ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": doc["kind"], "name": doc["metadata"]["name"]}
            if doc["kind"] == "Role":
                self.rbac.create_namespaced_role_binding(self.namespace, {
                    "metadata": {"name": account}, "roleRef": ref, "subjects": subject})
            else:
                self.cluster_roles.append(doc["metadata"]["name"])
                binding = f"{self.namespace}-{account}"
                self.rbac.create_cluster_role_binding({"metadata": {"name": binding}, "roleRef": ref,
                                                       "subjects": subject})
                self.cluster_bindings.append(binding)
        request = self.core.create_namespaced_service_account_token(
            account, self.namespace, {"spec": {"expirationSeconds": 3600}})
        return request.status.token

    def environment(self, token: str, home: Path) -> dict[str, str]:
        """What AWX's bearer-token credential sets, and no way to a kubeconfig."""
        return {"K8S_AUTH_HOST": self.server, "K8S_AUTH_API_KEY": token, "K8S_AUTH_SSL_CA_CERT": str(self.ca_file),
                "HOME": str(home), "KUBECONFIG": "", "INFERNO_KUBECONFIG": str(home / "no-such-kubeconfig")}

    def remove(self) -> None:
        for binding in self.cluster_bindings:
            self.rbac.delete_cluster_role_binding(binding)
        for role in set(self.cluster_roles):
            try:
                self.rbac.delete_cluster_role(role)
            except client.ApiException as error:
                if error.status != 404:
                    raise


def write_ca_file(cluster, ca_file: Path) -> Path:
    """The API server's CA, from the cluster's kubeconfig, as AWX's credential gives it (a file)."""
    kubeconfig = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    cluster_entry = kubeconfig["clusters"][0]["cluster"]
    if "certificate-authority-data" in cluster_entry:
        ca_file.write_bytes(base64.b64decode(cluster_entry["certificate-authority-data"]))
    else:
        ca_file.write_bytes(Path(cluster_entry["certificate-authority"]).read_bytes())
    return ca_file


@pytest.fixture
def accounts(local_cluster, namespace, installed, tmp_path):
    ca_file = write_ca_file(local_cluster, tmp_path / "ca.crt")
    made = ServiceAccounts(local_cluster, namespace, ca_file, installed / "ansible_collections/inferno/ops/files/rbac")
    yield made
    made.remove()


def test_each_playbook_runs_as_a_service_account_with_only_its_documented_role(local_cluster, namespace, installed,
                                                                              accounts, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    backups = tmp_path / "backups"
    tokens = {name: accounts.bind(name) for name in PLAYBOOKS}
    inventory = installed / "ansible_collections/inferno/ops/inventories/dev"
    common = ["-i", str(inventory), *ON_SIMULATED_NODES, "-e", f"inferno_namespace={namespace}",
              "-e", f"inferno_backups_dir={backups}"]
    outputs = []

    def run(name: str, *args: str, as_account: str | None = None):
        env = {**accounts.environment(tokens[as_account or name], home),
               "ANSIBLE_COLLECTIONS_PATH": str(installed), "ANSIBLE_CONFIG": ""}
        result = ansible_playbook(PLAYBOOKS[name], *common, *args, env=env, cwd=tmp_path)
        outputs.append(result.output)
        return result

    first_install = run("deploy")
    assert first_install.returncode == 0, first_install.output
    assert [(r["revision"], r["status"]) for r in history(local_cluster, namespace)] == [(1, "deployed")]

    backed_up = run("backup", "-e", "inferno_backup_id=first")
    assert backed_up.returncode == 0, backed_up.output
    assert (backups / "dev" / "inferno" / "first" / "snapshots.yaml").is_file()

    custom = client.CustomObjectsApi(local_cluster.api)
    pin_by_hand(local_cluster, namespace, "first", True)  # the pre-upgrade backup below passes it on

    # An upgrade with its pre-upgrade backup, as prod does by default.
    upgraded = run("deploy", "-e", "inferno_pre_upgrade_backup=true",
                   *extra_vars(inferno_values={"podAnnotations": {"inferno.ops/test": "upgraded"}}))
    assert upgraded.returncode == 0, upgraded.output
    assert [r["revision"] for r in history(local_cluster, namespace)] == [1, 2]
    assert "Backup pre-upgrade-r1-" in upgraded.output

    status = run("status")
    assert status.returncode == 0, status.output
    assert re.search(r"health\W+healthy", status.output) and re.search(r"\b2 +deployed ", status.output), status.output

    restored = run("restore", "-e", "inferno_restore_backup_id=first", "-e", "inferno_restore_mode=in_place",
                   "-e", "inferno_restore_confirm=inferno")
    assert restored.returncode == 0, restored.output
    assert restored.recap()["local-cluster"]["changed"] > 0
    assert re.search(r"kept in backup pre-restore-\d{14}", " ".join(restored.output.split())), restored.output

    # Issue 25, case 9: a backup taken with its secrets is restored with them, under the restore's
    # least RBAC (its Role could not write Secrets); a changed ConfigMap comes back with them.
    pin_by_hand(local_cluster, namespace, "first", False)  # the backup below passes the unpinning on
    core = client.CoreV1Api(local_cluster.api)
    original = core.read_namespaced_secret("inferno-secrets", namespace).data
    with_secrets = run("backup", "-e", "inferno_backup_id=with-secrets", "-e", "inferno_backup_include_secrets=true")
    assert with_secrets.returncode == 0, with_secrets.output
    core.patch_namespaced_secret("inferno-secrets", namespace,
                                 {"data": {key: base64.b64encode(b"rotated").decode() for key in original}})
    config = core.read_namespaced_config_map("inferno-config", namespace).data
    core.patch_namespaced_config_map("inferno-config", namespace,
                                     {"data": {key: "changed" for key in list(config)[:1]}})
    secrets_back = run("restore", "-e", "inferno_restore_backup_id=with-secrets", "-e", "inferno_restore_volumes=false")
    assert secrets_back.returncode == 0, secrets_back.output
    assert core.read_namespaced_secret("inferno-secrets", namespace).data == original
    assert core.read_namespaced_config_map("inferno-config", namespace).data == config

    def backups_left() -> set[str]:
        left = custom.list_namespaced_custom_object("snapshot.storage.k8s.io", "v1", namespace, "volumesnapshots")
        return {item["metadata"]["labels"]["inferno.ops/backup-id"] for item in left["items"]}

    # "first" pinned (by hand: the prune passes it on): retention keeps it beside the newest;
    # unpinned with pin_backup.yml: it goes. The restore held and released it.
    pin_by_hand(local_cluster, namespace, "first", True)
    pruned = run("prune", "-e", "inferno_backup_keep_last=1")
    assert pruned.returncode == 0, pruned.output
    assert backups_left() == {"first", "with-secrets"}, backups_left()
    marked = custom.list_namespaced_custom_object("snapshot.storage.k8s.io", "v1", namespace, "volumesnapshots",
                                                  label_selector="inferno.ops/backup-id=first")["items"]
    assert {item["metadata"]["annotations"].get("inferno.ops/pin-on-content") for item in marked} == {"true"}
    unpinned = run("pin", "-e", "inferno_backup_id=first", "-e", "inferno_backup_pin=false")
    assert unpinned.returncode == 0, unpinned.output
    pruned = run("prune", "-e", "inferno_backup_keep_last=1")
    assert pruned.returncode == 0, pruned.output
    assert backups_left() == {"with-secrets"}  # the newest; "first" went

    used = audited_verbs(local_cluster.control_plane.layout.audit_log, namespace)

    # The bindings are what limits each run: the status account cannot deploy, and says why
    # before anything changes.
    refused = run("deploy", *extra_vars(inferno_values={"replicaCount": 2}), as_account="status")
    assert refused.returncode != 0
    assert f'User "system:serviceaccount:{namespace}:status-runner" cannot' in refused.output
    assert [r["revision"] for r in history(local_cluster, namespace)] == [1, 2]

    for output in outputs:
        for token in tokens.values():
            assert token not in output

    # Issue 25, case 9: each file grants exactly what its playbook asked the API server for in
    # these runs, as the audit log recorded it (before the status account's refused deploy).
    expected = {name: expected_verbs(name, used.get(f"{name}-runner", {})) for name in PLAYBOOKS}
    differences = [rbac_difference(name, granted_verbs(name), expected[name]) for name in PLAYBOOKS
                   if granted_verbs(name) != expected[name]]
    assert not differences, "\n".join(differences)
    bind = [rule for doc in documents("deploy") for rule in doc["rules"] if "bind" in rule["verbs"]]
    assert bind == [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "resourceNames": ["inferno"],
                     "verbs": ["bind"]}]  # not any Role of the namespace
    for name, verbs in UNOBSERVED.items():  # an entry the runs do show belongs to what they use
        seen = {(kind, *verb) for kind, found in used.get(f"{name}-runner", {}).items() for verb in found}
        assert not seen & set(verbs), (name, seen & set(verbs))
