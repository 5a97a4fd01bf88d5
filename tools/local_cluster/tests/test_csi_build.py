"""The wrapper go.mod for the CSI sidecars, and the driver's cache key (no Go needed)."""

from __future__ import annotations

import pytest

from tools.local_cluster import build, csi_build

SNAPSHOTTER_GOMOD = """module github.com/kubernetes-csi/external-snapshotter/v8

go 1.26.0

godebug default=go1.26

require (
\tgithub.com/kubernetes-csi/external-snapshotter/client/v8 v8.2.0
\tk8s.io/api v0.37.0 // indirect
)

replace github.com/kubernetes-csi/external-snapshotter/client/v8 => ./client

replace k8s.io/kubelet => k8s.io/kubelet v0.37.0

replace (
\tk8s.io/kms v0.1.0 => k8s.io/kms v0.37.0 // a comment
)
"""


def test_the_wrapper_repeats_go_godebug_and_replaces_and_maps_the_modules_own_folder():
    gomod = csi_build.wrapper_gomod(csi_build.EXTERNAL_SNAPSHOTTER, SNAPSHOTTER_GOMOD)
    lines = [line.strip() for line in gomod.splitlines()]
    assert "module inferno-ops.local/external-snapshotter" in lines
    assert "go 1.26.0" in lines and "godebug default=go1.26" in lines
    assert f"require github.com/kubernetes-csi/external-snapshotter/v8 {csi_build.EXTERNAL_SNAPSHOTTER.version}" in lines
    assert ("github.com/kubernetes-csi/external-snapshotter/client/v8 => "
            f"github.com/kubernetes-csi/external-snapshotter/client/v8 {csi_build.EXTERNAL_SNAPSHOTTER.version}") in lines
    assert "k8s.io/kubelet => k8s.io/kubelet v0.37.0" in lines
    assert "k8s.io/kms v0.1.0 => k8s.io/kms v0.37.0" in lines
    assert not any("./" in line for line in lines)


def test_an_unknown_folder_replace_is_refused_naming_it():
    sidecar = csi_build.Sidecar("example.com/x/v2", "v2.0.0", ("x",))
    with pytest.raises(build.BuildError, match=r"replaces example.com/y with its folder \./y"):
        csi_build.wrapper_gomod(sidecar, "module example.com/x/v2\n\ngo 1.24\n\nreplace example.com/y => ./y\n")


def test_the_snapshot_crds_and_the_snapshotter_are_one_version():
    assert csi_build.EXTERNAL_SNAPSHOTTER.version == build.EXTERNAL_SNAPSHOTTER_CLIENT_VERSION


def test_the_driver_key_follows_its_sources_but_not_its_tests(tmp_path, monkeypatch):
    for name, text in {"go.mod": "module m\n", "main.go": "package main\n", "main_test.go": "package main\n"}.items():
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(csi_build, "DRIVER_DIR", tmp_path)
    key = csi_build.driver_key()
    (tmp_path / "main_test.go").write_text("package main\n// changed\n")
    assert csi_build.driver_key() == key
    (tmp_path / "main.go").write_text("package main\n// changed\n")
    assert csi_build.driver_key() != key


def test_a_registration_socket_path_too_long_for_unix_is_refused_naming_the_fix():
    from pathlib import Path

    from tools.local_cluster import csi

    short = csi.CsiLayout(Path("/tmp/c"), Path("/tmp/c/node"), Path("/tmp/c/node/kubelet"), Path("/run/x"))
    assert short.socket_problem() is None
    deep = Path("/tmp/" + "d" * 60)
    long = csi.CsiLayout(deep, deep / "node", deep / "node" / "kubelet", Path("/run/x"))
    assert "at most 107" in long.socket_problem() and "INFERNO_LOCAL_CLUSTER_DIR" in long.socket_problem()
