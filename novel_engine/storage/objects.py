"""Large objects (Parquet event archives, large checkpoints, story exports) through fsspec.

``file:///path`` is a local folder (the embedded default), ``memory://name`` lives in this
process, and ``s3://bucket/prefix`` goes through s3fs to AWS or any S3-compatible server named by
``NOVEL_ENGINE_S3_ENDPOINT`` (credentials from the usual ``AWS_*`` variables). Calls run in a
worker thread, because fsspec's file systems are blocking (s3fs runs its own loop behind them).
Objects are written whole and renamed into place where the file system allows, so a reader never
sees half an object.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlsplit

from novel_engine.errors import NotFoundError, StoreError

__all__ = ["ObjectStore"]


class ObjectStore:
    """Keys to bytes under one URL root.

    Args:
        url: ``file:///path``, ``memory://name`` or ``s3://bucket/prefix``.
        s3_endpoint: the endpoint of an S3-compatible server (None: AWS).
    """

    def __init__(self, url: str, s3_endpoint: str | None = None) -> None:
        self.url = url
        self.s3_endpoint = s3_endpoint
        u = urlsplit(url)
        self.scheme = u.scheme
        self.root = (u.path if u.scheme == "file" else f"{u.netloc}{u.path}").rstrip("/")
        self._fs: Any = None

    async def open(self) -> None:
        try:
            import fsspec
        except ImportError:  # pragma: no cover - fsspec ships with the state extra
            raise StoreError(
                "the object store needs fsspec, a dependency of novel-engine that is missing: reinstall it (pip install novel-engine)",
                backend="object_store",
            ) from None
        try:
            if self.scheme == "s3":
                opts: dict[str, Any] = {"client_kwargs": {"endpoint_url": self.s3_endpoint}} if self.s3_endpoint else {}
                self._fs = fsspec.filesystem("s3", skip_instance_cache=True, **opts)
                await asyncio.to_thread(self._fs.ls, self.root.split("/")[0])  # the bucket must exist
            else:
                self._fs = fsspec.filesystem(self.scheme)
                if self.scheme == "file":
                    await asyncio.to_thread(self._fs.makedirs, self.root, True)
        except ImportError:
            raise StoreError(
                "S3 needs s3fs, a dependency of novel-engine that is missing: reinstall it (pip install novel-engine)",
                backend="object_store",
            ) from None
        except Exception as err:  # noqa: BLE001 - fsspec/s3fs raise many unrelated types
            raise StoreError(
                f"cannot open the object store {self.url}: {type(err).__name__}: {err}; check "
                "NOVEL_ENGINE_OBJECT_STORE_URL, NOVEL_ENGINE_S3_ENDPOINT and AWS credentials",
                backend="object_store",
                url=self.url,
            ) from None

    async def close(self) -> None:
        self._fs = None

    def _path(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise StoreError(f"invalid object key {key!r}", backend="object_store")
        return f"{self.root}/{key}"

    async def put(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key`` (replacing it); return the key."""
        path = self._path(key)

        def write() -> None:
            if self.scheme == "file":  # write aside, then rename: never a torn object
                self._fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
                tmp = f"{path}.{uuid.uuid4().hex}.tmp"
                self._fs.pipe_file(tmp, data)
                self._fs.mv(tmp, path)
            else:
                self._fs.pipe_file(path, data)

        await self._run(write, key)
        return key

    async def get(self, key: str) -> bytes:
        """The object under ``key``; ``NotFoundError`` if there is none."""
        return await self._run(lambda: self._fs.cat_file(self._path(key)), key)

    async def list(self, prefix: str) -> list[str]:
        """Keys that start with ``prefix`` (a folder-like prefix ending in ``/``), sorted."""
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root

        def ls() -> list[str]:
            try:
                found = self._fs.find(base)
            except FileNotFoundError:
                return []
            root = self.root.lstrip("/")
            return sorted(p.lstrip("/")[len(root) + 1 :] for p in found if not p.endswith(".tmp"))

        return await self._run(ls, prefix)

    async def _run(self, fn, key: str):
        if self._fs is None:
            raise StoreError("the object store is not open", backend="object_store")
        try:
            return await asyncio.to_thread(fn)
        except FileNotFoundError:
            raise NotFoundError(f"no object {key!r} in {self.url}", key=key) from None
        except StoreError:
            raise
        except Exception as err:  # noqa: BLE001
            raise StoreError(
                f"object store {self.url} failed on {key!r}: {type(err).__name__}: {err}",
                backend="object_store",
                key=key,
            ) from None
