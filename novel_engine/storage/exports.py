"""Write an export (a story as Markdown, EPUB or HTML, events as JSON lines) to a local path or an object-store URL.

``novel-engine run --out`` takes either a file path or an ``s3://bucket/key`` URL. The URL form is
what a headless RayJob on Kubernetes uses: its pods are thrown away when the job ends, so the story
must land somewhere that outlives them. S3 goes through the same :class:`ObjectStore` (fsspec/s3fs)
as the state store, so it honours ``NOVEL_ENGINE_S3_ENDPOINT`` (or ``AWS_ENDPOINT_URL``) for an
S3-compatible server and the usual ``AWS_*`` credential variables. ``memory://name/key`` writes to
fsspec's in-process memory file system (tests).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from novel_engine.errors import ConfigError
from novel_engine.storage.objects import ObjectStore
from novel_engine.storage.settings import ENV_S3_ENDPOINT

__all__ = ["is_object_url", "check_target", "write_export", "export_session"]

OBJECT_SCHEMES = ("s3", "memory")


def is_object_url(target: str | os.PathLike) -> bool:
    """True when ``target`` is an object-store URL (``s3://`` or ``memory://``) rather than a path."""
    return urlsplit(str(target)).scheme in OBJECT_SCHEMES


def _split(url: str, flag: str) -> tuple[str, str]:
    """``s3://bucket/a/b.md`` -> (``s3://bucket``, ``a/b.md``), with a clear error for a bad URL."""
    u = urlsplit(url)
    key = u.path.lstrip("/")
    if not u.netloc:
        raise ConfigError(f"{flag}: {url!r} names no bucket; use {u.scheme}://bucket/path/story.md", setting=flag)
    if not key or key.endswith("/"):
        raise ConfigError(
            f"{flag}: {url!r} names no object key; use {u.scheme}://{u.netloc}/path/story.md", setting=flag
        )
    return f"{u.scheme}://{u.netloc}", key


def check_target(target: str | os.PathLike | None, flag: str = "--out") -> None:
    """Reject a malformed object URL before a long run starts (a path is checked when written)."""
    if target is not None and is_object_url(target):
        _split(str(target), flag)


def _run(coro_fn) -> None:
    """Run an async function to completion from sync code, even if the caller already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro_fn())
        return
    # a notebook or Serve replica already runs a loop on this thread: use a private one beside it
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro_fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
            errors.append(exc)

    t = threading.Thread(target=target, name="novel-engine-export")
    t.start()
    t.join()
    if errors:
        raise errors[0]


def write_export(
    target: str | os.PathLike, text: str | bytes, *, flag: str = "--out", env: Mapping[str, str] | None = None
) -> str:
    """Write ``text`` (UTF-8 when a str) to a file path or an object URL; return where it went.

    Args:
        target: a path, ``s3://bucket/key`` or ``memory://name/key``.
        text: the content.
        flag: the option the target came from, named in error messages.
        env: the environment to read the S3 endpoint from (default ``os.environ``).

    Raises:
        ConfigError: the URL names no bucket or no key.
        StoreError: the object store is unreachable, the bucket is missing or the write failed.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    if not is_object_url(target):
        path = Path(target)
        path.write_bytes(data)
        return str(path)
    url = str(target)
    root, key = _split(url, flag)
    env = os.environ if env is None else env
    endpoint = env.get(ENV_S3_ENDPOINT) or env.get("AWS_ENDPOINT_URL") or None
    store = ObjectStore(root, s3_endpoint=endpoint)

    async def put() -> None:
        await store.open()
        try:
            await store.put(key, data)
        finally:
            await store.close()

    _run(put)
    return url


def export_session(session, target: str | os.PathLike, what: str = "story", *, flag: str = "--out") -> str:
    """Export a session's story (``what="story"``: Markdown, EPUB or HTML by the target's extension,
    see :func:`~novel_engine.story_formats.format_for_path`) or events (``"events"``) to a path or
    object URL.

    Paths go straight to the session's own exporter; object URLs get the same bytes, written to a
    temporary file first and then uploaded whole, so a reader never sees half a story.
    """
    from novel_engine.story_formats import format_for_path

    if what == "events":
        exporter = session.export_events
    else:
        fmt = "markdown" if what == "markdown" else format_for_path(target)
        exporter = lambda path: session.export(path, format=fmt)  # noqa: E731
    if not is_object_url(target):
        exporter(target)
        return str(target)
    check_target(target, flag)
    with tempfile.TemporaryDirectory(prefix="novel-engine-export-") as folder:
        tmp = Path(folder) / "export"
        exporter(tmp)
        return write_export(target, tmp.read_bytes(), flag=flag)
