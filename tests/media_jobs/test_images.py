"""Image generation (the images API) against the demo gateway on loopback: url and b64_json
items stored at once, n = 1 sent for dall-e-3, the price shown before sending is the price
reserved and charged, refusals and failures, the Edit image tool only where the gateway
serves /v1/images/edits, and team privacy of the pictures."""

from __future__ import annotations

import asyncio
import io
import re
import time
import uuid
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse
from PIL import Image

from gateway import catalogue
from media_jobs import features, poller, uploads
from media_jobs.models import MediaFile, MediaJob
from tests.media_jobs.conftest import make_due, new_job, run_pass
from usage.models import TeamBudget, UsageRecord
from usage.prices import import_from_gateway

Status = MediaJob.Status
pytestmark = pytest.mark.django_db(transaction=True)

# size, quality -> shown and charged for dall-e-3 at the demo's 0.04 per image; the
# closing note's table comes from this run (see `test_the_price_shown_is_the_price_charged`).
SIZES = [
    ("dall-e-3", "1024x1024", "standard", "0.04"),
    ("dall-e-3", "1024x1024", "hd", "0.08"),
    ("dall-e-3", "1792x1024", "standard", "0.08"),
    ("dall-e-3", "1792x1024", "hd", "0.12"),
    ("dall-e-3", "1024x1792", "hd", "0.12"),
    ("dall-e-2", "256x256", "", "0.008"),
    ("dall-e-2", "512x512", "", "0.009"),
    ("dall-e-2", "1024x1024", "", "0.02"),
    ("gpt-image-1", "1536x1024", "", "0.042"),
    ("flux.1.1-pro", "1024x768", "", "0.04"),
]


@pytest.fixture
def images(media):
    """The demo gateway answering images at once, its prices imported, its models listed."""
    media.images.delay = 0
    assert import_from_gateway() is not None
    catalogue.refresh_chat_models()
    return media


def image_requests(gateway) -> list:
    return [r for r in gateway.requests if r.path.startswith("/v1/images/")]


def form_data(**fields) -> dict:
    data = {"idempotency_key": str(uuid.uuid4()), "prompt": "a red fox in the snow"}
    data.update({k: v for k, v in fields.items() if v != ""})
    return data


