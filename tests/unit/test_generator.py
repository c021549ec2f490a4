"""The synthetic population is deterministic and coherent (pure: generated rows, no database)."""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from datetime import date
from typing import Any

import numpy as np
import pytest

from app import pin
from app.matching import CLAN_LAST_ETHNICITIES, accent_fold
from seed.batch import Context
from seed.columns import Rows
from seed.pipeline import batch_sizes, encoded_batches
from seed.reference import admin_units, current_province_code
from seed.rng import DAYS_PER_YEAR, UniqueBlocks
from seed.rows import generate_batch

REFERENCE = date(2026, 7, 1)
MERGER = date(2025, 7, 1)
SIZE = 20_000


def records(rows: Rows) -> list[dict[str, Any]]:
    names = list(rows.columns)
    return [dict(zip(names, values, strict=True)) for values in rows.tuples()]


class Population:
    def __init__(self, size: int, seed: int) -> None:
        batch = generate_batch(Context(seed=seed, reference_date=REFERENCE), 0, size)
        self.citizens = records(batch.tables["citizen"])
        self.households = records(batch.tables["household"])
        self.residences = records(batch.tables["residence"])
        self.relations = records(batch.tables["family_relation"])
        self.by_pin = {c["pin"]: c for c in self.citizens}
        self.links: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
        for r in self.relations:
            self.links[r["pin"]][r["kind"]].append(r)

    def parents(self, person: str) -> set[str]:
        return {r["relative_pin"] for k in ("father", "mother") for r in self.links[person][k]}

    def birth(self, person: str) -> date:
        return date.fromisoformat(self.by_pin[person]["birth_date"])


@pytest.fixture(scope="module")
def population() -> Population:
    return Population(SIZE, seed=11)


def years_between(earlier: date, later: date) -> float:
    return (later - earlier).days / DAYS_PER_YEAR


def legal_birthday(birth: date, years: int) -> date:
    try:
        return birth.replace(year=birth.year + years)
    except ValueError:
        return date(birth.year + years, 3, 1)


def test_same_seed_and_size_give_identical_rows() -> None:
    def dump(seed: int) -> list[str]:
        out = []
        for batch in encoded_batches(seed=seed, size=3000, reference_date=REFERENCE,
                                     dialect="postgresql"):
            out += ["".join(payload.copy_chunks()) for payload in batch.tables.values()]
        return out

    assert dump(5) == dump(5)
    assert dump(5) != dump(6)


def test_every_pin_is_valid_and_encodes_its_person(population: Population) -> None:
    for c in population.citizens:
        number = pin.validate(c["pin"])
        pin.check_consistent(number, birth_date=date.fromisoformat(c["birth_date"]), sex=c["sex"])
        assert number[:3] == c["birth_registration_place"]


def test_pins_are_unique(population: Population) -> None:
    assert len(population.by_pin) == len(population.citizens) == SIZE


def test_births_from_the_merger_on_carry_a_current_province_code(population: Population) -> None:
    recent = [c for c in population.citizens if date.fromisoformat(c["birth_date"]) >= MERGER]
    assert recent
    for c in recent:
        assert pin.registration_place_is_allowed(
            place_code=c["birth_registration_place"],
            registered_on=date.fromisoformat(c["birth_date"]))


def test_about_one_in_five_hundred_was_registered_abroad(population: Population) -> None:
    abroad = [c for c in population.citizens if c["birth_registration_place"] in pin.FOREIGN_CODES]
    assert 0.0005 * SIZE < len(abroad) < 0.005 * SIZE
    assert all(c["birth_place_commune"] is None for c in abroad)


def test_parents_are_18_to_45_years_older_than_their_children(population: Population) -> None:
    parents = [r for r in population.relations if r["kind"] in ("father", "mother")]
    assert len(parents) > SIZE // 3
    for r in parents:
        gap = years_between(population.birth(r["relative_pin"]), population.birth(r["pin"]))
        assert 18 <= gap <= 45


def test_fathers_are_men_and_mothers_women(population: Population) -> None:
    sex = {"father": "M", "mother": "F"}
    for r in population.relations:
        if r["kind"] in sex:
            assert population.by_pin[r["relative_pin"]]["sex"] == sex[r["kind"]]


