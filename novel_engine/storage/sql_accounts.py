"""Users, API keys and the audit log over SQL: the accounts half of
:class:`~novel_engine.storage.sql.SqlBackend`, which mixes this class in and provides its
``transaction()`` (the same tables and queries on every SQL dialect)."""

from __future__ import annotations

import json
from typing import Any

from novel_engine.errors import ConflictError, NotFoundError
from novel_engine.storage.json_codec import dumps

__all__ = ["SqlAccounts", "dumps"]


class SqlAccounts:
    """Users, their API keys and the audit log (mixed into ``SqlBackend``)."""

    async def put_user(self, user_id: str, data: dict[str, Any]) -> None:
        async with self.transaction() as tx:
            if await tx.execute("UPDATE users SET data = $1 WHERE id = $2", dumps(data), user_id) == 0:
                await tx.execute("INSERT INTO users (id, data) VALUES ($1, $2)", user_id, dumps(data))

    async def get_user(self, user_id: str) -> dict[str, Any]:
        async with self.transaction() as tx:
            row = await tx.fetchone("SELECT data FROM users WHERE id = $1", user_id)
        if row is None:
            raise NotFoundError(f"no user {user_id!r}", user_id=user_id)
        return json.loads(row[0])

    async def create_user(self, user_id: str, data: dict[str, Any]) -> None:
        async with self.transaction() as tx:
            if await tx.fetchone("SELECT 1 FROM users WHERE id = $1", user_id):
                raise ConflictError(f"user {user_id!r} already exists", user_id=user_id)
            await tx.execute("INSERT INTO users (id, data) VALUES ($1, $2)", user_id, dumps(data))

    async def delete_user(self, user_id: str) -> bool:
        async with self.transaction() as tx:
            await tx.execute("DELETE FROM api_keys WHERE user_id = $1", user_id)
            return await tx.execute("DELETE FROM users WHERE id = $1", user_id) > 0

    async def list_api_keys(self, user_id: str) -> list[tuple[str, dict[str, Any]]]:
        async with self.transaction() as tx:
            rows = await tx.fetch("SELECT key_hash, data FROM api_keys WHERE user_id = $1 ORDER BY key_hash", user_id)
        return [(h, json.loads(d)) for h, d in rows]

    async def put_api_key(self, key_hash: str, user_id: str, data: dict[str, Any]) -> None:
        async with self.transaction() as tx:
            await tx.execute("DELETE FROM api_keys WHERE key_hash = $1", key_hash)
            await tx.execute(
                "INSERT INTO api_keys (key_hash, user_id, data) VALUES ($1, $2, $3)", key_hash, user_id, dumps(data)
            )

    async def get_api_key(self, key_hash: str) -> tuple[str, dict[str, Any]]:
        async with self.transaction() as tx:
            row = await tx.fetchone("SELECT user_id, data FROM api_keys WHERE key_hash = $1", key_hash)
        if row is None:
            raise NotFoundError("unknown API key", key_hash=key_hash[:8])
        return row[0], json.loads(row[1])

    async def append_audit(self, actor: str, action: str, data: dict[str, Any]) -> int:
        async with self.transaction() as tx:
            row = await tx.fetchone(
                "INSERT INTO audit_log (actor, action, data) VALUES ($1, $2, $3) RETURNING id",
                actor,
                action,
                dumps(data),
            )
        return int(row[0])

    async def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        async with self.transaction() as tx:
            rows = await tx.fetch("SELECT id, actor, action, data FROM audit_log ORDER BY id DESC LIMIT $1", limit)
        return [{"id": int(i), "actor": a, "action": act, "data": json.loads(d)} for i, a, act, d in reversed(rows)]
