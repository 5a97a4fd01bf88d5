"""A real SeaweedFS S3 server for these tests (no mocks); built on first use like the local cluster."""

from __future__ import annotations

import shutil

import pytest

from tools.s3_server import build
from tools.s3_server.server import S3Server

# Skipped only when weed can be neither found in the cache nor built.
requires_weed = pytest.mark.skipif(
    shutil.which("go") is None and not build.is_built(),
    reason="Go is not on PATH and SeaweedFS's weed is not cached (tools/s3_server/build.py)")


@pytest.fixture(scope="session")
def weed():
    return build.ensure_built()


@pytest.fixture
def make_server(weed, tmp_path):
    """Start S3Servers in tmp_path; each is stopped after the test and must leave nothing behind."""
    made: list[S3Server] = []

    def make(name: str = "s3") -> S3Server:
        server = S3Server(tmp_path / name, binary=weed)
        made.append(server)
        return server.start()

    yield make
    for server in made:
        server.stop()
        assert server.leftovers() == [] and server.tmp_sockets() == []


@pytest.fixture(scope="module")
def server(weed, tmp_path_factory):
    s3 = S3Server(tmp_path_factory.mktemp("s3"), binary=weed).start()
    yield s3
    s3.stop()
    assert s3.leftovers() == []
