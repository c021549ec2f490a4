"""The generated cards: consistent with the card rules row by row, realistic in aggregate, and
deterministic whatever the batching."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from app.card_rules import card_expiry, generation_for
from app.db import Database
from app.icao.dates import add_years
from app.models.card import Card, CardEvent
from app.models.population import Citizen, PopulationRun
from app.services.cards.pki import card_pki
from seed import cards as generator

UNDER_14_FROM = date(2024, 7, 1)


@pytest.fixture(scope="module")
def generated(client: Any, database: Database) -> list[tuple[Card, Citizen]]:
    """Every generated card with its holder (the app has started, so the cards exist)."""
    generated_here = select(CardEvent.card_id).where(CardEvent.action == "issued",
                                                     CardEvent.actor == "generator")
    with database.read() as session:
        rows = session.execute(select(Card, Citizen).join(Citizen, Citizen.pin == Card.pin)
                               .where(Card.id.in_(generated_here))
                               .order_by(Card.pin, Card.sequence)).all()
    return [(card, citizen) for card, citizen in rows]


@pytest.fixture(scope="module")
def reference_date(database: Database) -> date:
    with database.read() as session:
        found = session.scalar(select(PopulationRun.reference_date))
    assert found is not None
    return found


def test_every_card_expires_as_the_card_rules_say(generated: list[tuple[Card, Citizen]]) -> None:
    wrong = [card.pin for card, holder in generated if card.expiry_date != card_expiry(
        date_of_birth=holder.birth_date, issue_date=card.issue_date)]
    assert wrong == []


def test_every_card_has_the_generation_of_its_issue_date(
        generated: list[tuple[Card, Citizen]]) -> None:
    assert all(card.generation == generation_for(card.issue_date).code for card, _ in generated)


def test_every_card_is_signed_by_the_document_signer_of_its_half_year(
        generated: list[tuple[Card, Citizen]], database: Database) -> None:
    pki = card_pki(database, seed=6, key_type="ec", now=datetime.now(UTC))
    wrong = [card.pin for card, _ in generated if card.persona is None
             and card.document_signer != pki.signer_label_at(card.signed_at)]
    assert wrong == []


def test_cards_are_issued_between_2021_and_the_reference_date_to_the_living(
        generated: list[tuple[Card, Citizen]], reference_date: date) -> None:
    for card, holder in generated:
        assert date(2021, 1, 1) <= card.issue_date <= reference_date
        if holder.status == "deceased" and holder.status_date is not None:
            assert card.issue_date < holder.status_date


def test_children_get_cards_only_on_request_from_july_2024(
        generated: list[tuple[Card, Citizen]]) -> None:
    early = [card.pin for card, holder in generated
             if card.issue_date < add_years(holder.birth_date, 14)
             and card.issue_date < UNDER_14_FROM]
    assert early == []


def test_sequences_run_from_one_and_only_the_latest_card_can_be_in_use(
        generated: list[tuple[Card, Citizen]]) -> None:
    by_pin: dict[str, list[Card]] = {}
    for card, _ in generated:
        by_pin.setdefault(card.pin, []).append(card)
    for cards in by_pin.values():
        assert [c.sequence for c in cards] == list(range(1, len(cards) + 1))
        assert all(c.status not in ("active", "held") for c in cards[:-1])


def test_every_card_has_its_issue_event_and_ended_cards_their_last_event(
        database: Database) -> None:
    with database.read() as session:
        without_issue = session.scalar(select(func.count()).select_from(Card).where(
            ~select(CardEvent.id).where(CardEvent.card_id == Card.id,
                                        CardEvent.action == "issued").exists()))
        mismatched = session.scalar(select(func.count()).select_from(Card).where(
            Card.status != "active",
            ~select(CardEvent.id).where(CardEvent.card_id == Card.id,
                                        CardEvent.status == Card.status).exists()))
    assert (without_issue, mismatched) == (0, 0)


def _ages(generated: list[tuple[Card, Citizen]], database: Database,
          on: date) -> tuple[Counter[str], Counter[str]]:
    holders = {holder.pin for _, holder in generated}
    with database.read() as session:
        people = session.execute(select(Citizen.pin, Citizen.birth_date)
                                 .where(Citizen.status == "alive")).all()
    population, with_card = Counter[str](), Counter[str]()
    for pin, born in people:
        band = "adult" if add_years(born, 14) <= on else "child"
        population[band] += 1
        with_card[band] += pin in holders
    return population, with_card


def test_most_adults_and_few_children_hold_a_card(generated: list[tuple[Card, Citizen]],
                                                  database: Database,
                                                  reference_date: date) -> None:
    population, with_card = _ages(generated, database, reference_date)
    assert with_card["adult"] / population["adult"] > 0.85
    assert with_card["child"] / population["child"] < 0.15


def test_a_realistic_share_of_cards_ended_or_expired(generated: list[tuple[Card, Citizen]],
                                                     reference_date: date) -> None:
    statuses = Counter(card.status for card, _ in generated)
    expired = sum(1 for card, _ in generated if card.status == "active"
                  and card.expiry_date is not None and card.expiry_date < reference_date)
    total = len(generated)
    assert 0.05 < statuses["replaced"] / total < 0.3
    assert 0.005 < statuses["lost"] / total < 0.08
    assert 0 < expired / total < 0.05


def test_a_death_revokes_every_card_of_the_deceased_lost_ones_too(
        generated: list[tuple[Card, Citizen]]) -> None:
    of_dead = [c for c, holder in generated if holder.status == "deceased"]
    assert [c for c in of_dead if c.status == "revoked" and c.status_reason == "death"]
    assert [(c.pin, c.sequence, c.status) for c in of_dead
            if c.status in ("active", "held", "lost")] == []


def test_seeding_twice_adds_nothing(database: Database, reference_date: date) -> None:
    assert generator.seed_cards(database, seed=6, reference_date=reference_date) == 0


def _simulated(people: generator.People, seed: int, reference_date: date) -> dict[str, Any]:
    draws = generator.Draws(seed, np.array([int(p) for p in people.pins], dtype=np.uint64))
    cards = generator.simulate(people, draws, generator.day(reference_date))
    batch = generator.rows(people, cards, first_id=1, dialect="sqlite")
    return {row[1] + "/" + str(row[2]): row[3:] for row in batch.cards[1]}


def _slice(people: generator.People, part: slice) -> generator.People:
    births = people.births
    return generator.People(
        pins=people.pins[part], death=people.death[part], alive=people.alive[part],
        deceased=people.deceased[part],
        births=generator.Births(births.year[part], births.month[part], births.dom[part],
                                births.day[part]))


def test_cards_do_not_depend_on_the_batching(database: Database, reference_date: date) -> None:
    with database.engine.connect() as connection:
        people = next(generator.people_batches(connection))
    whole = _simulated(people, 6, reference_date)
    half = len(people.pins) // 2
    halves = {**_simulated(_slice(people, slice(0, half)), 6, reference_date),
              **_simulated(_slice(people, slice(half, None)), 6, reference_date)}
    assert whole == halves


def test_another_seed_gives_other_cards(database: Database, reference_date: date) -> None:
    with database.engine.connect() as connection:
        people = next(generator.people_batches(connection))
    assert _simulated(people, 6, reference_date) != _simulated(people, 7, reference_date)


def test_vectorised_expiry_equals_the_card_rules() -> None:
    rng = random.Random(14)
    births = [date(1900, 1, 1) + timedelta(days=rng.randrange(45_000)) for _ in range(3000)]
    births += [date(2000, 2, 29), date(1996, 2, 29), date(2008, 2, 29)] * 50
    issued = [born + timedelta(days=rng.randrange(30_000)) for born in births]
    days = generator.expiry_of(generator.Births.of(births),
                               np.array([generator.day(d) for d in issued]))
    got = [None if d >= generator.NEVER else generator.EPOCH + timedelta(days=int(d))
           for d in days]
    assert got == [card_expiry(date_of_birth=b, issue_date=i) for b, i in zip(births, issued,
                                                                             strict=True)]
