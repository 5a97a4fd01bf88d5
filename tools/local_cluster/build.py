"""Cached, reproducible build of the local Kubernetes control plane binaries.

The binaries come from the Go module proxy, not from release downloads:

* kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and etcd are
  built with one ``go build`` in a throw-away copy of ``gowrapper/``. Its go.mod
  requires ``k8s.io/kubernetes`` and replaces every staging module
  ``k8s.io/X`` with its ``v0.MINOR.PATCH`` tag (the list is read from the real
  k8s go.mod). etcd is the two-line ``etcdmain`` main at the version that
  k8s.io/kubernetes itself requires.
* kubelet and kube-proxy, for the real node, come from the same ``go build`` with the
  same version stamping.
* kwok, metrics-server, local-path-provisioner and crictl are installed with ``go install``
  each on its own, so that their newer k8s libraries do not raise the versions used
  for the control plane.

Cache layout (``CACHE_ROOT`` = ``${XDG_CACHE_HOME:-~/.cache}/inferno-ops/cluster``)::

    CACHE_ROOT/bin/<key>/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl,kubelet,kube-proxy,
                          etcd,kwok,metrics-server,local-path-provisioner,crictl}
    CACHE_ROOT/bin/<key>/.complete            stamp, written last
    CACHE_ROOT/share/<key>/kwok-stages/...    kwok stage YAMLs, same relative paths as
                                              kustomize/stage/ in the kwok module
    CACHE_ROOT/share/<key>/crds/...           VolumeSnapshot CRDs (external-snapshotter client)

``<key>`` names every pinned version (see build_key()), so
changing any pin builds into a fresh directory. GOMODCACHE and GOCACHE are left
at Go's defaults, so a rebuild on the same machine reuses downloads and objects.

Usage, from the repository root::

    python -m tools.local_cluster.build                  # build if needed, print paths as JSON
    python -m tools.local_cluster.build --print-versions # print the pins as JSON
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import fcntl
import json
import os
import re
import shutil
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

# --- Pinned versions --------------------------------------------------------

KUBERNETES_VERSION = "v1.34.4"
KWOK_VERSION = "v0.8.0"
# Must equal the go.etcd.io/etcd/server/v3 requirement in k8s.io/kubernetes's go.mod
# at KUBERNETES_VERSION; the build checks this and stops if they differ. It is a
# constant (not looked up) so that ensure_built() needs no Go when the cache is warm.
ETCD_VERSION = "v3.6.4"
# The real node's add-ons, each a `go install` of its own (no replace directives in their go.mod).
METRICS_SERVER_VERSION = "v0.9.0"
LOCAL_PATH_PROVISIONER_VERSION = "v0.0.30"
CRICTL_VERSION = "v1.34.0"  # cri-tools follows the Kubernetes minor version
EXTERNAL_SNAPSHOTTER_CLIENT = "github.com/kubernetes-csi/external-snapshotter/client/v8"
EXTERNAL_SNAPSHOTTER_CLIENT_VERSION = "v8.7.0"

KUBERNETES_MODULE = "k8s.io/kubernetes"
ETCD_SERVER_MODULE = "go.etcd.io/etcd/server/v3"
KWOK_MODULE = "sigs.k8s.io/kwok"
KWOK_PACKAGE = "sigs.k8s.io/kwok/cmd/kwok"
METRICS_SERVER_PACKAGE = "sigs.k8s.io/metrics-server/cmd/metrics-server"
LOCAL_PATH_PROVISIONER_PACKAGE = "github.com/rancher/local-path-provisioner"
CRICTL_PACKAGE = "sigs.k8s.io/cri-tools/cmd/crictl"
# Programs installed with `go install <package>@<version>`, outside the wrapper module.
GO_INSTALLS = (
    (KWOK_PACKAGE, KWOK_VERSION),
    (METRICS_SERVER_PACKAGE, METRICS_SERVER_VERSION),
    (LOCAL_PATH_PROVISIONER_PACKAGE, LOCAL_PATH_PROVISIONER_VERSION),
    (CRICTL_PACKAGE, CRICTL_VERSION),
)

# k8s 1.33/1.34 need go >= 1.24; kwok v0.8.0's go.mod says go 1.26.0, which Go
# fetches by itself (through the module proxy) unless GOTOOLCHAIN=local.
MIN_GO = (1, 24)
KWOK_MIN_GO = (1, 26)
# Module downloads (~1 GiB), build cache (a few GiB) and the binaries (~0.5 GiB).
MIN_FREE_BYTES = 6 * 1024**3

# The build tags of hack/lib/golang.sh; none of them is required for correctness.
BUILD_TAGS = "selinux,notest,grpcnotrace"
KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubelet", "kube-proxy")
# The module proxy does not record the commit a tag points at, so gitCommit cannot be the real SHA.
GIT_COMMIT = "unknown"

# kwok stage directories to copy (relative to kustomize/stage/ in the kwok module).
# kwok v0.8.0 has no built-in stages: these must be passed with --config.
KWOK_STAGE_DIRS = (
    "node/fast",
    "node/heartbeat",
    "node/heartbeat-with-lease",
    "pod/fast",
    "volume/fast",
    "volume/rbac",
)
# The stages that kwok <= v0.7 used by default (kustomize/stage/fast bundles the same set).
KWOK_DEFAULT_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)
SNAPSHOT_CRDS = (
    "snapshot.storage.k8s.io_volumesnapshotclasses.yaml",
    "snapshot.storage.k8s.io_volumesnapshotcontents.yaml",
    "snapshot.storage.k8s.io_volumesnapshots.yaml",
)

STAMP_NAME = ".complete"
GOWRAPPER_DIR = Path(__file__).resolve().parent / "gowrapper"
STAGING_REPLACE_RE = re.compile(r"^\s*(k8s\.io/[\w.\-/]+)\s+=>\s+\./staging/src/(k8s\.io/[\w.\-/]+)\s*$")
HEARTBEAT_SECONDS = 60.0


class BuildError(RuntimeError):
    """A prerequisite is missing or a build step failed; the message says how to fix it."""


@dataclasses.dataclass(frozen=True)
class Paths:
    """Where the built control plane lives."""

    bin_dir: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    kubelet: Path
    kube_proxy: Path
    etcd: Path
    kwok: Path
    metrics_server: Path
    local_path_provisioner: Path
    crictl: Path
    stages_dir: Path
    crd_dir: Path

    @property
    def default_stages(self) -> tuple[Path, ...]:
        """The node and pod stage files that older kwok releases applied by default."""
        return tuple(self.stages_dir / rel for rel in KWOK_DEFAULT_STAGES)

    @property
    def snapshot_crds(self) -> tuple[Path, ...]:
        """The three VolumeSnapshot CRD files."""
        return tuple(self.crd_dir / name for name in SNAPSHOT_CRDS)

    def binaries(self) -> tuple[Path, ...]:
        """Every binary path."""
        return (self.kube_apiserver, self.kube_controller_manager, self.kube_scheduler, self.kubectl, self.kubelet,
                self.kube_proxy, self.etcd, self.kwok, self.metrics_server, self.local_path_provisioner, self.crictl)

    def to_json(self) -> dict[str, object]:
        """A JSON-friendly view, including the convenience lists."""
        data: dict[str, object] = {key: str(value) for key, value in dataclasses.asdict(self).items()}
        data["default_stages"] = [str(path) for path in self.default_stages]
        data["snapshot_crds"] = [str(path) for path in self.snapshot_crds]
        return data


# --- Paths and keys ---------------------------------------------------------


def cache_root() -> Path:
    """Return ``${XDG_CACHE_HOME:-~/.cache}/inferno-ops/cluster``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "inferno-ops" / "cluster"


