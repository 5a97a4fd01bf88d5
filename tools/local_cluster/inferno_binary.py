"""The real Inferno, built from its crate on crates.io and cached by version.

    cargo install inferno-ai --version <INFERNO_VERSION> --locked \\
        --no-default-features --features download --root CACHE_ROOT/inferno/<version>-<profile>

``download`` is the feature set of Inferno's "standard" image: the HTTP API, metrics and
model downloads with rustls, no OpenSSL and no GGUF/ONNX backends. The crate's release
profile asks for fat LTO and one codegen unit (about 25 minutes on two cores); the build
here turns LTO off and uses 16 codegen units (10 minutes on two idle cores, about 20 beside
the control plane's Go build), which serves the same.
0.8.0, the tag in the chart's values, was never published on crates.io; 0.10.3 is the
newest release there.
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
FEATURES = "download"
# Inferno 0.10 is written in Rust edition 2024.
MIN_RUST = (1, 85)
PROFILE = {"CARGO_PROFILE_RELEASE_LTO": "false", "CARGO_PROFILE_RELEASE_CODEGEN_UNITS": "16"}
PROFILE_NAME = "nolto-cgu16"
STAMP_NAME = ".complete"


def install_root(version: str = INFERNO_VERSION) -> Path:
    return build.cache_root() / "inferno" / f"{version}-{FEATURES}-{PROFILE_NAME}"


def binary_path(version: str = INFERNO_VERSION) -> Path:
    return install_root(version) / "bin" / "inferno"


def is_built(version: str = INFERNO_VERSION) -> bool:
    return (install_root(version) / STAMP_NAME).is_file() and binary_path(version).is_file()


def find_cargo() -> str:
    """cargo on PATH, else rustup's default place."""
    found = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not os.access(found, os.X_OK):
        raise build.BuildError(
            "building Inferno: `cargo` is not installed. Install Rust >= "
            f"{MIN_RUST[0]}.{MIN_RUST[1]} with rustup (https://rustup.rs), then run `scripts/cluster up` again; "
            f"the build of {INFERNO_CRATE} {INFERNO_VERSION} is cached afterwards.")
    return found


def check_rust(cargo: str) -> None:
    version = subprocess.run([cargo, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"cargo (\d+)\.(\d+)", version)
    if not match or (int(match.group(1)), int(match.group(2))) < MIN_RUST:
        raise build.BuildError(
            f"building Inferno: {INFERNO_CRATE} {INFERNO_VERSION} needs Rust >= {MIN_RUST[0]}.{MIN_RUST[1]} "
            f"(edition 2024), but `{cargo} --version` says {version.strip() or 'nothing'}. Run `rustup update stable`.")


def ensure_built(progress: build.Progress | None = None, version: str = INFERNO_VERSION) -> Path:
    """The cached `inferno` binary, built first when the cache lacks it."""
    if is_built(version):
        return binary_path(version)
    progress = progress or build.Progress()
    cargo = find_cargo()
    check_rust(cargo)
    root = install_root(version)
    with build.build_lock(root.parent):
        if is_built(version):
            return binary_path(version)
        started = time.monotonic()
        progress(f"cargo install {INFERNO_CRATE} {version} into {root} (10-20 minutes on two cores)")
        shutil.rmtree(root, ignore_errors=True)
        partial = tempfile.mkdtemp(prefix="inferno-ops-cargo-", dir=root.parent)
        args = [cargo, "install", INFERNO_CRATE, "--version", version, "--locked", "--no-default-features",
                "--features", FEATURES, "--bin", "inferno", "--root", partial]
        try:
            build.run(args, progress, env={**os.environ, **PROFILE})
        except build.BuildError as error:
            shutil.rmtree(partial, ignore_errors=True)
            raise build.BuildError(
                f"building Inferno failed: {error}. The crate comes from crates.io; check that it can be "
                "reached (`cargo search inferno-ai`) and that the disk has a few GiB free, then run "
                "`scripts/cluster up` again.") from error
        seconds = round(time.monotonic() - started, 1)
        stamp = {"crate": INFERNO_CRATE, "version": version, "features": FEATURES, "profile": PROFILE,
                 "build_seconds": seconds, "bytes": (Path(partial) / "bin" / "inferno").stat().st_size}
        (Path(partial) / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        os.chmod(partial, 0o755)
        os.rename(partial, root)
        progress(f"built inferno {version} in {seconds:.0f} s")
    return binary_path(version)
