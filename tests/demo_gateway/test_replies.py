"""The canned texts and stream plans, without a socket."""
# ruff: noqa: RUF001 (Chinese questions use full-width punctuation)

from __future__ import annotations

import json
import re

import pytest

from chat.titles import prompt_messages
from demo_gateway import demo_reply, demo_tokens, reply_text
from demo_gateway.replies import code_language, question_kind
from demo_gateway.scenarios import (
    CHAT_MODELS,
    CUT,
    DEFAULT_MODEL,
    StreamRequest,
    completion_body,
    for_model,
    is_known,
    stream_plan,
)


def test_demo_reply_quotes_the_question_and_shows_off_the_renderer():
    reply = demo_reply("[demo:normal] How do I   bake bread at home with sourdough starter?")

    assert reply.startswith("Hello! You asked: “How do I bake bread at home with…”")
    assert "[demo:" not in reply
    for piece in ("\n- ", "```python\n", "$e^{i\\pi} + 1 = 0$", "\\[ \\int_0^1 x^2\\,dx"):
        assert piece in reply
    assert "demo gateway" in reply
    assert "GATEWAY_BASE_URL" in reply


def test_demo_reply_is_deterministic_and_tokens_join_back():
    tokens = demo_tokens("What can you show me?")

    assert demo_reply("What can you show me?") == demo_reply("What can you show me?")
    assert "".join(tokens) == demo_reply("What can you show me?")
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


# --- the reply follows the question ---------------------------------------------------


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("hi", "greeting"),
        ("Hello!", "greeting"),
        ("你好！", "greeting"),
        ("Compare Parlor with a chat page in a table", "table"),
        ("用表格比较一下这两个方案", "table"),
        ("Write a function that reverses a string in Rust", "code"),
        ("给我写一段代码", "code"),
        ("Solve this equation for x", "maths"),
        ("证明这个公式", "maths"),
        ("Give me a long, detailed answer about Parlor", "long"),
        ("请详细介绍一下 Parlor", "long"),
        ("What can you show me?", "medium"),
        ("Why is the sky blue? [demo:reasoning]", "medium"),
        ("hello, can you make me a table?", "table"),
    ],
)
def test_the_kind_of_reply_follows_the_question(question, kind):
    assert question_kind(question) == kind


def test_a_greeting_gets_a_short_answer():
    reply = demo_reply("Hello!")

    assert len(demo_tokens("Hello!")) < 40
    assert "```" not in reply
    assert "|" not in reply


def test_a_table_question_gets_a_markdown_table():
    reply = demo_reply("Compare the options in a table")

    assert re.search(r"^\| .+ \|$", reply, re.MULTILINE)
    assert re.search(r"^\|:?-+:?\|", reply, re.MULTILINE)
    assert "```" not in reply


@pytest.mark.parametrize(
    ("question", "language", "snippet"),
    [
        ("Show me some code", "python", "def fibonacci"),
        ("Write it in JavaScript please", "javascript", "function fibonacci"),
        ("Some code in Rust", "rust", "fn fibonacci"),
        ("A Go program", "go", "func fibonacci"),
        ("Write a SQL query", "sql", "WITH RECURSIVE"),
        ("A bash script", "bash", "#!/usr/bin/env bash"),
        ("A Java program", "java", "public class Fibonacci"),
        ("A function in C", "c", "#include <stdio.h>"),
    ],
)
def test_code_comes_in_the_language_asked_for(question, language, snippet):
    reply = demo_reply(question)

    assert code_language(question) == language
    assert f"```{language}\n" in reply
    assert snippet in reply
    assert reply.count("```") == 2


def test_a_maths_question_gets_inline_and_display_maths():
    reply = demo_reply("Show me an integral, some maths")

    assert question_kind("Show me an integral, some maths") == "maths"
    assert reply.count("$$") >= 4
    assert "$e^{i\\pi} + 1 = 0$" in reply
    assert "```" not in reply


