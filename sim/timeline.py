"""Months as integers: month 0 is the start census (a January); helpers name the calendar.

Why integers: every clock in the model (statutory weeks, waits, cohorts) is arithmetic on months,
and arrays of int16 months are small and fast. 4.33 weeks make a month (docs/MODEL.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

WEEKS_PER_MONTH = 4.33


def parse_year_month(text: str) -> tuple[int, int]:
    year, month = text.split("-")
    return int(year), int(month)


@dataclass(frozen=True)
class Timeline:
    start_year: int
    start_month: int
    n_months: int

    @classmethod
    def from_strings(cls, start: str, end: str) -> "Timeline":
        sy, sm = parse_year_month(start)
        ey, em = parse_year_month(end)
        return cls(sy, sm, (ey - sy) * 12 + (em - sm) + 1)

    def month_index(self, text: str) -> int:
        """Month index of a 'YYYY-MM' string (may be negative or beyond the horizon)."""
        year, month = parse_year_month(text)
        return (year - self.start_year) * 12 + (month - self.start_month)

    def calendar(self, t: int) -> tuple[int, int]:
        """(year, month 1-12) of month index t."""
        total = self.start_year * 12 + (self.start_month - 1) + t
        return total // 12, total % 12 + 1

    def academic_year(self, t: int) -> int:
        """Calendar year in which the academic year containing month t began (September)."""
        year, month = self.calendar(t)
        return year if month >= 9 else year - 1

    def financial_year(self, t: int) -> int:
        """Calendar year in which the financial year containing month t began (April)."""
        year, month = self.calendar(t)
        return year if month >= 4 else year - 1

    def timestamp(self, t: int) -> pd.Timestamp:
        year, month = self.calendar(t)
        return pd.Timestamp(year=year, month=month, day=1)


def weeks_to_months(weeks: float) -> float:
    return weeks / WEEKS_PER_MONTH
