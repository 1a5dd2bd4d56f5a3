"""gateway.netio, the gateway client's plain-asyncio sockets, against a real local server."""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import httpcore
import httpx
import pytest

from gateway import netio
from gateway.chat import stream_chat
from gateway.client import aclose_clients, get_client
from gateway.errors import GatewayConnectionLost, GatewayError
from gateway.types import ChatDelta, ChatEnd

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return await reader.readexactly(length) if length else b""


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(content: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"delta": {"content": content}}]}).encode() + b"\n\n"


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
END = b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'


@pytest.fixture
async def serve(settings) -> AsyncIterator[Callable[[Handler], Awaitable[None]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> None:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        settings.GATEWAY_BASE_URL = f"http://127.0.0.1:{port}/v1"

    yield start
    await aclose_clients()
    for server in servers:
        server.close()


async def _collect() -> tuple[str, list[ChatDelta | ChatEnd]]:
    events = [e async for e in stream_chat(model="m", messages=[])]
    text = "".join(e.content for e in events if isinstance(e, ChatDelta))
    return text, events


async def test_the_shared_client_reads_through_asyncio_sockets(serve):
    async def handler(reader, writer):
        await _read_request(reader)
        writer.write(HEAD + b"\r\n")
        for word in ["one ", "two ", "three"]:
            writer.write(_chunk(_event(word)))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(_chunk(END) + b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    await serve(handler)
    client = get_client()
    assert isinstance(client._transport._pool._network_backend, netio.AsyncioBackend)
    text, events = await _collect()
    assert text == "one two three"
    assert isinstance(events[-1], ChatEnd) and events[-1].finish_reason == "stop"


async def test_one_connection_is_reused_and_a_closed_idle_one_is_not(serve):
    connections = 0

    async def handler(reader, writer):
        nonlocal connections
        connections += 1
        for _ in range(2):
            await _read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
            writer.write(b"content-length: 2\r\n\r\n{}")
            await writer.drain()
        writer.close()  # after two answers: the pooled connection dies while idle

    await serve(handler)
    client = get_client()
    for _ in range(4):
        response = await client.get("/v1/models")
        assert response.json() == {}
        await asyncio.sleep(0.01)  # the close reaches the idle connection
    assert connections == 2


async def test_consecutive_replies_share_one_connection(serve):
    connections = 0

    async def handler(reader, writer):
        nonlocal connections
        connections += 1
        while not reader.at_eof():
            try:
                await _read_request(reader)
            except asyncio.IncompleteReadError:
                break
            writer.write(HEAD + b"\r\n" + _chunk(_event("hi")))
            await writer.drain()
            await asyncio.sleep(0.01)
            writer.write(_chunk(END))
            await writer.drain()
            writer.write(b"0\r\n\r\n")  # the body's end, a write after [DONE]
            await writer.drain()
        writer.close()

    await serve(handler)
    for _ in range(3):
        text, events = await _collect()
        assert text == "hi"
        assert isinstance(events[-1], ChatEnd)
    assert connections == 1


async def test_a_gateway_that_keeps_the_stream_open_after_done_still_ends_the_reply(serve):
    release = asyncio.Event()

    async def handler(reader, writer):
        await _read_request(reader)
        writer.write(HEAD + b"\r\n" + _chunk(_event("hi")) + _chunk(END))
        await writer.drain()
        await release.wait()
        writer.close()

    await serve(handler)
    async with asyncio.timeout(5):
        text, events = await _collect()
    release.set()
    assert text == "hi"
    assert isinstance(events[-1], ChatEnd) and events[-1].finish_reason == "stop"


async def test_many_chunks_in_one_read_and_a_large_body_arrive_whole(serve, monkeypatch):
    monkeypatch.setattr(netio, "READ_LIMIT", 1024)  # flow control pauses and resumes reading
    words = [f"w{i} " for i in range(3000)]

    async def handler(reader, writer):
        await _read_request(reader)
        writer.write(HEAD + b"\r\n" + b"".join(_chunk(_event(w)) for w in words))
        writer.write(_chunk(END) + b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    await serve(handler)
    text, _events = await _collect()
    assert text == "".join(words)


async def test_gzip_from_the_gateway_is_still_decoded(serve):
    body = gzip.compress(_event("zipped") + END)

    async def handler(reader, writer):
        await _read_request(reader)
        writer.write(HEAD + b"content-encoding: gzip\r\n\r\n")
        for i in range(0, len(body), 7):
            writer.write(_chunk(body[i : i + 7]))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    await serve(handler)
    text, _events = await _collect()
    assert text == "zipped"


async def test_a_stream_cut_off_mid_reply_keeps_its_deltas_then_raises(serve):
    async def handler(reader, writer):
        await _read_request(reader)
        writer.write(HEAD + b"\r\n" + _chunk(_event("half")))
        await writer.drain()
        writer.transport.abort()

    await serve(handler)
    seen = []
    with pytest.raises(GatewayConnectionLost):
        async for event in stream_chat(model="m", messages=[]):
            seen.append(event)
    assert [e.content for e in seen] == ["half"]


async def test_a_silent_gateway_times_out(serve, settings):
    settings.GATEWAY_READ_TIMEOUT = 0.2
    release = asyncio.Event()

    async def handler(reader, writer):
        await _read_request(reader)
        writer.write(HEAD + b"\r\n" + _chunk(_event("first")))
        await writer.drain()
        await release.wait()
        writer.close()

    await serve(handler)
    seen = []
    with pytest.raises(GatewayError):
        async for event in stream_chat(model="m", messages=[]):
            seen.append(event)
    release.set()
    # The "t" that could begin the test key's bare part comes with the error (gateway.redact).
    assert "".join(e.content for e in seen) == "first"


async def test_read_timeout_raises_httpcore_error_and_a_later_read_still_works():
    loop = asyncio.get_running_loop()
    protocol = netio._Protocol(loop)
    with pytest.raises(httpcore.ReadTimeout):
        await protocol.read(100, 0.05)
    protocol.data_received(b"abc")
    assert await protocol.read(2, 0.05) == b"ab"
    assert await protocol.read(100, 0.05) == b"c"
    protocol.connection_lost(ConnectionResetError("reset"))
    with pytest.raises(httpcore.ReadError):
        await protocol.read(100, 0.05)


async def test_connection_refused_is_a_connect_error(settings):
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    settings.GATEWAY_BASE_URL = f"http://127.0.0.1:{port}"
    try:
        with pytest.raises(httpx.ConnectError):
            await get_client().get("/v1/models")
    finally:
        await aclose_clients()


def _self_signed(tmp_path):
    """A certificate for 127.0.0.1 and its key, as files."""
    x509 = pytest.importorskip("cryptography.x509")
    import datetime
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_https_streams_through_tls(settings, tmp_path, monkeypatch):
    cert_file, key_file = _self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # httpx trusts it (trust_env)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    connections = 0

    async def handler(reader, writer):
        nonlocal connections
        connections += 1
        for _ in range(2):
            await _read_request(reader)
            writer.write(HEAD + b"\r\n")
            for word in ["se", "cure"]:
                writer.write(_chunk(_event(word)))
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(_chunk(END) + b"0\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=server_context)
    settings.GATEWAY_BASE_URL = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        for _ in range(2):
            text, events = await _collect()
            assert text == "secure"
            assert isinstance(events[-1], ChatEnd)
        assert connections == 1
    finally:
        await aclose_clients()
        server.close()
