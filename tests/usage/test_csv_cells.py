"""CSV exports are opened in spreadsheets: a cell starting like a formula must stay text."""

from __future__ import annotations

import csv
import io
import pathlib
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.factories import make_team, make_user
from tests.usage.test_views import make_record
from usage.spreadsheet import safe_cell

EXPORT = reverse("usage:export_csv")
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("", ""),
        (-3, -3),
        (12, 12),
    ],
)
def test_safe_cell(value, written):
    assert safe_cell(value) == written


@pytest.mark.django_db
def test_the_usage_csv_writes_names_as_text_and_numbers_as_numbers(client):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    owner = make_user("=cmd|' /C calc'!A0")
    team = make_team("@team", owner=owner)
    make_record(team, owner, cost="-0.25", model="+gpt")
    response = client.get(EXPORT)
    body = b"".join(response.streaming_content).decode()
    (row,) = list(csv.DictReader(io.StringIO(body)))
    assert row["user"] == "'=cmd|' /C calc'!A0"
    assert row["team"] == "'@team"
    assert row["model"] == "'+gpt"
    assert Decimal(row["cost"]) == Decimal("-0.25")  # a refund stays a number
    assert row["prompt_tokens"] == "100"


def test_every_csv_writer_goes_through_the_safe_writer():
    """A new export cannot forget: csv.writer is only called in usage.spreadsheet."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if not path.is_relative_to(ROOT / ".venv")
        and not path.is_relative_to(ROOT / "tests")
        and path != ROOT / "usage" / "spreadsheet.py"
        and ("csv.writer(" in (text := path.read_text()) or "csv.DictWriter(" in text)
    ]
    assert offenders == []
