"""Cached build of the local cluster's CSI machinery.

* The Kubernetes CSI sidecars, from the Go module proxy:
  external-snapshotter's ``snapshot-controller`` and ``csi-snapshotter``, and
  external-provisioner's ``csi-provisioner``. Both modules pin their Kubernetes libraries
  with ``replace`` directives, which ``go install mod@version`` refuses, so each is built in
  a throw-away wrapper module whose go.mod requires it and repeats its replaces (a replace
  to a folder of the module itself, like external-snapshotter's ``./client``, becomes that
  module at the same version).
* The host-path CSI driver of ``csi_hostpath/`` (our own Go module), built from the
  working tree.

Cache layout (``CACHE_ROOT`` as in build.py)::

    CACHE_ROOT/bin/csi-sidecars-<versions>/{snapshot-controller,csi-snapshotter,csi-provisioner,.complete}
    CACHE_ROOT/bin/csi-hostpath-<digest of its sources>/{csi-hostpath,.complete}

Usage, from the repository root::

    python -m tools.local_cluster.csi_build      # build if needed, print paths as JSON
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import build

DRIVER_DIR = Path(__file__).resolve().parent / "csi_hostpath"
DRIVER_BINARY = "csi-hostpath"
# The driver's name in the cluster: CSIDriver, StorageClass, VolumeSnapshotClass, PVs.
DRIVER_NAME = "hostpath.csi.inferno.ops"


@dataclasses.dataclass(frozen=True)
class Sidecar:
    """One Go module whose commands are built in a wrapper module (the CSI sidecars; also
    SeaweedFS for tools/s3_server)."""

    module: str
    version: str
    commands: tuple[str, ...]
    # Replaces that point into the module's own tree, mapped to the module that folder is.
    local_replaces: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # The folder of the commands' main packages inside the module ("" for its root).
    package_dir: str = "cmd"

    def packages(self) -> list[str]:
        return ["/".join(part for part in (self.module, self.package_dir, command) if part)
                for command in self.commands]


EXTERNAL_SNAPSHOTTER = Sidecar(
    "github.com/kubernetes-csi/external-snapshotter/v8", build.EXTERNAL_SNAPSHOTTER_CLIENT_VERSION,
    ("snapshot-controller", "csi-snapshotter"), {"./client": build.EXTERNAL_SNAPSHOTTER_CLIENT})
EXTERNAL_PROVISIONER = Sidecar("github.com/kubernetes-csi/external-provisioner/v5", "v5.3.0", ("csi-provisioner",))
SIDECARS = (EXTERNAL_SNAPSHOTTER, EXTERNAL_PROVISIONER)

REPLACE_RE = re.compile(r"^\s*(?:replace\s+)?(\S+)(\s+v\S+)?\s+=>\s+(\S+)(\s+v\S+)?\s*$")


@dataclasses.dataclass(frozen=True)
class CsiPaths:
    """Where the built CSI machinery lives."""

    snapshot_controller: Path
    csi_snapshotter: Path
    csi_provisioner: Path
    csi_hostpath: Path

    def binaries(self) -> tuple[Path, ...]:
        return (self.snapshot_controller, self.csi_snapshotter, self.csi_provisioner, self.csi_hostpath)


def sidecars_key() -> str:
    return "csi-sidecars-" + "-".join(f"{s.module.split('/')[-2]}-{s.version}" for s in SIDECARS)


def driver_sources() -> list[Path]:
    """The files the driver binary is built from (tests excluded)."""
    return sorted(path for path in DRIVER_DIR.iterdir()
                  if path.name in ("go.mod", "go.sum") or (path.suffix == ".go" and not path.name.endswith("_test.go")))


def driver_key() -> str:
    digest = hashlib.sha256()
    for path in driver_sources():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"csi-hostpath-{digest.hexdigest()[:16]}"


def planned_paths(root: Path | None = None) -> CsiPaths:
    root = root or build.cache_root()
    sidecars, driver = root / "bin" / sidecars_key(), root / "bin" / driver_key()
    return CsiPaths(sidecars / "snapshot-controller", sidecars / "csi-snapshotter", sidecars / "csi-provisioner",
                    driver / DRIVER_BINARY)


def is_complete(folder: Path, binaries: Sequence[Path]) -> bool:
    return (folder / build.STAMP_NAME).is_file() and all(path.is_file() for path in binaries)


# --- The wrapper module -----------------------------------------------------


def wrapper_gomod(sidecar: Sidecar, gomod_text: str) -> str:
    """A go.mod that requires the sidecar module and repeats its go directive, godebug lines and replaces."""
    go = re.search(r"^go\s+(\S+)\s*$", gomod_text, re.MULTILINE)
    if not go:
        raise build.BuildError(f"no go directive in the go.mod of {sidecar.module}@{sidecar.version}")
    replaces = []
    for line in gomod_text.splitlines():
        match = REPLACE_RE.match(line.split("//", 1)[0]) if "=>" in line else None
        if not match:
            continue
        old, old_version, new, new_version = match.groups()
        if new.startswith(("./", "../")):
            if new not in sidecar.local_replaces:
                raise build.BuildError(f"{sidecar.module}@{sidecar.version} replaces {old} with its folder {new}; "
                                       "add that folder's module to local_replaces")
            new, new_version = sidecar.local_replaces[new], f" {sidecar.version}"
        replaces.append(f"\t{old}{old_version or ''} => {new}{new_version or ''}")
    name = sidecar.module.split("/")[-2]
    return "\n".join([
        f"// Wrapper that builds {sidecar.module} {sidecar.version}; written by tools/local_cluster/csi_build.py.",
        f"module inferno-ops.local/{name}", "", f"go {go.group(1)}", "",
        *[line for line in gomod_text.splitlines() if line.startswith("godebug")], "",
        f"require {sidecar.module} {sidecar.version}", "",
        "replace (", *replaces, ")", "",
    ])


def build_sidecar(sidecar: Sidecar, workdir: Path, bin_dir: Path, progress: build.Progress) -> None:
    info = build.module_download(sidecar.module, sidecar.version)
    workdir.mkdir(parents=True)
    (workdir / "go.mod").write_text(wrapper_gomod(sidecar, Path(info["GoMod"]).read_text(encoding="utf-8")),
                                    encoding="utf-8")
    packages = sidecar.packages()
    progress(f"go build {', '.join(sidecar.commands)} ({sidecar.module}@{sidecar.version})")
    build.run(["go", "get", *[f"{package}@{sidecar.version}" for package in packages]], progress, cwd=workdir,
              env=build.go_env())
    build.run(["go", "build", "-trimpath", "-buildvcs=false", "-ldflags", f"-s -w -X main.version={sidecar.version}",
               "-o", f"{bin_dir}/", *packages], progress, cwd=workdir, env=build.go_env())


def build_sidecars(paths: CsiPaths, progress: build.Progress) -> None:
    build_modules(SIDECARS, paths.snapshot_controller.parent, progress)


def build_modules(modules: Sequence[Sidecar], bin_dir: Path, progress: build.Progress) -> None:
    """Build every module's commands into a fresh ``bin_dir``, each in its own wrapper module, then stamp it."""
    shutil.rmtree(bin_dir, ignore_errors=True)
    bin_dir.mkdir(parents=True)
    workdir = Path(tempfile.mkdtemp(prefix="inferno-ops-gowrap-"))
    try:
        for module in modules:
            build_sidecar(module, workdir / module.module.split("/")[-2], bin_dir, progress)
    except BaseException:
        progress(f"build of {', '.join(m.module for m in modules)} failed; the work dir is kept at {workdir}")
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    write_stamp(bin_dir, {m.module: m.version for m in modules}, progress)


