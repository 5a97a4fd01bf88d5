"""Command line of the local cluster: up, down, status, env (and the helpers it starts).

    python -m tools.local_cluster up       # build once (cached), start, print status as JSON
    python -m tools.local_cluster up --no-real-node   # kwok nodes only: no containers, no root needed
    python -m tools.local_cluster up --snapshot-store DIR   # CSI snapshots in DIR, which `down` keeps
    python -m tools.local_cluster env      # prints: export KUBECONFIG=...
    python -m tools.local_cluster build    # only build (or find) everything `up` starts, and print the paths
    python -m tools.local_cluster image    # build (or find) Inferno's image archive, for `kind load image-archive`
    python -m tools.local_cluster status
    python -m tools.local_cluster down     # stop everything, keep the logs
    python -m tools.local_cluster kill kube-apiserver     # fault injection: crash one component
    python -m tools.local_cluster revive kube-apiserver   # start it again, same command and port
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .processes import ClusterError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="build (first time only) and start the local cluster")
    up.add_argument("--no-real-node", action="store_true",
                    help="only the control plane and kwok's nodes: no containerd, kubelet or Inferno image "
                         "(also INFERNO_LOCAL_CLUSTER_REAL_NODE=0)")
    up.add_argument("--snapshot-store", metavar="DIR", type=Path,
                    help="keep the CSI driver's snapshots in DIR (created if missing) instead of the cluster "
                         "folder's snapshot-store/; `down` never deletes it, and another cluster started with the "
                         "same DIR can restore them (disaster recovery)")
    commands.add_parser("down", help="stop every process of the cluster; logs are kept")
    commands.add_parser("status", help="show the processes, ports and kubeconfig as JSON")
    commands.add_parser("env", help="print the KUBECONFIG export for your shell")
    commands.add_parser("build", help="only build (or find) what `up` starts: the control plane and, with the real "
                                      "node, the CSI machinery and the images; print their paths")
    commands.add_parser("image", help="only build (or find) Inferno's OCI image archive, and print its name and "
                                      "path (INFERNO_IMAGE_ARCHIVE for the kind scenario)")
    for verb, text in (("kill", "SIGKILL one component, as a crash would (fault injection)"),
                       ("revive", "start a killed component again and wait until it serves")):
        commands.add_parser(verb, help=text).add_argument("component", help="e.g. kube-apiserver, snapshot-simulator")
    simulate = commands.add_parser("simulate-snapshots", help=argparse.SUPPRESS)
    simulate.add_argument("--kubeconfig", required=True)
    args = parser.parse_args(argv)

    try:
        if args.command == "simulate-snapshots":
            from .snapshots import main as simulate_main
            simulate_main(args.kubeconfig)
            return 0
        if args.command == "image":
            from . import build, images
            try:
                name, path = images.inferno_archive(build.Progress("inferno image"))
            except (build.BuildError, images.ImageError) as error:
                print(f"cluster image: {error}", file=sys.stderr)
                return 1
            print(json.dumps({"image": name, "archive": str(path)}, indent=2))
            return 0
        if args.command == "build":
            from .cluster import build_everything, real_node_default
            paths, csi_paths, archives = build_everything(real_node_default())
            csi = {name: str(path) for name, path in dataclasses.asdict(csi_paths).items()} if csi_paths else {}
            print(json.dumps({**paths.to_json(), **csi, "images": {name: str(path) for name, path in archives.items()}},
                             indent=2))
            return 0
        from .cluster import LocalCluster
        cluster = LocalCluster(real_node=False if getattr(args, "no_real_node", False) else None,
                               snapshot_store=getattr(args, "snapshot_store", None))
        if args.command == "env":
            print(cluster.env())
            return 0
        if args.command in ("kill", "revive"):
            outcome = getattr(cluster, args.command)(args.component)
            print(json.dumps(outcome if isinstance(outcome, dict) else {"killed": outcome.name, "pid": outcome.pid}))
            return 0
        result = {"up": cluster.up, "down": cluster.down, "status": cluster.status}[args.command]()
        print(json.dumps(result, indent=2))
        return 0 if args.command != "status" or result["running"] else 3
    except ClusterError as error:
        print(f"cluster {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
