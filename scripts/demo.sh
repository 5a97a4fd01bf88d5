#!/usr/bin/env bash
# `make demo`: the main job on the embedded default. Starts the local cluster (building it
# on first use: the control plane, and the real node's containerd images with Inferno
# 0.10.3 from crates.io) and installs Inferno's development profile with the collection's
# deploy playbook, as a user would. The dev inventory's local-cluster host puts the release
# on the real node, so a real Inferno answers; the last step asks it for its models
# through the chart's ClusterIP Service.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
export PATH="$repo_root/.venv/bin:$PATH"

scripts/cluster up >/dev/null
eval "$(scripts/cluster env)"
kubectl=$(.venv/bin/python -c 'from tools.local_cluster import build; print(build.ensure_built().kubectl)')

echo "== ansible-playbook deploy.yml -i inventories/dev (namespace default) =="
ansible-playbook deploy.yml -i inventories/dev
"$kubectl" get deployment,pods,services,pvc -l app.kubernetes.io/instance=inferno -o wide
service_ip=$("$kubectl" get service inferno -o jsonpath='{.spec.clusterIP}')
echo
echo "== GET http://$service_ip:8000/v1/models (Service inferno -> Inferno on inferno-node-0) =="
.venv/bin/python - "http://$service_ip:8000/v1/models" <<'PY'
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
    print(json.dumps(json.load(response), indent=2))
PY
echo
echo "The cluster keeps running: 'eval \"\$(scripts/cluster env)\"' gives kubectl and helm its KUBECONFIG;"
echo "'make cluster-down' stops it and removes what its real node made on this machine."
