from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VoiceConfig(AppConfig):
    name = "voice"
    verbose_name = _("Voice")

    def ready(self) -> None:
        from voice import commands

        # /translate and the composer's "Translate audio" mode.
        commands.register()
