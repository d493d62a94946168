"""``novel-engine users create``: add a user of the serve app to the state store.

The password is prompted for twice on a terminal, or read from the first line of stdin with
``--password-stdin`` (for scripts: ``printf '%s\\n' "$PW" | novel-engine users create ada
--password-stdin``). It never appears on the command line, where other users could see it.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Callable
from typing import TextIO

from novel_engine.errors import InvalidInputError
from novel_engine.storage import StoreSettings, open_store
from serve_app.security.access_store import access_for
from serve_app.security.audit import AuditTrail
from serve_app.security.users import UserDirectory, canonical_username, check_password

__all__ = ["read_password", "create_user_command"]


def read_password(
    password_stdin: bool, stdin: TextIO | None = None, prompt: Callable[[str], str] = getpass.getpass
) -> str:
    """The new user's password, from stdin or a terminal prompt (asked twice).

    Raises:
        InvalidInputError: nothing on stdin, no terminal to prompt on, or the two entries differ.
    """
    stdin = sys.stdin if stdin is None else stdin
    if password_stdin:
        password = stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInputError("--password-stdin: no password on the first line of stdin", field="password")
        return password
    if not stdin.isatty():
        raise InvalidInputError(
            "no terminal to ask for the password on; pipe it in with --password-stdin", field="password"
        )
    password = prompt("Password: ")
    check_password(password)  # say so now rather than after the second prompt
    if prompt("Repeat password: ") != password:
        raise InvalidInputError("the passwords do not match", field="password")
    return password


def create_user_command(
    username: str,
    settings: StoreSettings,
    password_stdin: bool = False,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
) -> int:
    """Create a user in the store ``settings`` names; print its id. Returns the exit code (0).

    Raises:
        InvalidInputError: a bad username or password.
        ConflictError: the username is taken.
        StoreError: the store cannot be opened.
    """
    name = canonical_username(username)  # a bad name fails before the password is asked for
    password = read_password(password_stdin, stdin)
    check_password(password)
    store = open_store(settings)

    async def create() -> str:
        await store.open()
        try:
            access = access_for(store)
            user_id = await UserDirectory(access).create(name, password)
            await AuditTrail(access).record("user_created", user_id, username=name, via="cli")
            return user_id
        finally:
            await store.close()

    user_id = asyncio.run(create())
    print(f"created user {name} (id {user_id})", file=out or sys.stdout)
    return 0
