import pytest
from django.core.cache import cache

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
