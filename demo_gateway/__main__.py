"""`python -m demo_gateway --port 8001`: run the demo gateway on its own."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from demo_gateway.server import DemoGateway


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo_gateway", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--api-key", default="sk-demo")
    parser.add_argument("--token-delay", type=float, default=0.02)
    parser.add_argument("--scenario", default=None, help="default scenario for every request")
    parser.add_argument(
        "--without",
        default="",
        help="families to answer as a gateway without them, comma-separated (images,luma)",
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> None:
    gateway = DemoGateway(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        token_delay=args.token_delay,
        without=args.without.split(","),
    )
    gateway.scenario = args.scenario
    await gateway.start()
    print(f"Demo gateway listening on {gateway.base_url} (API key {gateway.api_key})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await gateway.stop()


if __name__ == "__main__":
    main()