def build_key() -> str:
    """Return the cache key; it changes whenever any pinned version changes."""
    return (f"{KUBERNETES_VERSION}-kwok-{KWOK_VERSION}-etcd-{ETCD_VERSION}"
            f"-node-ms-{METRICS_SERVER_VERSION}-lpp-{LOCAL_PATH_PROVISIONER_VERSION}-crictl-{CRICTL_VERSION}")


def planned_paths(root: Path | None = None) -> Paths:
    """Return the paths a complete build has, whether or not it exists yet."""
    root = root or cache_root()
    bin_dir = root / "bin" / build_key()
    share = root / "share" / build_key()
    return Paths(
        bin_dir=bin_dir,
        kube_apiserver=bin_dir / "kube-apiserver",
        kube_controller_manager=bin_dir / "kube-controller-manager",
        kube_scheduler=bin_dir / "kube-scheduler",
        kubectl=bin_dir / "kubectl",
        kubelet=bin_dir / "kubelet",
        kube_proxy=bin_dir / "kube-proxy",
        etcd=bin_dir / "etcd",
        kwok=bin_dir / "kwok",
        metrics_server=bin_dir / "metrics-server",
        local_path_provisioner=bin_dir / "local-path-provisioner",
        crictl=bin_dir / "crictl",
        stages_dir=share / "kwok-stages",
        crd_dir=share / "crds",
    )


