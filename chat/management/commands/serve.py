"""`manage.py serve`: what `make run` and a container entry point call.

Applies migrations, starts the built-in demo gateway when no GATEWAY_BASE_URL is set, and
serves HTTP and websockets with daphne. daphne does not run the ASGI lifespan protocol, so
anything that must start once per process starts here, before the server.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Migrate the database and serve Parlor with daphne."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args, host: str, port: int, no_migrate: bool, **options) -> None:
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=1)
        self._interrupt_orphaned_replies()
        if settings.DEMO_GATEWAY:
            self._start_demo_gateway()
        self._serve(host, port)

    def _interrupt_orphaned_replies(self) -> None:
        from chat.services import interrupt_orphaned_replies, live_reply_window

        # Embedded mode has one process: whatever is still "streaming" died with the last
        # one. In scale mode other processes may be writing; wait until a reply is stale.
        idle = live_reply_window() if settings.REDIS_URL else None
        if count := interrupt_orphaned_replies(idle_for=idle):
            self.stdout.write(f"Marked {count} unfinished replies from a previous run interrupted.")

    def _start_demo_gateway(self) -> None:
        from demo_gateway.server import start_in_thread

        gateway = start_in_thread(token_delay=0.03)
        settings.GATEWAY_BASE_URL = gateway.base_url
        settings.GATEWAY_API_KEY = gateway.api_key
        self.stdout.write(
            f"No GATEWAY_BASE_URL set: using the built-in demo gateway at {gateway.base_url}"
        )

    def _serve(self, host: str, port: int) -> None:
        from daphne.access import AccessLogGenerator
        from daphne.server import Server

        from config.asgi import application

        interface = host.strip("[]").replace(":", r"\:")
        shown = f"[{host.strip('[]')}]" if ":" in host else host
        self.stdout.write(f"Parlor is running at http://{shown}:{port}/  (Ctrl+C to stop)")
        Server(
            application=application,
            endpoints=[f"tcp:port={port}:interface={interface}"],
            action_logger=AccessLogGenerator(sys.stdout),
            application_close_timeout=10,
            server_name="parlor",
        ).run()
