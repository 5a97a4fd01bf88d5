"""What every pytest run of this repository shares (tests/ and tools/).

A machine runs one real node at a time (the local cluster's `up` refuses a second). Tests
marked `own_real_node` start their own real-node clusters, so they run first in the session,
before tests/integration starts its session cluster."""

from __future__ import annotations

OWN_REAL_NODE = "own_real_node"
# What the local cluster's containment kept on this host, per test and for the session; the
# session fails when a packet tried to leave it.
pytest_plugins = ("tests.integration.packets",)


def pytest_configure(config):
    config.addinivalue_line("markers", f"{OWN_REAL_NODE}: starts its own real-node clusters; runs first in the "
                                       "session, before tests/integration's session cluster exists")


def pytest_collection_modifyitems(session, config, items):  # pylint: disable=unused-argument  # hook signature
    items.sort(key=lambda item: item.get_closest_marker(OWN_REAL_NODE) is None)  # a stable sort: marked ones first
