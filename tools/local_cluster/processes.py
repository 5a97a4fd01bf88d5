"""Start, watch and stop the control-plane processes.

Each component runs in its own session (process group) with its output in
logs/<name>.log, so `down` can stop it and everything it spawned, and a failed
start can show the tail of the component's own log.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable


class ClusterError(RuntimeError):
    """A problem the user can act on; the message says what and how."""


@dataclass
class Component:
    """One started process, as recorded in state.json."""

    name: str
    pid: int
    port: int | None
    command: list[str] = field(default_factory=list)
    log: str = ""


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _index in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(name: str, command: list[str], log_dir: Path, port: int | None = None,
          env: dict[str, str] | None = None) -> Component:
    """Start one component in the background, its output going to log_dir/<name>.log."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(  # pylint: disable=consider-using-with  # runs past this call on purpose
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, **(env or {})})
    return Component(name, process.pid, port, command, str(log_path))


def wait_until(component: Component, check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll check() until it is true; fail with the component's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if not is_alive(component.pid):
            raise ClusterError(f"{component.name} exited while {what}. Last lines of {component.log}:\n"
                               f"{log_tail(Path(component.log))}")
        try:
            if check():
                return
        except Exception as error:  # pylint: disable=broad-exception-caught  # not ready yet: poll again
            last_error = f" (last check: {type(error).__name__}: {error})"
        time.sleep(0.2)
    raise ClusterError(f"{component.name} did not finish {what} within {timeout:.0f}s{last_error}. "
                       f"Last lines of {component.log}:\n{log_tail(Path(component.log))}")


def http_ok(url: str, context: ssl.SSLContext | None = None, expect: str | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310 (local URLs only)
        body = response.read().decode()
        return response.status == 200 and (expect is None or expect in body)


def stop(component: Component, grace: float = 10.0) -> None:
    """SIGTERM the component's process group, then SIGKILL whatever is left after `grace` seconds."""
    if not is_alive(component.pid):
        return
    try:
        os.killpg(component.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and is_alive(component.pid):
        time.sleep(0.1)
    if is_alive(component.pid):
        try:
            os.killpg(component.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and is_alive(component.pid):
            time.sleep(0.1)


def signal_group(component: Component, signum: int) -> None:
    """Send a signal to the component's whole process group."""
    if not is_alive(component.pid):
        raise ClusterError(f"{component.name} (pid {component.pid}) is not running")
    os.killpg(component.pid, signum)


def wait_until_gone(component: Component, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while is_alive(component.pid) or (component.port and port_in_use(component.port)):
        if time.monotonic() > deadline:
            raise ClusterError(f"{component.name} still runs or holds port {component.port} after {timeout:.0f}s")
        time.sleep(0.1)


def save(path: Path, components: list[Component], extra: dict) -> None:
    path.write_text(json.dumps({**extra, "components": [asdict(c) for c in components]}, indent=2))


def load(path: Path) -> tuple[list[Component], dict]:
    data = json.loads(path.read_text())
    components = [Component(**c) for c in data.pop("components", [])]
    return components, data
