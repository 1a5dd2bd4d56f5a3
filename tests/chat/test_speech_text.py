"""What Read aloud says (chat.speech_text): markdown read sensibly, and split into parts the
gateway accepts, by BYTES (one-api refuses speech input over 4,096 bytes), at sentence
boundaries."""

from __future__ import annotations

import re

import pytest

from chat.speech_text import speakable_text, split_for_speech

LIMIT = 4000


def test_code_blocks_are_announced_not_spelled():
    text = speakable_text("Here:\n\n```python\ndef f(x):\n    return x * 2\n```\n\nDone.")
    assert "A code block in Python." in text
    assert "return" not in text and "def" not in text


def test_a_code_block_without_a_language_is_announced_plainly():
    text = speakable_text("```\nls -la\n```")
    assert text == "A code block."


def test_marks_are_dropped_and_inline_code_is_read_as_words():
    text = speakable_text(
        "# Title\n\nSome **bold** and *em* with `user_name` [a link](https://x.io)."
    )
    assert text.splitlines()[0] == "Title."
    assert "Some bold and em with user name a link." in text
    assert not re.search(r"[*#`\[\]]|https", text)


def test_maths_is_a_formula():
    text = speakable_text("Energy is $E = mc^2$.\n\n$$\n\\int_0^1 x\\,dx\n$$")
    assert "Energy is a formula." in text
    assert "A formula." in text
    assert "int" not in text and "mc" not in text


def test_a_table_is_read_briefly():
    rows = "\n".join(f"| r{i} | {i} |" for i in range(10))
    text = speakable_text(f"| name | n |\n|---|---|\n{rows}")
    assert text.startswith("A table with 10 rows.")
    assert "name, n." in text and "r2, 2." in text
    assert "r5" not in text
    assert "And 7 more rows." in text


def test_list_items_become_sentences_and_the_reasoning_is_not_read():
    text = speakable_text("<think>secret plan</think>- one\n- two\n- 三")
    assert text.split("\n\n") == ["one.", "two.", "三。"]


def _bytes(parts):
    return [len(p.encode()) for p in parts]


def test_cjk_is_split_by_bytes_not_characters():
    # 3,000 CJK characters: 9,000 bytes, far under 4,096 characters per part but not bytes.
    text = "这是第一句话。" * 428 + "这是最后一句话\uff01"
    parts = split_for_speech(text, LIMIT)
    assert len(parts) == 3
    assert all(size <= LIMIT for size in _bytes(parts))
    assert all(p.endswith(("。", "\uff01")) for p in parts)  # cut after sentences
    assert "".join(parts) == text


def test_a_3000_character_reply_becomes_ordered_parts_each_under_the_limit():
    sentences = [f"Sentence {i} says something useful, and then it ends." for i in range(60)]
    text = " ".join(sentences)
    assert len(text) > 3000
    parts = split_for_speech(text, 1200)
    assert len(parts) >= 3
    assert all(size <= 1200 for size in _bytes(parts))
    assert " ".join(parts) == text  # in order, nothing lost
    for part in parts:  # every part is whole sentences
        assert part.startswith("Sentence ") and part.endswith("ends.")


def test_the_first_part_can_be_shorter_and_still_ends_at_a_sentence():
    text = " ".join(f"Sentence number {i} is right here." for i in range(100))
    parts = split_for_speech(text, LIMIT, first_max_bytes=200)
    assert len(parts[0].encode()) <= 200 and parts[0].endswith("here.")
    assert all(size <= LIMIT for size in _bytes(parts[1:]))
    assert " ".join(parts) == text


def test_a_sentence_too_long_falls_back_to_clauses_then_words_then_a_hard_cut():
    clauses = ", ".join(["a clause of some words"] * 300) + "."
    parts = split_for_speech(clauses, 500)
    assert all(size <= 500 for size in _bytes(parts))
    assert all(p.endswith((",", ".")) for p in parts)
    word = "x" * 1300
    assert _bytes(split_for_speech(word, 500)) == [500, 500, 300]
    # A hard cut never splits a character: every part is valid UTF-8 text within the limit.
    emoji = "😀" * 300  # 4 bytes each
    parts = split_for_speech(emoji, 402)
    assert all(size <= 402 and size % 4 == 0 for size in _bytes(parts))
    assert "".join(parts) == emoji


def test_parts_respect_the_character_limit_too():
    parts = split_for_speech("a " * 3000, 10_000, max_chars=1000)
    assert all(len(p) <= 1000 for p in parts)


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_nothing_to_say_is_no_part(text):
    assert split_for_speech(text, LIMIT) == []
