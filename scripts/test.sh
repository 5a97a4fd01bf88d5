#!/usr/bin/env bash
# The single test command (`make test`). Steps, stopping at the first failure:
#   0. in the background from the start: the builds of the local cluster and the S3 server
#      (python -m tools.local_cluster build; python -m tools.s3_server.build), awaited before step 4
#   1. yamllint .          (config: .yamllint)
#   2. ansible-lint        (config: .ansible-lint)
#   2b. shellcheck scripts/*.sh (they do not ship, so step 3's sanity no longer sees them)
#   2c. ruff check .       (config: ruff.toml; every Python file, shipped or not)
#   3. scripts/check_artifact.sh (the built tarball, installed: ansible-test sanity,
#                           ansible-lint as Galaxy's importer runs it, the shipped unit tests)
#   3b. go vet and go test of the local cluster's CSI driver, the csi-test sanity suite
#       included (tools/local_cluster/csi_hostpath)
#   4. pytest tests tools  (two sessions at once: the cluster's tests, and beside them those
#                           that need no cluster; a session that collects no tests is a FAILURE;
#                           tests/integration starts the local control plane, building it
#                           on first use)
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

# What the cluster's tests start (the control plane, the CSI machinery, Inferno's image) and
# their S3 server take about half an hour to build on a cold machine: start the builds now,
# beside the lint and artifact steps, and wait for them before pytest. Warm, they find their
# caches and return in seconds.
prebuild_log="$(mktemp)"
no_cluster_log="$(mktemp)"
prebuild_pid=""
# On any exit: stop builds still running (their own process group) and remove the logs.
cleanup() {
    [[ -z "$prebuild_pid" ]] || kill -- "-$prebuild_pid" 2>/dev/null || true
    rm -f "$prebuild_log" "$no_cluster_log"
}
trap cleanup EXIT
if [[ "$mode" == all ]]; then
    banner "building the local cluster and the S3 server (in the background): python -m tools.local_cluster build; python -m tools.s3_server.build"
    setsid -w bash -c 'python -m tools.local_cluster build && python -m tools.s3_server.build' >"$prebuild_log" 2>&1 &
    prebuild_pid=$!
fi
wait_for_prebuild() {
    local rc=0
    wait "$prebuild_pid" || rc=$?
    tail -n 5 "$prebuild_log"
    [[ $rc -eq 0 ]] || { cat "$prebuild_log"; fail "building the local cluster or the S3 server (exit code $rc)"; }
    echo "-- builds: OK"
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

# Two pytest sessions at once, which between them take every test under tests/ and tools/:
# the tests that start, use or build a cluster (one real node per machine, so one session,
# one test at a time) and, beside them on the other core, those that need none (the chart,
# the collection, the unit tests). pytest-xdist cannot split them: its --dist loadgroup sets
# item._nodeid, which pytest 9 no longer reads. --durations: the slowest tests, so that the
# warm CI budget (30 min) can be kept.
CLUSTER_TESTS=(tests/integration tools/local_cluster tools/s3_server)
pytest_session() { # NAME ARGS...: one pytest session; a session that collects no tests is a failure
    local name="$1" rc=0
    shift
    python -m pytest "$@" -ra || rc=$?
    if [[ $rc -eq 5 ]]; then
        echo "pytest ($name): no tests ran (pytest exit code 5: nothing collected)" >&2
    fi
    return "$rc"
}
banner "pytest: tests that need no cluster (in the background): python -m pytest tests tools ${CLUSTER_TESTS[*]/#/--ignore=}"
pytest_session "no cluster" tests tools "${CLUSTER_TESTS[@]/#/--ignore=}" --durations=10 >"$no_cluster_log" 2>&1 &
no_cluster_pid=$!
banner "waiting for the builds started at the beginning"
wait_for_prebuild
banner "pytest: tests on the local cluster: python -m pytest ${CLUSTER_TESTS[*]} --durations=40"
cluster_rc=0
pytest_session "cluster" "${CLUSTER_TESTS[@]}" --durations=40 || cluster_rc=$?
no_cluster_rc=0
wait "$no_cluster_pid" || no_cluster_rc=$?
banner "pytest: tests that need no cluster (their output)"
cat "$no_cluster_log"
[[ $no_cluster_rc -eq 0 ]] || fail "pytest, tests that need no cluster (exit code $no_cluster_rc)"
[[ $cluster_rc -eq 0 ]] || fail "pytest, tests on the local cluster (exit code $cluster_rc)"
echo "-- pytest: OK"

# The shared converge/verify on the local control plane, idempotence included.
run_step molecule molecule test -s local
# The kind scenario needs Docker, which CI machines lack; its playbooks are still syntax-checked.
run_step molecule-kind-syntax molecule syntax -s default

banner "all test steps passed"
elapsed
