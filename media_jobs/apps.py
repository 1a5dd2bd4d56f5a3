from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MediaJobsConfig(AppConfig):
    name = "media_jobs"
    verbose_name = _("Media jobs")

    def ready(self) -> None:
        from media_jobs import commands, signals

        signals.connect()
        commands.register()