def test_spouses_married_at_the_legal_age(population: Population) -> None:
    spouses = [r for r in population.relations if r["kind"] == "spouse"]
    assert spouses
    for r in spouses:
        person = population.by_pin[r["pin"]]
        legal = legal_birthday(population.birth(r["pin"]), 20 if person["sex"] == "M" else 18)
        assert date.fromisoformat(r["started_on"]) >= legal


def test_spouse_links_go_both_ways_between_a_man_and_a_woman(population: Population) -> None:
    pairs = {(r["pin"], r["relative_pin"]) for r in population.relations if r["kind"] == "spouse"}
    for a, b in pairs:
        assert (b, a) in pairs
        assert {population.by_pin[a]["sex"], population.by_pin[b]["sex"]} == {"M", "F"}


def test_marital_status_agrees_with_spouse_links(population: Population) -> None:
    for c in population.citizens:
        current = [r for r in population.links[c["pin"]]["spouse"] if r["ended_on"] is None]
        if c["status"] == "deceased":
            continue
        assert len(current) == (1 if c["marital_status"] == 2 else 0)
        ended = [r for r in population.links[c["pin"]]["spouse"] if r["ended_on"]]
        if ended:
            assert c["marital_status"] == 3


def test_the_dead_died_after_birth_and_left_their_household(population: Population) -> None:
    dead = [c for c in population.citizens if c["status"] == "deceased"]
    assert 0.01 * SIZE < len(dead) < 0.05 * SIZE
    for c in dead:
        assert c["status_date"] > c["birth_date"]
        assert c["household_id"] is None
        assert c["relationship_to_head"] is None
        assert c["phone"] is None


def test_a_few_are_missing_with_a_date(population: Population) -> None:
    missing = [c for c in population.citizens if c["status"] == "missing"]
    assert all(c["status_date"] > c["birth_date"] for c in missing)


def test_every_household_has_one_head_who_lives_in_it(population: Population) -> None:
    members = defaultdict(list)
    for c in population.citizens:
        if c["household_id"] is not None:
            members[c["household_id"]].append(c)
    assert set(members) == {h["id"] for h in population.households}
    for h in population.households:
        heads = [c for c in members[h["id"]] if c["relationship_to_head"] == 1]
        assert [c["pin"] for c in heads] == [h["head_pin"]]


def test_households_are_plausibly_sized(population: Population) -> None:
    sizes = Counter(c["household_id"] for c in population.citizens if c["household_id"])
    average = sum(sizes.values()) / len(sizes)
    assert 2.8 < average < 4.2
    assert max(sizes.values()) <= 12


def test_relationship_to_head_agrees_with_family_links(population: Population) -> None:
    head = {h["id"]: h["head_pin"] for h in population.households}
    checked = Counter()
    for c in population.citizens:
        if c["household_id"] is None or c["relationship_to_head"] == 1:
            continue
        boss, rel = head[c["household_id"]], c["relationship_to_head"]
        parents, head_parents = population.parents(c["pin"]), population.parents(boss)
        spouse = {r["relative_pin"] for r in population.links[c["pin"]]["spouse"]
                  if not r["ended_on"]}
        if rel in (2, 3):  # wife, husband
            assert boss in spouse
        elif rel == 4:  # child
            assert boss in parents
        elif rel in (9, 10):  # father, mother of the head
            assert c["pin"] in head_parents
        checked[rel] += 1
    assert checked[2]
    assert checked[4]
    assert checked[9] + checked[10]


def test_children_live_with_their_mother(population: Population) -> None:
    for c in population.citizens:
        mothers = population.links[c["pin"]]["mother"]
        if mothers and date.fromisoformat(c["birth_date"]) > legal_birthday(REFERENCE, -18):
            mother = population.by_pin[mothers[0]["relative_pin"]]
            assert mother["household_id"] == c["household_id"]


