"""The demo gateway publishes a price for every model it lists and for every task action
Parlor charges, so a fresh install (which imports these at start) charges nothing at the
site default."""

from __future__ import annotations

# The names media jobs are charged under (new-api's task price names).
TASK_ACTIONS = (
    "mj_imagine", "mj_variation", "mj_reroll", "mj_blend", "mj_upscale", "mj_describe",
    "mj_zoom", "mj_shorten", "mj_modal", "mj_inpaint", "mj_custom_zoom", "mj_high_variation",
    "mj_low_variation", "mj_pan", "swap_face", "mj_uploads", "suno_music", "suno_lyrics",
    "luma_generate", "luma_extend",
)  # fmt: skip


def test_every_listed_model_and_task_action_has_a_price(client):
    listed = {m["id"] for m in client.get("/v1/models").json()["data"]}
    pricing = client.get("/api/pricing").json()

    priced = {
        entry["model_name"]
        for entry in pricing["data"]
        if entry["model_ratio"] > 0 or entry["model_price"] > 0
    }
    assert listed and listed - priced == set()
    assert set(TASK_ACTIONS) - priced == set()


def test_the_published_prices_import_as_prices_per_token_and_per_call(client):
    from gateway.pricing import parse_prices

    prices = {p.model: p for p in parse_prices(client.get("/api/pricing").json()) or []}

    assert prices["gpt-4o-mini"].prompt_per_1k > 0 and prices["gpt-4o-mini"].per_call == 0
    assert prices["mj_pan"].per_call > 0 and prices["mj_pan"].prompt_per_1k == 0
