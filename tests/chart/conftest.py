"""Fixtures for the chart tests."""

from __future__ import annotations

import pytest

from .rendering import ENVIRONMENTS, Render, render


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def environment(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def rendered() -> dict[str, Render]:
    """Each environment rendered once, as `helm install` would for a cluster without add-ons."""
    return {env: render(env) for env in ENVIRONMENTS}
