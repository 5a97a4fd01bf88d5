"""inferno.ops.cluster_info run through its main(), on a fake dynamic client.

The module reads four paths (and a namespace) with ``kube_client.get_json``; the fake client
(``fake_dynamic``, from conftest.py) serves them as JSON documents and records each request.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from urllib3.exceptions import MaxRetryError

from ansible_collections.inferno.ops.plugins.modules import cluster_info

COLLECTION = Path(cluster_info.__file__).resolve().parents[2]
NAMESPACE_PATH = "/api/v1/namespaces/inferno-prod"
READS = ["/apis/storage.k8s.io/v1/storageclasses", "/version", "/api", "/apis"]


def storage_class(name, *default_annotations):
    return {"metadata": {"name": name, "annotations": dict((key, "true") for key in default_annotations)}}


@pytest.fixture
def dynamic(fake_dynamic, monkeypatch):
    fake_dynamic.documents.update({
        "/version": {"major": "1", "minor": "34", "gitVersion": "v1.34.4-gke.1200+abc"},
        "/api": {"kind": "APIVersions", "versions": ["v1"]},
        "/apis": {"kind": "APIGroupList", "groups": [
            {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}]},
            {"name": "snapshot.storage.k8s.io", "versions": [
                {"groupVersion": "snapshot.storage.k8s.io/v1", "version": "v1"},
                {"groupVersion": "snapshot.storage.k8s.io/v1beta1", "version": "v1beta1"}]},
            {"name": "autoscaling", "versions": [{"groupVersion": "autoscaling/v2", "version": "v2"},
                                                 {"groupVersion": "autoscaling/v1", "version": "v1"}]},
        ]},
        "/apis/storage.k8s.io/v1/storageclasses": {"items": [
            storage_class("standard", "storageclass.kubernetes.io/is-default-class"),
            storage_class("fast"),
            storage_class("legacy", "storageclass.beta.kubernetes.io/is-default-class"),
        ]},
        NAMESPACE_PATH: {"metadata": {"name": "inferno-prod", "labels": {"team": "ml"}}},
    })
    monkeypatch.setattr(cluster_info, "dynamic_client", fake_dynamic.built_for)
    return fake_dynamic


@pytest.fixture
def run(run_module):
    return lambda check_mode=False, **args: run_module(cluster_info.main, args, check_mode=check_mode)


@pytest.fixture
def fail(fail_module):
    return lambda **args: fail_module(cluster_info.main, args)


CLUSTER = {
    "changed": False,
    "kubernetes_version": "1.34.4",
    "api_versions": ["apps/v1", "autoscaling/v1", "autoscaling/v2", "snapshot.storage.k8s.io/v1",
                     "snapshot.storage.k8s.io/v1beta1", "v1"],
    "storage_classes": ["fast", "legacy", "standard"],
    "default_storage_classes": ["legacy", "standard"],
}


@pytest.mark.parametrize("check_mode", [False, True])
def test_four_reads_without_a_namespace(run, dynamic, check_mode):
    assert run(check_mode=check_mode) == CLUSTER
    assert sorted(dynamic.paths()) == sorted(READS)
    assert all(query == {} for _path, query in dynamic.requests)


def test_a_namespace_that_exists(run, dynamic):
    result = run(namespace="inferno-prod")
    assert result == dict(CLUSTER, namespace={"name": "inferno-prod", "exists": True, "labels": {"team": "ml"}})
    assert sorted(dynamic.paths()) == sorted(READS + [NAMESPACE_PATH])


def test_a_namespace_without_labels(run, dynamic):
    dynamic.documents[NAMESPACE_PATH] = {"metadata": {"name": "inferno-prod"}}
    assert run(namespace="inferno-prod")["namespace"] == {"name": "inferno-prod", "exists": True, "labels": {}}


def test_a_namespace_that_does_not_exist_is_no_failure(run, dynamic):
    del dynamic.documents[NAMESPACE_PATH]
    result = run(namespace="inferno-prod")
    assert result["namespace"] == {"name": "inferno-prod", "exists": False, "labels": {}}
    assert result["storage_classes"] == CLUSTER["storage_classes"]


def test_a_cluster_without_storage_classes(run, dynamic):
    dynamic.documents["/apis/storage.k8s.io/v1/storageclasses"] = {"items": None}
    result = run()
    assert (result["storage_classes"], result["default_storage_classes"]) == ([], [])


@pytest.mark.parametrize("path", READS + [NAMESPACE_PATH])
def test_a_refused_read_fails_with_the_server_s_message(fail, dynamic, path):
    dynamic.refuse(path, 403, 'namespaces "inferno-prod" is forbidden: User "ci" cannot get resource "namespaces"')
    assert fail(namespace="inferno-prod")["msg"] == (
        'The Kubernetes API refused a request: namespaces "inferno-prod" is forbidden: User "ci" cannot get resource '
        '"namespaces"')


def test_an_unreachable_server_fails_with_the_connection_error(fail, dynamic):
    dynamic.errors["/apis/storage.k8s.io/v1/storageclasses"] = MaxRetryError(None, "/apis", "connection refused")
    message = fail()["msg"]
    assert message.startswith("Cannot reach the Kubernetes API: ") and "connection refused" in message


def test_the_client_is_built_from_the_connection_options(run, dynamic):
    run(context="prod-eu", kubeconfig="/home/ops/.kube/prod.yaml", validate_certs=False)
    [module] = dynamic.modules
    assert (module.params["context"], module.params["kubeconfig"], module.params["validate_certs"]) == (
        "prod-eu", "/home/ops/.kube/prod.yaml", False)


def test_an_unknown_option_is_refused_before_any_request(fail, dynamic):
    assert "Unsupported parameters for" in fail(release_namespace="inferno-prod")["msg"]
    assert dynamic.requests == []


def test_the_old_name_cluster_facts_is_redirected_here_with_a_deprecation():
    runtime = yaml.safe_load((COLLECTION / "meta" / "runtime.yml").read_text())
    routing = runtime["plugin_routing"]["modules"]["cluster_facts"]
    assert routing["redirect"] == "inferno.ops.cluster_info"
    assert routing["deprecation"]["removal_version"] == "1.0.0"
    assert "inferno.ops.cluster_info" in routing["deprecation"]["warning_text"]
    assert (COLLECTION / "plugins" / "modules" / "cluster_info.py").is_file()
    assert not (COLLECTION / "plugins" / "modules" / "cluster_facts.py").exists()
    assert "cluster_info" in runtime["action_groups"]["k8s"]
