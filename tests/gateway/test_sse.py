from __future__ import annotations

import pytest

from gateway.sse import SSEDecoder
from tests.gateway.fakes import NORMAL_STREAM


def decode(*chunks: bytes) -> list[str]:
    decoder = SSEDecoder()
    events = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events + decoder.close()


def with_line_ending(stream: bytes, eol: bytes) -> bytes:
    return stream.replace(b"\n", eol)


EXPECTED = decode(NORMAL_STREAM)


def test_it_decodes_a_whole_stream():
    assert len(EXPECTED) == 6
    assert EXPECTED[1].startswith('{"id": "chatcmpl-123"')
    assert "你好" in EXPECTED[1]
    assert "🎵" in EXPECTED[2]
    assert EXPECTED[-1] == "[DONE]"


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_it_gives_the_same_events_whatever_the_split(eol):
    stream = with_line_ending(NORMAL_STREAM, eol)
    assert decode(stream) == EXPECTED
    for offset in range(len(stream) + 1):
        assert decode(stream[:offset], stream[offset:]) == EXPECTED, offset


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_it_decodes_one_byte_at_a_time(eol):
    stream = with_line_ending(NORMAL_STREAM, eol)
    assert decode(*(stream[i : i + 1] for i in range(len(stream)))) == EXPECTED


def test_it_survives_two_splits_anywhere_in_crlf_and_multibyte_text():
    stream = 'data: {"c":\r\ndata: "你好🎵"}\r\n\r\ndata:[DONE]\r\n\r\n'.encode()
    expected = ['{"c":\n"你好🎵"}', "[DONE]"]
    for a in range(len(stream) + 1):
        for b in range(a, len(stream) + 1):
            assert decode(stream[:a], stream[a:b], stream[b:]) == expected, (a, b)


def test_it_delivers_an_event_as_soon_as_its_blank_line_arrives():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: one\n") == []
    assert decoder.feed(b"\n") == ["one"]
    assert decoder.feed(b"data: two\r\n\r\n") == ["two"]
    assert decoder.feed(b"data: three\r\r") == ["three"]
    assert decoder.feed(b"\ndata: four\n\n") == ["four"]


def test_it_accepts_data_with_or_without_a_space():
    assert decode(b"data:x\n\ndata: y\n\ndata:  z\n\n") == ["x", "y", " z"]


def test_it_joins_multi_line_data_with_newlines():
    assert decode(b"data: first\ndata: second\ndata\n\n") == ["first\nsecond\n"]


def test_it_ignores_comments_and_other_fields():
    stream = b": PING\n\n:\n\nevent: message\nid: 7\nretry: 1000\ndata: x\ndatum: no\n\n"
    assert decode(stream) == ["x"]


def test_a_comment_only_stream_yields_nothing():
    assert decode(b": PING\n\n: PING\n\n") == []


def test_eof_ends_the_last_event():
    assert decode(b"data: a\n\ndata: [DONE]") == ["a", "[DONE]"]
    assert decode(b"data: a\n\ndata: [DONE]\n") == ["a", "[DONE]"]
    assert decode(b"data: a\r\rdata: [DONE]\r") == ["a", "[DONE]"]


def test_it_skips_a_byte_order_mark():
    assert decode(b"\xef\xbb\xbfdata: a\n\n") == ["a"]


def test_invalid_utf8_does_not_raise():
    assert decode(b"data: \xff\xfe\n\n") == ["\ufffd\ufffd"]
