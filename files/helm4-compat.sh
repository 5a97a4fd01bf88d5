#!/usr/bin/env bash
# helm 4 under kubernetes.core 6.2's helm modules.
#
# kubernetes.core.helm runs `helm list --all` after every install or upgrade and before an
# uninstall; helm 4 dropped --all (it lists every status by default) and fails with
# "unknown flag: --all", after the upgrade has already happened. It also passes --atomic,
# which helm 4 renamed --rollback-on-failure (the old name still works, with a warning).
# The deploy and release roles pass this script as binary_path when helm is 4.x, with the
# real binary in INFERNO_OPS_HELM; every other argument reaches helm unchanged.
set -euo pipefail
helm="${INFERNO_OPS_HELM:?INFERNO_OPS_HELM must name the helm 4 binary}"
subcommand=""
args=()
for arg in "$@"; do
    if [[ -z "$subcommand" && "$arg" != -* ]]; then
        subcommand="$arg"
    fi
    if [[ "$subcommand" == list || "$subcommand" == ls ]] && [[ "$arg" == --all || "$arg" == -a ]]; then
        continue
    fi
    if [[ "$arg" == --atomic ]]; then
        arg=--rollback-on-failure
    fi
    args+=("$arg")
done
exec "$helm" "${args[@]}"
