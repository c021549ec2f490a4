"""Calendar arithmetic shared by the card rules and the test PKI.

Adding years to 29 February lands on 28 February in a common year: Vietnamese law does not say which
day a person born on 29 February reaches an age, so the sandbox picks the last day of the same month
(documented assumption, see docs/ for the card rules).
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from typing import TypeVar

D = TypeVar("D", date, datetime)


def add_months(value: D, months: int) -> D:
    """``value`` moved by ``months`` calendar months, the day clamped to the month's end."""
    month_index = value.month - 1 + months
    year, month = value.year + month_index // 12, month_index % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def add_years(value: D, years: int) -> D:
    """``value`` moved by ``years``; 29 February becomes 28 February in a common year."""
    return add_months(value, 12 * years)


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC to the second (naive values are taken as UTC)."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.replace(microsecond=0)
