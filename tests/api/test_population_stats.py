"""A 50,000-person population matches the reference shares it is drawn from.

Tolerances are stated per test: a few standard errors for a sample of this size, widened where
households cluster people (surnames, provinces).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.db import Database
from seed.populate import populate
from seed.stats import BANDS, PopulationStats, collect, reference_shares
from tests.api.population_support import fresh_database

__all__ = ["fresh_database"]

SAMPLE = 50_000
REFERENCE = reference_shares()


@pytest.fixture(scope="module")
def stats(fresh_database: Callable[..., Database]) -> PopulationStats:
    database = fresh_database()
    populate(database, size=SAMPLE, seed=2026)
    with database.engine.connect() as connection:
        return collect(connection, top=50)


def expected_sex_ratio() -> float:
    men = sum(share * r / (100 + r) for share, r
              in zip(REFERENCE["pyramid"].values(), REFERENCE["sex_ratio"].values(), strict=True))
    return 100 * men / (1 - men)


def test_overall_sex_ratio_is_within_2_of_the_reference(stats: PopulationStats) -> None:
    assert abs(stats.sex_ratio() - expected_sex_ratio()) < 2


@pytest.mark.parametrize("band", range(len(BANDS)))
def test_each_age_band_is_within_1_point_of_the_pyramid(stats: PopulationStats, band: int) -> None:
    assert abs(stats.band_share(band) - REFERENCE["pyramid"][band]) < 0.01


@pytest.mark.parametrize("band", range(len(BANDS)))
def test_each_bands_sex_ratio_is_within_4_standard_errors(stats: PopulationStats,
                                                          band: int) -> None:
    men, women = stats.pyramid[(band, "M")], stats.pyramid[(band, "F")]
    ratio = REFERENCE["sex_ratio"][band]
    error = ratio * (1 / men + 1 / women) ** 0.5
    assert abs(stats.sex_ratio(band) - ratio) < 4 * error


def test_nguyen_is_a_third_of_the_population(stats: PopulationStats) -> None:
    """36% of Kinh names (rules §6.7); minorities have their own surnames."""
    nguyen = dict(stats.surnames)["Nguyễn"] / stats.people
    kinh = stats.ethnicities[1] / stats.living
    assert abs(nguyen - 0.36 * kinh) < 0.03


def test_each_province_is_within_1_point_of_its_population_share(stats: PopulationStats) -> None:
    for code, share in REFERENCE["provinces"].items():
        assert abs(stats.provinces.get(code, 0) / stats.living - share) < 0.01, code


def test_kinh_are_85_percent_within_1_5_points(stats: PopulationStats) -> None:
    assert abs(stats.ethnicities[1] / stats.living - REFERENCE["ethnicities"][1]) < 0.015


def test_most_people_have_no_religion_within_2_points(stats: PopulationStats) -> None:
    assert abs(stats.religions[0] / stats.living - REFERENCE["religions"][0]) < 0.02


def test_about_one_in_forty_records_is_of_a_deceased_person(stats: PopulationStats) -> None:
    assert 0.015 < stats.status["deceased"] / stats.people < 0.035


def test_most_adults_are_married(stats: PopulationStats) -> None:
    """2019 census: 69.2% of people aged 15+ currently married (rules §6.4)."""
    adults = sum(stats.marital.values())
    assert 0.60 < stats.marital[2] / adults < 0.75


@pytest.mark.parametrize("sex", ["M", "F"])
@pytest.mark.parametrize("cohort", range(6))
def test_van_and_thi_follow_the_birth_cohort_within_6_points(stats: PopulationStats, cohort: int,
                                                             sex: str) -> None:
    """Kinh: Văn for men / Thị for women, fading from 60%/88% (born before 1960) to 12%/25%
    (since 2010) (rules §6.8, names.json); the region factor moves the national share a little."""
    people, classic = stats.classic_middle[(cohort, sex)]
    assert abs(classic / people - REFERENCE["classic_middle"][(cohort, sex)]) < 0.06


def test_households_average_3_4_to_3_7_people(stats: PopulationStats) -> None:
    """2019 census 3.58, 2024 survey 3.59 people per household (rules §6.5)."""
    assert 3.4 < stats.household_members / stats.households < 3.7
