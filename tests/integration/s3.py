"""A real S3 server (SeaweedFS's `weed mini`, tools/s3_server) for the tests of backups to S3.

conftest.py imports the fixtures: ``from .s3 import s3_bucket, s3_server  # noqa: F401``

* ``s3_server``: one S3Server per session (auth on, random keys, 127.0.0.1 on free ports);
  ``.endpoint_url``, ``.access_key``, ``.secret_key``, ``.region``, ``.client()``, ``.env()``.
  A test may ``stop()``/``kill()``/``pause()`` it and ``start()``/``resume()`` it again:
  the ports, keys and data stay, and the next test gets it running.
* ``s3_bucket``: a new, empty bucket per test; its name is returned.
"""

from __future__ import annotations

import re
import secrets

import pytest

from tools.s3_server.server import S3Server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> S3Server:
    server = S3Server(tmp_path_factory.mktemp("s3-server")).start()
    try:
        yield server
    finally:
        server.stop()
    # `stop` leaves no process, listening port or /tmp socket behind.
    assert server.leftovers() == [] and server.tmp_sockets() == []


@pytest.fixture
def s3_bucket(s3_server, request) -> str:
    """A bucket named after the test (3-63 of [a-z0-9-]) plus a random suffix, created empty."""
    if not s3_server.running():  # an earlier test stopped or killed it and did not start it again
        s3_server.start()
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-") or "test"
    name = f"{slug}-{secrets.token_hex(4)}"
    s3_server.create_bucket(name)
    yield name
    if s3_server.running():
        s3_server.resume()  # harmless unless the test left it paused