def shown_price(client, tool: str = "image", **options) -> Decimal:
    query = "&".join(f"{k}={v}" for k, v in options.items() if v)
    response = client.get(f"/studio/new/{tool}/?options=1&{query}", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    match = re.search(r'data-price="([0-9.]+)"', html)
    assert match, html
    return Decimal(match.group(1))


def test_url_and_b64_json_items_are_both_stored_at_once(images, team, alice):
    by_url = new_job(alice, team, kind="image", action="GENERATE", prompt="a lighthouse",
                     params={"model": "dall-e-3", "size": "1792x1024", "n": 1})  # fmt: skip
    inline = new_job(alice, team, kind="image", action="GENERATE", prompt="a harbour",
                     params={"model": "gpt-image-1", "size": "1024x1536", "n": 2})  # fmt: skip

    run_pass()

    by_url.refresh_from_db()
    inline.refresh_from_db()
    assert by_url.status == Status.SUCCEEDED and inline.status == Status.SUCCEEDED
    sent = {r.json["model"]: r.json for r in image_requests(images)}
    assert "response_format" not in sent["gpt-image-1"]  # gpt-image answers b64_json only
    assert by_url.result_urls[0].startswith(images.base_url + "/demo-media/images/")
    assert inline.result_urls == ["", ""]  # nothing to download: stored from the answer
    for job, size, count in ((by_url, (1792, 1024), 1), (inline, (1024, 1536), 2)):
        files = list(job.files.filter(kind=MediaFile.Kind.IMAGE).order_by("position"))
        assert [f.position for f in files] == list(range(count))
        for media_file in files:
            assert media_file.content_type == "image/png" and media_file.thumbnail
            with Image.open(io.BytesIO(media_file.file.read())) as picture:
                assert picture.size == size
        assert job.missing_files == []
    assert by_url.result["revised_prompts"][0].startswith("A detailed, vivid illustration of")
    assert "revised_prompts" not in inline.result


def test_the_card_shows_the_pictures_and_the_revised_prompt(images, team, alice, alice_client):
    job = new_job(alice, team, kind="image", action="GENERATE", prompt="a lighthouse",
                  params={"model": "dall-e-3", "size": "1024x1024", "n": 1})  # fmt: skip
    run_pass()
    html = alice_client.get(reverse("media_jobs:card", args=[job.pk])).content.decode()
    assert 'data-job-kind="image"' in html and 'data-job-status="succeeded"' in html
    media_file = job.files.get()
    assert reverse("media_jobs:file_variant", args=[job.pk, media_file.pk, "thumb"]) in html
    assert "Revised prompt" in html and "A detailed, vivid illustration of a lighthouse" in html
    response = alice_client.get(reverse("media_jobs:file", args=[job.pk, media_file.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"


def test_n_1_is_sent_for_dall_e_3_even_when_the_form_asks_more(images, alice_client):
    data = form_data(model="dall-e-3", size="1024x1024", quality="standard", style="vivid", n=3)
    response = alice_client.post("/studio/new/image/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = MediaJob.objects.get()
    assert job.params["n"] == 1
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    (request,) = image_requests(images)
    assert request.json["n"] == 1 and request.json["quality"] == "standard"
    assert job.files.count() == 1
    assert UsageRecord.objects.get(job=job).cost == Decimal("0.04")  # one image, not three


def test_dall_e_3_asked_for_more_directly_still_sends_and_charges_one(images, team, alice):
    job = new_job(alice, team, kind="image", action="GENERATE", prompt="a fox",
                  params={"model": "dall-e-3", "size": "1024x1024", "n": 4})  # fmt: skip
    assert UsageRecord.objects.get(job=job).reserved == Decimal("0.04")
    run_pass()
    assert image_requests(images)[0].json["n"] == 1


@pytest.mark.parametrize(("model", "size", "quality", "expected"), SIZES)
def test_the_price_shown_is_the_price_charged(images, alice_client, model, size, quality,
                                              expected):  # fmt: skip
    shown = shown_price(alice_client, model=model, size=size, quality=quality)
    assert shown == Decimal(expected)

    data = form_data(model=model, size=size, quality=quality, n=1)
    response = alice_client.post("/studio/new/image/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = MediaJob.objects.get()
    record = UsageRecord.objects.get(job=job)
    assert record.reserved == shown and record.model == model
    run_pass()
    record.refresh_from_db()
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert record.status == UsageRecord.Status.SETTLED and record.cost == shown
    request = image_requests(images)[0].json
    assert request["size"] == size and request.get("quality", "") == quality
    print(f"PRICE {model} {size} {quality or '-'}: shown {shown} charged {record.cost}")


def test_the_form_page_shows_the_price_and_options_follow_the_model(images, alice_client):
    html = alice_client.get("/studio/new/image/").content.decode()
    assert "Price" in html and 'data-price="0.04' in html  # dall-e-3 1024x1024 standard
    assert 'name="quality"' in html and 'value="1792x1024"' in html
    options = alice_client.get(
        "/studio/new/image/?options=1&model=dall-e-2&size=1792x1024", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="image-options"' in options and "<html" not in options
    assert 'value="256x256"' in options and 'value="1792x1024"' not in options
    assert 'name="quality"' not in options and 'name="style"' not in options
    assert 'data-price="0.02' in options  # the size fell back to the model's 1024x1024
    models = re.findall(r'<option value="([^"]+)"', options.split('name="size"')[0])
    assert models[0] == "dall-e-3" and {"dall-e-2", "gpt-image-1", "flux.1.1-pro"} <= set(models)
    assert "gpt-4o-mini" not in models and "mj_imagine" not in models


def test_a_budget_refusal_creates_no_job_and_sends_nothing(images, team, alice_client):
    TeamBudget.objects.create(team=team, monthly_limit=Decimal("0.05"))
    data = form_data(model="dall-e-3", size="1792x1024", quality="hd")  # 0.12 > 0.05
    response = alice_client.post("/studio/new/image/", data)
    assert response.status_code == 400
    assert "budget" in response.content.decode().lower()
    assert not MediaJob.objects.exists() and not UsageRecord.objects.exists()
    run_pass()
    assert image_requests(images) == []


def test_a_gateway_error_fails_the_job_in_plain_words_and_refunds_it(images, team, alice):
    job = new_job(alice, team, kind="image", action="GENERATE", prompt="a fox [demo:http_500]",
                  params={"model": "dall-e-3", "size": "1024x1024", "n": 1})  # fmt: skip
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error.startswith("The gateway is unavailable right now")
    assert "HTTP" not in job.error and "{" not in job.error
    record = UsageRecord.objects.get(job=job)
    assert record.status == UsageRecord.Status.REFUNDED and not job.files.exists()


def test_an_answer_with_no_picture_or_a_bad_one_fails_and_refunds(images, team, alice, monkeypatch):
    from demo_gateway import images as demo_images

    monkeypatch.setattr(demo_images, "picture", lambda *a, **k: b"<html>not a picture</html>")
    job = new_job(alice, team, kind="image", action="GENERATE", prompt="a fox",
                  params={"model": "gpt-image-1", "size": "1024x1024", "n": 1})  # fmt: skip
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.FAILED and job.error == "A result file could not be copied."
    assert UsageRecord.objects.get(job=job).status == UsageRecord.Status.REFUNDED


def test_another_teams_member_cannot_open_a_generated_image(images, team, alice, charlie_client):
    job = new_job(alice, team, kind="image", action="GENERATE", prompt="a fox",
                  params={"model": "dall-e-2", "size": "256x256", "n": 1})  # fmt: skip
    MediaJob.objects.filter(pk=job.pk).update(is_shared=True)  # seen by the whole team
    run_pass()
    media_file = job.files.get()
    for url in (
        reverse("media_jobs:file", args=[job.pk, media_file.pk]),
        reverse("media_jobs:file_variant", args=[job.pk, media_file.pk, "download"]),
        reverse("media_jobs:card", args=[job.pk]),
    ):
        assert charlie_client.get(url).status_code == 404


def _probe() -> dict:
    features.cache.delete(features.IMAGES_CACHE_KEY)
    return async_to_sync(features.refresh_images)()


def test_the_edit_tool_is_hidden_where_the_gateway_answers_501(images, alice_client):
    assert alice_client.get("/studio/new/edit-image/").status_code == 404  # not probed yet
    images.images.edits = False
    assert _probe() == {"edits": False}
    assert images.last_request.path == "/v1/images/edits"
    assert alice_client.get("/studio/new/edit-image/").status_code == 404
    gallery = alice_client.get(reverse("media_jobs:gallery")).content.decode()
    assert "/studio/new/image/" in gallery and "/studio/new/edit-image/" not in gallery

    images.images.edits = True
    assert _probe() == {"edits": True}
    assert alice_client.get("/studio/new/edit-image/").status_code == 200
    gallery = alice_client.get(reverse("media_jobs:gallery")).content.decode()
    assert "/studio/new/edit-image/" in gallery


def test_the_probe_reads_a_501_scenario_and_a_missing_route(images, settings):
    images.scenario = "edits_501"
    assert _probe() == {"edits": False}
    images.scenario = None
    assert _probe() == {"edits": True}


def _png(size=(64, 48), colour=(200, 30, 30, 255)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, colour).save(out, "PNG")
    return out.getvalue()


def test_an_edit_sends_the_picture_and_the_mask_and_stores_the_result(images, alice_client):
    _probe()
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = form_data(model="gpt-image-1", size="1024x1024", n=1)
    data["image"] = SimpleUploadedFile("fox.png", _png(), "image/png")
    data["mask"] = SimpleUploadedFile("mask.png", _png(colour=(0, 0, 0, 0)), "image/png")
    response = alice_client.post("/studio/new/edit-image/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = MediaJob.objects.get()
    assert job.action == "EDIT" and job.params["image"].startswith("upload:")  # a file
    assert uploads.inline_params(job)["image"].startswith("data:image/png;base64,")
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.title == "Edited image"
    request = image_requests(images)[-1]
    assert request.path == "/v1/images/edits"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="image"' in request.body and b'name="mask"' in request.body
    with Image.open(io.BytesIO(job.files.get().file.read())) as picture:
        assert picture.size == (1024, 1024)


def test_a_slow_image_does_not_hold_up_the_loop_or_other_jobs(images, team, alice):
    images.images.delay = 1.5
    image = new_job(alice, team, kind="image", action="GENERATE", prompt="a fox",
                    params={"model": "dall-e-2", "size": "256x256", "n": 1})  # fmt: skip
    other = new_job(alice, team)  # a Midjourney imagine

    async def a_pass() -> float:
        started = time.monotonic()
        await poller.poll_once("poller-a", wait=False)
        took = time.monotonic() - started
        leased = await asyncio.to_thread(_lease_of, image.pk)
        assert leased is not None  # held for the call, well beyond the usual minute
        await asyncio.gather(*poller._in_flight)
        await poller.poll_once("poller-a")  # the pass its end wakes copies the picture
        return took

    make_due()
    took = async_to_sync(a_pass)()
    assert took < 1.0
    image.refresh_from_db()
    other.refresh_from_db()
    assert other.status == Status.SUBMITTED
    assert image.status == Status.SUCCEEDED and image.files.count() == 1


def _lease_of(pk):
    from django.db import close_old_connections
    from django.utils import timezone

    close_old_connections()
    job = MediaJob.objects.get(pk=pk)
    if job.lease_until is None:
        return None
    return (job.lease_until - timezone.now()).total_seconds() > 120 or None


async def test_the_image_command_starts_an_image_job_with_the_defaults(team, alice, settings):
    from channels.db import database_sync_to_async

    from tests.factories import make_conversation
    from tests.sockets import cookie_for, open_socket, receive_until, send_action

    settings.IMAGE_DEFAULT_MODEL, settings.IMAGE_DEFAULT_SIZE = "dall-e-2", "512x512"
    conversation = await database_sync_to_async(make_conversation)(team, alice)
    cookie = await database_sync_to_async(cookie_for)(alice)
    tab, connected = await open_socket(conversation, cookie)
    assert connected
    await send_action(tab, "send", text="/image a red fox")
    frames = await receive_until(tab, lambda frame: "data-job-kind" in frame)
    await tab.disconnect()
    job = await database_sync_to_async(MediaJob.objects.get)()
    assert (job.kind, job.action, job.prompt) == ("image", "GENERATE", "a red fox")
    assert job.params == {"model": "dall-e-2", "size": "512x512", "n": 1}
    assert job.conversation_id == conversation.pk
    assert 'data-job-kind="image"' in frames[-1] and 'data-job-status="queued"' in frames[-1]
