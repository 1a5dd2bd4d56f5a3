from __future__ import annotations

import httpx
import pytest
from django.core.cache import cache

from gateway.client import use_transport
from tests.gateway.fakes import API_KEY, FakeGateway


@pytest.fixture
def gateway(settings):
    """A fake gateway behind https://gw.example (configured with a trailing /v1/)."""
    settings.GATEWAY_BASE_URL = "https://gw.example/v1/"
    settings.GATEWAY_API_KEY = API_KEY
    settings.GATEWAY_MODELS_CACHE_SECONDS = 300
    cache.clear()
    fake = FakeGateway()
    with use_transport(httpx.MockTransport(fake)):
        yield fake
    cache.clear()
