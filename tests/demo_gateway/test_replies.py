"""The canned texts and stream plans, without a socket."""

from __future__ import annotations

from demo_gateway import demo_reply, demo_tokens, reply_text
from demo_gateway.scenarios import CUT, StreamRequest, is_known, stream_plan


def test_demo_reply_quotes_the_question_and_shows_off_the_renderer():
    reply = demo_reply("[demo:normal] How do I   bake bread at home with sourdough starter?")

    assert reply.startswith("Hello! You asked: “How do I bake bread at home with…”")
    assert "[demo:" not in reply
    for piece in ("\n- ", "```python\n", "$e^{i\\pi} + 1 = 0$", "\\[ \\int_0^1 x^2\\,dx"):
        assert piece in reply
    assert "demo gateway" in reply
    assert "GATEWAY_BASE_URL" in reply


def test_demo_reply_is_deterministic_and_tokens_join_back():
    tokens = demo_tokens("hi")

    assert demo_reply("hi") == demo_reply("hi")
    assert "".join(tokens) == demo_reply("hi")
    assert all(t.strip() for t in tokens)
    assert 100 < len(tokens) < 300


def test_empty_question_still_reads_well():
    assert demo_reply("").startswith("Hello! You asked: “(nothing yet)”")


def _plan(scenario: str, delay: float = 0.01) -> list:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    return stream_plan(StreamRequest(scenario, body, "chatcmpl-1", 1, "gpt-4o-mini", delay))


def test_plans_pace_tokens_and_slow_is_ten_times_slower():
    normal = [s for s in _plan("normal") if isinstance(s, float)]
    slow = [s for s in _plan("slow") if isinstance(s, float)]

    assert normal == [0.01] * len(demo_tokens("hi"))
    assert slow == [0.1] * len(demo_tokens("hi"))
    assert not any(isinstance(s, float) for s in _plan("normal", delay=0))


def test_cut_plan_ends_with_cut_and_truncated_scenarios_say_what_they_sent():
    assert _plan("cut")[-1] is CUT
    assert demo_reply("hi").startswith(reply_text("length", "hi"))
    assert reply_text("length", "hi") != demo_reply("hi")


def test_scenario_names():
    assert is_known("fixed_tokens:10")
    assert is_known("http_429_empty")
    assert not is_known("fixed_tokens:")
    assert not is_known("nope")
