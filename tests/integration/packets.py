"""What the local cluster's containment kept on this host, per test and for the session
(a pytest plugin, loaded by the root conftest.py).

Every cluster a test session starts, its own or tests/integration's, runs inside the
containment of tools/local_cluster/network.py. Its `off host` rules reject what would have
left by an external interface, and those counters must stay 0: a test that trips them
sends traffic off this machine, and is fixed, not excused. The session fails when any is
above 0, and its summary prints every counter, with the tests that moved them.

Each containment `down` removes appends its final counters to the session's packet log
($INFERNO_LOCAL_CLUSTER_PACKET_LOG, set here); while one that this process holds is up, each
test's share is read from the live counters before and after it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from tools.local_cluster import network
from tools.local_cluster.cluster import CONTAINMENT_RECORD

LOG = pytest.StashKey[Path]()
BY_TEST = pytest.StashKey[dict]()


def flatten(counters: dict[str, dict[str, int]]) -> Counter:
    """{family: {purpose: packets}} as one Counter keyed by "family: purpose"."""
    return Counter({f"{family}: {purpose}": packets for family, rules in counters.items()
                    for purpose, packets in rules.items()})


def held_here() -> bool:
    """Whether this process holds the live containment (it started a cluster with it)."""
    try:
        holders = json.loads(CONTAINMENT_RECORD.read_text()).get("holders", {})
    except (OSError, ValueError):
        return False
    return os.getpid() in holders.values()


def live() -> Counter:
    return flatten(network.Containment(CONTAINMENT_RECORD).counters()) if held_here() else Counter()


def logged(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def pytest_configure(config):
    handle, name = tempfile.mkstemp(prefix="inferno-packets-", suffix=".jsonl")
    os.close(handle)
    os.environ[network.PACKET_LOG_ENV] = name  # `down` in this process and in its children writes here
    config.stash[LOG] = Path(name)
    config.stash[BY_TEST] = {}


def pytest_unconfigure(config):
    config.stash[LOG].unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _packets_kept_on_host(request):
    """This test's share of the counters: the live ones it moved, and whole containments it
    started and removed itself."""
    log = request.config.stash[LOG]
    before, entries_before = live(), len(logged(log))
    yield
    moved = Counter()
    for entry in logged(log)[entries_before:]:
        moved.update(flatten(entry.get("rejected_packets", {})))
    moved.update(live())
    moved.subtract(before)
    moved = +moved  # only what rose
    if moved:
        request.config.stash[BY_TEST][request.node.nodeid] = dict(moved)


def session_totals(config) -> tuple[Counter, int]:
    """Every containment of the session: the removed ones' final counters and a live one's."""
    totals, containments = Counter(), 0
    for entry in logged(config.stash[LOG]):
        totals.update(flatten(entry.get("rejected_packets", {})))
        containments += 1
    if held_here():
        totals.update(live())
        containments += 1
    return totals, containments


def off_host(counts: Counter) -> int:
    return sum(packets for rule, packets in counts.items() if rule.split(": ", 1)[1].startswith(network.OFF_HOST))


def pytest_sessionfinish(session):
    totals, _containments = session_totals(session.config)
    if off_host(totals) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config):
    totals, containments = session_totals(config)
    if not containments:
        return
    write = terminalreporter.write_line
    terminalreporter.section("packets the local cluster's containment kept on this host")
    write(f"{containments} containment(s); off-host rejects, which must be 0: {off_host(totals)}")
    for rule in sorted(totals):
        write(f"  {totals[rule]:>8}  {rule}")
    by_test = config.stash[BY_TEST]
    if by_test:
        write("by test (the rejects during it):")
        for nodeid, moved in by_test.items():
            write(f"  {nodeid}")
            for rule in sorted(moved):
                write(f"    {moved[rule]:>6}  {rule}")
    if off_host(totals):
        write("FAILED: packets tried to leave this host; fix the traffic of the tests above that moved an "
              "`off host` rule (tests/integration/packets.py)", red=True)
