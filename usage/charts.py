"""Bar charts drawn on the server as SVG geometry: the template writes <rect> elements with
plain SVG attributes, so the page needs no script and no style attribute (CSP-clean)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

WIDTH = 600
HEIGHT = 160
GAP = 2


@dataclass
class Bar:
    day: datetime.date
    value: Decimal | int
    x: float
    y: float
    width: float
    height: float
    url: str = ""  # the usage page narrowed to this day


def bars(points: list[tuple[datetime.date, Decimal | int]]) -> list[Bar]:
    """One bar per (day, value), scaled to the tallest, in a WIDTH x HEIGHT viewBox."""
    if not points:
        return []
    top = max((value for _day, value in points), default=0) or 1
    slot = WIDTH / len(points)
    width = max(slot - GAP, 1)
    result = []
    for index, (day, value) in enumerate(points):
        height = round(float(value) / float(top) * (HEIGHT - 1), 2)
        if value and height < 1:
            height = 1.0
        x = round(index * slot + GAP / 2, 2)
        result.append(Bar(day, value, x, round(HEIGHT - height, 2), round(width, 2), height))
    return result
