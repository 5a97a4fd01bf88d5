"""A local S3 server (SeaweedFS) for developers: up, down, status.

    python -m tools.s3_server up       # build weed once (cached), start, print endpoint and keys as JSON
    python -m tools.s3_server status   # the same JSON; exit 3 when not running
    python -m tools.s3_server down     # stop it; the data and logs stay in --root

It is a LOCAL TEST SERVER: plain HTTP on 127.0.0.1, throw-away credentials that are new at
every `up` (the data in --root is kept). Default root: $INFERNO_S3_SERVER_DIR or
~/.cache/inferno-ops/cluster/s3-server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tools.local_cluster.build import BuildError, cache_root

from .server import S3Server, S3ServerError


def default_root() -> Path:
    return Path(os.environ.get("INFERNO_S3_SERVER_DIR") or cache_root() / "s3-server")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.s3_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--root", type=Path, default=None, help="data dir (default: %(default)s -> see above)")
    args = parser.parse_args(argv)
    root = args.root or default_root()
    server = S3Server.load(root)
    try:
        if args.command == "up":
            if server is None or not server.running():
                server = S3Server(root).start()
            print(json.dumps(server.status(), indent=2))
            return 0
        if args.command == "down":
            if server is not None:
                server.stop()
            print(json.dumps({"running": False, "root": str(root)}))
            return 0
        status = server.status() if server else {"running": False, "root": str(root)}
        print(json.dumps(status, indent=2))
        return 0 if status["running"] else 3
    except (S3ServerError, BuildError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
