"""Rich tables of a population's distributions (``dancu stats``), with the reference shares."""

from __future__ import annotations

from rich.table import Table

from seed.reference import code_name, province_name
from seed.stats import BANDS, NAME_COHORTS, PopulationStats, reference_shares


def stats_tables(stats: PopulationStats) -> list[Table]:
    ref = reference_shares()
    return [_overview(stats), _pyramid(stats, ref), _surnames(stats), _classic_middle(stats, ref),
            _shares("Provinces (permanent residence, living)", stats.provinces, stats.living,
                    ref["provinces"], province_name),
            _shares("Ethnicities (living)", stats.ethnicities, stats.living, ref["ethnicities"],
                    lambda c: code_name("ethnicity", c), limit=12),
            _shares("Religions (living)", stats.religions, stats.living, ref["religions"],
                    lambda c: code_name("religion", c), limit=10),
            _shares("Marital status (living, 15+)", stats.marital, sum(stats.marital.values()),
                    {}, lambda c: code_name("marital_status", c)),
            _shares("Status (all records)", stats.status, stats.people, {}, str),
            _as_of(stats)]


def _overview(stats: PopulationStats) -> Table:
    table = Table(title="Population", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("people (records)", f"{stats.people:,}")
    table.add_row("living", f"{stats.living:,}")
    table.add_row("sex ratio (men per 100 women)", f"{stats.sex_ratio():.1f}")
    table.add_row("people per household (2019 census 3.58)",
                  f"{stats.household_members / max(stats.households, 1):.2f}")
    table.add_row("reference date", stats.reference_date.isoformat())
    table.add_row("seed", str(stats.seed))
    return table


def _pyramid(stats: PopulationStats, ref: dict) -> Table:
    table = Table(title="Age pyramid (living, age at the reference date)")
    for heading in ("age", "men", "women", "share", "reference", "sex ratio", "reference"):
        table.add_column(heading, justify="right")
    for band, label in enumerate(BANDS):
        men, women = stats.pyramid.get((band, "M"), 0), stats.pyramid.get((band, "F"), 0)
        table.add_row(label, f"{men:,}", f"{women:,}", f"{100 * stats.band_share(band):.1f}%",
                      f"{100 * ref['pyramid'][band]:.1f}%", f"{stats.sex_ratio(band):.0f}",
                      f"{ref['sex_ratio'][band]:.0f}")
    return table


def _surnames(stats: PopulationStats) -> Table:
    table = Table(title="Top surnames (all records)")
    table.add_column("surname")
    table.add_column("people", justify="right")
    table.add_column("share", justify="right")
    for surname, count in stats.surnames:
        table.add_row(surname, f"{count:,}", f"{100 * count / max(stats.people, 1):.1f}%")
    return table


def _classic_middle(stats: PopulationStats, ref: dict) -> Table:
    table = Table(title="Văn (men) / Thị (women) as the middle name, Kinh, by year of birth")
    for heading in ("born", "men", "Văn", "reference", "women", "Thị", "reference"):
        table.add_column(heading, justify="right")
    ends = [*NAME_COHORTS[1:], None]
    for k, (start, end) in enumerate(zip(NAME_COHORTS, ends, strict=True)):
        label = f"before {end}" if k == 0 else f"{start}-{end - 1}" if end else f"{start} on"
        row = [label]
        for sex in "MF":
            people, classic = stats.classic_middle.get((k, sex), (0, 0))
            row += [f"{people:,}", f"{100 * classic / max(people, 1):.0f}%",
                    f"{100 * ref['classic_middle'][(k, sex)]:.0f}%"]
        table.add_row(*row)
    return table


def _shares(title: str, counts: dict, total: int, reference: dict, label,  # type: ignore[no-untyped-def]
            limit: int | None = None) -> Table:
    table = Table(title=title)
    table.add_column("code")
    table.add_column("name")
    table.add_column("people", justify="right")
    table.add_column("share", justify="right")
    if reference:
        table.add_column("reference", justify="right")
    for code, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]:
        row = [str(code), label(code), f"{count:,}", f"{100 * count / max(total, 1):.1f}%"]
        if reference:
            row.append(f"{100 * reference.get(code, 0):.1f}%")
        table.add_row(*row)
    return table


AS_OF_ROWS = (
    ("cards", "chip cards", ""),
    ("cards_without_residence_in_force_broken",
     "cards without a residence in force on their issue date", "0"),
    ("cards_issued_before_merger", "cards issued before 2025-07-01 (pre-merger place names)", ""),
    ("registrations_before_merger_without_ward_broken",
     "residences registered before 2025-07-01 without a legacy ward", "0"),
    ("permanent_residences_ended_by_a_move",
     "permanent residences of the living ended by a move (history)", ""),
    ("birth_date_year_only", "birth dates known only by year (printed yyyy, MRZ YY<<<<)", ""),
    ("birth_date_month_year", "birth dates known by month and year (mm/yyyy, YYMM<<)", ""),
    ("names_written_clan_last", "names written given name first, clan last (Ê-đê)", ""),
)


def _as_of(stats: PopulationStats) -> Table:
    table = Table(title="Records and cards as of their dates")
    table.add_column("rule")
    table.add_column("count", justify="right")
    table.add_column("must be", justify="right")
    for key, label, expected in AS_OF_ROWS:
        table.add_row(label, f"{stats.as_of.get(key, 0):,}", expected)
    return table
