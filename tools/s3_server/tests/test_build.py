"""The weed build's wrapper module and cache key (no Go needed)."""

from __future__ import annotations

from tools.local_cluster import csi_build
from tools.s3_server import build


def test_weed_is_the_modules_weed_package_and_its_cache_folder_names_the_version(tmp_path):
    assert build.SEAWEEDFS.packages() == ["github.com/seaweedfs/seaweedfs/weed"]
    assert build.binary_path(tmp_path) == tmp_path / "bin" / f"seaweedfs-{build.VERSION}" / "weed"


def test_the_wrapper_repeats_seaweedfs_replace():
    gomod = ("module github.com/seaweedfs/seaweedfs\n\ngo 1.26.6\n\n"
             "// replace github.com/seaweedfs/raft => /Users/x/raft\n\n"
             "replace github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0\n")
    lines = [line.strip() for line in csi_build.wrapper_gomod(build.SEAWEEDFS, gomod).splitlines()]
    assert f"require github.com/seaweedfs/seaweedfs {build.VERSION}" in lines and "go 1.26.6" in lines
    assert "github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0" in lines
    assert not any("raft" in line for line in lines)
