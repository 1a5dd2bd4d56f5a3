"""A loopback HTTP/1.1 server speaking the new-api chat contract, on plain asyncio.

Byte-level control is the point: streamed answers go out as one HTTP chunk per step of a
plan from `scenarios.stream_plan`, flushed one by one, so tests can split JSON lines and
UTF-8 characters across TCP writes, cut the socket, or leave off the last newline.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from demo_gateway import (
    allmodels,
    audio,
    completions,
    embeddings,
    images,
    probe,
    scenarios,
    speech,
    vision,
)
from demo_gateway.images import ImagesEmulator
from demo_gateway.media import MediaEmulator
from demo_gateway.scenarios import CUT, Reply

logger = logging.getLogger("demo_gateway")

TIMEOUT_SLEEP = 60.0
# Sent with every answer, so a Parlor process can tell a demo gateway it may share (another
# process of the same installation started it) from something else on its port.
IDENTITY_HEADER = "X-Parlor-Demo-Gateway"
_HEAD_LIMIT = 1 << 20
_STREAM_HEADERS = (
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\n"
    b"X-Accel-Buffering: no\r\n"
    b"Transfer-Encoding: chunked\r\n"
)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    query: str = ""
    body: bytes = field(default=b"", repr=False)
    peer: str = ""  # client "host:port": tells connections apart


class _BadRequest(Exception):
    pass


class DemoGateway:
    """The fake gateway. `scenario` and `token_delay` may be changed while it runs."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = "sk-demo",
        token_delay: float = 0.02,
        models: list[str] | None = None,
        without: Iterable[str] = (),
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.token_delay = token_delay
        self.models: list[str] = list(scenarios.DEFAULT_MODELS if models is None else models)
        self.scenario: str | None = None
        # Families answered as a gateway without them would (demo_gateway.probe); may change.
        self.without: frozenset[str] = probe.check_families(without)
        self.requests: list[RecordedRequest] = []
        self.media = MediaEmulator()  # Midjourney, Suno, Luma; tests set media.duration
        self.images = ImagesEmulator(delay=token_delay * 150)  # 3 s at the default pace
        self.base_url = ""
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self.port, limit=_HEAD_LIMIT, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.base_url = f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    def stop_thread(self, timeout: float = 5.0) -> None:
        """Stop a gateway started with `start_in_thread`."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = self._thread = None

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    def _request_id(self) -> str:
        # new-api: time string + random suffix; a counter keeps ours unique and cheap.
        now = time.time()
        stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(now))
        return f"{stamp}{int(now * 1000) % 1000:03d}{next(self._ids):08d}"

    # --- HTTP plumbing --------------------------------------------------------------

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while await self._serve_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels us; ending quietly keeps asyncio's callback from logging it.
            pass
        except _BadRequest:
            with contextlib.suppress(ConnectionError):
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except Exception:
            logger.exception("demo gateway: request handler failed")
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError as exc:
            raise _BadRequest(lines[0]) from exc
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                name, value = name.strip().lower(), value.strip()
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
        body = await _read_body(reader, headers)
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        path, _, query = target.partition("?")
        peer = writer.get_extra_info("peername") or ("", 0)
        request = RecordedRequest(
            method, path, headers, parsed, query, body, f"{peer[0]}:{peer[1]}"
        )
        self.requests.append(request)
        keep_alive = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        return await self._route(request, writer, keep_alive)

    def _head(self, status: int, request_id: str, extra: bytes, keep_alive: bool) -> bytes:
        return (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"X-Oneapi-Request-Id: {request_id}\r\n"
            f"{IDENTITY_HEADER}: 1\r\n".encode()
            + extra
            + (b"" if keep_alive else b"Connection: close\r\n")
            + b"\r\n"
        )

    async def _send(
        self, writer: asyncio.StreamWriter, reply: Reply, request_id: str, keep_alive: bool
    ) -> bool:
        extra = f"Content-Length: {len(reply.body)}\r\n"
        if reply.content_type:
            extra = f"Content-Type: {reply.content_type}\r\n{extra}"
        writer.write(self._head(reply.status, request_id, extra.encode(), keep_alive) + reply.body)
        await writer.drain()
        return keep_alive

    # --- routes ---------------------------------------------------------------------

    async def _route(
        self, request: RecordedRequest, writer: asyncio.StreamWriter, keep_alive: bool
    ) -> bool:
        request_id = self._request_id()
        method, path = request.method, request.path
        if (absent := probe.withheld(method, path, self.without)) is not None:
            return await self._send(writer, absent, request_id, keep_alive)
        if path == "/v1/models" and method == "GET":
            handler = self._models
        elif path.startswith("/v1/models/") and method == "GET":
            handler = self._model
        elif path == "/v1/chat/completions" and method == "POST":
            handler = self._chat
        elif path == "/v1/embeddings" and method == "POST":
            handler = self._embeddings
        elif path == completions.PATH and method == "POST":
            handler = completions.handler(self)
        elif path == "/api/pricing" and method == "GET":  # public, as on most deployments
            return await self._send(
                writer, Reply(200, scenarios.pricing_body()), request_id, keep_alive
            )
        elif images.handles(path):
            authorized = self._authorized(request.headers.get("authorization"))
            reply = await self.images.answer(request, request_id, authorized=authorized,
                                             base=self.base_url, scenario=self.scenario,
                                             models=self.models)  # fmt: skip
            return await self._send(writer, reply, request_id, keep_alive)
        elif allmodels.handles_path(path) and method == "GET":
            return await self._send(writer, allmodels.file_reply(path), request_id, keep_alive)
        elif audio.handles(path) and method == "POST":
            return await self._send(
                writer, self._audio(request, request_id), request_id, keep_alive
            )
        elif path == speech.PATH and method == "POST":
            return await speech.answer(self, request, writer, request_id, keep_alive)
        elif MediaEmulator.handles(path):
            authorized = self._authorized(request.headers.get("authorization"))
            reply = self.media.answer(request, request_id, authorized, self.base_url)
            return await self._send(writer, reply, request_id, keep_alive)
        elif path.startswith(("/v1/", "/api/", "/assets/")) or path in ("/v1", "/api", "/assets"):
            authorized = self._authorized(request.headers.get("authorization"))
            refusal = probe.refusal(
                request, models=self.models, authorized=authorized, request_id=request_id
            )
            reply = refusal or scenarios.invalid_url(method, path)
            return await self._send(writer, reply, request_id, keep_alive)
        else:
            return await self._send(writer, scenarios.console_page(), request_id, keep_alive)

        authorization = request.headers.get("authorization")
        if not self._authorized(authorization):
            reply = scenarios.auth_error(authorization, request_id)
            return await self._send(writer, reply, request_id, keep_alive)
        user_text = scenarios.last_user_text(request.json) or completions.prompt_text(request.json)
        scenario = scenarios.select(
            request.headers.get("x-demo-scenario"), user_text, self.scenario
        )
        if not scenarios.is_known(scenario):
            reply = scenarios.unknown_scenario(scenario, request_id)
            return await self._send(writer, reply, request_id, keep_alive)
        if scenario in scenarios.ERROR_SCENARIOS:
            model = _model_of(request.json) or scenarios.DEFAULT_MODEL
            reply = scenarios.scenario_error(scenario, model, request_id)
            return await self._send(writer, reply, request_id, keep_alive)
        if scenario == "html_200":
            return await self._send(writer, scenarios.console_page(), request_id, keep_alive)
        if scenario == "timeout":
            await asyncio.sleep(TIMEOUT_SLEEP)
        return await handler(request, scenario, writer, request_id, keep_alive)

    def _audio(self, request: RecordedRequest, request_id: str) -> Reply:
        authorization = request.headers.get("authorization")
        if not self._authorized(authorization):
            return scenarios.auth_error(authorization, request_id)
        scenario = request.headers.get("x-demo-scenario") or self.scenario
        return audio.answer(request, request_id, scenario)

    def _authorized(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        # new-api strips an optional "sk-" itself, so "sk-demo" and "demo" are one token.
        token = authorization.removeprefix("Bearer ").strip().removeprefix("sk-")
        return bool(token) and token == self.api_key.removeprefix("sk-")

    async def _models(
        self,
        request: RecordedRequest,
        scenario: str,
        writer: asyncio.StreamWriter,
        request_id: str,
        keep_alive: bool,
    ) -> bool:
        models = probe.listed(self.models, self.without)
        body = scenarios.models_body(models, legacy=scenario == "models_legacy")
        return await self._send(writer, Reply(200, body), request_id, keep_alive)

    async def _model(
        self,
        request: RecordedRequest,
        scenario: str,
        writer: asyncio.StreamWriter,
        request_id: str,
        keep_alive: bool,
    ) -> bool:
        model_id = request.path.removeprefix("/v1/models/")
        if model_id in self.models:
            reply = Reply(200, scenarios.dumps(scenarios.model_object(model_id)).encode())
        else:
            reply = scenarios.error_a(
                404,
                f"The model '{model_id}' does not exist",
                request_id,
                err_type="invalid_request_error",
                code="model_not_found",
            )
        return await self._send(writer, reply, request_id, keep_alive)

    async def _embeddings(
        self,
        request: RecordedRequest,
        scenario: str,
        writer: asyncio.StreamWriter,
        request_id: str,
        keep_alive: bool,
    ) -> bool:
        reply = embeddings.answer(request.json, request_id)
        return await self._send(writer, reply, request_id, keep_alive)

    async def _chat(
        self,
        request: RecordedRequest,
        scenario: str,
        writer: asyncio.StreamWriter,
        request_id: str,
        keep_alive: bool,
    ) -> bool:
        body = request.json
        refused = scenarios.refuse_text_request(body, self.models, request_id)
        if refused is not None:
            return await self._send(writer, refused, request_id, keep_alive)
        model = body["model"]
        scenario = scenarios.for_model(scenario, model)
        chat_id, created = f"chatcmpl-{request_id}", int(time.time())
        if allmodels.answers(model, scenario):  # pictures, a GPT, a song (allmodels.py)
            ask = allmodels.Ask(body, chat_id, created, model, self.base_url)
            if body.get("stream") is not True:
                reply = Reply(200, allmodels.completion_body(ask))
                return await self._send(writer, reply, request_id, keep_alive)
            plan = allmodels.stream_plan(ask, delay=self.token_delay)
            return await self._stream(writer, plan, request_id, keep_alive)
        refused = vision.refusal(body, model, request_id)  # image parts real upstreams refuse
        if refused is not None:
            return await self._send(writer, refused, request_id, keep_alive)
        seen = vision.description(body) if scenario == "normal" else None
        if seen is not None and body.get("stream") is not True:
            payload = vision.completion_body(
                seen, chat_id=chat_id, created=created, model=model, body=body
            )
            return await self._send(writer, Reply(200, payload), request_id, keep_alive)
        if seen is not None:
            req = scenarios.StreamRequest(scenario, body, chat_id, created, model, self.token_delay)
            return await self._stream(writer, vision.stream_plan(req, seen), request_id, keep_alive)
        if body.get("stream") is not True:
            payload = scenarios.completion_body(
                scenario, body, chat_id=chat_id, created=created, model=model
            )
            if scenario == "cut":
                return await self._send_cut(writer, payload, request_id)
            return await self._send(writer, Reply(200, payload), request_id, keep_alive)
        plan = scenarios.stream_plan(
            scenarios.StreamRequest(scenario, body, chat_id, created, model, self.token_delay)
        )
        if scenario == "eof_no_newline":
            keep_alive = False
        return await self._stream(writer, plan, request_id, keep_alive)

    async def _send_cut(
        self, writer: asyncio.StreamWriter, payload: bytes, request_id: str
    ) -> bool:
        extra = (
            f"Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(payload)}\r\n"
        )
        writer.write(
            self._head(200, request_id, extra.encode(), True) + payload[: len(payload) // 2]
        )
        await writer.drain()
        return False

    async def _stream(
        self, writer: asyncio.StreamWriter, plan: list[Any], request_id: str, keep_alive: bool
    ) -> bool:
        extra = _STREAM_HEADERS + (b"Connection: keep-alive\r\n" if keep_alive else b"")
        writer.write(self._head(200, request_id, extra, keep_alive))
        await writer.drain()
        # Pauses follow a schedule from the first byte, so per-write overhead does not add
        # up: 200 tokens at 20 ms take 4 s, however busy the loop is.
        clock = asyncio.get_running_loop().time
        due = clock()
        for step in plan:
            if step.__class__ is bytes:
                writer.write(b"%x\r\n%b\r\n" % (len(step), step))
                await writer.drain()
            elif step is CUT:
                return False
            else:
                due += step
                wait = due - clock()
                if wait > 0:
                    await asyncio.sleep(wait)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return keep_alive


def _model_of(body: Any) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else ""


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError as exc:
                raise _BadRequest("bad chunk size") from exc
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as exc:
        raise _BadRequest("bad content-length") from exc
    return await reader.readexactly(length) if length > 0 else b""


def is_demo_gateway(base_url: str, timeout: float = 2.0) -> bool:
    """Whether a demo gateway answers at `base_url` (one another process started)."""
    response: Any
    try:
        response = urllib.request.urlopen(base_url + "/v1/models", timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as exc:
        response = exc  # 401 without a key: still an answer with headers
    except (OSError, ValueError):
        return False
    with response:
        return response.headers.get(IDENTITY_HEADER) == "1"


def start_in_thread(**kwargs: Any) -> DemoGateway:
    """Run a DemoGateway on its own event loop in a daemon thread; returns once listening."""
    gateway = DemoGateway(**kwargs)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(gateway.start())
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="demo-gateway", daemon=True)
    thread.start()
    ready.wait()
    if failure:
        raise failure[0]
    gateway._loop, gateway._thread = loop, thread
    return gateway
