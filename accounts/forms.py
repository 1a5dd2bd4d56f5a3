from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts import ratelimit
from accounts.models import SPEECH_VOICES, Invite, Membership, Team, User, speech_voices_for


class LoginForm(AuthenticationForm):
    """Django's login form, refusing to check passwords once too many attempts failed."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "rate_limited": _("Too many failed attempts. Try again in a few minutes."),
    }

    # Seconds until a blocked login may try again (the view answers 429); 0 when not blocked.
    retry_after = 0

    def clean(self) -> dict:
        username = self.cleaned_data.get("username") or ""
        ip = ratelimit.client_ip(self.request) if self.request else None
        self.retry_after = ratelimit.retry_after(username, ip)
        if self.retry_after:
            raise ValidationError(self.error_messages["rate_limited"], code="rate_limited")
        try:
            cleaned_data = super().clean()
        except ValidationError:
            ratelimit.record_failure(username, ip)
            raise
        ratelimit.reset(username)
        return cleaned_data


class SignupForm(UserCreationForm):
    """Username, Password, Password confirmation for our custom user."""

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username",)


class SetupForm(SignupForm):
    team_name = forms.CharField(label=_("Team name"), max_length=100, initial=_("My team"))

    def create_admin(self) -> tuple[User, Team]:
        """Create the first superuser and their team; the caller holds the transaction."""
        user = self.save(commit=False)
        user.is_staff = True
        user.is_superuser = True
        user.save()
        team = Team.objects.create(name=self.cleaned_data["team_name"])
        Membership.objects.create(team=team, user=user, role=Membership.Role.OWNER)
        return user, team


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name"]


class InviteForm(forms.ModelForm):
    class Meta:
        model = Invite
        fields = ["role"]


class RoleForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["role"]


# Where the Settings page gets the chat models on offer. chat.apps.ChatConfig.ready sets it
# (accounts imports no other app); nothing but the site default without it.
_chat_models: Callable[[], list[str]] = list


def set_chat_models_source(source: Callable[[], list[str]]) -> None:
    global _chat_models
    _chat_models = source


def offered_chat_models() -> list[str]:
    return list(_chat_models())


# Voice input's languages (ISO-639-1, as the speech-to-text API takes them), by their names.
TRANSCRIPTION_LANGUAGES = [
    ("ar", _("Arabic")),
    ("zh", _("Chinese")),
    ("cs", _("Czech")),
    ("da", _("Danish")),
    ("nl", _("Dutch")),
    ("en", _("English")),
    ("fi", _("Finnish")),
    ("fr", _("French")),
    ("de", _("German")),
    ("el", _("Greek")),
    ("he", _("Hebrew")),
    ("hi", _("Hindi")),
    ("hu", _("Hungarian")),
    ("id", _("Indonesian")),
    ("it", _("Italian")),
    ("ja", _("Japanese")),
    ("ko", _("Korean")),
    ("no", _("Norwegian")),
    ("pl", _("Polish")),
    ("pt", _("Portuguese")),
    ("ro", _("Romanian")),
    ("ru", _("Russian")),
    ("es", _("Spanish")),
    ("sv", _("Swedish")),
    ("th", _("Thai")),
    ("tr", _("Turkish")),
    ("uk", _("Ukrainian")),
    ("vi", _("Vietnamese")),
]
MAX_AUTOSEND_SECONDS = 60


class SettingsForm(forms.ModelForm):
    """A user's own settings. The model is one of the gateway's chat models or the site
    default (blank); the model already saved stays valid when the gateway stops listing it."""

    class Meta:
        model = User
        fields = [
            "display_name",
            "default_model",
            "theme",
            "language",
            "transcription_language",
            "voice_autosend_seconds",
            "speech_voice",
            "speech_speed",
            "speech_autoplay",
        ]
        help_texts = {
            "display_name": _("Shown to your teammates next to your username."),
            "default_model": _("Used for the new conversations you start."),
            "transcription_language": _(
                "The language you speak in voice messages. Setting it avoids misdetection."
            ),
            "voice_autosend_seconds": _(
                "Send a transcribed voice message by itself after this many seconds; any key "
                "cancels. 0 never sends by itself."
            ),
            "speech_speed": _("From 0.25 (slow) to 4 (fast); 1 is normal."),
            "speech_autoplay": _("Read each reply aloud as soon as it is finished."),
        }
        widgets = {
            "speech_speed": forms.NumberInput(attrs={"min": "0.25", "max": "4", "step": "0.05"})
        }

    def __init__(self, *args, models: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        saved = self.instance.default_model
        site_default = settings.DEFAULT_MODEL
        site_label = (
            _("Site default (%(model)s)") % {"model": site_default}
            if site_default
            else _("Site default")
        )
        offered = [m for m in dict.fromkeys([*models, saved]) if m and m != site_default]
        self.fields["default_model"] = forms.ChoiceField(
            label=_("Default model"),
            choices=[("", site_label), *((m, m) for m in offered)],
            required=False,
            help_text=self.Meta.help_texts["default_model"],
        )
        speech_model = settings.SPEECH_MODEL
        known = speech_voices_for(speech_model)
        # Left out of a form (an older page, a script): the saved voice and speed stay.
        for name in ("speech_voice", "speech_speed"):
            self.fields[name].required = False
        voice_field = self.fields["speech_voice"]
        assert isinstance(voice_field, forms.ChoiceField)
        voice_field.choices = [
            (name, label if name in known else _("%(voice)s (not with %(model)s)")
             % {"voice": label, "model": speech_model})
            for name, label in SPEECH_VOICES
        ]  # fmt: skip
        self.fields["speech_voice"].help_text = _(
            "The voice replies are read in. Play a sample to hear it: each voice and speed is "
            "bought once."
        )
        self.fields["language"] = forms.ChoiceField(
            label=_("Language"),
            choices=[("", _("As the browser asks")), *settings.LANGUAGES],
            required=False,
        )
        self.fields["transcription_language"] = forms.ChoiceField(
            label=_("Voice input language"),
            choices=[("", _("Detect automatically")), *TRANSCRIPTION_LANGUAGES],
            required=False,
            help_text=self.Meta.help_texts["transcription_language"],
        )
        self.fields["voice_autosend_seconds"] = forms.IntegerField(
            label=_("Send voice messages by themselves after (seconds)"),
            min_value=0,
            max_value=MAX_AUTOSEND_SECONDS,
            required=False,
            help_text=self.Meta.help_texts["voice_autosend_seconds"],
        )

    def clean_voice_autosend_seconds(self) -> int:
        return self.cleaned_data.get("voice_autosend_seconds") or 0  # blank: off

    def clean_speech_speed(self) -> Decimal:
        speed = self.cleaned_data["speech_speed"]
        return self.instance.speech_speed if speed is None else speed

    def clean_speech_voice(self) -> str:
        voice = self.cleaned_data["speech_voice"] or self.instance.speech_voice
        if voice not in speech_voices_for(settings.SPEECH_MODEL):
            raise forms.ValidationError(
                _("%(model)s does not know this voice; choose another.")
                % {"model": settings.SPEECH_MODEL}
            )
        return voice


class ThemeForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["theme"]
