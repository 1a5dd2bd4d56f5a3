"""The format of an upload comes from its bytes; PyAV measures and splits it."""

from __future__ import annotations

import pytest

from tests.voice.conftest import FORMATS, make_audio
from voice import transcode
from voice.sniff import sniff_audio


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_each_format_is_told_from_its_bytes_and_measured(kind):
    data = make_audio(kind, seconds=1.5)
    assert sniff_audio(data).extension == kind
    assert transcode.duration(data) == pytest.approx(1.5, abs=0.1)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world, not audio", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"%PDF-1.7\n" * 4],
)
def test_other_files_are_not_audio(data):
    assert sniff_audio(data) is None


def test_a_file_within_the_limits_goes_as_it_is():
    data = make_audio("webm", seconds=2)
    fmt = sniff_audio(data)
    pieces = transcode.pieces(data, fmt, seconds=2.0, max_bytes=10**7, max_seconds=600)
    assert [(p.data, p.extension) for p in pieces] == [(data, "webm")]


def test_a_long_file_is_reencoded_into_pieces_within_the_limits():
    data = make_audio("ogg", seconds=13)
    fmt = sniff_audio(data)
    pieces = transcode.pieces(data, fmt, seconds=13.0, max_bytes=10**7, max_seconds=5)
    assert [p.extension for p in pieces] == ["mp3", "mp3", "mp3"]
    assert all(p.seconds <= 5 for p in pieces)
    assert sum(p.seconds for p in pieces) == pytest.approx(13, abs=0.1)
    for piece in pieces:  # each piece is real MP3 of the length it claims
        assert sniff_audio(piece.data).extension == "mp3"
        assert transcode.duration(piece.data) == pytest.approx(piece.seconds, abs=0.1)


def test_a_large_file_is_split_by_size():
    data = make_audio("wav", seconds=6)  # ~576 KB of PCM
    fmt = sniff_audio(data)
    pieces = transcode.pieces(data, fmt, seconds=6.0, max_bytes=12_000, max_seconds=600)
    assert len(pieces) >= 2
    assert all(len(p.data) <= 12_000 for p in pieces)


def test_damaged_audio_is_reported():
    data = make_audio("webm", seconds=1)[:40]
    with pytest.raises(transcode.AudioUnreadable):
        transcode.transcode(data, piece_seconds=5)