def versions() -> dict[str, str]:
    """Return the pinned versions and the cache key."""
    return {
        "kubernetes": KUBERNETES_VERSION,
        "kwok": KWOK_VERSION,
        "etcd": ETCD_VERSION,
        "metrics_server": METRICS_SERVER_VERSION,
        "local_path_provisioner": LOCAL_PATH_PROVISIONER_VERSION,
        "crictl": CRICTL_VERSION,
        "external_snapshotter_client": f"{EXTERNAL_SNAPSHOTTER_CLIENT}@{EXTERNAL_SNAPSHOTTER_CLIENT_VERSION}",
        "key": build_key(),
        "cache_root": str(cache_root()),
    }


def is_complete(paths: Paths) -> bool:
    """True when the stamp and every binary exist (the stamp is written last)."""
    return (paths.bin_dir / STAMP_NAME).is_file() and all(path.is_file() for path in paths.binaries())


# --- Progress and subprocesses ----------------------------------------------


class Progress:
    """Print progress lines with the elapsed time to stderr."""

    def __init__(self, label: str = "local-cluster build") -> None:
        self.start = time.monotonic()
        self.label = label

    def elapsed(self) -> float:
        """Seconds since the build started."""
        return time.monotonic() - self.start

    def __call__(self, message: str) -> None:
        print(f"[{self.label} +{self.elapsed():7.1f}s] {message}", file=sys.stderr, flush=True)


def go_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment for Go commands: no cgo, no go.work, caches at Go's defaults."""
    env = dict(os.environ)
    env.update({"CGO_ENABLED": "0", "GOWORK": "off"})
    env.update(extra or {})
    return env


def run(
    args: Sequence[str],
    progress: Progress,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
) -> str:
    """Run a command, printing a heartbeat every minute; return stdout when ``capture``."""
    process = subprocess.Popen(
        list(args),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE if capture else sys.stderr,
        text=True,
    )
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            progress(f"  still running: {args[0]} {args[1] if len(args) > 1 else ''}")

    thread = threading.Thread(target=heartbeat, daemon=True)
    thread.start()
    try:
        stdout = process.communicate()[0]
    finally:
        done.set()
        thread.join()
    if process.returncode != 0:
        raise BuildError(f"command failed with exit code {process.returncode}: {' '.join(args)}")
    return stdout or ""


def go_output(args: Sequence[str], cwd: Path | None = None) -> str:
    """Run a short ``go`` command and return its stdout."""
    result = subprocess.run(["go", *args], cwd=cwd, env=go_env(), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"`go {' '.join(args)}` failed:\n{result.stderr.strip()}")
    return result.stdout


def module_download(module: str, version: str) -> dict[str, str]:
    """Download one module into GOMODCACHE and return ``go mod download -json`` output."""
    data: dict[str, str] = json.loads(go_output(["mod", "download", "-json", f"{module}@{version}"]))
    if data.get("Error"):
        raise BuildError(f"cannot download {module}@{version}: {data['Error']}")
    return data


# --- Prerequisites ----------------------------------------------------------


def parse_go_version(text: str) -> tuple[int, int]:
    """Parse ``go1.26.8`` (or ``go1.24rc1``) into ``(1, 26)``."""
    match = re.match(r"go(\d+)\.(\d+)", text.strip())
    if not match:
        raise BuildError(f"cannot parse the Go version {text!r}; install a Go release >= 1.24")
    return int(match.group(1)), int(match.group(2))


