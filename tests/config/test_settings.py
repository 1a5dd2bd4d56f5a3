"""Settings as an operator meets them: each case loads config.settings.base in a fresh
interpreter with only the given environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from channels_redis.core import RedisChannelLayer

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json
from django.conf import settings as s
import django; django.setup()
print(json.dumps({
    "allowed": s.ALLOWED_HOSTS, "csrf": s.CSRF_TRUSTED_ORIGINS,
    "secure": [s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE], "key": s.SECRET_KEY,
    "demo": s.DEMO_GATEWAY, "engine": s.DATABASES["default"]["ENGINE"],
    "layer": s.CHANNEL_LAYERS["default"]["BACKEND"], "db_name": str(s.DATABASES["default"]["NAME"]),
    "layer_config": s.CHANNEL_LAYERS["default"].get("CONFIG", {}),
    "connect_timeout": s.GATEWAY_CONNECT_TIMEOUT,
    "gateway": s.GATEWAY_BASE_URL, "installed": s.INSTALLED_APPS, "hsts": s.SECURE_HSTS_SECONDS,
}, default=lambda cls: f"{cls.__module__}.{cls.__qualname__}"))
"""


def _load(tmp_path: Path, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PARLOR_")}
    for name in ("DATABASE_URL", "REDIS_URL", "GATEWAY_BASE_URL", "PUBLIC_URL", "SECRET_KEY"):
        clean.pop(name, None)
    clean.update(DJANGO_SETTINGS_MODULE="config.settings.base", PARLOR_DATA_DIR=str(tmp_path))
    clean.update(env)
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        return {"error": result.stderr}
    return json.loads(result.stdout)


def test_the_embedded_defaults_need_nothing(tmp_path):
    loaded = _load(tmp_path)
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["db_name"] == str(tmp_path / "parlor.sqlite3")
    assert loaded["layer"] == "channels.layers.InMemoryChannelLayer"
    assert loaded["demo"] is True
    assert loaded["secure"] == [False, False]


def test_a_secret_key_is_generated_once_into_the_data_directory(tmp_path):
    first, second = _load(tmp_path), _load(tmp_path)
    assert len(first["key"]) >= 50
    assert first["key"] == second["key"] == (tmp_path / "secret_key").read_text().strip()
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_processes_starting_together_agree_on_one_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        keys = {loaded["key"] for loaded in pool.map(lambda _: _load(tmp_path), range(4))}
    assert keys == {(tmp_path / "secret_key").read_text().strip()}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".secret_key")] == []


def test_one_public_url_fills_hosts_origins_and_secure_cookies(tmp_path):
    loaded = _load(tmp_path, PARLOR_PUBLIC_URL="https://chat.example.com/")
    assert "chat.example.com" in loaded["allowed"]
    assert loaded["csrf"] == ["https://chat.example.com"]
    assert loaded["secure"] == [True, True]


def test_scale_mode_uses_postgres_and_redis(tmp_path):
    loaded = _load(
        tmp_path,
        DATABASE_URL="postgres://parlor@db.internal:5432/parlor",
        REDIS_URL="redis://redis.internal:6379/0",
        GATEWAY_BASE_URL="https://gw.example.com/v1",
        GATEWAY_CONNECT_TIMEOUT="2.5",
    )
    assert loaded["engine"] == "django.db.backends.postgresql"
    assert loaded["layer"] == "channels_redis.core.RedisChannelLayer"
    [host] = loaded["layer_config"]["hosts"]
    assert host["address"] == "redis://redis.internal:6379/0"
    # longer than channels-redis's 5 s BZPOPMIN wait, or a busy loop times the read out
    assert host["socket_timeout"] > RedisChannelLayer.brpop_timeout
    assert host["max_connections"] >= 1000  # redis-py 8's default, 100, fails a burst
    # keeps the cancellations Python 3.11's wait_for drops (config/redis_connection.py)
    assert host["connection_class"] == "config.redis_connection.CancellableConnection"
    assert loaded["demo"] is False
    assert loaded["connect_timeout"] == 2.5  # timeouts take fractions of a second


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PARLOR_DEBUG", "yes", "DEBUG must be True or False"),
        ("PUBLIC_URL", "chat.example.com", "PUBLIC_URL must look like"),
        ("DEMO_GATEWAY_TOKEN_DELAY", "5", "DEMO_GATEWAY_TOKEN_DELAY must be between 0 and 1"),
        ("DEMO_GATEWAY_TOKEN_DELAY", "fast", "DEMO_GATEWAY_TOKEN_DELAY"),
    ],
)
def test_bad_values_stop_start_up_with_a_clear_error(tmp_path, name, value, message):
    assert message in _load(tmp_path, **{name: value})["error"]


def test_the_demo_gateways_address_is_decided_when_settings_load(tmp_path):
    assert _load(tmp_path)["gateway"] == "http://127.0.0.1:8765"
    loaded = _load(tmp_path, PARLOR_DEMO_GATEWAY_PORT="9100")
    assert (loaded["demo"], loaded["gateway"]) == (True, "http://127.0.0.1:9100")
    real = _load(tmp_path, GATEWAY_BASE_URL="https://gw.example", DEMO_GATEWAY_PORT="9100")
    assert (real["demo"], real["gateway"]) == (False, "https://gw.example")
    assert "DEMO_GATEWAY_PORT" in _load(tmp_path, DEMO_GATEWAY_PORT="70000")["error"]


def test_serve_lives_in_the_neutral_config_app(tmp_path):
    from django.core.management import get_commands

    assert "config" in _load(tmp_path)["installed"]
    assert get_commands()["serve"] == "config"
