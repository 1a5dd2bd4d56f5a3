"""The demo gateway's chat models that send back more than text (demo_gateway/allmodels.py):
gpt-4-all's picture links to the demo's own files (and, on request, to a private address and a
PDF), a GPT, and suno-v3.5 narrating a song as Suno-API's chat endpoint does."""

from __future__ import annotations

import json
import re

from demo_gateway import allmodels

from .conftest import chat_body, deltas, events


def _stream(client, model: str, text: str) -> bytes:
    body = chat_body(text, model=model)
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        return b"".join(response.iter_raw())


def _text(raw: bytes) -> str:
    return "".join(delta.get("content") or "" for delta in deltas(raw))


def test_gpt_4_all_links_pictures_the_demo_serves(client, demo_gateway):
    text = _text(_stream(client, "gpt-4-all", "draw a lighthouse"))
    links = re.findall(r"!\[[^\]]*\]\((http[^)]+)\)", text)
    assert len(links) == 2 and all(link.startswith(demo_gateway.base_url) for link in links)
    for link in links:
        response = client.get(link.removeprefix(demo_gateway.base_url))
        assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    assert allmodels.PRIVATE_PICTURE not in text and ".pdf" not in text


def test_on_request_a_private_link_and_a_file(client, demo_gateway):
    text = _text(_stream(client, "gpt-4-all", "draw it, with a private link and a file"))
    assert f"]({allmodels.PRIVATE_PICTURE})" in text
    [pdf] = re.findall(r"\]\((http[^)]+\.pdf)\)", text)
    response = client.get(pdf.removeprefix(demo_gateway.base_url))
    assert response.content.startswith(b"%PDF-")


def test_the_gpt_answers_as_ordinary_chat(client):
    raw = _stream(client, "gpt-4-gizmo-g-demo", "hello")
    assert _text(raw).startswith("*Demo GPT (g-demo)*")
    assert json.loads(events(raw)[-2])["choices"][0]["finish_reason"] == "stop"


def test_suno_narrates_one_character_at_a_time_without_role_or_finish(client, demo_gateway):
    raw = _stream(client, "suno-v3.5", "a song about the sea")
    chunks = [json.loads(e) for e in events(raw) if e != b"[DONE]"]
    assert all(len(c["choices"][0]["delta"]["content"]) == 1 for c in chunks)
    assert not any("role" in c["choices"][0]["delta"] for c in chunks)
    assert not any(c["choices"][0]["finish_reason"] for c in chunks)
    text = _text(raw)
    assert text.startswith(allmodels.ACCEPTED + "🎵" * allmodels.TICKS + "\n## ")
    cover = re.search(r"!\[封面\]\((http[^)]+)\)", text).group(1)
    audio = re.search(r"\[点击听歌\]\((http[^)]+)\)", text).group(1)
    video = re.search(r"\[点击观看\]\((http[^)]+)\)", text).group(1)
    for link, magic in ((cover, b"\x89PNG"), (audio, b"RIFF"), (video, b"GIF89a")):
        assert client.get(link.removeprefix(demo_gateway.base_url)).content.startswith(magic)


def test_a_non_stream_suno_answer_has_its_text_in_delta(client):
    body = chat_body("a song", model="suno-v3.5", stream=False)
    choice = client.post("/v1/chat/completions", json=body).json()["choices"][0]
    assert "message" not in choice
    assert choice["delta"]["content"].startswith(allmodels.ACCEPTED)


def test_failure_scenarios_still_apply(client):
    body = chat_body("[demo:http_429] draw", model="gpt-4-all")
    assert client.post("/v1/chat/completions", json=body).status_code == 429


def test_unknown_files_are_not_found(client):
    assert client.get("/demo-all/passwd").status_code == 404
    assert client.get("/demo-all/other.png").status_code == 404
    assert client.get("/demo-all/pic-x.exe").status_code == 404
