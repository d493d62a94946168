"""The web app at ``/``: the built single-page app from ``serve_app/webapp/`` (package data).

``make web`` builds ``web/`` (React + TypeScript + Vite) into that folder; the built files are not
committed. Without them the server still starts: ``/`` answers a short page saying how to build the
app, and the log says so once at start-up. Routes are hash-based in the app (``/#/sessions/...``),
so only ``/`` and ``/assets/*`` are served here and no path can shadow an API route.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["install_webapp", "webapp_dir", "BUILD_HINT"]

log = logging.getLogger("serve_app")

BUILD_HINT = "the web app is not built: run `make web` (Node 20+, npm) in the repository, then restart the server"
_MISSING_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Novel Engine</title></head>
<body><main><h1>Novel Engine</h1><p>The API is running, but {BUILD_HINT}.</p>
<p>The API itself is at <code>/api/v1</code>; its schema at <code>/openapi.json</code>.</p></main></body></html>"""
# hashed file names under /assets never change, so browsers may keep them; index.html must be
# revalidated so a new build is picked up at once
_NO_CACHE = {"Cache-Control": "no-cache"}


def webapp_dir() -> Path:
    """Where the built app lives (``serve_app/webapp`` inside the installed package)."""
    return Path(str(resources.files("serve_app").joinpath("webapp")))


def install_webapp(api: FastAPI, folder: Path | None = None) -> bool:
    """Serve the built app at ``/`` (or the how-to-build page); returns whether the build was found."""
    folder = folder or webapp_dir()
    index = folder / "index.html"
    built = index.is_file()
    if built and (folder / "assets").is_dir():
        api.mount("/assets", StaticFiles(directory=folder / "assets"), name="webapp-assets")
    if not built:
        log.warning("%s (looked in %s)", BUILD_HINT, folder)

    @api.get("/", include_in_schema=False)
    async def home() -> object:
        if built:
            return FileResponse(index, media_type="text/html", headers=_NO_CACHE)
        return HTMLResponse(_MISSING_PAGE, status_code=200, headers=_NO_CACHE)

    return built
