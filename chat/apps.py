from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = _("Chat")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from accounts.forms import set_chat_models_source
        from chat.embedding_worker import message_saved
        from chat.models import Attachment, Message, SpeechClip
        from chat.services import close_reply_record
        from chat.signals import attachment_deleted
        from chat.speech import clip_deleted
        from gateway import catalogue
        from usage.services import register_closer

        # The Settings page offers the gateway's chat models as a user's default model.
        set_chat_models_source(lambda: catalogue.list_chat_models())
        # usage's sweep settles a reply's record left reserved after the reply ended.
        register_closer("message", close_reply_record)
        post_delete.connect(
            attachment_deleted, sender=Attachment, dispatch_uid="chat-attachment-files"
        )
        # A message saved complete wakes search by meaning's embedder (chat.embedding_worker).
        post_save.connect(message_saved, sender=Message, dispatch_uid="chat-embed-on-save")
        post_delete.connect(clip_deleted, sender=SpeechClip, dispatch_uid="chat-speech-files")
