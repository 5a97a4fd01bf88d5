#!/usr/bin/env bash
# `make demo`: the main job on the embedded default. Starts the local cluster (building it
# on first use: the control plane, and the real node's containerd images with Inferno
# 0.10.3 from crates.io) and installs Inferno's development profile with the collection's
# deploy playbook, as a user would. The dev inventory's local-cluster host puts the release
# on the real node, so a real Inferno answers. The deploy delivers a model made here (the
# alphabet model: tools/models/alphabet_model.py), declared like any other in inferno_models,
# and ends by asking it for a completion; the last step asks again through the chart's
# ClusterIP Service, as a client in the cluster would.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
export PATH="$repo_root/.venv/bin:$PATH"

scripts/cluster up >/dev/null
eval "$(scripts/cluster env)"
kubectl=$(.venv/bin/python -c 'from tools.local_cluster import build; print(build.ensure_built().kubectl)')

# The model, and its declaration: what an inventory's group_vars would hold.
mkdir -p build/demo
.venv/bin/python -m tools.models.alphabet_model build/demo/alphabet.gguf
digest=$(sha256sum build/demo/alphabet.gguf | cut -d' ' -f1)
cat >build/demo/models.yml <<YAML
inferno_models:
  - name: alphabet.gguf
    source: $repo_root/build/demo/alphabet.gguf
    sha256: $digest
    smoke: {prompt: abc, expect: defgh, max_tokens: 5}
YAML
echo "== the models declared (build/demo/models.yml) =="
cat build/demo/models.yml
echo
echo "== ansible-playbook deploy.yml -i inventories/dev -e @build/demo/models.yml (namespace default) =="
ansible-playbook deploy.yml -i inventories/dev -e @build/demo/models.yml
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
request='{"model": "alphabet.gguf", "prompt": "abc", "max_tokens": 5, "temperature": 0.1, "top_k": 1000, "top_p": 1.0}'
echo "== POST http://$service_ip:8000/v1/completions $request =="
.venv/bin/python - "http://$service_ip:8000/v1/completions" "$request" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=60) as response:
    answer = json.load(response)
print(json.dumps(answer, indent=2))
print(f"\nalphabet.gguf continued 'abc' with {answer['choices'][0]['text']!r}")
PY
echo
echo "The cluster keeps running: 'eval \"\$(scripts/cluster env)\"' gives kubectl and helm its KUBECONFIG;"
echo "'make cluster-down' stops it and removes what its real node made on this machine."
