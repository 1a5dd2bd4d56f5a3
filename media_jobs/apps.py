from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MediaJobsConfig(AppConfig):
    name = "media_jobs"
    verbose_name = _("Media jobs")

    def ready(self) -> None:
        from media_jobs import billing, commands, signals
        from usage import services as usage

        signals.connect()
        commands.register()
        # Reservations of jobs that ended without their charge (a process killed between
        # the two) are closed by the sweep the poller runs (usage.sweep_reservations).
        usage.register_closer("job", billing.closer)
