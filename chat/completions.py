"""The composer's "Complete" mode: a prompt sent to an instruct model on the gateway's legacy
completions route (gateway.completions), streamed over the conversation's socket and kept like
a reply.

The composer offers the mode when the gateway lists an instruct model
(gateway.catalogue.list_instruct_models); its options (templates/chat/_complete.html) go with
the send as `complete_model`, `max_tokens`, `temperature` and `stop`. begin_reply stores them on
the prompt (the user message's `params`, CompletionOptions.as_params) and on the reply, so an
edit, a regenerate or a retry runs the completion again with the same options. Money goes the
one way: reserved before (the prompt estimated plus max_tokens), charged when the reply ends
(usage.services.charge_reply), as a chat reply is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gateway import catalogue
from usage import services as money

MODE = "complete"
LABEL = gettext_lazy("Complete")
DEFAULT_MAX_TOKENS = 256
MAX_TOKENS = 4096
MAX_TEMPERATURE = 2.0
MAX_STOP_SEQUENCES = 4
STOP_MAX_CHARS = 100
# The send's fields that carry the options (the partial's input names).
FIELDS = ("complete_model", "max_tokens", "temperature", "stop")


_seen: tuple[str, ...] = ()  # the last instruct_models() of this process


def instruct_models() -> list[str]:
    """The instruct models the gateway lists, as cached: this never asks the gateway (the
    conversation page, which shows the composer, keeps the listing fresh: list_chat_models).
    Sync code only (the cache may be Redis); async code reads `seen_instruct_models`."""
    global _seen
    models = catalogue.list_instruct_models(refresh=False)
    _seen = tuple(models)
    return models


def seen_instruct_models() -> tuple[str, ...]:
    """The instruct models as this process last read them (a page, a reply's start): no I/O,
    for the composer frames rendered on the event loop (chat.frames)."""
    return _seen


@dataclass(frozen=True)
class CompletionOptions:
    model: str
    max_tokens: int
    temperature: float | None
    stop: tuple[str, ...]

    def as_params(self) -> dict[str, Any]:
        """What Message.params keeps."""
        return {
            "mode": MODE,
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stop": list(self.stop),
        }

    @classmethod
    def from_params(cls, params: Any) -> CompletionOptions | None:
        """The options a message was sent with; None for a chat message."""
        if not isinstance(params, dict) or params.get("mode") != MODE:
            return None
        model = params.get("model")
        if not isinstance(model, str) or not model:
            return None
        max_tokens = params.get("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            max_tokens = DEFAULT_MAX_TOKENS
        temperature = params.get("temperature")
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            temperature = None
        stop = params.get("stop")
        stops = tuple(s for s in stop if isinstance(s, str) and s) if isinstance(stop, list) else ()
        return cls(
            model=model,
            max_tokens=min(max(max_tokens, 1), MAX_TOKENS),
            temperature=None if temperature is None else float(temperature),
            stop=stops[:MAX_STOP_SEQUENCES],
        )


@dataclass(frozen=True)
class CompletionRequest:
    """One completion to stream (chat.streaming sends it with gateway.completions)."""

    options: CompletionOptions
    prompt: str

    def upstream(self) -> dict[str, Any]:
        """The keyword arguments of gateway.completions.stream_completion."""
        return {
            "model": self.options.model,
            "prompt": self.prompt,
            "max_tokens": self.options.max_tokens,
            "temperature": self.options.temperature,
            "stop": list(self.options.stop),
        }


class OptionsForm(forms.Form):
    complete_model = forms.CharField(max_length=200)
    max_tokens = forms.IntegerField(min_value=1, max_value=MAX_TOKENS, required=False)
    temperature = forms.FloatField(min_value=0, max_value=MAX_TEMPERATURE, required=False)
    stop = forms.CharField(required=False, strip=False)

    def __init__(self, *args: Any, models: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.models = models

    def clean_complete_model(self) -> str:
        model = self.cleaned_data["complete_model"]
        if model not in self.models:
            raise ValidationError(
                _("The model %(model)s does not complete text on this gateway.") % {"model": model}
            )
        return model

    def clean_stop(self) -> tuple[str, ...]:
        """One sequence per line; the two characters \\n stand for a line break."""
        lines = (self.cleaned_data.get("stop") or "").splitlines()
        stops = tuple(line.replace("\\n", "\n") for line in lines if line.strip())
        if len(stops) > MAX_STOP_SEQUENCES:
            raise ValidationError(
                _("At most %(count)d stop sequences.") % {"count": MAX_STOP_SEQUENCES}
            )
        if any(len(s) > STOP_MAX_CHARS for s in stops):
            raise ValidationError(
                _("A stop sequence has at most %(count)d characters.") % {"count": STOP_MAX_CHARS}
            )
        return stops


def options_data(data: dict[str, Any]) -> dict[str, str]:
    """The options of a send from the socket's JSON: strings only (anything else is blank)."""
    return {name: data[name] for name in FIELDS if isinstance(data.get(name), str)}


def clean_options(data: Any) -> CompletionOptions:
    """The send's options, checked; ValidationError (one plain-words message) otherwise."""
    models = instruct_models()
    if not models:
        raise ValidationError(_("The gateway offers no model that completes text."))
    form = OptionsForm(data if isinstance(data, dict) else {}, models=models)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        label = {
            "complete_model": _("Model"),
            "max_tokens": _("Max tokens"),
            "temperature": _("Temperature"),
            "stop": _("Stop sequences"),
        }.get(field, field)
        raise ValidationError(f"{label}: {errors[0]}")
    cleaned = form.cleaned_data
    return CompletionOptions(
        model=cleaned["complete_model"],
        max_tokens=cleaned["max_tokens"] or DEFAULT_MAX_TOKENS,
        temperature=cleaned["temperature"],
        stop=cleaned["stop"],
    )


def reserve(
    *,
    team: Any,
    user: Any,
    role: str,
    options: CompletionOptions,
    prompt: str,
    conversation: Any,
    message: Any,
) -> money.Reservation:
    """Reserve a completion before it goes upstream: the prompt estimated from its text and
    the whole of max_tokens, lowered to what the budget left pays for (send the
    reservation's max_tokens). BudgetRefused when it may not run."""
    return money.reserve_reply(
        team=team,
        user=user,
        role=role,
        model=options.model,
        prompt_tokens=max(1, money.estimate_tokens(prompt)),
        max_tokens=options.max_tokens,
        conversation=conversation,
        message=message,
    )
