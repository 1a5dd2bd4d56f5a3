import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def clear_cache():
    """The first-run flag and the login counters live in the cache: start every test clean."""
    cache.clear()
    yield
    cache.clear()
