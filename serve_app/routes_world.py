"""World routes: the map of places with who is where, and a persona's own view (its brief).

The owner sees the map as it is. A persona's point of view (``pov``) shows the map as that persona
believes it, and the persona's view shows only what it knows of itself and what it perceived; a
player granted that persona may read both, as its beliefs, and nothing else.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query

from serve_app.context import BELIEFS, OWNER, ServeContext
from serve_app.deps import Caller, Ctx
from serve_app.models import ID_PATTERN
from serve_app.models_world import (
    GoalOut,
    MapOccupant,
    MapOut,
    MapPlace,
    PerceptionOut,
    PersonaViewOut,
    RelationOut,
)
from serve_app.openapi import SESSION_ERRORS
from serve_app.problems import Problem

__all__ = ["router", "believed_places"]

router = APIRouter(prefix="/api/v1/sessions/{session_id}", tags=["world"], responses=SESSION_ERRORS)
SessionPath = Path(..., min_length=1, max_length=128, pattern=ID_PATTERN)
AgentPath = Path(..., min_length=1, max_length=128)
LOCATION_OF = "location_of:"
BELIEFS_READ = 200  # the most beliefs one map reads (the leading ones: places are among the most salient)


def _persona(session: Any, agent_id: str) -> Any:
    for p in session.scenario.personas:
        if p.id == agent_id:
            return p
    raise Problem(404, "not-found", f"no agent {agent_id!r} in session {session.id!r}")


def believed_places(beliefs: Any, places: set[str], personas: set[str]) -> dict[str, tuple[str, float]]:
    """Where a persona believes the others are, from its ``location_of:<persona>`` beliefs:
    ``{persona: (place, credence)}``, only for known personas and places."""
    out: dict[str, tuple[str, float]] = {}
    for b in beliefs:
        if not b.key.startswith(LOCATION_OF):
            continue
        who = b.key[len(LOCATION_OF) :]
        if who in personas and isinstance(b.value, str) and b.value in places:
            out[who] = (b.value, float(b.credence))
    return out


@router.get(
    "/map",
    response_model=MapOut,
    summary="The places, their connections and who is where; pov=<persona id> gives that persona's "
    "picture (its own place, and where it believes the others are; owner, or that persona's player)",
)
async def world_map(
    session_id: str = SessionPath,
    pov: str | None = Query(
        None, min_length=1, max_length=128, pattern=ID_PATTERN, description="a persona id: its beliefs only"
    ),
    ctx: ServeContext = Ctx,
    who=Caller,
) -> MapOut:
    await ctx.authorize(who, session_id, OWNER if pov is None else BELIEFS, pov)
    session = await ctx.session(session_id)
    if pov is not None:
        _persona(session, pov)
    world = await session.aworld()
    where: dict[str, list[MapOccupant]] = {loc.id: [] for loc in session.scenario.locations}
    if pov is None:
        for p in session.scenario.personas:
            live = world.personas[p.id]
            where.setdefault(live.location, []).append(MapOccupant(id=p.id, name=p.name, status=live.status))
    else:
        me = world.personas[pov]
        where.setdefault(me.location, []).append(MapOccupant(id=pov, name=me.name, status=me.status))
        beliefs = await session.abeliefs(pov, BELIEFS_READ)
        others = {p.id for p in session.scenario.personas if p.id != pov}
        names = {p.id: p.name for p in session.scenario.personas}
        for pid, (place, credence) in sorted(believed_places(beliefs, set(where), others).items()):
            where[place].append(MapOccupant(id=pid, name=names[pid], credence=credence))
    places = [
        MapPlace(id=loc.id, name=loc.name, neighbours=list(loc.neighbours), occupants=where[loc.id])
        for loc in session.scenario.locations
    ]
    return MapOut(turn=world.turn, pov=pov, places=places)


@router.get(
    "/agents/{agent_id}/view",
    response_model=PersonaViewOut,
    summary="A persona's own view: where it is, its state, goals and relationships, and the events it "
    "perceived (owner, or that persona's player)",
)
async def persona_view(
    session_id: str = SessionPath,
    agent_id: str = AgentPath,
    limit: int = Query(20, ge=1, le=200, description="the most perceptions to return (the latest)"),
    ctx: ServeContext = Ctx,
    who=Caller,
) -> PersonaViewOut:
    await ctx.authorize(who, session_id, BELIEFS, agent_id)
    session = await ctx.session(session_id)
    spec = _persona(session, agent_id)
    world = await session.aworld()
    chapters = await session.apov_chapters(agent_id)
    seen = [(c.turn, eid) for c in chapters for eid in c.witnessed][-limit:]
    wanted = {eid for _, eid in seen}
    summaries: dict[str, str] = {}
    if wanted:
        first = seen[0][0]
        for r in await session.areports(first - 1):
            summaries.update((e.id, e.summary) for e in r.events if e.id in wanted)
    me = world.personas[agent_id]
    place = world.locations.get(me.location)
    return PersonaViewOut(
        agent_id=agent_id,
        name=me.name,
        turn=world.turn,
        description=spec.description,
        location=me.location,
        location_name=place.name if place is not None else me.location,
        status=me.status,
        health=me.health,
        traits=dict(me.traits),
        goals=[GoalOut(text=g.text, priority=g.priority) for g in me.goals],
        relationships=[
            RelationOut(
                target=t,
                name=world.personas[t].name if t in world.personas else t,
                trust=r.trust,
                affinity=r.affinity,
            )
            for t, r in sorted(me.relationships.items())
        ],
        perceptions=[PerceptionOut(event_id=e, turn=t, summary=summaries.get(e, "")) for t, e in seen],
        known_people=sorted(chapters[-1].people) if chapters else [],
        known_places=sorted(chapters[-1].places) if chapters else [],
    )
