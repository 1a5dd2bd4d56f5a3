"""`manage.py serve`: what `make run` and a container entry point call.

Applies migrations, runs what `config.startup` lists for a process, and serves HTTP and
websockets with daphne. daphne does not run the ASGI lifespan protocol, so start-up and
shutdown hooks run here, around the server.
"""

from __future__ import annotations

import asyncio
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config import startup


class Command(BaseCommand):
    help = "Migrate the database and serve Parlor with daphne."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args, host: str, port: int, no_migrate: bool, **options) -> None:
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=1)
        try:
            startup.before_serving(self.stdout.write)
        except startup.StartupError as exc:
            raise CommandError(str(exc)) from None
        self._serve(host, port)

    def _serve(self, host: str, port: int) -> None:
        from daphne.access import AccessLogGenerator
        from daphne.server import Server  # installs the asyncio reactor: import it first

        from config import eager_write
        from config.asgi import application
        from config.bodylimit import install_daphne_guard

        install_daphne_guard()  # bodies over the limit are dropped as they arrive
        eager_write.install()  # a frame goes out at once, not on the loop's next turn

        interface = host.strip("[]").replace(":", r"\:")
        self.stdout.write(start_line(host, port, first_run=not _has_users()))
        Server(
            application=application,
            endpoints=[f"tcp:port={port}:interface={interface}"],
            action_logger=AccessLogGenerator(sys.stdout),
            application_close_timeout=10,
            server_name="parlor",
            ready_callable=_start_background,
        ).run()


def open_url(host: str, port: int) -> str:
    """The address to open in a browser: a wildcard listen address is opened on loopback."""
    bare = host.strip("[]")
    if bare in ("", "0.0.0.0", "::"):
        bare = "127.0.0.1"
    shown = f"[{bare}]" if ":" in bare else bare
    return f"http://{shown}:{port}/"


def start_line(host: str, port: int, *, first_run: bool) -> str:
    """The one line to read at start: where to open Parlor, and on a fresh database who
    becomes the site admin."""
    url = open_url(host, port)
    if first_run:
        return (
            f"Parlor is ready: open {url} and create the first account, "
            "which becomes the site admin.  (Ctrl+C to stop)"
        )
    return f"Parlor is ready: open {url}  (Ctrl+C to stop)"


def _has_users() -> bool:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.exists()


def _start_background() -> None:
    """On daphne's event loop, just before it runs: the background tasks, and their end."""
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    loop = asyncio.get_event_loop()
    tasks = startup.start_background(loop)

    def stop() -> Deferred:
        return Deferred.fromFuture(asyncio.ensure_future(startup.shutdown(tasks), loop=loop))

    reactor.addSystemEventTrigger("before", "shutdown", stop)  # type: ignore[arg-type]
