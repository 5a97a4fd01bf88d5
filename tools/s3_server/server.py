"""SeaweedFS's S3 gateway as a local, throw-away S3 server for tests.

One ``weed mini`` process runs the master, a volume server, the filer, the S3 gateway and
the admin server (no UI; WebDAV, Iceberg and Lance off), all bound to 127.0.0.1 on ports
that were free at the first start. ``weed mini`` rather than ``weed server -s3``: its
filer announces itself at once in single-master mode, so the first upload works as soon as
S3 answers (``weed server`` holds S3 writes ~7 s longer, waiting for the filer lock ring),
and it shuts down in order in ~1.5 s (``weed server`` stops its volume server first and
then spends 15 s retrying a metadata flush). S3 authentication is on: ``s3.json`` lists one
identity whose access key and secret key are random for each ``S3Server`` and that may
do everything on every bucket.

Layout of ``root`` (the data dir)::

    root/data/        volumes, the filer's leveldb and the master's metadata
    root/logs/weed.log
    root/s3.json      the identities (mode 0600)
    root/state.json   pid, ports and credentials, for ``python -m tools.s3_server status|down``

``stop()`` then ``start()`` (or ``kill()`` then ``start()``) keeps the ports, the
credentials and the data, so clients made before keep working.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import socket
import string
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tools.local_cluster.processes import (ClusterError, Component, is_alive, port_in_use,
                                           signal_group, wait_until)
from tools.local_cluster.processes import start as start_process
from tools.local_cluster.processes import stop as stop_process

from . import build

REGION = "us-east-1"
SERVICES = ("master", "volume", "filer", "s3", "admin")
# Every port weed mini listens on; with explicit gRPC ports none is derived as port+10000.
PORT_NAMES = tuple(name for service in SERVICES for name in (service, f"{service}.grpc"))
START_TIMEOUT = 90.0
# weed mini stops in order in ~1.5 s, but its volume server's HTTP drain sometimes waits (up to
# 30 s) on a kept-alive connection after the filer has closed its store: SIGKILL then.
STOP_GRACE = 5.0
PORT_RANGE = (20000, 32768)
# The unix sockets weed registers under /tmp, named after ports; SIGKILL leaves them behind.
TMP_SOCKETS = ("/tmp/seaweedfs-{service}-grpc-{grpc}.sock", "/tmp/seaweedfs-{service}-{port}.sock")
# A volume id that never exists: the master answers its lookup 503 while warming up, else 404.
NO_SUCH_VOLUME = 4294967295


class S3ServerError(ClusterError):
    """The server did not start or stop; the message points at its log."""


def pick_ports(count: int) -> list[int]:
    """``count`` free ports on 127.0.0.1 below Linux's ephemeral range (32768-60999), so that no
    outgoing connection takes one between a kill and the next start (weed mini warns about that)."""
    chosen: list[int] = []
    for port in random.sample(range(PORT_RANGE[0], PORT_RANGE[1]), 400):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
        if len(chosen) == count:
            return chosen
    raise S3ServerError(f"found no {count} free ports in {PORT_RANGE[0]}-{PORT_RANGE[1]} on 127.0.0.1")


def random_key(length: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _index in range(length))


def is_our_weed(pid: int, s3_port: int | None) -> bool:
    """True when ``pid`` is a live weed serving S3 on ``s3_port`` (not a reused pid)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return is_alive(pid) and f"-s3.port={s3_port}".encode() in args


