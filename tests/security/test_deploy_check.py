"""`manage.py check --deploy` with the environment a real deployment sets: an explicit secret
key, DEBUG off, an https PUBLIC_URL with TLS ended at a proxy. What it still reports is only
what Parlor does differently on purpose, each with its reason (README.md, "Deploying behind
https"). tests/config/test_security.py covers the HSTS and proxy variations."""

from __future__ import annotations

import secrets

from tests.config.test_security import _deploy_check

DELIBERATE = {
    "security.W005": "includeSubDomains binds every subdomain to https: only the operator "
    "can promise that (SECURE_HSTS_INCLUDE_SUBDOMAINS=True when it holds)",
    "security.W021": "the HSTS preload list is a one-way submission for the whole domain, "
    "never a default",
}


def test_a_production_deployment_reports_only_deliberate_differences(tmp_path):
    remaining = _deploy_check(
        tmp_path, PARLOR_SECRET_KEY=secrets.token_urlsafe(50), PARLOR_DEBUG="False"
    )
    assert remaining <= set(DELIBERATE)
