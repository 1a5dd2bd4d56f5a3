"""The model picker (conversation page, home page) groups the gateway's chat models by maker in
<optgroup>s, keeps its label and plain <select>, and never offers a model that is not for chat."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from gateway import catalogue
from tests.factories import make_conversation

LISTED = [
    "gpt-4o-mini",
    "o3-mini",
    "claude-3-5-sonnet-20241022",
    "gemini-1.5-pro",
    "deepseek-reasoner",
    "Qwen/Qwen2.5-72B-Instruct",
    "meta-llama/Llama-3.3-70B-Instruct",
    "mistral-large",
    "gpt-4o",
    "o1",
]
NOT_FOR_CHAT = [
    "mj_imagine",
    "dall-e-3",
    "gpt-image-1",
    "flux.1-schnell",
    "whisper-1",
    "gpt-4o-mini-transcribe",
    "tts-1",
    "gpt-4o-mini-tts",
    "text-embedding-3-small",
    "bge-m3",
    "suno_music",
    "luma_generate",
    "gpt-3.5-turbo-instruct",
]


@pytest.fixture
def gateway_models(monkeypatch, settings):
    settings.DEFAULT_MODEL = "gpt-4o-mini"
    chat = [m for m in LISTED + NOT_FOR_CHAT if catalogue.is_chat_model(m)]
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda: chat)


def _groups(html: str, select_id: str) -> list[tuple[str, list[str]]]:
    select = re.search(rf'<select id="{select_id}".*?</select>', html, re.S)
    assert select is not None
    return [
        (label, re.findall(r'<option value="([^"]+)"', body))
        for label, body in re.findall(
            r'<optgroup label="([^"]+)">(.*?)</optgroup>', select[0], re.S
        )
    ]


EXPECTED = [
    ("OpenAI GPT", ["gpt-4o-mini", "gpt-4o"]),
    ("OpenAI o-series", ["o3-mini", "o1"]),
    ("Claude", ["claude-3-5-sonnet-20241022"]),
    ("Gemini", ["gemini-1.5-pro"]),
    ("DeepSeek", ["deepseek-reasoner"]),
    ("Qwen", ["Qwen/Qwen2.5-72B-Instruct"]),
    ("Llama", ["meta-llama/Llama-3.3-70B-Instruct"]),
    ("Other models", ["mistral-large"]),
]


@pytest.mark.parametrize("model", NOT_FOR_CHAT)
def test_models_for_other_endpoints_are_not_chat_models(model):
    assert not catalogue.is_chat_model(model)
    assert catalogue.family_of(model) != "chat"


def test_the_conversation_picker_groups_models_by_maker(alice_client, team, alice, gateway_models):
    conversation = make_conversation(team, alice, model="gpt-4o-mini")

    html = alice_client.get(conversation.get_absolute_url()).content.decode()

    assert _groups(html, "model-select") == EXPECTED
    assert '<label for="model-select">' in html
    assert re.search(r'<option value="gpt-4o-mini" selected>', html)


def test_the_home_picker_groups_models_by_maker(alice_client, gateway_models):
    html = alice_client.get(reverse("chat:home")).content.decode()

    assert _groups(html, "home-model") == EXPECTED
    assert '<label for="home-model"' in html


def test_the_settings_partial_keeps_the_groups(alice_client, team, alice, gateway_models):
    conversation = make_conversation(team, alice, model="claude-3-5-sonnet-20241022")
    url = reverse("chat:update_settings", args=[conversation.pk])

    response = alice_client.post(
        url, {"model": "o1", "system_prompt": "", "temperature": ""}, HTTP_HX_REQUEST="true"
    )

    groups = dict(_groups(response.content.decode(), "model-select"))
    assert groups["OpenAI o-series"] == ["o3-mini", "o1"]
    assert '<option value="o1" selected>' in response.content.decode()


def test_a_model_the_gateway_no_longer_lists_keeps_its_group(
    alice_client, team, alice, gateway_models
):
    conversation = make_conversation(team, alice, model="claude-2.1")

    html = alice_client.get(conversation.get_absolute_url()).content.decode()

    assert dict(_groups(html, "model-select"))["Claude"] == [
        "claude-2.1",
        "claude-3-5-sonnet-20241022",
    ]


@pytest.mark.parametrize(
    ("model", "group"),
    [
        ("gpt-4.1", "gpt"),
        ("chatgpt-4o-latest", "gpt"),
        ("o1-preview", "o_series"),
        ("o4-mini", "o_series"),
        ("omni-moderation-latest", "other"),
        ("openrouter/anthropic/claude-3-opus", "claude"),
        ("qwq-32b", "qwen"),
        ("llama-3.1-8b-instant", "llama"),
        ("grok-2", "other"),
    ],
)
def test_the_maker_comes_from_the_id(model, group):
    assert catalogue.picker_group(model) == group
