from __future__ import annotations

from typing import cast

from django import forms
from django.utils.translation import gettext_lazy as _

from chat.models import Conversation

SYSTEM_PROMPT_MAX_CHARS = 8000


class RenameForm(forms.ModelForm):
    class Meta:
        model = Conversation
        fields = ["title"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["title"].required = True


class ConversationSettingsForm(forms.ModelForm):
    model = forms.ChoiceField(label=_("Model"))
    system_prompt = forms.CharField(
        label=_("System prompt"),
        max_length=SYSTEM_PROMPT_MAX_CHARS,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    temperature = forms.FloatField(
        label=_("Temperature"),
        min_value=0,
        max_value=2,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.1"}),
        help_text=_("0 to 2; leave blank for the model's default."),
    )

    class Meta:
        model = Conversation
        fields = ["model", "system_prompt", "temperature"]

    def __init__(self, *args, models: list[str], **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.models = models
        cast(forms.ChoiceField, self.fields["model"]).choices = [(m, m) for m in models]
