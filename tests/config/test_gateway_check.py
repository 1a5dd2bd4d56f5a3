"""config.gateway_check: the gateway's answer remembered for every process, read cheaply,
checked at start and from the admin page's "Check the gateway" button (site admins only)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from django.core.cache import cache
from django.template import Context, Template
from django.test import Client
from django.urls import reverse

from config import gateway_check, startup
from config.models import GatewayCheck
from demo_gateway import start_in_thread
from gateway.client import use_transport
from gateway.probe import FAMILIES
from tests.factories import make_user
from tests.fixtures.gateway_check import remember_check

pytestmark = pytest.mark.django_db

URL = reverse("admin:config_gatewaycheck_changelist")
CHECK_URL = reverse("admin:config_gatewaycheck_check")


@pytest.fixture
def demo_without(settings):
    """A demo gateway without images (and their edits) and Luma, that settings point at."""
    demo = start_in_thread(token_delay=0.001, without=["images", "image_edits", "luma"])
    settings.GATEWAY_BASE_URL, settings.GATEWAY_API_KEY = demo.base_url, demo.api_key
    yield demo
    demo.stop_thread()


def _another_process() -> None:
    """What a second process sees: its own (empty) cache and no copy of its own."""
    cache.clear()
    gateway_check.forget()


def test_never_checked_serves_everything_and_hides_no_optional_route():
    assert gateway_check.stored() == {}
    assert gateway_check.serves() == dict.fromkeys(FAMILIES, True)
    assert gateway_check.midjourney_features() == {}


def test_a_check_is_remembered_and_read_by_another_process(demo_without):
    findings = gateway_check.run_now()

    _another_process()
    with use_transport(httpx.MockTransport(lambda request: pytest.fail("asked the gateway"))):
        served = gateway_check.serves()

    assert {f.family for f in findings if f.state == "absent"} == {"images", "image_edits", "luma"}
    absent = ("images", "image_edits", "luma")
    assert served == {family: family not in absent for family in FAMILIES}
    assert GatewayCheck.objects.count() == len(FAMILIES)
    row = GatewayCheck.objects.get(family="images")
    assert (row.state, row.http_status, row.request) == (
        "absent",
        404,
        "POST /v1/images/generations",
    )
    assert "Invalid URL" in row.excerpt
    assert row.checked_at is not None


def test_the_cache_stands_in_front_of_the_rows(django_assert_num_queries):
    remember_check(absent=["suno"])
    _another_process()

    with django_assert_num_queries(1):
        gateway_check.serves()
    with django_assert_num_queries(0):
        assert gateway_check.serves()["suno"] is False


def test_a_new_check_replaces_the_old_answer():
    remember_check(absent=["suno", "luma"])
    remember_check(absent=["luma"])

    _another_process()

    assert gateway_check.serves()["suno"] is True
    assert gateway_check.serves()["luma"] is False
    assert GatewayCheck.objects.count() == len(FAMILIES)


def test_unknown_counts_as_served(settings):
    settings.GATEWAY_BASE_URL = "https://gw.example"

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with use_transport(httpx.MockTransport(down)):
        findings = gateway_check.run_now()

    assert {f.state for f in findings} == {"unknown"}
    assert gateway_check.serves() == dict.fromkeys(FAMILIES, True)


@pytest.mark.django_db(transaction=True)
async def test_on_an_event_loop_the_answer_is_read_without_the_database():
    await asyncio.to_thread(remember_check, absent=["midjourney"])

    assert gateway_check.serves()["midjourney"] is False  # the cache
    cache.clear()
    assert gateway_check.serves()["midjourney"] is False  # this process's copy
    gateway_check.forget()
    assert gateway_check.serves()["midjourney"] is True  # nothing known: nothing hidden


def test_templates_test_a_family_in_one_line(rf):
    remember_check(absent=["images"])
    template = Template(
        "{% if gateway_serves.images %}images{% endif %}"
        "{% if gateway_serves.embeddings %}embeddings{% endif %}"
        "{% if gateway_serves.imagez %}typo{% endif %}"
    )

    rendered = template.render(Context({"gateway_serves": gateway_check.GatewayServes()}))

    assert rendered == "embeddings"


def test_the_context_processor_reads_nothing_until_a_template_asks(rf, django_assert_num_queries):
    from config.context_processors import parlor

    request = rf.get("/")
    with django_assert_num_queries(0):
        serves = parlor(request)["gateway_serves"]
    with django_assert_num_queries(1):
        assert serves["chat"] is True


# --- start-up -----------------------------------------------------------------------------


def test_the_check_runs_in_the_background_while_serving():
    assert startup.check_gateway_at_start in startup.BACKGROUND
    assert startup.check_gateway_at_start not in startup.BEFORE_SERVING


@pytest.mark.django_db(transaction=True)
async def test_the_start_up_check_stores_the_answer(demo_without):
    await startup.check_gateway_at_start()

    rows = {row.family: row.state async for row in GatewayCheck.objects.all()}
    assert rows["images"] == "absent" and rows["chat"] == "found"


@pytest.mark.django_db(transaction=True)
async def test_a_failing_start_up_check_never_stops_the_server(monkeypatch, caplog):
    async def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(gateway_check, "run", broken)

    await startup.check_gateway_at_start()  # logs, does not raise

    assert "Checking what the gateway serves failed" in caplog.text


def test_the_demo_gateway_refuses_a_family_it_does_not_know(settings):
    settings.DEMO_GATEWAY = True
    settings.DEMO_GATEWAY_PORT = 1
    settings.DEMO_GATEWAY_WITHOUT = ["imagez"]

    with pytest.raises(startup.StartupError, match="DEMO_GATEWAY_WITHOUT: not a gateway family"):
        startup.start_demo_gateway(lambda text: None)


# --- the admin page -----------------------------------------------------------------------


@pytest.fixture
def site_admin(db):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(site_admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(site_admin)
    return client


def _csrf(client: Client) -> str:
    page = client.get(URL)
    return page.cookies["csrftoken"].value if "csrftoken" in page.cookies else ""


def test_the_page_shows_the_button_and_each_familys_evidence(admin_client):
    remember_check(absent=["luma"], features={"task_list": True, "queue": False, "cancel": True})

    page = admin_client.get(URL)
    content = page.content.decode()

    assert page.status_code == 200
    assert 'id="gateway-check-form"' in content and 'method="post"' in content
    assert "Check the gateway" in content
    assert "csrfmiddlewaretoken" in content
    assert page.context["cl"].result_count == len(FAMILIES)
    assert "Luma (luma)" in content and "Absent" in content
    assert "Images (images)" in content and "Found" in content
    assert "task list: yes" in content and "queue: no" in content


def test_before_any_check_the_page_says_so(admin_client):
    content = admin_client.get(URL).content.decode()

    assert "The gateway has not been checked yet." in content
    assert "Check the gateway" in content


def test_the_button_checks_the_gateway_and_shows_the_answer(admin_client, demo_without):
    token = _csrf(admin_client)

    response = admin_client.post(CHECK_URL, {"csrfmiddlewaretoken": token}, follow=True)

    content = response.content.decode()
    assert response.redirect_chain[-1][0] == URL
    found = GatewayCheck.objects.filter(state="found").count()
    assert found >= 9  # every family the demo serves, less the three it was started without
    assert f"Checked the gateway: {found} of {len(FAMILIES)} families found." in content
    assert GatewayCheck.objects.get(family="luma").state == "absent"
    assert "&lt;!doctype html&gt;" in content.lower()  # the console page, as evidence
    assert any(r.path == "/v1/models" for r in demo_without.requests)


def test_the_button_needs_the_csrf_token(admin_client, demo_without):
    response = admin_client.post(CHECK_URL, {})

    assert response.status_code == 403
    assert not GatewayCheck.objects.exists()
    assert demo_without.requests == []


def test_the_button_is_a_post(admin_client, demo_without):
    assert admin_client.get(CHECK_URL).status_code == 405
    assert demo_without.requests == []


@pytest.mark.parametrize("staff", [True, False])
def test_only_site_admins_see_the_page_or_press_the_button(client, demo_without, staff):
    someone = make_user("staffer", is_staff=staff)
    client.force_login(someone)

    page = client.get(URL)
    pressed = client.post(CHECK_URL)

    assert page.status_code in (302, 403)
    assert pressed.status_code in (302, 403)
    assert demo_without.requests == []
    assert not GatewayCheck.objects.exists()


def test_the_admin_page_shows_the_evidence_without_the_key(admin_client, settings):
    settings.GATEWAY_BASE_URL = "https://gw.example"
    key = settings.GATEWAY_API_KEY

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"error": {"message": f"bad {request.headers['authorization']}"}}
        )

    with use_transport(httpx.MockTransport(echo)):
        admin_client.post(CHECK_URL, {"csrfmiddlewaretoken": _csrf(admin_client)})
    content = admin_client.get(URL).content.decode()

    assert "[redacted]" in content
    assert key not in content and key.removeprefix("sk-") not in content
    assert not GatewayCheck.objects.filter(excerpt__contains=key.removeprefix("sk-")).exists()


@pytest.mark.django_db(transaction=True)
async def test_checks_asked_for_at_once_share_one(demo_gateway):
    first, second = await asyncio.gather(gateway_check.run(), gateway_check.run())

    assert first == second
    assert [r.path for r in demo_gateway.requests].count("/v1/models") == 1
    await gateway_check.run()  # a later one asks again
    assert [r.path for r in demo_gateway.requests].count("/v1/models") == 2
