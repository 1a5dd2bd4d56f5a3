"""The streaming benchmark's core, tiny: 2 streams x 20 tokens through both relays.

Counts only: every client gets every token, in order, from the floor relay (hand-written
websocket frames and chunked SSE), the minimal relay and Parlor.
Timings are the benchmark's business (`make bench`), never a test's.
"""

from __future__ import annotations

import sys

import pytest

from benchmarks.stream_relay import Options, expected_text, run

STREAMS, TOKENS = 2, 20

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_every_relay_delivers_every_token_in_order():
    options = Options(
        streams=[STREAMS],
        tokens=[TOKENS],
        token_delay=0.002,
        warmup=0,
        ramp=0.0,
        relays=("floor", "minimal", "parlor"),
    )
    rounds = run(options)

    assert len(rounds) == 1
    rnd = rounds[0]
    expected = expected_text(TOKENS)
    assert len(expected.split()) == TOKENS
    assert set(rnd.relays) == {"floor", "minimal", "parlor"}
    for name, phase in {"gateway": rnd.gateway, **rnd.relays}.items():
        assert len(phase.streams) == STREAMS, name
        for stream in phase.streams:
            assert stream.error is None, (name, stream.error)
            assert stream.done, name
            assert stream.text == expected, (name, stream.text)
            assert stream.ttft is not None, name
            assert stream.frames >= 1, name
        assert phase.tokens == STREAMS * TOKENS, name
    for name, phase in rnd.relays.items():
        assert phase.cpu_seconds is not None and phase.cpu_seconds >= 0, name
        assert phase.rss_peak_kb and phase.rss_peak_kb > 0, name
    assert rnd.relays["floor"].streams[0].frames == TOKENS  # one frame per token
    assert rnd.relays["minimal"].streams[0].frames == TOKENS


def test_floor_relay_speaks_rfc_6455():
    from benchmarks.floor_relay import accept_key, frame, unmask

    # RFC 6455 section 1.3's worked example.
    assert accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert frame(0x1, b"x" * 125)[:2] == b"\x81\x7d"
    assert frame(0x1, b"x" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert frame(0x2, b"x" * 65536)[:10] == b"\x82\x7f" + (65536).to_bytes(8, "big")
    mask, data = b"\x01\x02\x03\x04", "héllo, wörld".encode()
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    assert unmask(mask, masked) == data
