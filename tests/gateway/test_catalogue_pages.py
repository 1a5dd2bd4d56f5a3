"""A page never waits for the gateway's model list (item 4): under daphne every sync view
shares one thread, so a listing that hangs would stall every page behind it."""

from __future__ import annotations

import threading

import httpx
import pytest
from django.urls import reverse

from gateway.catalogue import wait_for_refresh
from gateway.client import use_transport
from tests.factories import make_conversation
from tests.gateway.fakes import API_KEY, respond_json

# Only ever reached if the page waited for the listing: the test then fails, not hangs.
GIVE_UP_SECONDS = 10


@pytest.fixture
def hanging_gateway(settings):
    """A gateway whose /v1/models answers only once `release` is set."""
    settings.GATEWAY_BASE_URL = "https://gw.example"
    settings.GATEWAY_API_KEY = API_KEY
    entered, release = threading.Event(), threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        entered.set()
        release.wait(GIVE_UP_SECONDS)
        return respond_json(200, {"data": [{"id": "gpt-4o"}, {"id": "listed-model"}]})

    with use_transport(httpx.MockTransport(handler)):
        yield entered, release
        release.set()
        wait_for_refresh()


def test_a_hanging_model_list_does_not_delay_the_page(
    alice_client, team, alice, settings, hanging_gateway
):
    entered, release = hanging_gateway
    settings.DEFAULT_MODEL = "house-default"
    conversation = make_conversation(team, alice, model="own-model")
    url = reverse("chat:conversation", args=[conversation.pk])

    response = alice_client.get(url)

    # The page came back while the listing is still pending: the default and the
    # conversation's own model only.
    assert not release.is_set()
    assert response.status_code == 200
    assert response.context["models"] == ["own-model", "house-default"]
    assert entered.wait(GIVE_UP_SECONDS), "the listing was started in the background"

    release.set()
    wait_for_refresh()
    models = alice_client.get(url).context["models"]
    assert models == ["own-model", "house-default", "gpt-4o", "listed-model"]