def existing_parent(path: Path) -> Path:
    """Return ``path`` or its nearest existing ancestor."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_prerequisites(root: Path) -> None:
    """Fail with a clear message unless Go >= 1.24 is on PATH and there is enough disk space."""
    if shutil.which("go") is None:
        raise BuildError("`go` is not on PATH. Install Go >= 1.24 (https://go.dev/dl/) and put its bin/ on PATH.")
    env = json.loads(go_output(["env", "-json", "GOVERSION", "GOTOOLCHAIN", "GOMODCACHE", "GOCACHE"]))
    have = parse_go_version(env["GOVERSION"])
    if have < MIN_GO:
        raise BuildError(f"Go {env['GOVERSION']} is too old; Kubernetes {KUBERNETES_VERSION} needs Go >= 1.24. Install a newer Go.")
    if have < KWOK_MIN_GO and env.get("GOTOOLCHAIN", "").startswith("local"):
        raise BuildError(
            f"kwok {KWOK_VERSION} needs Go >= {KWOK_MIN_GO[0]}.{KWOK_MIN_GO[1]} but Go is {env['GOVERSION']} and "
            "GOTOOLCHAIN=local. Install a newer Go, or run with GOTOOLCHAIN=auto so Go fetches it."
        )
    checked: set[int] = set()
    for path in (Path(env["GOMODCACHE"]), Path(env["GOCACHE"]), root):
        parent = existing_parent(path)
        device = parent.stat().st_dev
        if device in checked:
            continue
        checked.add(device)
        free = shutil.disk_usage(parent).free
        if free < MIN_FREE_BYTES:
            raise BuildError(
                f"only {free / 1024**3:.1f} GiB free on the filesystem of {path}; the build needs about "
                f"{MIN_FREE_BYTES / 1024**3:.0f} GiB. Free some space (e.g. `go clean -cache`) or point "
                "XDG_CACHE_HOME/GOCACHE/GOMODCACHE at a bigger disk."
            )


# --- The wrapper module -----------------------------------------------------


def staging_modules(gomod_text: str) -> list[str]:
    """Return the staging modules that k8s.io/kubernetes replaces with ./staging/src/..."""
    modules = []
    for line in gomod_text.splitlines():
        match = STAGING_REPLACE_RE.match(line.split("//", 1)[0].rstrip()) if "=>" in line else None
        if match and match.group(1) == match.group(2):
            modules.append(match.group(1))
    if not modules:
        raise BuildError(f"found no staging replaces in the go.mod of {KUBERNETES_MODULE}@{KUBERNETES_VERSION}")
    return modules


def required_version(gomod_text: str, module: str) -> str | None:
    """Return the version of ``module`` in the go.mod's require lines, if any."""
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", gomod_text, re.MULTILINE)
    return match.group(1) if match else None


def go_directive(gomod_text: str) -> str:
    """Return the ``go`` directive's version."""
    match = re.search(r"^go\s+(\S+)\s*$", gomod_text, re.MULTILINE)
    if not match:
        raise BuildError(f"no go directive in the go.mod of {KUBERNETES_MODULE}@{KUBERNETES_VERSION}")
    return match.group(1)


def godebug_lines(gomod_text: str) -> str:
    """Return k8s's ``godebug`` lines; they only act in the main module, so the wrapper repeats them."""
    return "\n".join(line for line in gomod_text.splitlines() if line.startswith("godebug"))


def staging_version() -> str:
    """Return the staging tag that matches KUBERNETES_VERSION (v1.34.4 -> v0.34.4)."""
    match = re.fullmatch(r"v1\.(\d+\.\d+)", KUBERNETES_VERSION)
    if not match:
        raise BuildError(f"KUBERNETES_VERSION must look like v1.X.Y, not {KUBERNETES_VERSION!r}")
    return f"v0.{match.group(1)}"


def render_gomod(k8s_gomod: str) -> str:
    """Fill gowrapper/go.mod.in from the real k8s go.mod."""
    tag = staging_version()
    replaces = "\n".join(f"\t{module} => {module} {tag}" for module in staging_modules(k8s_gomod))
    template = string.Template((GOWRAPPER_DIR / "go.mod.in").read_text(encoding="utf-8"))
    return template.substitute(
        GO_DIRECTIVE=go_directive(k8s_gomod),
        GODEBUG=godebug_lines(k8s_gomod),
        KUBERNETES_VERSION=KUBERNETES_VERSION,
        ETCD_VERSION=ETCD_VERSION,
        STAGING_REPLACES=replaces,
    )


