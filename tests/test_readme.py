"""The README works from a fresh clone: every link it has resolves inside the repository,
and so does every file it names."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _tracked() -> set[str]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def _docs() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "benchmarks/README.md",
    ]


def test_the_readme_links_the_documents_it_names():
    links = LINK_RE.findall((ROOT / "README.md").read_text())

    assert "docs/chat-contract.md" in links
    assert ".env.example" in links


def test_every_relative_link_resolves_to_a_tracked_file():
    tracked = _tracked()
    for doc in _docs():
        for target in LINK_RE.findall(doc.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (doc.parent / target.split("#")[0]).resolve().relative_to(ROOT)
            assert str(path) in tracked or any(t.startswith(f"{path}/") for t in tracked), (
                doc.name,
                target,
            )


def test_no_document_points_outside_the_repository():
    for doc in _docs():
        text = doc.read_text()
        assert "/work/" not in text, doc.name
        for target in LINK_RE.findall(text):
            assert not target.startswith(("/", "file:")), (doc.name, target)