class S3Server:  # pylint: disable=too-many-instance-attributes
    """A local SeaweedFS S3 endpoint in ``root``, with auth on; see the module docstring."""

    def __init__(self, root: Path, *, binary: Path | None = None, region: str = REGION) -> None:
        self.root = Path(root).resolve()
        self.region = region
        self.binary = binary
        self.access_key = "AKIA" + random_key(16, string.ascii_uppercase + string.digits)
        self.secret_key = random_key(40, string.ascii_letters + string.digits)
        self.ports: dict[str, int] = {}
        self.component: Component | None = None
        self.startup_seconds: float | None = None

    # --- where things are ---------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "logs" / "weed.log"

    @property
    def identities(self) -> Path:
        return self.root / "s3.json"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def endpoint_url(self) -> str:
        if "s3" not in self.ports:
            raise S3ServerError("the S3 server has not been started yet, so it has no port")
        return f"http://127.0.0.1:{self.ports['s3']}"

    # --- clients ------------------------------------------------------------

    def client(self, *, access_key: str | None = None, secret_key: str | None = None, **config: Any):
        """A boto3 S3 client for this server (path-style, SigV4); ``config`` overrides botocore Config."""
        options: dict[str, Any] = {"signature_version": "s3v4", "s3": {"addressing_style": "path"},
                                   "connect_timeout": 5, "read_timeout": 60,
                                   "retries": {"max_attempts": 3, "mode": "standard"}}
        options.update(config)
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=Config(**options),
            aws_access_key_id=access_key or self.access_key, aws_secret_access_key=secret_key or self.secret_key)

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def env(self) -> dict[str, str]:
        """Environment variables that point the AWS CLI and SDKs at this server."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region, "AWS_ENDPOINT_URL_S3": self.endpoint_url}

    # --- life cycle ---------------------------------------------------------

    def running(self) -> bool:
        return self.component is not None and is_alive(self.component.pid)

    def command(self, weed: Path) -> list[str]:
        ports = [flag for service in SERVICES for flag in (
            f"-{service}.port={self.ports[service]}", f"-{service}.port.grpc={self.ports[f'{service}.grpc']}")]
        return [
            str(weed), "-logtostderr=true", "mini",  # logs to stderr (weed.log), not to files in /tmp
            f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", *ports,
            "-master.telemetry=false", "-master.volumeSizeLimitMB=64",
            "-webdav=false", "-admin.ui=false", "-admin.port.legacy=0", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={self.identities}", "-s3.autoCreateBucket=false",  # a missing bucket is NoSuchBucket
        ]  # fmt: skip

    def start(self, timeout: float = START_TIMEOUT, *, wait_writable: bool = True) -> S3Server:
        """Start weed and wait until the S3 endpoint answers a signed ListBuckets.

        On a data dir that already has volumes the master then refuses new file ids for a
        15 s warm-up (5 s pulse x 3, fixed in SeaweedFS) and uploads hang until it ends;
        ``wait_writable`` (the default) waits that out too, so a restart takes ~17 s.
        """
        if self.running():
            return self
        weed = self.binary or build.ensure_built()
        if not self.ports:
            self.ports = self.saved_ports() or dict(zip(PORT_NAMES, pick_ports(len(PORT_NAMES)), strict=True))
        busy = self.open_ports()
        if busy:
            raise S3ServerError(f"cannot start the S3 server in {self.root}: its ports {busy} are in use (a data "
                                "dir keeps its ports: the master's state is in data/m<port>); free them or use a new "
                                "root")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.write_identities()
        with open(self.log, "a", encoding="utf-8") as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} start {' '.join(self.command(weed))}\n")
        started = time.monotonic()
        self.component = start_process("weed", self.command(weed), self.log.parent, self.ports["s3"])
        self.save_state()
        try:
            wait_until(self.component, self.answers, timeout, "answering a signed ListBuckets")
            if wait_writable:
                wait_until(self.component, self.writable, timeout, "its master's warm-up (no uploads before)")
        except ClusterError as error:
            self.stop()
            raise S3ServerError(str(error)) from error
        self.startup_seconds = round(time.monotonic() - started, 2)
        return self

    def answers(self) -> bool:
        self.client(connect_timeout=1, read_timeout=3, retries={"max_attempts": 1}).list_buckets()
        return True

    def writable(self) -> bool:
        """False while the master is warming up after a restart (it would hold back every upload)."""
        url = f"http://127.0.0.1:{self.ports['master']}/dir/lookup?volumeId={NO_SUCH_VOLUME}"
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (local URL)
                return True
        except urllib.error.HTTPError as error:
            return error.code != 503

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM weed (SIGKILL after ``grace`` s; it takes ~1.5 s, or hangs) and wait until its ports are free."""
        if self.running():
            signal_group(self.component, signal.SIGCONT)  # a paused weed would not see the SIGTERM
            stop_process(self.component, grace)
        self.wait_gone()

    def kill(self) -> None:
        """SIGKILL weed, as a crash or a pulled plug would; ``start()`` brings it back on the same data."""
        if self.running():
            signal_group(self.component, signal.SIGKILL)
        self.wait_gone()

    def pause(self) -> None:
        """SIGSTOP weed: connections stay open but nothing answers, until ``resume()``."""
        signal_group(self._require_running(), signal.SIGSTOP)

    def resume(self) -> None:
        signal_group(self._require_running(), signal.SIGCONT)

    def unread_request_bytes(self) -> int:
        """Bytes that clients sent to the S3 port and weed has not read yet (> 0 while paused mid-request)."""
        local = f"0100007F:{self.ports['s3']:04X}"
        total = 0
        with open("/proc/net/tcp", encoding="ascii") as table:
            for line in table.readlines()[1:]:
                fields = line.split()
                if fields[1] == local and fields[3] == "01":  # ESTABLISHED
                    total += int(fields[4].split(":")[1], 16)
        return total

    def wait_for_unread_request(self, timeout: float = 30.0) -> None:
        """After ``pause()``: wait until a client's request is queued unread, i.e. it is in flight."""
        deadline = time.monotonic() + timeout
        while self.unread_request_bytes() == 0:
            if time.monotonic() > deadline:
                raise S3ServerError(f"no request reached port {self.ports['s3']} within {timeout:.0f}s")
            time.sleep(0.05)

    def _require_running(self) -> Component:
        if self.component is None or not self.running():
            raise S3ServerError(f"the S3 server is not running; see {self.log}")
        return self.component

    def wait_gone(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.leftovers():
            if time.monotonic() > deadline:
                raise S3ServerError(f"the S3 server left {self.leftovers()} behind; see {self.log}")
            time.sleep(0.1)
        for path in self.tmp_sockets():
            path.unlink(missing_ok=True)

    def leftovers(self) -> list[str]:
        """The process and ports of this server that are still alive (empty once stopped)."""
        found = [f"pid {self.component.pid}"] if self.running() else []
        return found + [f"port {name}={port}" for name, port in self.open_ports().items()]

    def open_ports(self) -> dict[str, int]:
        return {name: port for name, port in self.ports.items() if port_in_use(port)}

    def tmp_sockets(self) -> list[Path]:
        paths = []
        for service in SERVICES:
            port, grpc = self.ports.get(service), self.ports.get(f"{service}.grpc")
            paths += [Path(pattern.format(service=service, port=port, grpc=grpc)) for pattern in TMP_SOCKETS]
        return [path for path in paths if path.exists() or path.is_symlink()]

    # --- files --------------------------------------------------------------

    def write_identities(self) -> None:
        config = {"identities": [{
            "name": "inferno-test-admin",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]}
        fd = os.open(self.identities, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2)

    def status(self) -> dict[str, Any]:
        running = self.running()
        return {
            "running": running, "note": "local test server: throw-away credentials, plain HTTP on 127.0.0.1",
            "endpoint_url": self.endpoint_url if self.ports else None, "region": self.region,
            "access_key": self.access_key, "secret_key": self.secret_key,
            "pid": self.component.pid if self.component else None, "rss_bytes": self.rss_bytes() if running else None,
            "startup_seconds": self.startup_seconds, "ports": self.ports, "data_dir": str(self.data_dir),
            "log": str(self.log),
        }

    def rss_bytes(self) -> int:
        try:
            with open(f"/proc/{self._require_running().pid}/status", encoding="utf-8") as handle:
                line = next(line for line in handle if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            return 0
        return int(line.split()[1]) * 1024

    def save_state(self) -> None:
        state = {"pid": self.component.pid if self.component else None, "ports": self.ports, "region": self.region,
                 "access_key": self.access_key, "secret_key": self.secret_key,
                 "command": self.component.command if self.component else []}
        fd = os.open(self.state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2)

    def saved_ports(self) -> dict[str, int] | None:
        """The ports of an earlier start in this root: the master keeps its state in data/m<master port>,
        and a master on another port mints a new cluster and freezes volume growth."""
        try:
            ports = json.loads(self.state_file.read_text(encoding="utf-8"))["ports"]
        except (OSError, ValueError, KeyError):
            return None
        return ports if set(ports) == set(PORT_NAMES) else None

    @classmethod
    def load(cls, root: Path) -> S3Server | None:
        """The server whose state.json is in ``root`` (running or not), or None."""
        server = cls(root)
        try:
            state = json.loads(server.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        server.region, server.ports = state["region"], state["ports"]
        server.access_key, server.secret_key = state["access_key"], state["secret_key"]
        if state.get("pid") and is_our_weed(state["pid"], server.ports.get("s3")):
            server.component = Component("weed", state["pid"], server.ports.get("s3"), state.get("command", []),
                                         str(server.log))
        return server
