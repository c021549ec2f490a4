"""A use case split into a reading decision and the writes it leaves (framework-free).

A service's read phase looks everything up and checks every rule on a reading transaction, then
returns either its final answer or :class:`Pending`: the writes still to make, as one function of
a writing session that returns the answer. ``app.services.storage.units.run_phases`` runs the two
phases; on SQLite only the writes hold the one writer lock that every login's writes queue for.
Writes that must be conditional on the database (a code consumed once) stay conditional there:
the read phase decided on what it saw, the write phase still enforces it.

A read phase that meets something only a write may settle (an account lock whose term has lapsed
is lifted on use) raises :class:`MustWrite`; the whole use case then runs in one writing
transaction. Code that would write checks :func:`reading_only` first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")
READ_ONLY = "dancu.read_phase"  # Session.info key set on a read phase's session


class MustWrite(Exception):
    """The read phase cannot decide without writing: run the use case in a writing transaction."""


def reading_only(session: Session) -> bool:
    """True on a read phase's session (no writes allowed: raise :class:`MustWrite`)."""
    return bool(session.info.get(READ_ONLY))


@dataclass(frozen=True)
class Pending(Generic[T]):
    """Writes left by a read phase: ``write(session)`` makes them and returns the answer."""

    write: Callable[[Session], T]


def settle(step: T | Pending[T], session: Session) -> T:
    """The answer of a read phase's ``step``, its writes made on ``session`` (one transaction)."""
    return step.write(session) if isinstance(step, Pending) else step


def failing(error: Exception) -> Pending[T]:
    """Writes that end in ``error`` once made (a refusal whose records must persist)."""
    def write(_: Session) -> T:
        raise error
    return Pending(write)


def then(first: Callable[[Session], object], step: T | Pending[T]) -> Pending[T]:
    """``first``'s writes, then ``step``'s, in one transaction."""
    def write(session: Session) -> T:
        first(session)
        return settle(step, session)
    return Pending(write)