def test_childrens_births_are_registered_where_the_family_lives(population: Population) -> None:
    wards = admin_units().legacy_wards
    communes = admin_units().communes
    home = {h["id"]: h for h in population.households}
    minor = legal_birthday(REFERENCE, -18).isoformat()
    for c in population.citizens:
        place = c["birth_registration_place"]
        if c["birth_date"] <= minor or c["household_id"] is None or place in pin.FOREIGN_CODES:
            continue
        h = home[c["household_id"]]
        if date.fromisoformat(c["birth_date"]) >= MERGER:
            assert place == communes[h["commune_code"]].province_code
        elif h["legacy_commune_code"]:
            assert place == wards[h["legacy_commune_code"]].province_code


def test_minors_without_parents_have_a_legal_representative(population: Population) -> None:
    adult = legal_birthday(REFERENCE, -18)
    orphans = [c for c in population.citizens if c["status"] == "alive"
               and date.fromisoformat(c["birth_date"]) > adult
               and not population.links[c["pin"]]["mother"]]
    assert orphans
    for c in orphans:
        (representative,) = population.links[c["pin"]]["legal_representative"]
        guardian = population.by_pin[representative["relative_pin"]]
        assert guardian["household_id"] == c["household_id"]
        assert years_between(date.fromisoformat(guardian["birth_date"]),
                             date.fromisoformat(c["birth_date"])) >= 18


def test_names_are_nfc_and_folded_for_search(population: Population) -> None:
    for c in population.citizens:
        parts = (c["surname"], c["middle_name"], c["given_name"])
        if c["ethnicity_code"] in CLAN_LAST_ETHNICITIES:  # written "Y Moan Êban"
            parts = (c["middle_name"], c["given_name"], c["surname"])
        full = " ".join(p for p in parts if p)
        assert unicodedata.is_normalized("NFC", full)
        assert c["name_folded"] == accent_fold(full)
        assert c["surname"]
        assert c["given_name"]


def test_surnames_follow_the_regions(population: Population) -> None:
    def surnames(place: str) -> Counter:
        return Counter(c["surname"] for c in population.citizens
                       if c["birth_registration_place"] == place)

    north, south = surnames("001"), surnames("079")
    assert north["Hoàng"] > north["Huỳnh"]
    assert south["Huỳnh"] > south["Hoàng"]


def test_children_carry_their_fathers_surname(population: Population) -> None:
    for c in population.citizens:
        fathers = population.links[c["pin"]]["father"]
        if fathers and c["ethnicity_code"] == 1:
            assert c["surname"] == population.by_pin[fathers[0]["relative_pin"]]["surname"]


def test_old_cmnd_numbers_only_for_those_old_enough_and_unique(population: Population) -> None:
    numbers = [c["cmnd_number"] for c in population.citizens if c["cmnd_number"]]
    assert len(numbers) == len(set(numbers)) > SIZE // 3
    for c in population.citizens:
        if c["cmnd_number"]:
            assert c["birth_date"] < "2002-01-01"
            assert len(c["cmnd_number"]) == 9


def test_phones_have_real_prefixes_and_are_unique(population: Population) -> None:
    prefixes = {"086", "096", "097", "098", "088", "091", "094", "089", "090", "093", "070", "092",
                "056", "058", "099", "059", "087", "055"} | {f"0{n}" for n in range(32, 40)} \
        | {f"0{n}" for n in range(81, 86)} | {f"0{n}" for n in range(76, 80)}
    phones = [c["phone"] for c in population.citizens if c["phone"]]
    assert len(phones) == len(set(phones)) > SIZE // 2
    assert all(len(p) == 10 and p[:3] in prefixes for p in phones)


def test_emails_are_unique(population: Population) -> None:
    emails = [c["email"] for c in population.citizens if c["email"]]
    assert len(emails) == len(set(emails)) > 0


RESERVED_DOMAINS = ("example.com", "example.net", "example.org")  # RFC 2606 section 3
RESERVED_TLDS = (".example", ".invalid", ".test", ".localhost")  # RFC 2606 section 2, RFC 6761


def is_reserved_domain(domain: str) -> bool:
    suffixes = tuple("." + reserved for reserved in RESERVED_DOMAINS) + RESERVED_TLDS
    return domain in RESERVED_DOMAINS or domain.endswith(suffixes)


