"""Response bodies of the map and of a persona's own view (pydantic; they make the OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["MapOccupant", "MapPlace", "MapOut", "GoalOut", "RelationOut", "PerceptionOut", "PersonaViewOut"]


class MapOccupant(BaseModel):
    """A persona at a place: where it is, or, on a persona's map, where that persona believes it is."""

    id: str
    name: str
    status: str | None = Field(default=None, description="its status (null where the map is a belief)")
    credence: float | None = Field(
        default=None, description="how sure the map's persona is of this place (null: it is the truth)"
    )


class MapPlace(BaseModel):
    """A place, the places it connects to, and who is there."""

    id: str
    name: str
    neighbours: list[str]
    occupants: list[MapOccupant]


class MapOut(BaseModel):
    """The scenario's places and their connections, with who is where after ``turn``.

    Without ``pov`` it is the truth; with ``pov`` it is that persona's picture: its own place, and
    where it believes the others are (those it has no belief about are left out)."""

    turn: int
    pov: str | None = None
    places: list[MapPlace]


class GoalOut(BaseModel):
    text: str
    priority: float


class RelationOut(BaseModel):
    """How the persona regards another one (trust and affinity in [-1, 1])."""

    target: str
    name: str
    trust: float
    affinity: float


class PerceptionOut(BaseModel):
    """An event the persona perceived."""

    event_id: str
    turn: int
    summary: str


class PersonaViewOut(BaseModel):
    """What a persona knows of itself and saw: its brief. Nothing of the world it could not perceive."""

    agent_id: str
    name: str
    turn: int
    description: str
    location: str = Field(description="the place it stands (it knows where it is)")
    location_name: str
    status: str
    health: float
    traits: dict[str, float]
    goals: list[GoalOut]
    relationships: list[RelationOut]
    perceptions: list[PerceptionOut] = Field(description="the events it perceived, latest last (at most limit)")
    known_people: list[str] = Field(description="ids of everyone it knew of by the end of the last turn")
    known_places: list[str] = Field(description="ids of every place it knew of by the end of the last turn")
