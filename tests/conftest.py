"""Shared fixtures: one Ray instance for the whole test session (started only if a test needs it)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray instance shared by every test of the session; shut down at the end."""
    ray = pytest.importorskip("ray") if os.environ.get("CI") != "true" else __import__("ray")
    from novel_engine.runtime.ray_runtime import connect

    connect(num_cpus=2)
    yield ray
    ray.shutdown()
