"""Cached build of SeaweedFS's ``weed`` binary, the S3 server of the tests.

``github.com/seaweedfs/seaweedfs``'s go.mod has a replace directive, which
``go install mod@version`` refuses, so it is built in a throw-away wrapper module by the
same code that builds the CSI sidecars (tools/local_cluster/csi_build.py): CGO off,
``-trimpath``, ``-ldflags=-s -w``, GOMODCACHE and GOCACHE at Go's defaults.

Cache layout (``CACHE_ROOT`` as in tools/local_cluster/build.py)::

    CACHE_ROOT/bin/seaweedfs-<version>/{weed,.complete}

Usage, from the repository root::

    python -m tools.s3_server.build     # build if needed, print the binary's path
"""

from __future__ import annotations

import sys
from pathlib import Path

from tools.local_cluster import build, csi_build

SEAWEEDFS = csi_build.Sidecar("github.com/seaweedfs/seaweedfs", "v0.0.0-20261109003541-7506e5f91cd6", ("weed",),
                              package_dir="")
VERSION = SEAWEEDFS.version


def binary_path(root: Path | None = None) -> Path:
    """Where the cached ``weed`` is (or will be)."""
    return (root or build.cache_root()) / "bin" / f"seaweedfs-{VERSION}" / "weed"


def is_built() -> bool:
    path = binary_path()
    return csi_build.is_complete(path.parent, (path,))


def ensure_built() -> Path:
    """Return the cached ``weed``, building it first (about 15 minutes on 2 cores) when missing."""
    path = binary_path()
    if is_built():
        return path
    root = build.cache_root()
    progress = build.Progress("s3-server build")
    build.check_prerequisites(root)
    with build.build_lock(root):
        if not is_built():  # another process may have built it while we waited
            progress(f"building weed ({SEAWEEDFS.module}@{VERSION}) into {path.parent}")
            csi_build.build_modules((SEAWEEDFS,), path.parent, progress)
            progress(f"done: {path}")
    return path


def main() -> int:
    try:
        print(ensure_built())
    except build.BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
