"""The entry points of the audio, speech, completions and embeddings families follow the
gateway check: a found absence hides them, in the page and in what the socket renders."""

from __future__ import annotations

import pytest

from chat import frames
from chat.search import search
from tests.factories import make_conversation, make_message
from tests.fixtures.gateway_check import remember_check

pytestmark = pytest.mark.django_db


def _page(client, conversation) -> str:
    return client.get(conversation.get_absolute_url()).content.decode()


def test_record_and_read_aloud_are_offered_until_found_absent(alice_client, team, alice):
    conversation = make_conversation(team, alice)
    make_message(conversation, role="assistant", content="An answer to read.")

    page = _page(alice_client, conversation)
    assert 'id="voice-record"' in page and "speak-btn" in page

    remember_check(absent=["audio_transcription", "audio_speech"])
    page = _page(alice_client, conversation)
    assert 'id="voice-record"' not in page and "speak-btn" not in page
    assert 'id="voice-record"' not in frames.composer_html()


def test_the_complete_mode_goes_with_the_completions_family(alice_client, team, alice, monkeypatch):
    monkeypatch.setattr("chat.completions.instruct_models", lambda: ["gpt-3.5-turbo-instruct"])
    conversation = make_conversation(team, alice)
    assert '<option value="complete">' in _page(alice_client, conversation)

    remember_check(absent=["completions"])
    assert '<option value="complete">' not in _page(alice_client, conversation)


def test_search_asks_for_no_meaning_where_the_gateway_embeds_nothing(team, alice, monkeypatch):
    asked = []
    monkeypatch.setattr("chat.search._has_vectors", lambda team: asked.append(team) or True)
    remember_check(absent=["embeddings"])

    results = search(alice, team, "a question long enough", role="owner")

    assert asked == [] and results.hits == []
