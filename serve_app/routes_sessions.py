"""Session routes: create, list, read, delete, fork, and play or page through turns.

Every route answers only the session's owner; anyone else gets the same 404 as for a session that
does not exist (see :meth:`ServeContext.authorize`). Engine calls that block on Ray run in the
thread pool, so the replica's event loop keeps serving other requests and sockets.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from novel_engine.config import parse_settings
from novel_engine.errors import InvalidActionError, UnknownScenarioError
from novel_engine.scenarios import describe_builtins, load_scenario, parse_scenario_text, synthetic
from serve_app.context import OWNER, ServeContext
from serve_app.deps import Caller, Ctx, iso_ms
from serve_app.heads import head_of, heads_of
from serve_app.models import (
    ID_PATTERN,
    CatalogOut,
    CreateSession,
    ForkIn,
    PersonaBrief,
    PlayingOut,
    SessionItem,
    SessionOut,
    SessionPage,
    TurnIn,
    TurnOut,
    TurnPage,
)
from serve_app.openapi import SESSION_ERRORS, problems
from serve_app.problems import Problem
from serve_app.security.access_port import SessionAccess, SessionLimitError

__all__ = ["router", "session_out"]

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"], responses=SESSION_ERRORS)
SessionPath = Path(..., min_length=1, max_length=128, pattern=ID_PATTERN)


#: where every new session stands (a turn-0 summary on every runtime): the create response says so
#: without asking the session's host or director, which may be busy playing other sessions' turns
NEW_HEAD = {"turn": 0, "tension": 0.0, "restarted": False}


async def session_out(
    ctx: ServeContext, rec: SessionAccess, session: Any, head: dict[str, Any] | None = None, *, new: bool = False
) -> SessionOut:
    """The session as the API shows it; ``new``: just created here (no fork parent to look up)."""
    head = head or await session.asummary()
    finished = await session.afinished(head["turn"])
    if new or "parent" in head:  # a head read from the store says whose fork it is
        parent = head.get("parent")
    else:
        stored = await head_of(ctx.store, rec.session_id, with_tension=False)
        parent = stored.parent if stored is not None else None
    return SessionOut(
        id=rec.session_id,
        name=rec.name,
        turn=head["turn"],
        tension=head["tension"],
        status="finished" if finished else "active",
        title=session.scenario.title,
        seed=session.seed,
        created_at=iso_ms(rec.created_ms),
        llm=session.settings.llm or "offline",
        personas=[PersonaBrief(id=p.id, name=p.name) for p in session.scenario.personas],
        parent=parent,
    )


def _scenario(ctx: ServeContext, body: CreateSession) -> Any:
    if body.scenario_yaml is not None:
        try:
            sc = parse_scenario_text(body.scenario_yaml, source="scenario_yaml")  # ScenarioError -> 422
        except RecursionError:  # PyYAML recurses once per nesting level
            raise Problem(
                422,
                "invalid-scenario",
                "the scenario is nested too deeply to be a scenario",
                errors=[("body.scenario_yaml", "nested too deeply")],
            ) from None
        if body.agent_count is not None and body.agent_count != len(sc.personas):
            raise Problem(
                422,
                "validation",
                "agent_count must match the uploaded scenario's personas (or be omitted)",
                errors=[("body.agent_count", "does not match the number of personas in the scenario")],
            )
        return sc
    if body.scenario is not None:
        if body.agent_count is not None and body.agent_count != len(body.scenario.get("personas") or []):
            raise Problem(
                422,
                "validation",
                "agent_count must match the inline scenario's personas (or be omitted)",
                errors=[("body.agent_count", "does not match the number of personas in the scenario")],
            )
        return load_scenario(body.scenario)  # ScenarioError -> 422 with body.scenario.<path> errors
    if body.world_template == "synthetic":
        n = body.agent_count
        if n is None or n > ctx.config.max_agents:
            raise Problem(
                422,
                "validation",
                f"a synthetic world needs agent_count between 1 and {ctx.config.max_agents}",
                errors=[("body.agent_count", f"required for synthetic, at most {ctx.config.max_agents}")],
            )
        return synthetic(personas=n, seed=body.settings.seed or 0)
    try:
        sc = load_scenario(body.world_template)
    except UnknownScenarioError as err:
        raise Problem(422, "validation", err.message, errors=[("body.world_template", err.message)]) from None
    if body.agent_count is not None and body.agent_count != len(sc.personas):
        msg = (
            f"{body.world_template} has {len(sc.personas)} personas; omit agent_count or give "
            f"{len(sc.personas)} (use world_template 'synthetic' for any cast size)"
        )
        raise Problem(422, "validation", msg, errors=[("body.agent_count", msg)])
    return sc


@router.get(
    "/catalog",
    response_model=CatalogOut,
    summary="What you may choose for a new session: built-in templates, language models, the cast limit",
)
async def catalog(ctx: ServeContext = Ctx, who=Caller) -> CatalogOut:
    templates = await run_in_threadpool(describe_builtins)
    return CatalogOut(templates=templates, llms=list(ctx.llm.allowed), max_agents=ctx.config.max_agents)


@router.get(
    "/playing",
    response_model=list[PlayingOut],
    summary="The agents other users granted you (you may read their beliefs and queue their actions)",
)
async def playing(ctx: ServeContext = Ctx, who=Caller) -> list[PlayingOut]:
    rows = await ctx.access.played_by(who.user_id)
    return [PlayingOut(session_id=s, session_name=n, agent_id=a) for s, n, a in rows]


@router.post("", status_code=201, response_model=SessionOut, summary="Start a session (you own it)")
async def create_session(body: CreateSession, response: Response, ctx: ServeContext = Ctx, who=Caller) -> SessionOut:
    scenario = _scenario(ctx, body)
    if len(scenario.personas) > ctx.config.max_agents:
        raise Problem(
            422,
            "validation",
            f"at most {ctx.config.max_agents} personas per session",
            errors=[("body.scenario.personas", f"at most {ctx.config.max_agents}")],
        )
    chosen = {k: v for k, v in body.settings.model_dump().items() if v is not None}
    chosen.update(ctx.llm.session_settings(chosen.pop("llm"), chosen.pop("llm_options", None)))
    settings = parse_settings(chosen, personas_per_actor=ctx.config.personas_per_actor)
    sid = uuid.uuid4().hex[:12]
    # The owner first (with the limit checked in the same transaction), then the story: an owner
    # row without a story is never listed, and it is removed if the story cannot be made.
    try:
        rec = await ctx.access.add_session(sid, who.user_id, body.session_name, ctx.config.max_sessions_per_user)
    except SessionLimitError as err:
        raise Problem(409, "session-limit", err.message) from None
    try:
        session = await ctx.engine.acreate_session(scenario, settings=settings, session_id=sid, detached=True)
    except BaseException:
        await ctx.access.remove_session(sid)
        raise
    response.headers["Location"] = f"/api/v1/sessions/{sid}"
    return await session_out(ctx, rec, session, dict(NEW_HEAD), new=True)


@router.get(
    "",
    response_model=SessionPage,
    summary="Your sessions, oldest first, each with its turn, tension, title, seed and fork parent",
)
async def list_sessions(
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=200),
    ctx: ServeContext = Ctx,
    who=Caller,
) -> SessionPage:
    recs, total = await ctx.access.sessions_of(who.user_id, offset, limit)
    heads = await heads_of(ctx.store, [r.session_id for r in recs])
    items = []
    for r in recs:
        head = heads[r.session_id]
        known = vars(head) if head is not None else {}
        items.append(SessionItem(id=r.session_id, name=r.name, created_at=iso_ms(r.created_ms), **known))
    return SessionPage(
        items=items,
        total=total,
        offset=offset,
        limit=limit,
    )


@router.get("/{session_id}", response_model=SessionOut, summary="A session's status, turn, personas and tension")
async def get_session(session_id: str = SessionPath, ctx: ServeContext = Ctx, who=Caller) -> SessionOut:
    rec = await ctx.authorize(who, session_id, OWNER)
    return await session_out(ctx, rec, *await ctx.session_head(session_id))


@router.delete("/{session_id}", status_code=204, response_class=Response, summary="End a session for good")
async def delete_session(session_id: str = SessionPath, ctx: ServeContext = Ctx, who=Caller) -> Response:
    await ctx.authorize(who, session_id, OWNER)
    await ctx.access.remove_session(session_id)
    await ctx.end(session_id)
    return Response(status_code=204)


@router.post(
    "/{session_id}/fork",
    status_code=201,
    response_model=SessionOut,
    summary="A new session (yours) continuing this story from the end of a turn, with a new seed "
    "and player actions for its next turn if given",
)
async def fork_session(
    body: ForkIn, response: Response, session_id: str = SessionPath, ctx: ServeContext = Ctx, who=Caller
) -> SessionOut:
    rec = await ctx.authorize(who, session_id, OWNER)
    session = await ctx.session(session_id)
    turn = (await session.asummary())["turn"]
    at = turn if body.at_turn is None else body.at_turn
    if at > turn:
        raise Problem(
            422,
            "validation",
            f"at_turn {at} has not been played; the session has turns 0..{turn}",
            errors=[("body.at_turn", f"must be between 0 and {turn}")],
        )
    for agent in body.agent_actions:
        if not any(p.id == agent for p in session.scenario.personas):
            raise Problem(
                422,
                "validation",
                f"no agent {agent!r} in session {session_id!r}",
                errors=[(f"body.agent_actions.{agent}", "no such agent")],
            )
    sid = uuid.uuid4().hex[:12]
    fork = await session.afork(at, body.seed, session_id=sid, detached=True)
    try:
        new = await ctx.access.add_session(sid, who.user_id, body.session_name or f"{rec.name} (fork at turn {at})")
    except BaseException:
        await run_in_threadpool(fork.close)
        raise
    try:
        # applied by the fork's next turn, like a player's queued actions (dropped and reported then
        # if one no longer fits the world)
        for agent, action in body.agent_actions.items():
            await ctx.access.queue_action(sid, agent, action.model_dump(mode="json"))
    except BaseException:
        await ctx.access.remove_session(sid)
        await run_in_threadpool(fork.close)
        raise
    response.headers["Location"] = f"/api/v1/sessions/{sid}"
    return await session_out(ctx, new, fork)


def _turn_out(report: Any, players: list[str] | None = None, dropped: list[dict] | None = None) -> TurnOut:
    d = report.to_dict()
    return TurnOut(**d, player_actions=players or [], dropped_actions=dropped or [])


@router.post(
    "/{session_id}/turns",
    response_model=TurnOut,
    responses=problems(502),
    summary="Play one turn: your actions override those agents' choices; queued player actions apply too",
)
async def play_turn(body: TurnIn, session_id: str = SessionPath, ctx: ServeContext = Ctx, who=Caller) -> TurnOut:
    await ctx.authorize(who, session_id, OWNER)
    async with ctx.turn_lock(session_id):
        return await _play(ctx, session_id, body)


async def _play(ctx: ServeContext, session_id: str, body: TurnIn) -> TurnOut:
    session = await ctx.session_to_play(session_id)
    queued = await ctx.access.take_actions(session_id)
    mine = {k: v.model_dump(mode="json") for k, v in body.agent_actions.items()}
    pending = {k: v for k, v in queued.items() if k not in mine}
    dropped: list[dict] = []
    try:
        while True:
            try:
                report = await session.astep(
                    {**pending, **mine}, [w.model_dump(mode="json") for w in body.world_events]
                )
                break
            except InvalidActionError as err:
                # A queued action that no longer fits the world (its target moved away...) is
                # dropped and reported; the caller's own bad action is the caller's 422.
                field = str(err.details.get("field", ""))
                agent = field.split(".")[1] if field.startswith("agent_actions.") else None
                if agent is None or agent not in pending:
                    raise
                dropped.append({"agent_id": agent, "reason": err.message})
                del pending[agent]
    except BaseException:
        await ctx.access.put_back(session_id, pending)
        raise
    return _turn_out(report, sorted(pending), dropped)


@router.get("/{session_id}/turns", response_model=TurnPage, summary="Played turns, oldest first, after a turn number")
async def list_turns(
    session_id: str = SessionPath,
    after: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(20, ge=1, le=100),
    ctx: ServeContext = Ctx,
    who=Caller,
) -> TurnPage:
    await ctx.authorize(who, session_id, OWNER)
    session, head = await ctx.session_summary(session_id)
    page = await session.areports(after, limit + 1)  # one more: is there a next page?
    more = len(page) > limit
    page = page[:limit]
    return TurnPage(
        items=[_turn_out(r) for r in page],
        total=head["turn"],
        after=after,
        limit=limit,
        next_after=page[-1].turn if more else None,
    )
