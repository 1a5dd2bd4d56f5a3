"""A small TCP proxy for trying scale mode without nginx: each new connection goes to the
next backend in turn (round-robin per connection); a backend that refuses the connection is
skipped for the next one. It copies bytes both ways, so HTTP keep-alive and websockets pass
through as they are (a websocket stays on the process it opened on).

    python benchmarks/proxy.py --listen 127.0.0.1:8000 --backend 127.0.0.1:8001 \
        --backend 127.0.0.1:8002

benchmarks/scale.py (`make scale-up`) starts it in front of its web processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging

logger = logging.getLogger("proxy")
CHUNK = 64 * 1024
CONNECT_SECONDS = 2.0


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


class Proxy:
    def __init__(self, listen: tuple[str, int], backends: list[tuple[str, int]]) -> None:
        self.listen = listen
        self.backends = backends
        self._turn = itertools.cycle(range(len(backends)))
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, *self.listen, backlog=1024)

    async def _open_backend(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.backends)):
            host, port = self.backends[next(self._turn)]
            try:
                async with asyncio.timeout(CONNECT_SECONDS):
                    return await asyncio.open_connection(host, port)
            except (OSError, TimeoutError):
                continue  # down (killed, restarting): the next one
        return None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backend = await self._open_backend()
        if backend is None:
            logger.warning("No backend answers; closing the connection")
            writer.close()
            return
        upstream_reader, upstream_writer = backend
        pipes = [
            asyncio.create_task(_pipe(reader, upstream_writer)),
            asyncio.create_task(_pipe(upstream_reader, writer)),
        ]
        # One side ending (a killed backend, a closed tab) ends the other.
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        for stream in (writer, upstream_writer):
            with contextlib.suppress(Exception):
                stream.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()


async def serve(listen: tuple[str, int], backends: list[tuple[str, int]]) -> None:
    proxy = Proxy(listen, backends)
    await proxy.start()
    shown = ", ".join(f"{h}:{p}" for h, p in backends)
    print(f"Proxy on {listen[0]}:{listen[1]} -> {shown} (round-robin)", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:8000")
    parser.add_argument("--backend", action="append", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s proxy %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(_address(args.listen), [_address(b) for b in args.backend]))


if __name__ == "__main__":
    main()
