"""CSV for spreadsheets. A spreadsheet reads a cell that starts with = + - @ (or a tab or
carriage return, which some strip first) as a formula, so a team, user or model name could run
one on the reader's machine. Every CSV Parlor writes goes through `writer`, which prefixes such
text with an apostrophe (shown as text, not as a formula). Numbers are written as they are: a
negative amount is a number, not a formula."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


class SafeWriter:
    """csv.writer's writerow, returning the line (for streaming) with every text cell safe."""

    def __init__(self) -> None:
        self._writer = csv.writer(_Echo())

    def writerow(self, row: Iterable[Any]) -> str:
        return self._writer.writerow([safe_cell(value) for value in row])


def writer() -> SafeWriter:
    return SafeWriter()
