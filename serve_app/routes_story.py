"""Story routes: the narrative (Markdown or JSON), exports (Markdown, EPUB, HTML), the causal graph and the
explanation of an event."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse, Response

from novel_engine.errors import NovelEngineError
from serve_app.context import BELIEFS, OWNER, ServeContext
from serve_app.deps import Caller, Ctx, dump
from serve_app.models import ID_PATTERN, NarrativeOut
from serve_app.openapi import SESSION_ERRORS
from serve_app.problems import Problem

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/sessions/{session_id}", tags=["story"], responses=SESSION_ERRORS)
SessionPath = Path(..., min_length=1, max_length=128, pattern=ID_PATTERN)


@router.get(
    "/narrative",
    response_model=NarrativeOut,
    responses={200: {"content": {"text/markdown": {}}}},
    summary="The story so far: Markdown (format=markdown) or JSON with the prose of each turn; "
    "pov=<persona id> tells it as that persona saw it (owner, or that persona's player)",
)
async def narrative(
    session_id: str = SessionPath,
    format: Literal["json", "markdown"] = Query("json"),
    pov: str | None = Query(
        None,
        min_length=1,
        max_length=128,
        pattern=ID_PATTERN,
        description="a persona id: its perceptions and beliefs only",
    ),
    ctx: ServeContext = Ctx,
    who=Caller,
) -> Any:
    # a point of view tells only what that persona knows: its player may read it, as its beliefs
    await ctx.authorize(who, session_id, OWNER if pov is None else BELIEFS, pov)
    session = await ctx.session(session_id)
    if pov is not None:
        return await _pov_narrative(session, session_id, pov, format)
    if format == "markdown":
        text = await session.amarkdown()
        return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
    reports = await session.areports()
    text = await session.anarrative()
    return NarrativeOut(
        title=session.scenario.title,
        text=text,
        turns=[{"turn": r.turn, "prose": r.prose, "tension": r.tension} for r in reports],
    )


async def _pov_narrative(session: Any, session_id: str, pov: str, format: str) -> Any:
    if not any(p.id == pov for p in session.scenario.personas):
        raise Problem(404, "not-found", f"no persona {pov!r} in session {session_id!r}")
    chapters = await session.apov_chapters(pov)
    title = session.scenario.title
    if format == "markdown":
        parts = [f"# {title}", *(f"## Turn {c.turn}\n\n{c.text}" for c in chapters)]
        return PlainTextResponse("\n\n".join(parts) + "\n", media_type="text/markdown; charset=utf-8")
    tension = {r.turn: r.tension for r in await session.areports()}
    return NarrativeOut(
        title=title,
        text="\n\n".join(c.text for c in chapters),
        turns=[{"turn": c.turn, "prose": c.text, "tension": tension.get(c.turn, 0.0)} for c in chapters],
    )


@router.get("/causal-graph", summary="What caused what, as node-link JSON")
async def causal_graph(session_id: str = SessionPath, ctx: ServeContext = Ctx, who=Caller) -> dict[str, Any]:
    await ctx.authorize(who, session_id, OWNER)
    session = await ctx.session(session_id)
    return await session.acausal_graph()


@router.get("/events/{event_id}/explain", summary="The chain of causes behind an event, root causes first")
async def explain(
    session_id: str = SessionPath,
    event_id: str = Path(..., min_length=1, max_length=128),
    ctx: ServeContext = Ctx,
    who=Caller,
) -> dict[str, Any]:
    await ctx.authorize(who, session_id, OWNER)
    session = await ctx.session(session_id)
    try:
        chain = await session.aexplain(event_id)
    except NovelEngineError as err:
        if str(err.message).startswith("unknown event"):
            raise Problem(404, "not-found", f"no event {event_id!r} in session {session_id!r}") from None
        raise
    return {"event_id": event_id, "causes": dump(list(chain))}


_EXTENSIONS = {"markdown": "md", "epub": "epub", "html": "html"}


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "content": {"text/markdown": {}, "application/epub+zip": {}, "text/html": {}},
            "description": "the story as a file to download",
        }
    },
    summary="The story as a file: Markdown, an EPUB e-book, or a standalone HTML page with its tension curve",
)
async def export(
    session_id: str = SessionPath,
    format: Literal["markdown", "epub", "html"] = Query("markdown"),
    ctx: ServeContext = Ctx,
    who=Caller,
) -> Response:
    from novel_engine.story_formats import MEDIA_TYPES

    await ctx.authorize(who, session_id, OWNER)
    session = await ctx.session(session_id)
    body = await session.arender(format)
    return Response(
        body,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{session_id}.{_EXTENSIONS[format]}"'},
    )
