"""The serve app's security layer: users, access tokens (JWT), API keys, rate limits, audit trail.

Use :class:`AuthService` (with :class:`AuthSettings` from the environment) for everything; the
FastAPI router and the credential dependency live in :mod:`serve_app.security.fastapi`, which is
imported separately so the CLI can create users without loading FastAPI.
"""

from serve_app.security.principal import Principal
from serve_app.security.service import AuthService
from serve_app.security.settings import AuthSettings

__all__ = ["Principal", "AuthSettings", "AuthService"]
