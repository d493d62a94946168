"""Backends for the contract suite: every StateStore test runs against each of them.

``require_service(name)`` fails the run under CI (env ``CI=true``) when a service is missing, and
skips with the reason elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import pytest

from novel_engine.storage import StoreRunner, StoreSettings, open_store

PG_URL = os.environ.get("NOVEL_ENGINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("NOVEL_ENGINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str) -> None:
    """Make sure a service (``postgresql``, ``redis``, ``moto``) is usable; fail in CI, skip elsewhere."""
    problem = None
    if name == "postgresql" and not _port_open("127.0.0.1", 5432):
        problem = "PostgreSQL is not listening on 127.0.0.1:5432 (start it with .ci/run)"
    elif name == "redis" and not _port_open("127.0.0.1", 6379):
        problem = "Redis is not listening on 127.0.0.1:6379 (start it with .ci/run)"
    elif name in ("postgresql", "redis", "moto"):
        module = {"postgresql": "asyncpg", "redis": "redis", "moto": "moto.server"}[name]
        try:
            __import__(module)
        except ImportError:
            problem = f"{module} is not installed (pip install -e '.[test]')"
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required service missing in CI: {problem}")
    pytest.skip(problem)


@pytest.fixture(scope="session")
def s3_endpoint():
    """A moto S3 server on loopback for the whole test session, with a bucket."""
    require_service("moto")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    old = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="novel-engine-test")
    yield endpoint
    server.stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


BACKENDS = ["embedded", "postgresql", "redis", "s3"]


def settings_for(backend: str, tmp_path, request) -> StoreSettings:
    """Store settings that put the backend under test behind the port (the rest embedded)."""
    base = StoreSettings.embedded(tmp_path)
    if backend == "postgresql":
        require_service("postgresql")
        return StoreSettings(database_url=PG_URL, object_store_url=base.object_store_url)
    if backend == "redis":
        require_service("redis")
        return StoreSettings(
            database_url=base.database_url, redis_url=REDIS_URL, object_store_url=base.object_store_url
        )
    if backend == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        return StoreSettings(
            database_url=base.database_url,
            s3_endpoint=endpoint,
            object_store_url=f"s3://novel-engine-test/{uuid.uuid4().hex[:8]}",
        )
    return base


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def store_settings(backend, tmp_path, request) -> StoreSettings:
    return settings_for(backend, tmp_path, request)


@pytest.fixture
def runner(store_settings):
    """An opened store on its own loop; ``runner.call(lambda s: s.method(...))``."""
    with StoreRunner(open_store(store_settings)) as r:
        yield r


def sid() -> str:
    """A session id unique across test runs (PostgreSQL keeps its rows)."""
    return f"t-{uuid.uuid4().hex[:12]}"


def run(coro):
    return asyncio.run(coro)
