"""Pure logic of the local cluster tooling: go.mod rewriting, version flags, quantities."""

from __future__ import annotations

import pytest

from tools.local_cluster import build
from tools.local_cluster.snapshots import quantity_bytes

K8S_GOMOD = """module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
\tgo.etcd.io/etcd/server/v3 v3.6.4
\tk8s.io/api v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go // a comment
\tgithub.com/some/fork => github.com/other/fork v1.2.3
)
"""


def test_staging_modules_are_read_from_the_replace_block():
    assert build.staging_modules(K8S_GOMOD) == ["k8s.io/api", "k8s.io/client-go"]


def test_a_gomod_without_staging_replaces_is_an_error():
    with pytest.raises(build.BuildError, match="no staging replaces"):
        build.staging_modules("module x\n\ngo 1.24\n")


def test_wrapper_gomod_replaces_each_staging_module_with_its_published_tag():
    gomod = build.render_gomod(K8S_GOMOD)
    assert f"k8s.io/api => k8s.io/api v0.{build.KUBERNETES_VERSION[3:]}" in gomod
    assert f"k8s.io/client-go => k8s.io/client-go v0.{build.KUBERNETES_VERSION[3:]}" in gomod
    assert "github.com/some/fork" not in gomod
    assert "godebug default=go1.24" in gomod
    assert f"k8s.io/kubernetes {build.KUBERNETES_VERSION}" in gomod


def test_etcd_pin_must_match_what_kubernetes_requires():
    build.check_etcd_pin(K8S_GOMOD.replace("v3.6.4", build.ETCD_VERSION))
    with pytest.raises(build.BuildError, match="requires go.etcd.io/etcd/server/v3 v9.9.9"):
        build.check_etcd_pin(K8S_GOMOD.replace("v3.6.4", "v9.9.9"))


def test_version_flags_stamp_both_version_packages():
    flags = build.version_ldflags("2026-01-01T00:00:00Z")
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X '{package}.gitVersion={build.KUBERNETES_VERSION}'" in flags
        assert f"-X '{package}.gitMinor={build.KUBERNETES_VERSION.split('.')[1]}'" in flags


@pytest.mark.parametrize("quantity, expected", [
    ("10Gi", 10 * 2**30), ("512Mi", 512 * 2**20), ("1.5Gi", int(1.5 * 2**30)), ("2G", 2 * 10**9), ("1024", 1024),
])
def test_quantity_bytes(quantity, expected):
    assert quantity_bytes(quantity) == expected
