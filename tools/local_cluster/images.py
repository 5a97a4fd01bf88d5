"""Container images for the real node, built without Docker or a registry.

Each image is one gzip layer written with Python's tarfile, plus an OCI config,
manifest and index, packed as an OCI image-layout archive that
``ctr -n k8s.io images import`` takes. Layers are reproducible: entries are sorted,
owned by root unless stated, and dated at the epoch, so the same inputs give the same
digests.

Five images:

* ``localhost/inferno-ops/pause`` -- the pod sandbox: a static C program that sleeps
  until it is told to stop (``pause.c``, compiled here with ``gcc -static``).
* ``localhost/inferno-ops/busybox`` -- Debian's static busybox, for the helper pods
  of local-path-provisioner (they run ``sh`` with ``mkdir``/``rm``).
* ``localhost/inferno-ops/model-fetcher:1`` -- the same busybox with the applets model delivery's
  scripts use (``sha256sum``, ``df``, ``stat``...), Debian's ``curl`` and ``openssl`` (which hashes
  about seven times as fast) with the libraries they link,
  and the CA bundle: what ``inferno.ops.model_delivery`` runs in its fetch pod
  (``inferno_models_fetcher_image`` on the dev inventory's local-cluster host names it).
* ``localhost/inferno-ops/inferno-no-backend:<version>`` -- the same image with an Inferno built
  without a model backend: the negative control of tests/integration/test_models.py.
* ``docker.io/library/inferno:<version>`` -- the cargo-built ``inferno`` (with its gguf
  backend, llama.cpp) and the shared libraries it links, the CA bundle, a passwd entry for UID 1000, and Debian's
  ``uname``: Inferno runs ``uname -r`` when it starts its update service, and without it
  logs "Failed to initialize upgrade system" and answers 503 on /v1/upgrade/*. The
  chart's ``image.repository: inferno`` resolves to this name.

Archives are cached in ``CACHE_ROOT/images/`` by name, version and RECIPE_VERSION.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from . import build, inferno_binary

# Bump when what goes into an image changes, so cached archives are rebuilt (3: Inferno with its
# gguf backend, and the libgomp and libstdc++ it links; 4: the model fetcher; 5: its coreutils
# sha256sum, and the Inferno without a backend; 6: the fetcher without tee; 7: openssl, not
# coreutils' sha256sum).
RECIPE_VERSION = "7"
PAUSE_SOURCE = Path(__file__).resolve().parent / "pause.c"
PAUSE_IMAGE = "localhost/inferno-ops/pause:1"
BUSYBOX_BINARY = Path("/bin/busybox")
BUSYBOX_IMAGE_REPOSITORY = "localhost/inferno-ops/busybox"
INFERNO_IMAGE_REPOSITORY = "docker.io/library/inferno"
MODEL_FETCHER_IMAGE = "localhost/inferno-ops/model-fetcher:1"
# The negative control: the same Inferno built with no model backend (inferno_binary).
INFERNO_NO_BACKEND_REPOSITORY = "localhost/inferno-ops/inferno-no-backend"
CURL = Path("/usr/bin/curl")
# What plugins/module_utils/models.py's scripts call, besides curl and the shell's builtins.
FETCHER_APPLETS = ("sh", "sha256sum", "df", "awk", "stat", "head", "cut", "mv", "rm", "cat", "touch", "sleep", "ls")
# openssl hashes a GiB in 0.6 s of CPU here (SHA-NI), busybox's sha256sum in 4.1 s: models.py's
# scripts use openssl when the image has it.
OPENSSL = Path("/usr/bin/openssl")
INFERNO_UID = 1000
INFERNO_HOME = "/home/inferno"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
UNAME = Path("/usr/bin/uname")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LDD_LINE = re.compile(r"^\s*(?:\S+\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)\s*$")


class ImageError(RuntimeError):
    """An image could not be built; the message names the step and the fix."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One file, directory or symlink of a layer."""

    path: str  # absolute path inside the image
    kind: str = "file"  # file, dir or symlink
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    target: str = ""  # for symlinks


