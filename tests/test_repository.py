"""The repository stands on its own: no tracked text file points at notes kept outside it
(the background documents a contributor may have, a path above the checkout) or at tracker
issue numbers, which mean nothing to a reader of the code."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".py", ".md", ".html", ".js", ".css", ".toml"}
NAMES = {"Makefile", ".env.example"}
PATHS = {".ci/run"}
# Built from parts so this file does not match itself.
FORBIDDEN = re.compile(
    "|".join(
        [
            re.escape("../" + "shared"),
            re.escape("upstream-api" + ".md"),
            re.escape("DESIGN" + ".md"),
            re.escape("STYLE" + ".md"),
            re.escape("seed-api" + "-doc"),
            r"\b[Ii]ssue" + r" #?\d+",
        ]
    )
)


def _tracked_text_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
        ).stdout.split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [
        ROOT / name
        for name in listed
        if name
        and (Path(name).suffix in SUFFIXES or Path(name).name in NAMES or name in PATHS)
        and "locale" not in Path(name).parts
    ]


def test_the_pattern_catches_what_it_is_for():
    assert FORBIDDEN.search("see " + "../" + "shared/x")
    assert FORBIDDEN.search("as " + "upstream-api" + ".md section 2.4 says")
    assert FORBIDDEN.search("fixes " + "issue" + " 12")
    assert not FORBIDDEN.search("an issue with the socket")


def test_no_file_points_outside_the_repository_or_at_issue_numbers():
    offenders = []
    for path in _tracked_text_files():
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if FORBIDDEN.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert offenders == []