def check_etcd_pin(k8s_gomod: str) -> None:
    """Stop unless ETCD_VERSION is the etcd server version k8s.io/kubernetes requires."""
    wanted = required_version(k8s_gomod, ETCD_SERVER_MODULE)
    if wanted != ETCD_VERSION:
        raise BuildError(
            f"{KUBERNETES_MODULE}@{KUBERNETES_VERSION} requires {ETCD_SERVER_MODULE} {wanted}, "
            f"but ETCD_VERSION is {ETCD_VERSION}; set ETCD_VERSION = {wanted!r} in {__file__}."
        )


def prepare_workdir(workdir: Path, progress: Progress) -> dict[str, str]:
    """Copy the wrapper template into ``workdir`` and write its go.mod; return k8s's module info."""
    progress(f"reading {KUBERNETES_MODULE}@{KUBERNETES_VERSION} go.mod")
    info = module_download(KUBERNETES_MODULE, KUBERNETES_VERSION)
    k8s_gomod = Path(info["GoMod"]).read_text(encoding="utf-8")
    check_etcd_pin(k8s_gomod)
    shutil.copytree(GOWRAPPER_DIR, workdir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("go.mod.in", "go.sum"))
    (workdir / "go.mod").write_text(render_gomod(k8s_gomod), encoding="utf-8")
    progress(f"wrapper module with {len(staging_modules(k8s_gomod))} staging replaces at {staging_version()}")
    return info