@dataclasses.dataclass(frozen=True)
class Image:
    """What an image holds and how it starts."""

    name: str  # full reference, e.g. docker.io/library/inferno:0.10.3
    entries: tuple[Entry, ...]
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = (f"PATH={DEFAULT_PATH}",)
    user: str = ""
    workdir: str = "/"
    ports: tuple[int, ...] = ()
    labels: dict[str, str] = dataclasses.field(default_factory=dict)


# --- The OCI archive ----------------------------------------------------------------


def with_parents(entries: tuple[Entry, ...]) -> list[Entry]:
    """The entries plus every missing parent directory, sorted so parents come first."""
    by_path = {entry.path.rstrip("/"): entry for entry in entries}
    for path in list(by_path):
        parent = os.path.dirname(path)
        while parent not in ("", "/") and parent not in by_path:
            by_path[parent] = Entry(parent, "dir", mode=0o755)
            parent = os.path.dirname(parent)
    return [by_path[path] for path in sorted(by_path)]


def layer_tar(entries: tuple[Entry, ...]) -> bytes:
    """An uncompressed, reproducible layer tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in with_parents(entries):
            info = tarfile.TarInfo(entry.path.lstrip("/"))
            info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, 0
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, entry.target
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return buffer.getvalue()


def digest_of(content: bytes) -> str:
    return f"sha256:{hashlib.sha256(content).hexdigest()}"


def blob(content: bytes) -> tuple[str, bytes]:
    return digest_of(content), content


def canonical_json(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def oci_archive(image: Image) -> bytes:
    """The OCI image-layout tar of `image`, named for containerd by its annotations."""
    layer = layer_tar(image.entries)
    diff_id = digest_of(layer)
    layer_digest, layer_gz = blob(gzip.compress(layer, compresslevel=6, mtime=0))
    config = {
        "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {key: value for key, value in {
            "Entrypoint": list(image.entrypoint) or None, "Cmd": list(image.cmd) or None, "Env": list(image.env),
            "User": image.user or None, "WorkingDir": image.workdir,
            "ExposedPorts": {f"{port}/tcp": {} for port in image.ports} or None, "Labels": image.labels or None,
        }.items() if value is not None},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tools/local_cluster/images.py"}],
    }
    config_digest, config_json = blob(canonical_json(config))
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": len(config_json)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest,
                    "size": len(layer_gz)}],
    }
    manifest_digest, manifest_json = blob(canonical_json(manifest))
    index = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": manifest["mediaType"], "digest": manifest_digest, "size": len(manifest_json),
                       "annotations": {"io.containerd.image.name": image.name,
                                       "org.opencontainers.image.ref.name": image.name.rsplit(":", 1)[-1]}}],
    }
    files = [("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"})), ("index.json", canonical_json(index))]
    files += [(f"blobs/sha256/{digest.split(':')[1]}", content)
              for digest, content in ((layer_digest, layer_gz), (config_digest, config_json),
                                      (manifest_digest, manifest_json))]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


# --- Recipes ------------------------------------------------------------------------


def run_tool(args: list[str], step: str, fix: str) -> str:
    try:
        result = subprocess.run(args, capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise ImageError(f"{step}: {args[0]} is not installed ({fix})") from error
    if result.returncode != 0:
        raise ImageError(f"{step}: `{' '.join(args)}` failed ({fix}):\n{(result.stderr or result.stdout).strip()}")
    return result.stdout


def shared_libraries(binary: Path) -> list[Path]:
    """The loader and every shared library `binary` links, as ldd resolves them on this machine."""
    result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    if "not a dynamic executable" in result.stdout + result.stderr or "statically linked" in result.stdout:
        return []
    if result.returncode != 0:
        raise ImageError(f"reading the libraries of {binary}: `ldd` failed (is libc-bin installed?):\n"
                         f"{result.stderr.strip()}")
    output = result.stdout
    libraries = [Path(match.group(1)) for line in output.splitlines() if (match := LDD_LINE.match(line))]
    missing = [line.strip() for line in output.splitlines() if "not found" in line]
    if missing:
        raise ImageError(f"{binary} needs libraries this machine lacks: {missing}")
    return libraries


def real_file(path: Path, in_image: str | None = None, mode: int = 0o755) -> Entry:
    """The content of `path` (symlinks followed: image layers must hold the files themselves)."""
    return Entry(in_image or str(path), data=path.resolve().read_bytes(), mode=mode)


def binary_entries(binary: Path, in_image: str) -> tuple[Entry, ...]:
    """A dynamically linked program with its loader and libraries at the paths ldd reports."""
    return (real_file(binary, in_image), *(real_file(library) for library in shared_libraries(binary)))


def pause_image(workdir: Path) -> Image:
    output = workdir / "pause"
    run_tool(["gcc", "-static", "-Os", "-s", "-o", str(output), str(PAUSE_SOURCE)],
             "compiling the pause program", "install gcc and libc6-dev: run `make setup`")
    return Image(PAUSE_IMAGE, (real_file(output, "/pause"),), entrypoint=("/pause",), env=(),
                 labels={"org.opencontainers.image.source": "tools/local_cluster/pause.c"})


def busybox_version() -> str:
    if not BUSYBOX_BINARY.is_file():
        raise ImageError(f"building the busybox image: {BUSYBOX_BINARY} is missing; run `make setup` "
                         "(it installs Debian's busybox-static)")
    banner = run_tool([str(BUSYBOX_BINARY)], "reading the busybox version", "reinstall busybox-static")
    match = re.search(r"BusyBox v(\d+\.\d+\.\d+)", banner)
    if not match:
        raise ImageError(f"cannot read a version from {BUSYBOX_BINARY}'s banner: {banner.splitlines()[:1]}")
    return match.group(1)


def busybox_image(version: str) -> Image:
    if shared_libraries(BUSYBOX_BINARY):
        raise ImageError(f"{BUSYBOX_BINARY} is not static; install Debian's busybox-static, not busybox")
    applets = ("sh", "mkdir", "rm", "ls", "cat", "chmod", "sleep")
    entries = (real_file(BUSYBOX_BINARY, "/bin/busybox"),
               *(Entry(f"/bin/{applet}", "symlink", target="busybox") for applet in applets),
               Entry("/tmp", "dir", mode=0o1777))
    return Image(f"{BUSYBOX_IMAGE_REPOSITORY}:{version}", entries, cmd=("sh",))


def model_fetcher_image() -> Image:
    """busybox's applets and Debian's curl: the fetch pod of inferno.ops.model_delivery."""
    if shared_libraries(BUSYBOX_BINARY):
        raise ImageError(f"{BUSYBOX_BINARY} is not static; install Debian's busybox-static, not busybox")
    if not CURL.is_file() or not CA_BUNDLE.is_file() or not OPENSSL.is_file():
        raise ImageError(f"building the model fetcher image: {CURL}, {OPENSSL} or {CA_BUNDLE} is missing; install "
                         "curl, openssl and ca-certificates (make setup does)")
    entries = (real_file(BUSYBOX_BINARY, "/bin/busybox"),
               *(Entry(f"/bin/{applet}", "symlink", target="busybox") for applet in FETCHER_APPLETS),
               *binary_entries(CURL, str(CURL)),
               *binary_entries(OPENSSL, str(OPENSSL)),
               Entry("/etc/ssl/certs/ca-certificates.crt", data=CA_BUNDLE.read_bytes()),
               Entry("/tmp", "dir", mode=0o1777))
    return Image(MODEL_FETCHER_IMAGE, entries, cmd=("sh",))


def inferno_image(binary: Path, version: str, name: str | None = None) -> Image:
    if not CA_BUNDLE.is_file():
        raise ImageError(f"building the Inferno image: {CA_BUNDLE} is missing; install ca-certificates")
    uid = INFERNO_UID
    entries = (
        *binary_entries(binary, "/usr/local/bin/inferno"),
        *binary_entries(UNAME, str(UNAME)),
        Entry("/etc/ssl/certs/ca-certificates.crt", data=CA_BUNDLE.read_bytes()),
        Entry("/etc/passwd", data=(f"root:x:0:0:root:/root:/sbin/nologin\n"
                                   f"inferno:x:{uid}:{uid}:Inferno:{INFERNO_HOME}:/sbin/nologin\n").encode()),
        Entry("/etc/group", data=f"root:x:0:\ninferno:x:{uid}:\n".encode()),
        Entry(INFERNO_HOME, "dir", mode=0o755, uid=uid, gid=uid),
        Entry("/tmp", "dir", mode=0o1777),
    )
    return Image(name or f"{INFERNO_IMAGE_REPOSITORY}:{version}", entries, entrypoint=("inferno",),
                 cmd=("serve", "--bind", "0.0.0.0:8000"), user=f"{uid}:{uid}", workdir=INFERNO_HOME,
                 env=(f"PATH={DEFAULT_PATH}", f"HOME={INFERNO_HOME}"), ports=(8000,),
                 labels={"org.opencontainers.image.title": "inferno",
                         "org.opencontainers.image.version": version,
                         "org.opencontainers.image.source": f"https://crates.io/crates/inferno-ai/{version}"})


# --- Cache --------------------------------------------------------------------------


def images_dir() -> Path:
    return build.cache_root() / "images"


def cached(name: str, make) -> Path:
    """The archive `name` in the cache, written by make() -> Image when it is missing."""
    path = images_dir() / f"{name}.r{RECIPE_VERSION}.oci.tar"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="inferno-ops-image-") as workdir:
        image = make(Path(workdir))
        partial = Path(workdir) / path.name
        partial.write_bytes(oci_archive(image))
        shutil.move(partial, path)
    for outdated in path.parent.glob(f"{name}.r*.oci.tar"):  # earlier recipes of the same image
        if outdated != path:
            outdated.unlink()
    return path


def inferno_archive(progress=None) -> tuple[str, Path]:
    """Inferno's image name and archive, built when the cache lacks it.

    The same archive the real node imports is what `kind load image-archive` takes: the kind
    scenario (molecule/default) loads it through INFERNO_IMAGE_ARCHIVE.
    """
    version = inferno_binary.INFERNO_VERSION
    path = cached(f"inferno-{version}", lambda _: inferno_image(inferno_binary.ensure_built(progress), version))
    return f"{INFERNO_IMAGE_REPOSITORY}:{version}", path


def inferno_no_backend_archive(progress=None) -> tuple[str, Path]:
    """The negative control's image name and archive: Inferno with no model backend."""
    version = inferno_binary.INFERNO_VERSION
    path = cached(f"inferno-no-backend-{version}", lambda _: inferno_image(
        inferno_binary.ensure_built(progress, features=inferno_binary.NO_BACKEND_FEATURES), version,
        f"{INFERNO_NO_BACKEND_REPOSITORY}:{version}"))
    return f"{INFERNO_NO_BACKEND_REPOSITORY}:{version}", path


def ensure_images(progress=None) -> dict[str, Path]:
    """Every image archive the real node needs, by image name; builds what the cache lacks."""
    busybox = busybox_version()
    archives = {
        PAUSE_IMAGE: cached("pause-1", pause_image),
        f"{BUSYBOX_IMAGE_REPOSITORY}:{busybox}": cached(f"busybox-{busybox}", lambda _: busybox_image(busybox)),
        MODEL_FETCHER_IMAGE: cached(f"model-fetcher-{busybox}", lambda _: model_fetcher_image()),
    }
    inferno_name, inferno_path = inferno_archive(progress)  # last: the long builds, after the quick checks
    archives[inferno_name] = inferno_path
    no_backend_name, no_backend_path = inferno_no_backend_archive(progress)
    archives[no_backend_name] = no_backend_path
    return archives


def busybox_reference() -> str:
    return f"{BUSYBOX_IMAGE_REPOSITORY}:{busybox_version()}"
