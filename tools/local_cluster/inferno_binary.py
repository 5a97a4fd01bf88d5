"""The real Inferno, built from its crate on crates.io and cached by version.

    cargo install inferno-ai --version <INFERNO_VERSION> --locked \\
        --no-default-features --features download,gguf --root CACHE_ROOT/inferno/<version>-<features>-<profile>

``download`` is the HTTP API, metrics and model downloads with rustls (no OpenSSL); ``gguf`` is
the llama.cpp backend (llama-cpp-2, which builds its vendored llama.cpp with cmake and g++ and
runs bindgen, so libclang), the only backend of 0.10.3 that infers (its ONNX is a stub). The
binary then links libgomp and libstdc++ too, which the image takes with it (images.py, ldd).

The crate's release profile asks for fat LTO and one codegen unit (about 25 minutes on two
cores). The build here turns LTO off, uses 16 codegen units and Rust's opt-level 1: 518 s on two
idle cores, llama.cpp included, less than the 10 minutes of the backend-less build at opt-level 3.
The opt-level is Rust's only: the cmake crate still builds llama.cpp as Release. SOURCE_DATE_EPOCH
makes llama.cpp's CMake build for any x86-64 (GGML_NATIVE off) rather than this machine's CPU, so
the image runs wherever the node runs.
0.8.0, the tag in the chart's values, was never published on crates.io; 0.10.3 is the
newest release there.

A second build, ``--features download`` alone (NO_BACKEND_FEATURES), is the negative control:
the same Inferno with no model backend, which lists the models in its folder and answers a
completion 400 "No suitable backend found" (tests/integration/test_models.py). Both builds
share one cargo target folder, kept in the cache until both are built, so the second one
compiles only the inferno-ai crate again: 263 s after the gguf build, instead of a whole build.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import build

INFERNO_CRATE = "inferno-ai"
INFERNO_VERSION = "0.10.3"
FEATURES = "download,gguf"
NO_BACKEND_FEATURES = "download"
VARIANTS = (FEATURES, NO_BACKEND_FEATURES)
# Inferno 0.10 is written in Rust edition 2024.
MIN_RUST = (1, 85)
# The environment of the build: the profile (see above) and a portable llama.cpp.
BUILD_ENV = {"CARGO_PROFILE_RELEASE_LTO": "false", "CARGO_PROFILE_RELEASE_CODEGEN_UNITS": "16",
             "CARGO_PROFILE_RELEASE_OPT_LEVEL": "1", "SOURCE_DATE_EPOCH": "0"}
PROFILE_NAME = "o1-nolto-cgu16"
# What the gguf backend's build needs beyond Rust: Debian's packages, and a file each one installs.
GGUF_BUILD_PACKAGES = {"cmake": "cmake", "g++": "g++", "libclang-dev": "libclang.so"}
STAMP_NAME = ".complete"


def install_root(version: str = INFERNO_VERSION, features: str = FEATURES) -> Path:
    return build.cache_root() / "inferno" / f"{version}-{features}-{PROFILE_NAME}"


def target_dir(version: str = INFERNO_VERSION) -> Path:
    """cargo's build folder, shared by the variants; removed once every variant is built."""
    return build.cache_root() / "inferno" / f"target-{version}-{PROFILE_NAME}"


def binary_path(version: str = INFERNO_VERSION, features: str = FEATURES) -> Path:
    return install_root(version, features) / "bin" / "inferno"


def is_built(version: str = INFERNO_VERSION, features: str = FEATURES) -> bool:
    return (install_root(version, features) / STAMP_NAME).is_file() and binary_path(version, features).is_file()


def find_cargo() -> str:
    """cargo on PATH, else rustup's default place."""
    found = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not os.access(found, os.X_OK):
        raise build.BuildError(
            "building Inferno: `cargo` is not installed. Install Rust >= "
            f"{MIN_RUST[0]}.{MIN_RUST[1]} with rustup (https://rustup.rs), then run `scripts/cluster up` again; "
            f"the build of {INFERNO_CRATE} {INFERNO_VERSION} is cached afterwards.")
    return found