def version_ldflags(build_date: str) -> str:
    """Return the ``-X`` flags of hack/lib/version.sh for both version packages."""
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    values = {
        "gitVersion": KUBERNETES_VERSION,
        "gitMajor": major,
        "gitMinor": minor,
        "gitCommit": GIT_COMMIT,
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    packages = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
    flags = [f"-X '{package}.{key}={value}'" for package in packages for key, value in values.items()]
    return " ".join(["-s", "-w", *flags])


def release_date(info: Mapping[str, str]) -> str:
    """Return the tag time from the module's .info file, so buildDate is reproducible."""
    data = json.loads(Path(info["Info"]).read_text(encoding="utf-8"))
    stamp = datetime.datetime.fromisoformat(data["Time"].replace("Z", "+00:00"))
    return stamp.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def resolve_modules(workdir: Path, progress: Progress) -> None:
    """Fill go.sum for the packages we build and check the etcd version MVS picked."""
    progress("resolving and downloading modules (go get)")
    packages = [f"{KUBERNETES_MODULE}/cmd/{name}@{KUBERNETES_VERSION}" for name in KUBE_COMMANDS]
    packages.append(f"{ETCD_SERVER_MODULE}/etcdmain@{ETCD_VERSION}")
    run(["go", "get", *packages], progress, cwd=workdir, env=go_env())
    selected = go_output(["list", "-m", "-f", "{{.Version}}", ETCD_SERVER_MODULE], cwd=workdir).strip()
    if selected != ETCD_VERSION:
        raise BuildError(f"the wrapper module selected {ETCD_SERVER_MODULE} {selected}, not {ETCD_VERSION}")


def build_control_plane(workdir: Path, bin_dir: Path, build_date: str, progress: Progress) -> None:
    """Build the four kube commands and etcd with one ``go build``."""
    progress(f"go build {', '.join(KUBE_COMMANDS)}, etcd (the slow part)")
    targets = [f"{KUBERNETES_MODULE}/cmd/{name}" for name in KUBE_COMMANDS] + ["./etcd"]
    args = [
        "go", "build", "-trimpath", "-buildvcs=false", "-tags", BUILD_TAGS,
        "-ldflags", version_ldflags(build_date), "-o", f"{bin_dir}{os.sep}", *targets,
    ]  # fmt: skip
    run(args, progress, cwd=workdir, env=go_env())


def go_install(package: str, version: str, bin_dir: Path, cwd: Path, progress: Progress) -> None:
    """``go install`` one program into ``bin_dir``, outside the wrapper module."""
    progress(f"go install {package}@{version}")
    args = ["go", "install", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", f"{package}@{version}"]
    run(args, progress, cwd=cwd, env=go_env({"GOBIN": str(bin_dir)}))


# --- Data files -------------------------------------------------------------


def copy_kwok_stages(stages_dir: Path, progress: Progress) -> list[Path]:
    """Copy the stage YAMLs (not kustomizations or testdata) out of the kwok module."""
    source = Path(module_download(KWOK_MODULE, KWOK_VERSION)["Dir"]) / "kustomize" / "stage"
    copied = []
    for rel in KWOK_STAGE_DIRS:
        src_dir = source / rel
        if not src_dir.is_dir():
            progress(f"  kwok {KWOK_VERSION} has no kustomize/stage/{rel}; skipped")
            continue
        for src in sorted(src_dir.glob("*.yaml")):
            if src.name == "kustomization.yaml":
                continue
            dest = stages_dir / rel / src.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            copied.append(dest)
    missing = [rel for rel in KWOK_DEFAULT_STAGES if not (stages_dir / rel).is_file()]
    if missing:
        raise BuildError(f"kwok {KWOK_VERSION} lacks default stages {missing}")
    progress(f"copied {len(copied)} kwok stage files to {stages_dir}")
    return copied


def copy_snapshot_crds(crd_dir: Path, progress: Progress) -> list[Path]:
    """Copy the VolumeSnapshot CRDs out of the external-snapshotter client module."""
    source = Path(module_download(EXTERNAL_SNAPSHOTTER_CLIENT, EXTERNAL_SNAPSHOTTER_CLIENT_VERSION)["Dir"])
    crd_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in SNAPSHOT_CRDS:
        src = source / "config" / "crd" / name
        if not src.is_file():
            raise BuildError(f"{EXTERNAL_SNAPSHOTTER_CLIENT}@{EXTERNAL_SNAPSHOTTER_CLIENT_VERSION} has no config/crd/{name}")
        shutil.copyfile(src, crd_dir / name)
        copied.append(crd_dir / name)
    progress(f"copied {len(copied)} snapshot CRDs to {crd_dir}")
    return copied


# --- Orchestration ----------------------------------------------------------


@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock so two processes never build into the same directory."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def clear_partial(paths: Paths) -> None:
    """Remove what an earlier, unfinished build left behind."""
    for directory in (paths.bin_dir, paths.stages_dir.parent):
        if directory.exists():
            shutil.rmtree(directory)


def write_stamp(paths: Paths, seconds: float) -> None:
    """Write the stamp file that marks the build complete; this must be the last step."""
    go_version = go_output(["env", "GOVERSION"]).strip()
    record = {**versions(), "go": go_version, "build_seconds": round(seconds, 1)}
    tmp = paths.bin_dir / f"{STAMP_NAME}.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    tmp.replace(paths.bin_dir / STAMP_NAME)


def build(paths: Paths, progress: Progress) -> None:
    """Run the whole build into ``paths``; the stamp is written only after everything succeeded."""
    clear_partial(paths)
    paths.bin_dir.mkdir(parents=True)
    workdir = Path(tempfile.mkdtemp(prefix="inferno-ops-kbuild-"))
    try:
        info = prepare_workdir(workdir / "wrapper", progress)
        resolve_modules(workdir / "wrapper", progress)
        build_control_plane(workdir / "wrapper", paths.bin_dir, release_date(info), progress)
        for package, version in GO_INSTALLS:
            go_install(package, version, paths.bin_dir, workdir, progress)
        copy_kwok_stages(paths.stages_dir, progress)
        copy_snapshot_crds(paths.crd_dir, progress)
        missing = [str(path) for path in paths.binaries() if not path.is_file()]
        if missing:
            raise BuildError(f"the build finished without {missing}")
        write_stamp(paths, progress.elapsed())
    except BaseException:
        progress(f"build failed; the work dir is kept at {workdir}")
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    progress(f"done: {paths.bin_dir}")


def ensure_built() -> Paths:
    """Return the cached binaries, building them first if the stamp is missing."""
    paths = planned_paths()
    if is_complete(paths):
        return paths
    root = cache_root()
    progress = Progress()
    check_prerequisites(root)
    with build_lock(root):
        if is_complete(paths):  # another process finished while we waited
            return paths
        progress(f"building {build_key()} into {paths.bin_dir}")
        build(paths, progress)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m tools.local_cluster.build", description=__doc__.splitlines()[0])
    parser.add_argument("--print-versions", action="store_true", help="print the pinned versions as JSON and exit")
    options = parser.parse_args(argv)
    if options.print_versions:
        print(json.dumps(versions(), indent=2))
        return 0
    try:
        paths = ensure_built()
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(paths.to_json(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
