import asyncio

from django.core.management.base import BaseCommand

from media_jobs import poller


class Command(BaseCommand):
    help = "Poll media jobs: one pass with --once, else until stopped (the embedded loop)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one pass and exit.")

    def handle(self, *args, once: bool = False, **options) -> None:
        if once:
            count = asyncio.run(poller.poll_once())
            self.stdout.write(f"Handled {count} media jobs.")
            return
        asyncio.run(poller.run_poller())