def build_driver(paths: CsiPaths, progress: build.Progress) -> None:
    bin_dir = paths.csi_hostpath.parent
    shutil.rmtree(bin_dir, ignore_errors=True)
    bin_dir.mkdir(parents=True)
    progress(f"go build the host-path CSI driver ({DRIVER_DIR.name})")
    build.run(["go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", str(paths.csi_hostpath), "."],
              progress, cwd=DRIVER_DIR, env=build.go_env())
    write_stamp(bin_dir, {"driver": driver_key()}, progress)


def write_stamp(bin_dir: Path, record: dict, progress: build.Progress) -> None:
    stamp = {**record, "go": build.go_output(["env", "GOVERSION"]).strip(), "build_seconds": round(progress.elapsed(), 1)}
    (bin_dir / build.STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")


def ensure_built() -> CsiPaths:
    """Return the cached CSI binaries, building what is missing first."""
    paths = planned_paths()
    sidecars = (paths.snapshot_controller, paths.csi_snapshotter, paths.csi_provisioner)
    if is_complete(sidecars[0].parent, sidecars) and is_complete(paths.csi_hostpath.parent, (paths.csi_hostpath,)):
        return paths
    root = build.cache_root()
    progress = build.Progress()
    build.check_prerequisites(root)
    with build.build_lock(root):
        if not is_complete(sidecars[0].parent, sidecars):
            build_sidecars(paths, progress)
        if not is_complete(paths.csi_hostpath.parent, (paths.csi_hostpath,)):
            build_driver(paths, progress)
    return paths


def main() -> int:
    try:
        paths = ensure_built()
    except build.BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({key: str(value) for key, value in dataclasses.asdict(paths).items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