def test_emails_never_point_at_a_real_mailbox(population: Population) -> None:
    domains = Counter(c["email"].rpartition("@")[2] for c in population.citizens if c["email"])
    assert domains
    assert [domain for domain in domains if not is_reserved_domain(domain)] == []


def test_year_only_birth_dates_fall_on_the_first_of_january(population: Population) -> None:
    coarse = [c for c in population.citizens if c["birth_date_precision"] == "year"]
    assert coarse
    assert all(c["birth_date"].endswith("-01-01") and c["birth_date"] < "1960" for c in coarse)


def test_everyone_alive_has_a_permanent_residence_in_a_real_commune(population: Population) -> None:
    communes = admin_units().communes
    permanent = {r["pin"] for r in population.residences if r["kind"] == "permanent"}
    assert {c["pin"] for c in population.citizens if c["status"] != "deceased"} <= permanent
    assert all(r["commune_code"] in communes for r in population.residences)


def test_temporary_residence_lasts_at_most_two_years_and_is_the_current_place(
        population: Population) -> None:
    temporary = [r for r in population.residences if r["kind"] == "temporary"]
    current = {(r["pin"], r["commune_code"]) for r in population.residences
               if r["kind"] == "current"}
    assert temporary
    for r in temporary:
        span = date.fromisoformat(r["valid_until"]) - date.fromisoformat(r["registered_on"])
        assert span.days <= 731
        assert (r["pin"], r["commune_code"]) in current


def test_legacy_ward_only_for_registrations_before_the_merger_and_merged_into_the_commune(
        population: Population) -> None:
    wards = admin_units().legacy_wards
    with_ward = [r for r in population.residences if r["legacy_commune_code"]]
    assert with_ward
    for r in with_ward:
        assert r["registered_on"] < "2025-07-01"
        assert r["commune_code"] in wards[r["legacy_commune_code"]].current_codes
    assert all(r["legacy_commune_code"] is None for r in population.residences
               if r["registered_on"] >= "2025-07-01")


def test_deceased_keep_a_deregistered_permanent_residence(population: Population) -> None:
    dead = {c["pin"]: c for c in population.citizens if c["status"] == "deceased"}
    rows = [r for r in population.residences if r["pin"] in dead]
    assert {r["pin"] for r in rows} == set(dead)
    last = {}  # the one in force at death (an earlier one ended on a move)
    for row in sorted(rows, key=lambda r: r["registered_on"]):
        last[row["pin"]] = row
    assert all(r["deregistered_on"] == dead[pin]["status_date"] for pin, r in last.items())


def test_household_province_follows_the_commune(population: Population) -> None:
    units = admin_units()
    for h in population.households:
        if h["legacy_commune_code"]:
            ward = units.legacy_wards[h["legacy_commune_code"]]
            assert h["commune_code"] in ward.current_codes
            assert current_province_code(ward.province_code) == \
                units.communes[h["commune_code"]].province_code


def test_unique_blocks_hand_out_every_number_once() -> None:
    blocks = UniqueBlocks(seed=1, name="test", buckets=3, modulus=1000)
    taken = np.concatenate([blocks.take(np.full(400, 2)), blocks.take(np.full(600, 2))])
    assert sorted(taken.tolist()) == list(range(1000))


def test_unique_blocks_refuse_to_run_out() -> None:
    blocks = UniqueBlocks(seed=1, name="test", buckets=1, modulus=100)
    blocks.take(np.zeros(100, dtype=np.int64))
    with pytest.raises(OverflowError):
        blocks.take(np.zeros(1, dtype=np.int64))


@pytest.mark.parametrize(("size", "expected"), [
    (5, [5]), (100_000, [100_000]), (250_000, [100_000, 100_000, 50_000])])
def test_batches_split_the_size(size: int, expected: list[int]) -> None:
    assert batch_sizes(size) == expected


def test_rows_come_in_pin_order_with_sequential_ids(population: Population) -> None:
    """Sorted batches fill the PIN primary key and build the pin indexes much faster."""
    assert [c["pin"] for c in population.citizens] == sorted(population.by_pin)
    for table in (population.residences, population.relations):
        assert [r["pin"] for r in table] == sorted(r["pin"] for r in table)
        assert [r["id"] for r in table] == list(range(1, len(table) + 1))
