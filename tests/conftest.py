import pytest
from channels.layers import channel_layers
from django.core.cache import cache
from django.utils import translation

from chat import rendering

pytest_plugins = [
    "tests.fixtures.personas",
    "tests.fixtures.gateway",
]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters, the first-run flag and the models list never leak between tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_gateway_check():
    """The gateway check a process last read (config.gateway_check) never leaks either."""
    from config import gateway_check

    gateway_check.forget()
    yield
    gateway_check.forget()


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test gets its own channel layer object. Tests run on event loops of their own, and a
    RedisChannelLayer keeps asyncio locks across them: a receive cancelled in one test (a
    drain's timeout) could leave the lock of its process-specific channels held and bound to
    that test's loop, and the next test's receive failed with "bound to a different event
    loop" (seen in the scale-mode suite)."""
    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


@pytest.fixture(autouse=True)
def _default_language():
    """No test inherits a language another test activated (frames render in the active one)."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _generous_highlight_time(monkeypatch):
    """Highlighting has a time budget per message (0.2 s); on a loaded CI machine that budget,
    not the behaviour a test checks, could decide. Tests of the budget set it themselves."""
    monkeypatch.setattr(rendering, "HIGHLIGHT_SECONDS", 30.0)
