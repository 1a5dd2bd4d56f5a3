"""Websockets while the channel layer (Redis, in scale mode) is down or restarting.

A consumer joins its groups on connect and listens on its channel all along, both through
Redis. Without this wrapper a handshake during an outage failed with a 500 and a traceback,
and a socket whose channel read failed was closed with 1011 and another traceback. Here:

- during the handshake: the socket is refused (daphne answers 403; the browser sees 1006),
  with one warning line;
- once open: daphne closes it with 1011: the only code of those the browser retries that
  daphne lets an application cause (autobahn refuses 1012 and 1013 from one), so a short
  `ChannelLayerDown` is raised for it, with one line in the log instead of redis' chain.

The htmx websocket extension reconnects after 1006, 1011, 1012 and 1013 with a growing
pause, the tab meanwhile shows "Reconnecting…", and each reconnect runs the consumer's
`connect` again, which joins its groups again (a Redis restarted empty has forgotten them).
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

LAYER_ERRORS: tuple[type[BaseException], ...] = (RedisError, ConnectionError, TimeoutError)


class ChannelLayerDown(Exception):
    """Raised to daphne for an open socket whose channel layer failed: it closes with 1011."""


class ChannelLayerOutage:
    def __init__(self, app: Any) -> None:
        self.inner = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return await self.inner(scope, receive, send)
        state = {"accepted": False, "closed": False}

        async def tracked(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] == "websocket.close":
                state["closed"] = True
            await send(message)

        try:
            await self.inner(scope, receive, tracked)
        except LAYER_ERRORS as exc:
            when = "open" if state["accepted"] else "handshake"
            logger.warning("Closed a websocket (%s): the channel layer failed: %s: %s",
                           when, type(exc).__name__, exc)  # fmt: skip
            if state["closed"]:
                return
            if state["accepted"]:
                raise ChannelLayerDown(f"{type(exc).__name__}: {exc}") from None
            await send({"type": "websocket.close"})
