"""Agent routes: the cast, trait changes, beliefs, player grants and queued player actions.

An owner may grant one agent of a session to another user (``PUT .../agents/{agent_id}/player``).
That player may read that agent's beliefs and queue its actions (here or on the WebSocket), and
nothing else; queued actions are applied by the next turn, whoever plays it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Response

from novel_engine.core.events import Decision
from serve_app.context import ACT, BELIEFS, OWNER, ServeContext
from serve_app.deps import Caller, Ctx, dump
from serve_app.models import (
    ID_PATTERN,
    ActionQueued,
    AgentOut,
    AgentUpdate,
    BeliefsOut,
    LensRow,
    PlayerGrant,
    TruthLensOut,
)
from serve_app.openapi import SESSION_ERRORS
from serve_app.problems import Problem

__all__ = ["router", "queue_player_action"]

router = APIRouter(prefix="/api/v1/sessions/{session_id}/agents", tags=["agents"], responses=SESSION_ERRORS)
SessionPath = Path(..., min_length=1, max_length=128, pattern=ID_PATTERN)
AgentPath = Path(..., min_length=1, max_length=128)


def _require_agent(session: Any, agent_id: str) -> Any:
    for p in session.scenario.personas:
        if p.id == agent_id:
            return p
    raise Problem(404, "not-found", f"no agent {agent_id!r} in session {session.id!r}")


async def _owner_and_agent(ctx: ServeContext, who: Any, session_id: str, agent_id: str) -> Any:
    """The session, after checking the caller owns it and it has this agent."""
    await ctx.authorize(who, session_id, OWNER)
    session = await ctx.session(session_id)
    _require_agent(session, agent_id)
    return session


async def _agents(ctx: ServeContext, session: Any, only: str | None = None) -> list[AgentOut]:
    world = await session.aworld()
    meta = await ctx.access.agents(session.id)
    out = []
    for p in session.scenario.personas:
        if only is not None and p.id != only:
            continue
        live = world.personas[p.id]
        m = meta.get(p.id)
        out.append(
            AgentOut(
                id=p.id,
                name=p.name,
                location=live.location,
                status=live.status,
                health=live.health,
                traits=dict(live.traits),
                player=m.player_name if m else None,
                capabilities=list(m.capabilities or ()) if m else [],
            )
        )
    return out


@router.get("", response_model=list[AgentOut], summary="The session's agents: where they are, traits, players")
async def list_agents(session_id: str = SessionPath, ctx: ServeContext = Ctx, who=Caller) -> list[AgentOut]:
    await ctx.authorize(who, session_id, OWNER)
    return await _agents(ctx, await ctx.session(session_id))


@router.put(
    "/{agent_id}",
    response_model=AgentOut,
    summary="Change an agent's traits (from the next turn on) and its capabilities",
)
async def update_agent(
    body: AgentUpdate, session_id: str = SessionPath, agent_id: str = AgentPath, ctx: ServeContext = Ctx, who=Caller
) -> AgentOut:
    session = await _owner_and_agent(ctx, who, session_id, agent_id)
    if body.parameters:
        await session.aupdate_agent(agent_id, body.parameters)
    if body.capabilities is not None:
        await ctx.access.set_capabilities(session_id, agent_id, body.capabilities)
    return (await _agents(ctx, session, agent_id))[0]


@router.get(
    "/{agent_id}/beliefs",
    response_model=BeliefsOut,
    summary="An agent's leading beliefs, most salient first (owner, or that agent's player)",
)
async def agent_beliefs(
    session_id: str = SessionPath,
    agent_id: str = AgentPath,
    limit: int = Query(20, ge=1, le=200),
    ctx: ServeContext = Ctx,
    who=Caller,
) -> BeliefsOut:
    await ctx.authorize(who, session_id, BELIEFS, agent_id)
    session = await ctx.session(session_id)
    _require_agent(session, agent_id)
    beliefs = await session.abeliefs(agent_id, limit)
    return BeliefsOut(agent_id=agent_id, beliefs=dump(list(beliefs)))


def _truth(world: Any, key: str) -> tuple[bool, Any]:
    """Whether ``key`` has a truth in the world, and what it is: a world fact, or where a persona is
    (``location_of:<persona>``); other keys (who is hostile, who talked) are opinions about events."""
    if key in world.facts:
        return True, world.facts[key]
    if key.startswith("location_of:"):
        p = world.personas.get(key.split(":", 1)[1])
        return (True, p.location) if p is not None else (False, None)
    return False, None


@router.get(
    "/{agent_id}/truth-lens",
    response_model=TruthLensOut,
    summary="An agent's beliefs beside what is true in the world (the owner only)",
)
async def truth_lens(
    session_id: str = SessionPath,
    agent_id: str = AgentPath,
    limit: int = Query(50, ge=1, le=200),
    ctx: ServeContext = Ctx,
    who=Caller,
) -> TruthLensOut:
    session = await _owner_and_agent(ctx, who, session_id, agent_id)
    beliefs = await session.abeliefs(agent_id, limit)
    world = await session.aworld()
    rows = []
    for b in beliefs:
        checkable, truth = _truth(world, b.key)
        rows.append(
            LensRow(
                key=b.key,
                believed=b.value,
                credence=b.credence,
                contested=b.contested,
                truth=truth,
                checkable=checkable,
                matches=(b.value == truth) if checkable else None,
            )
        )
    return TruthLensOut(agent_id=agent_id, turn=world.turn, rows=rows)


@router.put(
    "/{agent_id}/player",
    response_model=AgentOut,
    summary="Grant an agent to another user: they may read its beliefs and send its actions",
)
async def grant_player(
    body: PlayerGrant, session_id: str = SessionPath, agent_id: str = AgentPath, ctx: ServeContext = Ctx, who=Caller
) -> AgentOut:
    session = await _owner_and_agent(ctx, who, session_id, agent_id)
    user = await ctx.auth.get_user_by_name(body.username)
    if user is None:
        raise Problem(422, "validation", f"no user {body.username!r}", errors=[("body.username", "no such user")])
    if user["id"] == who.user_id:
        raise Problem(
            422,
            "validation",
            "you own the session: you already control every agent",
            errors=[("body.username", "is the session's owner")],
        )
    await ctx.access.set_player(session_id, agent_id, user["id"], user["username"])
    await ctx.auth.audit(
        "player_granted", who.user_id, session_id=session_id, agent_id=agent_id, player=user["username"]
    )
    return (await _agents(ctx, session, agent_id))[0]


@router.delete("/{agent_id}/player", status_code=204, response_class=Response, summary="Revoke an agent's player")
async def revoke_player(
    session_id: str = SessionPath, agent_id: str = AgentPath, ctx: ServeContext = Ctx, who=Caller
) -> Response:
    await _owner_and_agent(ctx, who, session_id, agent_id)
    await ctx.access.set_player(session_id, agent_id, None, None)
    await ctx.auth.audit("player_revoked", who.user_id, session_id=session_id, agent_id=agent_id)
    return Response(status_code=204)


async def queue_player_action(ctx: ServeContext, who: Any, session_id: str, agent_id: str, action: Decision) -> int:
    """Queue ``action`` for the agent's next turn (owner or the agent's player); return that turn.

    The action is checked against the schema now and against the world when the turn is played;
    one that no longer fits by then is dropped and reported in that turn's answer.
    """
    await ctx.authorize(who, session_id, ACT, agent_id)
    session = await ctx.session(session_id)
    _require_agent(session, agent_id)
    await ctx.access.queue_action(session_id, agent_id, action.model_dump(mode="json"))
    return (await session.asummary())["turn"] + 1


@router.post(
    "/{agent_id}/actions",
    status_code=202,
    response_model=ActionQueued,
    summary="Queue an action for the agent's next turn (owner, or that agent's player)",
)
async def queue_action(
    body: Decision, session_id: str = SessionPath, agent_id: str = AgentPath, ctx: ServeContext = Ctx, who=Caller
) -> ActionQueued:
    turn = await queue_player_action(ctx, who, session_id, agent_id, body)
    return ActionQueued(session_id=session_id, agent_id=agent_id, for_turn=turn)
