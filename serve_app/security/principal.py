"""Who is calling: the :class:`Principal` every authenticated request carries."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        user_id: the stable id of the user (what session ownership refers to).
        username: the user's canonical (lower-case) name.
        via: ``"jwt"`` for an access token from ``/api/v1/auth/login``, ``"api_key"`` for an API key.
        key_id: the API key's public id when ``via == "api_key"``, else None.
    """

    user_id: str
    username: str
    via: str
    key_id: str | None = None

    @property
    def rate_key(self) -> str:
        """The rate-limit counter of this caller: one per user for tokens, one per API key."""
        return f"key:{self.key_id}" if self.via == "api_key" else f"user:{self.user_id}"
