#!/usr/bin/env bash
# The single test command (`make test`). Steps, stopping at the first failure:
#   1. yamllint .          (config: .yamllint)
#   2. ansible-lint        (config: .ansible-lint)
#   2b. shellcheck scripts/*.sh (they do not ship, so step 3's sanity no longer sees them)
#   2c. ruff check .       (config: ruff.toml; every Python file, shipped or not)
#   3. scripts/check_artifact.sh (the built tarball, installed: ansible-test sanity,
#                           ansible-lint as Galaxy's importer runs it, the shipped unit tests)
#   3b. go vet and go test of the local cluster's CSI driver, the csi-test sanity suite
#       included (tools/local_cluster/csi_hostpath)
#   4. pytest tests tools  (one session; a run that collects no tests is a FAILURE;
#                           tests/integration starts the local control plane, building it
#                           on first use; tools/local_cluster/tests need no cluster)
#   5. molecule test -s local, and molecule syntax -s default (kind needs Docker)
# `scripts/test.sh lint` runs steps 1-2c only (`make lint`).
# Needs the environment from `make setup` (scripts/setup.sh).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
start_seconds=$SECONDS
mode="${1:-all}"
case "$mode" in
    all | lint) ;;
    *) echo "usage: $0 [all|lint]" >&2; exit 2 ;;
esac

if [[ ! -x .venv/bin/python || ! -x .venv/bin/helm ]]; then
    echo "ERROR: .venv or .venv/bin/helm is missing: run 'make setup' first" >&2
    exit 1
fi
export VIRTUAL_ENV="$REPO_ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
# No network except PyPI: never let ansible-lint try to refresh its schemas.
export ANSIBLE_LINT_SKIP_SCHEMA_UPDATE="${ANSIBLE_LINT_SKIP_SCHEMA_UPDATE:-1}"

elapsed() { echo "total elapsed: $((SECONDS - start_seconds))s"; }
banner() { printf '\n======== %s ========\n' "$*"; }
fail() {
    printf '\n======== FAILED: %s ========\n' "$*" >&2
    elapsed
    exit 1
}

# run_step NAME CMD...: run CMD, abort the whole run if it fails
run_step() {
    local name="$1" rc=0
    shift
    banner "$name: $*"
    "$@" || rc=$?
    [[ $rc -eq 0 ]] || fail "$name (exit code $rc)"
    echo "-- $name: OK"
}

run_step yamllint yamllint .

run_step ansible-lint ansible-lint

run_step shellcheck shellcheck scripts/*.sh

# Every Python file of the checkout (ruff.toml), also the ones step 3's sanity never sees.
run_step ruff ruff check .

if [[ "$mode" == lint ]]; then
    banner "lint passed"
    elapsed
    exit 0
fi

run_step artifact bash scripts/check_artifact.sh

# The local cluster's CSI driver: go vet, its own tests and the csi-test sanity suite. -count=1:
# no cached result (ginkgo refuses other counts). The lines kept give each test's result and
# csi-test's figures: "Ran N of M Specs ... P Passed | F Failed | ... | S Skipped".
csi_driver_tests() {
    (
        cd tools/local_cluster/csi_hostpath || exit 1
        go vet ./... || exit 1
        go test -count=1 -v ./... 2>&1 | grep -E "^(--- |ok|FAIL|PASS)|Ran [0-9]+ of|Passed"
        exit "${PIPESTATUS[0]}"
    )
}
run_step csi-driver csi_driver_tests

# --durations: the slowest tests, so that the warm CI budget (30 min) can be kept.
banner "pytest: python -m pytest tests tools -ra --durations=40"
rc=0
python -m pytest tests tools -ra --durations=40 || rc=$?
if [[ $rc -eq 5 ]]; then
    fail "pytest: no tests ran (pytest exit code 5: nothing collected under tests/ or tools/)"
elif [[ $rc -ne 0 ]]; then
    fail "pytest (exit code $rc)"
fi
echo "-- pytest: OK"

# The shared converge/verify on the local control plane, idempotence included.
run_step molecule molecule test -s local
# The kind scenario needs Docker, which CI machines lack; its playbooks are still syntax-checked.
run_step molecule-kind-syntax molecule syntax -s default

banner "all test steps passed"
elapsed
