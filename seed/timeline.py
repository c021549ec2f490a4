"""The population's history against the national milestones (``dancu stats --timeline``).

Chip cards issued and VNeID accounts opened by a date, counted in the generated population and
scaled to the nation with the population's factor (:data:`NATIONAL_RECORDS` records for the
living population). Each milestone cites the sentence of the public report it comes from (the
seed documents, docs/population.md) and holds within :data:`TOLERANCE`.

Counted: chip cards (any status today, renewals and re-issues included) issued on or before the
day; accounts (any state today) opened on or before the day. Portable SQL (SQLite and PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, func, select

from app.models.account import Account
from app.models.card import Card
from app.models.population import Citizen

NATIONAL_RECORDS = 105_000_000  # "Cơ sở dữ liệu quốc gia về dân cư với hơn 105 triệu dữ liệu"
TOLERANCE = 0.05  # a scaled figure may miss its milestone by at most 5 %


@dataclass(frozen=True)
class Milestone:
    """``what`` (``cards``: chip cards issued; ``accounts``: VNeID accounts opened) by
    ``on``: more than ``figure`` (``bound="more"``) or about it (``"about"``), per ``source``."""

    what: str
    on: date
    figure: float
    bound: str
    source: str

    def holds(self, scaled: float) -> bool:
        if self.bound == "more":
            return scaled >= self.figure * (1 - TOLERANCE)
        return abs(scaled - self.figure) <= self.figure * TOLERANCE


MILESTONES: tuple[Milestone, ...] = (
    Milestone("cards", date(2022, 7, 31), 67e6, "more",
              "2022-08-10, conference of 9 Aug 2022: \"đến nay, đã cấp trên 67 triệu thẻ cho "
              "công dân\""),
    Milestone("cards", date(2022, 12, 25), 76e6, "more",
              "2022-12-25, one year of Project 06: \"cấp trên 76 triệu thẻ căn cước gắn chíp "
              "điện tử\""),
    Milestone("cards", date(2024, 7, 11), 86.3e6, "about",
              "2024-07-11, national digital-transformation committee: \"86,3 triệu công dân đã "
              "được cấp thẻ căn cước gắn chip điện tử\""),
    Milestone("accounts", date(2022, 12, 25), 2.6e6, "about",
              "2022-12-25, one year of Project 06: \"kích hoạt gần 2,6 triệu tài khoản định "
              "danh điện tử\""),
    Milestone("accounts", date(2024, 7, 11), 75.7e6, "more",
              "2024-07-11: \"hơn 75,7 triệu tài khoản VNeID đã được cấp\""),
)
# "Đến cuối tháng 7 [2022] ... cấp hơn 7.800 tài khoản định danh điện tử": the first accounts
# were opened in 2022 (2022-08-10 report), before Decree 59/2022 took effect on 2022-10-20.
FIRST_ACCOUNTS_BY = date(2022, 7, 31)


@dataclass(frozen=True)
class Reached:
    milestone: Milestone
    counted: int
    scaled: float

    @property
    def holds(self) -> bool:
        return self.milestone.holds(self.scaled)


@dataclass(frozen=True)
class Timeline:
    living: int
    factor: float
    reached: tuple[Reached, ...]
    first_account: date | None


def _day_end(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59))


def count(connection: Connection, what: str, on: date) -> int:
    if what == "cards":
        return int(connection.scalar(select(func.count()).select_from(Card)
                                     .where(Card.issue_date <= on)) or 0)
    return int(connection.scalar(select(func.count()).select_from(Account)
                                 .where(Account.created_at <= _day_end(on))) or 0)


def collect(connection: Connection) -> Timeline:
    living = int(connection.scalar(select(func.count()).select_from(Citizen)
                                   .where(Citizen.status.in_(("alive", "missing")))) or 0)
    factor = NATIONAL_RECORDS / living if living else 0.0
    counts = [count(connection, m.what, m.on) for m in MILESTONES]
    reached = tuple(Reached(m, n, n * factor) for m, n in zip(MILESTONES, counts, strict=True))
    first = connection.scalar(select(func.min(Account.created_at)))
    first_day = first.date() if isinstance(first, datetime) else (
        date.fromisoformat(str(first)[:10]) if first else None)
    return Timeline(living, factor, reached, first_day)


def timeline_table(timeline: Timeline) -> Any:
    """A rich table: each milestone, the population's count, the scaled figure, pass/fail."""
    from rich.table import Table

    table = Table(title=f"National timeline (x{timeline.factor:,.0f}: {NATIONAL_RECORDS:,} "
                  f"records / {timeline.living:,} living; tolerance {TOLERANCE:.0%})")
    for heading in ("by", "what", "counted", "scaled", "milestone", "holds"):
        table.add_column(heading, justify="right" if heading in ("counted", "scaled") else None)
    for r in timeline.reached:
        m = r.milestone
        table.add_row(m.on.isoformat(), m.what, f"{r.counted:,}", f"{r.scaled / 1e6:.1f} M",
                      f"{'>' if m.bound == 'more' else '~'} {m.figure / 1e6:.1f} M",
                      "yes" if r.holds else "NO")
    first = timeline.first_account.isoformat() if timeline.first_account else "none"
    table.add_row(f"<= {FIRST_ACCOUNTS_BY.isoformat()}", "first account", first, "", "in 2022",
                  "yes" if first_accounts_hold(timeline) else "NO")
    return table


def first_accounts_hold(timeline: Timeline) -> bool:
    first = timeline.first_account
    return first is not None and first.year == 2022 and first <= FIRST_ACCOUNTS_BY
