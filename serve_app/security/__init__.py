"""The serve app's security layer: users, access tokens (JWT), API keys, rate limits, audit trail.

Use :class:`AuthService` (with :class:`AuthSettings` from the environment) for everything. What it
keeps (users, keys, the audit log, counters; and for the routes, session ownership and player
grants) goes through the :class:`AccessPort`, whose adapters (:func:`access_for`) keep it in the
engine's own state store. The FastAPI router and the credential dependency live in
:mod:`serve_app.security.fastapi`, which is imported separately so the CLI can create users
without loading FastAPI.
"""

from serve_app.security.access_port import AccessPort
from serve_app.security.access_store import access_for
from serve_app.security.principal import Principal
from serve_app.security.service import AuthService
from serve_app.security.settings import AuthSettings

__all__ = ["AccessPort", "access_for", "Principal", "AuthSettings", "AuthService"]