def test_a_long_question_gets_sections_a_list_a_quote_and_more():
    reply = demo_reply("Write a long answer about Parlor")
    tokens = demo_tokens("Write a long answer about Parlor")

    assert reply.startswith("# A long answer")
    assert len(re.findall(r"^## ", reply, re.MULTILINE)) >= 3
    assert re.search(r"^1\. ", reply, re.MULTILINE)
    assert re.search(r"^> ", reply, re.MULTILINE)
    assert "```python" in reply
    assert len(tokens) > len(demo_tokens("What can you show me?"))


def test_anything_else_gets_a_medium_answer_with_a_bit_of_everything():
    reply = demo_reply("What can you show me?")

    for piece in ("\n- ", "```python\n", "| Ask for |", "$e^{i\\pi} + 1 = 0$", "\\[ \\int"):
        assert piece in reply
    assert reply.count("```") == 2


@pytest.mark.parametrize(
    "question",
    [
        "你好",
        "用表格比较一下",
        "写一段代码",
        "证明这个公式",
        "请详细介绍一下",
        "天空为什么是蓝色的？",
    ],
)
def test_chinese_questions_get_chinese_answers(question):
    reply = demo_reply(question)
    prose = re.sub(r"```.*?```", "", reply, flags=re.DOTALL)
    han = len(re.findall(r"[\u4e00-\u9fff]", prose))

    assert han > 10
    assert "You asked" not in reply
    assert "Hello!" not in reply


def test_a_chinese_question_with_a_marker_still_reads_as_chinese():
    assert demo_reply("你好 [demo:normal]") == demo_reply("你好")


# --- demo models -------------------------------------------------------------------


def test_demo_models_are_listed_with_the_default_kept():
    assert DEFAULT_MODEL == "gpt-4o-mini"
    assert CHAT_MODELS[0] == "gpt-4o-mini"
    assert {"demo-fast", "demo-slow", "demo-reasoner"} <= set(CHAT_MODELS)


def _model_plan(model: str, scenario: str = "normal") -> list:
    body = {"messages": [{"role": "user", "content": "What can you show me?"}]}
    return stream_plan(StreamRequest(scenario, body, "chatcmpl-1", 1, model, 0.02))


def test_demo_models_stream_at_their_own_speed():
    def pauses(model: str) -> set[float]:
        return {s for s in _model_plan(model) if isinstance(s, float)}

    assert pauses("gpt-4o-mini") == {0.02}
    assert pauses("demo-fast") == {0.005}
    assert pauses("demo-slow") == {0.08}


def test_the_reasoning_model_thinks_first_unless_a_marker_says_otherwise():
    assert for_model("normal", "demo-reasoner") == "reasoning"
    assert for_model("normal", "gpt-4o-mini") == "normal"
    assert for_model("http_429", "demo-reasoner") == "http_429"

    plan = _model_plan("demo-reasoner", for_model("normal", "demo-reasoner"))
    events = [s.decode() for s in plan if isinstance(s, bytes)]
    first_reasoning = next(i for i, e in enumerate(events) if "reasoning_content" in e)
    first_content = next(i for i, e in enumerate(events) if '"content":"' in e and i > 0)
    assert first_reasoning < first_content


def test_a_title_request_gets_a_short_title_not_a_demo_reply():
    long_question = "Could you please explain how photosynthesis works in green plants?"
    for question, title in (
        (long_question, "Photosynthesis works green plants"),
        ("Plan a picnic by the lake", "Plan a picnic by the lake"),
        ("请帮我写一首关于春天的诗", "请帮我写一首关于春天"),
    ):
        body = {"model": DEFAULT_MODEL, "messages": prompt_messages(question, "A long answer.")}
        for scenario in ("normal", "reasoning"):  # demo-reasoner answers a title as well
            answer = completion_body(scenario, body, chat_id="c", created=0, model=DEFAULT_MODEL)
            assert json.loads(answer)["choices"][0]["message"]["content"] == title
