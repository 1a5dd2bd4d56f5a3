from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = _("Chat")

    def ready(self) -> None:
        from accounts.forms import set_chat_models_source
        from gateway import catalogue

        # The Settings page offers the gateway's chat models as a user's default model.
        set_chat_models_source(lambda: catalogue.list_chat_models())
