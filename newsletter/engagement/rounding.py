"""Small counts in exports and pages: 1–4 show as "<5", so a figure per link or per hour
never singles out a person (pure). The CLI shows exact figures to staff."""

from __future__ import annotations

SMALL = 5


def small_count(value: int) -> str:
    """`0` and anything ≥ 5 as written; 1–4 as "<5"."""
    return "<5" if 0 < value < SMALL else str(value)
