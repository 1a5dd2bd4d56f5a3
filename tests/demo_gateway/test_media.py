"""The demo gateway's Midjourney, Suno and Luma emulation (docs/gateway-api.md, Fake
gateway), on the wire.

The clock is driven by hand (`media.clock`), so every phase is seen without sleeping.
"""

from __future__ import annotations

import io
import struct
import wave
import zlib

import httpx
import pytest

from demo_gateway import files


@pytest.fixture
def now(demo_gateway) -> list[float]:
    """The emulator's clock: set `now[0]`; a task takes 10 s (MJ), 15 s (Suno), 20 s (Luma)."""
    clock = [0.0]
    demo_gateway.media.clock = lambda: clock[0]
    demo_gateway.media.duration = 10
    return clock


def png_size(data: bytes) -> tuple[int, int]:
    """Check signature, chunk CRCs and the pixel data length of an RGB PNG; return its size."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(tag + body) & 0xFFFFFFFF == crc
        if tag == b"IHDR":
            size = struct.unpack(">II", body[:8])
        idat += body if tag == b"IDAT" else b""
        pos += 12 + length
    assert tag == b"IEND"
    assert len(zlib.decompress(idat)) == size[1] * (1 + size[0] * 3)
    return size


def gif_frames(data: bytes) -> list[bytes]:
    """Decode every frame of a GIF with a textbook LZW decoder; return their pixel indices."""
    assert data[:6] == b"GIF89a" and data[-1:] == b";"
    width, height, packed = struct.unpack("<HHB", data[6:11])
    pos, frames = 13 + 3 * (2 << (packed & 7)), []
    while data[pos] != 0x3B:
        if data[pos] == 0x21:  # extension: skip its sub-blocks
            pos += 2
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
            continue
        assert data[pos] == 0x2C
        min_code, pos = data[pos + 10], pos + 11
        stream = b""
        while data[pos]:
            stream += data[pos + 1 : pos + 1 + data[pos]]
            pos += data[pos] + 1
        pos += 1
        frames.append(_lzw_decode(stream, min_code))
        assert len(frames[-1]) == width * height
    return frames


def _lzw_decode(stream: bytes, min_code: int) -> bytes:
    clear, end = 1 << min_code, (1 << min_code) + 1
    width, out, data = min_code + 1, bytearray(), iter(stream)
    table: list[bytes] = []
    previous = None
    buffer = held = 0  # bits read from the stream but not used yet, and how many
    while True:
        while held < width:
            buffer |= next(data) << held
            held += 8
        code, buffer, held = buffer & ((1 << width) - 1), buffer >> width, held - width
        if code == clear:
            table = [bytes([i]) for i in range(clear)] + [b"", b""]
            width, previous = min_code + 1, None
            continue
        if code == end:
            return bytes(out)
        if previous is None:
            entry = table[code]
        else:
            entry = table[code] if code < len(table) else previous + previous[:1]
            table.append(previous + entry[:1])
            if len(table) == 1 << width and width < 12:
                width += 1
        out += entry
        previous = entry


# --- files ------------------------------------------------------------------------------


def test_the_generated_files_are_real_png_wav_and_gif():
    assert png_size(files.picture("a", grid=True)) == (256, 256)
    assert png_size(files.picture("b", size=64)) == (64, 64)
    assert files.picture("a") != files.picture("b")
    with wave.open(io.BytesIO(files.tune("c"))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        assert 2 <= wav.getnframes() / wav.getframerate() <= 5
    frames = gif_frames(files.clip("d"))
    assert len(frames) == 12 and frames[0] != frames[-1]


# --- Midjourney ---------------------------------------------------------------------------


def test_an_imagine_walks_through_every_status_to_a_grid_with_buttons(client, demo_gateway, now):
    submitted = client.post("/mj-turbo/mj/submit/imagine", json={"prompt": "a fox"}).json()
    task_id = submitted["result"]
    seen = []
    for second in range(11):
        now[0] = second
        seen.append(client.get(f"/mj/task/{task_id}/fetch").json())

    assert submitted["code"] == 1 and len(task_id) >= 16 and task_id.isdigit()
    statuses = [t["status"] for t in seen]
    assert statuses[:4] == ["", "NOT_START", "SUBMITTED", "IN_PROGRESS"]
    assert statuses[-1] == "SUCCESS"
    running = [int(t["progress"].rstrip("%")) for t in seen if t["status"] == "IN_PROGRESS"]
    assert running == sorted(running) and len(set(running)) > 3
    preview = next(t["imageUrl"] for t in seen if t["status"] == "IN_PROGRESS")
    assert png_size(httpx.get(preview).content) == (64, 64)
    done = seen[-1]
    assert done["progress"] == "100%" and done["properties"]["finalPrompt"]
    assert done["submitTime"] > 1_000_000_000_000  # epoch milliseconds
    labels = [b["label"] or b["emoji"] for b in done["buttons"]]
    assert labels == ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]
    image = httpx.get(done["imageUrl"])
    assert image.headers["content-type"] == "image/png"
    assert png_size(image.content) == (256, 256)
    assert httpx.get(f"{demo_gateway.base_url}/mj/image/{task_id}").content == image.content


def test_upscale_gives_the_upscaled_buttons_and_checks_its_parent(client, now):
    grid = client.post("/mj/submit/imagine", json={"prompt": "a fox"}).json()["result"]
    custom_id = f"MJ::JOB::upsample::1::{'x' * 8}"
    early = client.post("/mj/submit/action", json={"taskId": grid, "customId": custom_id})
    now[0] = 20
    buttons = client.get(f"/mj/task/{grid}/fetch").json()["buttons"]
    foreign = client.post("/mj/submit/action", json={"taskId": grid, "customId": custom_id})
    unknown = client.post(
        "/mj/submit/action", json={"taskId": grid, "customId": "MJ::BOOKMARK::abc"}
    )
    child = client.post(
        "/mj/submit/action", json={"taskId": grid, "customId": buttons[0]["customId"]}
    ).json()["result"]
    now[0] = 40
    upscaled = client.get(f"/mj/task/{child}/fetch").json()

    assert early.status_code == 400
    assert early.json() == {
        "description": "task_status_not_success ",
        "type": "upstream_error",
        "code": 4,
    }
    assert foreign.status_code == 200 and foreign.json()["code"] == 4
    assert unknown.status_code == 400
    assert unknown.json()["description"] == "unknown_action:MJ::BOOKMARK::abc "
    assert upscaled["action"] == "UPSCALE" and upscaled["status"] == "SUCCESS"
    assert png_size(httpx.get(upscaled["imageUrl"]).content) == (256, 256)
    ids = [b["customId"] for b in upscaled["buttons"]]
    for kind in ("upsample_v6_2x_subtle", "low_variation", "high_variation", "Inpaint"):
        assert any(kind in i for i in ids), kind
    for kind in ("Outpaint::50", "Outpaint::75", "CustomZoom", "pan_left", "pan_down"):
        assert any(kind in i for i in ids), kind


def test_vary_region_and_custom_zoom_need_the_modal(client, now):
    grid = client.post("/mj/submit/imagine", json={"prompt": "a fox"}).json()["result"]
    now[0] = 20
    u1 = client.get(f"/mj/task/{grid}/fetch").json()["buttons"][0]["customId"]
    upscale = client.post("/mj/submit/action", json={"taskId": grid, "customId": u1})
    now[0] = 40
    buttons = client.get(f"/mj/task/{upscale.json()['result']}/fetch").json()["buttons"]
    by_label = {b["label"]: b["customId"] for b in buttons}
    parent = upscale.json()["result"]

    region = client.post(
        "/mj/submit/action", json={"taskId": parent, "customId": by_label["Vary (Region)"]}
    ).json()
    zoom = client.post(
        "/mj/submit/action", json={"taskId": parent, "customId": by_label["Custom Zoom"]}
    ).json()
    now[0] = 100
    waiting = client.get(f"/mj/task/{region['result']}/fetch").json()
    no_mask = client.post("/mj/submit/modal", json={"taskId": region["result"]}).json()
    no_prompt = client.post("/mj/submit/modal", json={"taskId": zoom["result"]}).json()
    confirmed = client.post(
        "/mj/submit/modal",
        json={"taskId": region["result"], "maskBase64": "data:image/png;base64,AA"},
    ).json()
    now[0] = 120

    assert (region["code"], region["description"]) == (21, "Waiting for window confirm")
    assert region["properties"]["remix"] is True
    assert waiting["status"] == "MODAL"
    assert no_mask["code"] == 4 and no_prompt["code"] == 4
    assert confirmed == {**confirmed, "code": 1, "result": region["result"]}
    done = client.get(f"/mj/task/{region['result']}/fetch").json()
    assert (done["action"], done["status"]) == ("INPAINT", "SUCCESS")


@pytest.mark.parametrize(
    ("marker", "status", "code"),
    [("mj_queued", 200, 22), ("mj_queue_full", 200, 23), ("mj_banned", 200, 24)],
)
def test_submit_codes_on_request(client, now, marker, status, code):
    response = client.post("/mj/submit/imagine", json={"prompt": f"a fox [demo:{marker}]"})

    assert (response.status_code, response.json()["code"]) == (status, code)
    if code == 24:
        assert response.json()["properties"]["bannedWord"]


def test_gateway_local_errors_are_400_or_429_with_a_trailing_space(client, now):
    empty = client.post("/mj/submit/imagine", json={"prompt": ""})
    saturated = client.post(
        "/mj/submit/imagine", json={"prompt": "x"}, headers={"X-Demo-Scenario": "mj_saturated"}
    )
    missing = client.get("/mj/task/1234567890123456/fetch")

    assert (empty.status_code, empty.json()["description"]) == (400, "prompt_is_required ")
    assert (saturated.status_code, saturated.json()["code"]) == (429, 30)
    assert (missing.status_code, missing.json()["description"]) == (400, "task_no_found ")


def test_failure_on_request_and_a_task_that_never_ends(client, now):
    failing = client.post("/mj/submit/imagine", json={"prompt": "x [demo:fail]"}).json()
    stuck = client.post("/mj/submit/imagine", json={"prompt": "x [demo:never]"}).json()
    now[0] = 1000

    failed = client.get(f"/mj/task/{failing['result']}/fetch").json()
    running = client.get(f"/mj/task/{stuck['result']}/fetch").json()

    assert (failed["status"], failed["progress"]) == ("FAILURE", "100%")
    assert failed["failReason"] and failed["buttons"] == []
    assert running["status"] == "IN_PROGRESS"


def test_blend_describe_shorten_swap_upload_and_seed(client, now):
    image = "data:image/png;base64,AAAA"
    one = client.post("/mj/submit/blend", json={"base64Array": [image]}).json()
    blend = client.post("/mj/submit/blend", json={"base64Array": [image] * 2}).json()
    describe = client.post("/mj/submit/describe", json={"base64": image}).json()
    shorten = client.post("/mj/submit/shorten", json={"prompt": "a very red fox"}).json()
    swap = client.post(
        "/mj/insight-face/swap", json={"sourceBase64": image, "targetBase64": image}
    ).json()
    upload = client.post("/mj/submit/upload-discord-images", json={"base64Array": [image]})
    seed_early = client.get(f"/mj/task/{blend['result']}/image-seed").json()
    now[0] = 20
    tasks = client.post(
        "/mj/task/list-by-condition",
        json={"ids": [blend["result"], describe["result"], "404", shorten["result"]]},
    ).json()
    seed = client.get(f"/mj/task/{blend['result']}/image-seed").json()
    swapped = client.get(f"/mj/task/{swap['result']}/fetch").json()

    assert one["code"] == 4
    assert [t["action"] for t in tasks] == ["BLEND", "DESCRIBE", "SHORTEN"]
    prompts = tasks[1]["properties"]["finalPrompt"].split("\n\n")
    assert [p[:1] for p in prompts] == ["1", "2", "3", "4"]
    assert "Shortened prompts" in tasks[2]["description"]
    assert swapped["action"] == "SWAP_FACE" and swapped["status"] == "SUCCESS"
    urls = upload.json()["result"]
    assert isinstance(urls, list) and png_size(httpx.get(urls[0]).content)
    assert seed_early["code"] == 4
    assert seed["code"] == 1 and seed["result"].isdigit()


def test_plus_routes_are_a_web_page_unless_switched_on(client, demo_gateway, now):
    task_id = client.post("/mj/submit/imagine", json={"prompt": "x"}).json()["result"]
    absent = [client.get("/mj/task/list"), client.get("/mj/task/queue")]
    absent.append(client.post(f"/mj/task/{task_id}/cancel"))
    demo_gateway.media.mj_plus = True
    queue = client.get("/mj/task/queue").json()
    cancelled = client.post(f"/mj/task/{task_id}/cancel")
    after = client.get(f"/mj/task/{task_id}/fetch").json()

    assert all(r.headers["content-type"].startswith("text/html") for r in absent)
    assert [t["id"] for t in queue] == [task_id]
    assert (cancelled.status_code, cancelled.content) == (200, b"")
    assert (after["status"], after["failReason"]) == ("FAILURE", "取消任务")


def test_task_routes_need_the_token_but_result_files_do_not(demo_gateway, client, now):
    task_id = client.post("/mj/submit/imagine", json={"prompt": "x"}).json()["result"]
    base = demo_gateway.base_url

    for method, path in [
        ("POST", "/mj/submit/imagine"),
        ("GET", f"/mj/task/{task_id}/fetch"),
        ("POST", "/suno/submit/music"),
        ("GET", "/luma/generations/abc"),
    ]:
        response = httpx.request(method, base + path, json={"prompt": "x"})
        assert response.status_code == 401, path
        assert "request id" in response.json()["error"]["message"]
    now[0] = 20
    assert httpx.get(f"{base}/mj/image/{task_id}").status_code == 200
    assert httpx.get(f"{base}/demo-media/mj/{task_id}.png").status_code == 200
    assert httpx.get(f"{base}/demo-media/mj/404.png").status_code == 404


# --- Suno ---------------------------------------------------------------------------------


def test_suno_music_walks_from_not_start_to_two_complete_clips(client, now):
    submitted = client.post(
        "/suno/submit/music", json={"prompt": "[Verse] tea", "title": "Tea", "tags": "lofi"}
    ).json()
    seen = []
    for second in range(16):
        now[0] = second
        seen.append(client.get(f"/suno/fetch/{submitted['data']}").json()["data"])

    assert submitted["code"] == "success"
    statuses = [t["status"] for t in seen]
    assert statuses[0] == "NOT_START" and seen[0]["data"] is None
    for status in ("SUBMITTED", "QUEUED", "IN_PROGRESS"):
        assert status in statuses
    streaming = next(t for t in seen if t["status"] == "IN_PROGRESS")
    assert streaming["data"][1]["status"] == "streaming" and streaming["data"][1]["audio_url"]
    assert any(t["data"][0]["status"] == "complete" for t in seen if t["status"] == "IN_PROGRESS")
    done = seen[-1]
    assert (done["status"], done["progress"]) == ("SUCCESS", "100%")
    assert done["submit_time"] < 10_000_000_000  # epoch seconds
    clip = done["data"][0]
    assert (clip["status"], clip["title"], clip["metadata"]["prompt"]) == (
        "complete",
        "Tea",
        "[Verse] tea",
    )
    audio = httpx.get(clip["audio_url"])
    assert audio.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(audio.content)) as wav:
        assert wav.getnframes() > 0
    assert png_size(httpx.get(clip["image_large_url"]).content) == (256, 256)


def test_suno_errors_lyrics_failure_and_batch(client, now):
    no_task = client.post("/suno/submit/music", json={"prompt": "x", "continue_clip_id": "c"})
    no_origin = client.post(
        "/suno/submit/music", json={"prompt": "x", "task_id": "gone", "continue_clip_id": "c"}
    )
    quota = client.post("/suno/submit/music", json={"prompt": "x [demo:quota]"})
    unknown = client.get("/suno/fetch/gone")
    lyrics = client.post("/suno/submit/lyrics", json={"prompt": "tea"}).json()["data"]
    failing = client.post("/suno/submit/music", json={"gpt_description_prompt": "[demo:fail]"})
    now[0] = 100
    batch = client.post(
        "/suno/fetch", json={"ids": [lyrics, "gone", failing.json()["data"]]}
    ).json()["data"]

    assert no_task.status_code == 400 and no_task.json()["message"] == "task id is empty"
    assert no_origin.status_code == 400 and no_origin.json()["code"] == "task_not_exist"
    assert quota.status_code == 403 and quota.json()["code"] == "quota_not_enough"
    assert unknown.status_code == 400 and unknown.json()["code"] == "task_not_exist"
    assert [t["status"] for t in batch] == ["SUCCESS", "FAILURE"]
    assert set(batch[0]["data"]) == {"id", "title", "text", "status"}
    assert batch[1]["fail_reason"]
    assert batch[1]["data"][0]["metadata"]["error_message"]


def test_suno_goamz_format(client, now):
    submitted = client.post(
        "/suno/v1/music", json={"custom_mode": False, "input": {"gpt_description_prompt": "tea"}}
    ).json()
    now[0] = 100
    fetched = client.get(f"/suno/v1/music/{submitted['data']['task_id']}").json()

    assert submitted["code"] == 200
    assert fetched["code"] == 200 and fetched["data"]["status"] == "completed"
    assert isinstance(fetched["data"]["input"], str)
    clips = fetched["data"]["clips"]
    assert isinstance(clips, dict) and len(clips) == 2
    assert all(clip_id == clip["id"] for clip_id, clip in clips.items())


# --- Luma ---------------------------------------------------------------------------------


def test_luma_walks_to_a_clean_video_link_one_step_after_completion(client, now):
    submitted = client.post("/luma/generations", json={"user_prompt": "waves"})
    task_id = submitted.json()["id"]
    seen = {}
    for second in (0, 10, 20, 23):
        now[0] = second
        seen[second] = client.get(f"/luma/generations/{task_id}").json()

    assert submitted.status_code == 200
    assert (submitted.json()["state"], submitted.json()["video"]) == ("pending", None)
    assert [seen[s]["state"] for s in (0, 10, 20)] == ["pending", "processing", "completed"]
    assert "download_url" not in seen[20]["video"]
    video = httpx.get(seen[23]["video"]["download_url"])
    assert video.headers["content-type"] == "image/gif"
    assert len(gif_frames(video.content)) > 1
    clean = client.get(f"/luma/generations/{task_id}/download_video_url").json()
    assert clean["url"] == seen[23]["video"]["download_url"]


def test_luma_extend_batch_shapes_and_errors(client, demo_gateway, now):
    first = client.post("/luma/generations/", json={"user_prompt": "waves"}).json()["id"]
    early = client.post(f"/luma/generations/{first}/extend", json={"user_prompt": "more"})
    as_array = client.post("/luma/generations", json={"user_prompt": "w [demo:luma_array]"})
    created = client.post("/luma/generations", json={"user_prompt": "w [demo:luma_201]"})
    failing = client.post("/luma/generations", json={"user_prompt": "w [demo:fail]"}).json()
    empty = client.post("/luma/generations", json={})
    missing = client.get("/luma/generations/gone")
    now[0] = 100
    extended = client.post(f"/luma/generations/{first}/extend", json={"user_prompt": "more"})
    batch = client.post("/luma/tasks", json={"ids": [first, "gone", failing["id"]]}).json()
    demo_gateway.media.luma = False
    disabled = client.get(f"/luma/generations/{first}")

    assert early.status_code == 400 and "detail" in early.json()
    assert isinstance(as_array.json(), list) and as_array.json()[0]["state"] == "pending"
    assert created.status_code == 201
    assert empty.status_code == 400 and empty.json()["detail"]["reason"]
    assert missing.status_code == 404 and missing.json()["detail"]
    assert extended.status_code == 200 and extended.json()["id"] != first
    assert [t["state"] for t in batch] == ["completed", "failed"]
    assert batch[1]["failure_reason"]
    assert disabled.headers["content-type"].startswith("text/html")


def test_a_task_may_set_its_own_duration_and_expired_links_answer_403(client, now):
    slow = client.post("/mj/submit/imagine", json={"prompt": "x [demo:duration:60]"}).json()
    expired = client.post("/suno/submit/music", json={"prompt": "x [demo:expired]"}).json()
    now[0] = 30
    halfway = client.get(f"/mj/task/{slow['result']}/fetch").json()
    clip = client.get(f"/suno/fetch/{expired['data']}").json()["data"]["data"][0]
    now[0] = 60
    done = client.get(f"/mj/task/{slow['result']}/fetch").json()

    assert (halfway["status"], halfway["progress"]) == ("IN_PROGRESS", "28%")
    assert done["status"] == "SUCCESS"
    assert httpx.get(clip["audio_url"]).status_code == 403
