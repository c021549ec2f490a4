"""The life events the API and the CLI record: name, request model, handler."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from app.schemas import events as schemas
from app.services.events import life_events as le
from app.services.events.birth import register_birth
from app.services.events.death import register_death
from app.services.events.family import change_name, register_divorce, register_marriage
from app.services.events.identity import change_card, reestablish_pin
from app.services.events.residence import change_residence


@dataclass(frozen=True)
class Kind:
    name: str  # the path segment: POST /v1/life-events/<name>
    model: type[BaseModel]
    handler: le.Handler
    summary: str


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("births", schemas.BirthRequest, register_birth,
         "Register a birth: new PIN, parents, household, permanent residence; health insurance "
         "under 6"),
    Kind("deaths", schemas.DeathRequest, register_death,
         "Register a death: deceased, residence deregistered, cards revoked, VNeID account "
         "closed, marriage ended; funeral allowance"),
    Kind("residence-changes", schemas.ResidenceChangeRequest, change_residence,
         "Register a permanent, temporary or current residence"),
    Kind("marriages", schemas.MarriageRequest, register_marriage, "Register a marriage"),
    Kind("divorces", schemas.DivorceRequest, register_divorce, "Record a divorce"),
    Kind("name-changes", schemas.NameChangeRequest, change_name, "Change a citizen's name"),
    Kind("card-changes", schemas.CardChangeRequest, change_card,
         "A chip card is lost, revoked, renewed or (re-)issued"),
    Kind("pin-reestablishments", schemas.PinReestablishmentRequest, reestablish_pin,
         "Cancel a PIN and establish a new one from corrected data"),
)}
