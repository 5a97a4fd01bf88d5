#!/usr/bin/env bash
# `make demo`: the main job on the embedded default. Starts the local cluster (building
# it on first use) and installs Inferno's development profile into it
# with the collection's deploy playbook, as a user would, then shows what runs.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
export PATH="$repo_root/.venv/bin:$PATH"

scripts/cluster up >/dev/null
eval "$(scripts/cluster env)"
kubectl=$(.venv/bin/python -c 'from tools.local_cluster import build; print(build.ensure_built().kubectl)')

echo "== ansible-playbook deploy.yml -i inventories/dev (namespace default) =="
ansible-playbook deploy.yml -i inventories/dev
"$kubectl" get deployment,pods,services,pvc -l app.kubernetes.io/instance=inferno
echo
echo "The cluster keeps running: 'eval \"\$(scripts/cluster env)\"' gives kubectl and helm its KUBECONFIG;"
echo "'make cluster-down' stops it."
