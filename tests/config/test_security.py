"""An https:// PUBLIC_URL: HSTS, no-store for signed-in pages, a clean `check --deploy`."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.urls import reverse

from tests.config.test_settings import ROOT, _load

# Each explained in README.md, "Deploying behind https".
EXPLAINED = {"security.W005", "security.W021"}


def test_an_https_public_url_turns_on_hsts_for_a_year(tmp_path):
    assert _load(tmp_path, PARLOR_PUBLIC_URL="https://chat.example.com")["hsts"] == 31_536_000
    assert _load(tmp_path, PARLOR_PUBLIC_URL="http://chat.example.com")["hsts"] == 0
    assert _load(tmp_path)["hsts"] == 0
    configured = _load(tmp_path, PUBLIC_URL="https://chat.example.com", SECURE_HSTS_SECONDS="60")
    assert configured["hsts"] == 60


def test_secure_responses_carry_strict_transport_security(client, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    response = client.get(reverse("health"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000"


def test_signed_in_pages_are_not_stored(alice_client):
    signed_in = alice_client.get(reverse("chat:home"), follow=True)
    assert signed_in.status_code == 200
    assert signed_in["Cache-Control"] == "no-store"
    assert alice_client.get(reverse("health"))["Cache-Control"] == "no-store"


def _deploy_check(tmp_path, **env: str) -> set[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PARLOR_")}
    for name in ("DATABASE_URL", "REDIS_URL", "GATEWAY_BASE_URL", "SECRET_KEY", "DEBUG"):
        clean.pop(name, None)
    clean.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        PARLOR_DATA_DIR=str(tmp_path),
        PARLOR_PUBLIC_URL="https://chat.example.com",
        PARLOR_BEHIND_HTTPS_PROXY="True",
        **env,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(re.findall(r"\((security\.\w+)\)", result.stderr + result.stdout))


@pytest.mark.parametrize(
    ("env", "remaining"),
    [
        ({}, EXPLAINED),
        ({"PARLOR_SECURE_HSTS_INCLUDE_SUBDOMAINS": "True"}, {"security.W021"}),
    ],
)
def test_check_deploy_leaves_only_the_warnings_the_readme_explains(tmp_path, env, remaining):
    assert _deploy_check(tmp_path, **env) == remaining