def installed(found: str) -> bool:
    """Whether ``found`` (a program, or libclang's shared library) is on this machine."""
    if found == "libclang.so":  # where Debian's libclang-dev puts it, or bindgen's own variable
        return bool(os.environ.get("LIBCLANG_PATH") or list(Path("/usr/lib").glob(f"llvm-*/lib/{found}")))
    return shutil.which(found) is not None


def gguf_build_problem() -> str | None:
    """Why llama.cpp cannot be built here (the packages to install), or None when it can."""
    missing = [package for package, found in GGUF_BUILD_PACKAGES.items() if not installed(found)]
    if not missing:
        return None
    return (f"building Inferno's gguf backend (llama.cpp) needs {', '.join(missing)}: run `make setup`, or "
            f"`apt-get install {' '.join(missing)}`, then `scripts/cluster up` again")


def check_rust(cargo: str) -> None:
    version = subprocess.run([cargo, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"cargo (\d+)\.(\d+)", version)
    if not match or (int(match.group(1)), int(match.group(2))) < MIN_RUST:
        raise build.BuildError(
            f"building Inferno: {INFERNO_CRATE} {INFERNO_VERSION} needs Rust >= {MIN_RUST[0]}.{MIN_RUST[1]} "
            f"(edition 2024), but `{cargo} --version` says {version.strip() or 'nothing'}. Run `rustup update stable`.")


def ensure_built(progress: build.Progress | None = None, version: str = INFERNO_VERSION,
                 features: str = FEATURES) -> Path:
    """The cached `inferno` binary of ``features``, built first when the cache lacks it."""
    if is_built(version, features):
        return binary_path(version, features)
    progress = progress or build.Progress()
    cargo = find_cargo()
    check_rust(cargo)
    problem = gguf_build_problem() if "gguf" in features.split(",") else None
    if problem:
        raise build.BuildError(problem)
    root = install_root(version, features)
    with build.build_lock(root.parent):
        if is_built(version, features):
            return binary_path(version, features)
        started = time.monotonic()
        reused = target_dir(version).is_dir()
        progress(f"cargo install {INFERNO_CRATE} {version} --features {features} into {root} "
                 f"({'reusing the build folder of the other variant' if reused else 'about 9 minutes on two idle cores'})")
        shutil.rmtree(root, ignore_errors=True)
        partial = tempfile.mkdtemp(prefix="inferno-ops-cargo-", dir=root.parent)
        args = [cargo, "install", INFERNO_CRATE, "--version", version, "--locked", "--no-default-features",
                "--features", features, "--bin", "inferno", "--root", partial, "--target-dir", str(target_dir(version))]
        try:
            build.run(args, progress, env={**os.environ, **BUILD_ENV})
        except build.BuildError as error:
            shutil.rmtree(partial, ignore_errors=True)
            raise build.BuildError(
                f"building Inferno failed: {error}. The crate comes from crates.io; check that it can be "
                "reached (`cargo search inferno-ai`) and that the disk has a few GiB free, then run "
                "`scripts/cluster up` again.") from error
        seconds = round(time.monotonic() - started, 1)
        stamp = {"crate": INFERNO_CRATE, "version": version, "features": features, "environment": BUILD_ENV,
                 "build_seconds": seconds, "reused_build_folder": reused,
                 "bytes": (Path(partial) / "bin" / "inferno").stat().st_size}
        (Path(partial) / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        os.chmod(partial, 0o755)
        os.rename(partial, root)
        progress(f"built inferno {version} --features {features} in {seconds:.0f} s")
        if all(is_built(version, variant) for variant in VARIANTS):
            shutil.rmtree(target_dir(version), ignore_errors=True)  # about 1.7 GB, no longer needed
    return binary_path(version, features)
