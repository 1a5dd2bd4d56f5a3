from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import access
from accounts.http import AuthenticatedHttpRequest
from accounts.models import Membership
from chat import attachments, budget_help, export, feedback, services
from chat import search as message_search
from chat.forms import ConversationSettingsForm, RenameForm
from chat.models import GPT, Conversation, Folder, Pin
from chat.threads import MessageTree, build_thread, thread_entries
from chat.views_gpts import gpt_of, offered_gpts
from chat.views_public import link_context
from gateway import catalogue

SIDEBAR_LIMIT = 200
# The archived conversations the sidebar's Archived section lists (search finds all of them).
ARCHIVED_LIMIT = 100
# The session key of the texts sent from the home page, by conversation id, that the
# conversation page puts in its composer and sends once its socket opens.
PENDING_KEY = "pending_first_messages"
STARTER_PROMPTS = [
    gettext_lazy("Explain a concept simply, with an example"),
    gettext_lazy("Draft a short, friendly email"),
    gettext_lazy("Compare two options in a table"),
    gettext_lazy("Write a Python function and explain it"),
]


def _models_for(conversation: Conversation | None = None, *, gpts: Sequence[GPT] = ()) -> list[str]:
    """The gateway's chat models, plus the conversation's own and the default ones; GPTs
    (gpt-4-gizmo-*) only in the picker's group of the team's `gpts`, by name."""
    listed = catalogue.list_chat_models()
    models = [m for m in listed if not m.lower().startswith(GPT.MODEL_PREFIX)]
    wanted = [conversation.model if conversation else "", settings.DEFAULT_MODEL]
    taken = set(models) | {gpt.model_id for gpt in gpts}
    return [m for m in dict.fromkeys(wanted) if m and m not in taken] + models


def _unavailable(models: list[str]) -> set[str]:
    """The models offered that the gateway no longer lists (none when it lists nothing)."""
    listed = catalogue.list_chat_models()
    return {m for m in models if m not in listed} if listed else set()


def group_by_date(entries: Iterable, today: date) -> list[tuple[str, list]]:
    """Sidebar entries (pinned first, then newest) in labelled groups: Pinned, Today,
    Yesterday, Previous 7 days, then one per month, by `updated_at` in the current time zone."""
    groups: dict[str, list] = {}
    for entry in entries:
        groups.setdefault(_group_label(entry, today), []).append(entry)
    return list(groups.items())


def _group_label(entry, today: date) -> str:
    if getattr(entry, "is_pinned", False):
        return _("Pinned")
    day = timezone.localdate(entry.updated_at)
    if day >= today:
        return _("Today")
    if day == today - timedelta(days=1):
        return _("Yesterday")
    if day > today - timedelta(days=7):
        return _("Previous 7 days")
    return formats.date_format(datetime(day.year, day.month, 1), "YEAR_MONTH_FORMAT")


def _current_conversation_id(request: AuthenticatedHttpRequest) -> uuid.UUID | None:
    """The conversation of the page an htmx request came from, to mark it in the sidebar."""
    if not request.htmx.current_url:
        return None
    try:
        match = resolve(urlsplit(request.htmx.current_url).path)
    except Resolver404:
        return None
    return match.kwargs.get("conversation_id") if match.view_name == "chat:conversation" else None


def _sidebar_entries(request: AuthenticatedHttpRequest):
    """The current team's conversations the user may read, each with `can_write` and the
    user's own `is_pinned`, `is_archived` and `folder_id`, pinned first."""
    if request.team is None:
        return Conversation.objects.none()
    return (
        Conversation.objects.visible_to(request.user, request.team)
        .with_can_write(request.user)
        .with_filing(request.user)
        .sidebar_order(request.user)
        .select_related("created_by")
    )


def _folders(request: AuthenticatedHttpRequest) -> list[Folder]:
    if request.team is None:
        return []
    return list(Folder.objects.filter(user=request.user, team=request.team))


def _sidebar_context(request: AuthenticatedHttpRequest, *, q: str = "", current_id=None) -> dict:
    """The sidebar: without a search, the user's folders (each a group of its conversations),
    then the rest by date, then the archived ones; a search finds archived ones too."""
    entries = _sidebar_entries(request)
    folders = _folders(request)
    folder_groups: list[tuple[Folder, list]] = []
    archived: list = []
    if q.strip() or request.team is None:
        conversations = list(entries.search(q)[:SIDEBAR_LIMIT])
        ungrouped = conversations
    else:
        # One query for both: the listed ones first, then the archived ones.
        both = entries.order_by("is_archived", "-is_pinned", "-updated_at")
        rows = list(both[: SIDEBAR_LIMIT + ARCHIVED_LIMIT])
        conversations = [entry for entry in rows if not entry.is_archived][:SIDEBAR_LIMIT]
        archived = [entry for entry in rows if entry.is_archived][:ARCHIVED_LIMIT]
        filed: dict[int, list] = {folder.pk: [] for folder in folders}
        ungrouped = []
        for entry in conversations:
            filed.get(entry.folder_id, ungrouped).append(entry)
        folder_groups = [(folder, filed[folder.pk]) for folder in folders]
    results = _search_messages(request, q)
    return {
        "search_hits": results.hits,
        "search_meaning_off": results.meaning_off,
        "conversations": conversations,
        "conversation_groups": group_by_date(ungrouped, timezone.localdate()),
        "folders": folders,
        "folder_groups": folder_groups,
        "archived": archived,
        "can_file": request.team is not None,
        "q": q,
        "current_id": current_id,
        "can_create": request.membership is not None and request.membership.can_write,
    }


def _search_messages(request: AuthenticatedHttpRequest, q: str) -> message_search.Results:
    """The messages matching `q` by words and by meaning (none without a `q`)."""
    if not q.strip() or request.membership is None:
        return message_search.Results([])
    return message_search.search(request.user, request.team, q, role=request.membership.role)


def _render_page(
    request: AuthenticatedHttpRequest,
    conversation: Conversation,
    membership: Membership,
    *,
    form: ConversationSettingsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    is_creator = conversation.created_by_id == request.user.pk
    can_write = conversation.may_write(request.user, membership)
    thread = build_thread(conversation)
    feedback.attach(request.user, [item.message for item in thread])
    gpts = offered_gpts(conversation.team_id)
    form = form or ConversationSettingsForm(
        instance=conversation, models=_models_for(conversation, gpts=gpts), gpts=gpts
    )
    context = {
        **_sidebar_context(request, current_id=conversation.pk),
        "conversation": conversation,
        "thread": thread,
        # The messages and other apps' items (media jobs' cards), in time order.
        "thread_entries": thread_entries(request.user, membership, conversation, thread),
        "streaming": bool(thread) and thread[-1].message.is_streaming,
        "is_creator": is_creator,
        "can_write": can_write,
        "can_fork": membership.can_write,
        **link_context(request, conversation, is_creator=is_creator, can_write=can_write),
        "models": form.models,
        "unavailable_models": _unavailable(form.models),
        "settings_form": form,
        "conversation_gpt": gpt_of(conversation),
        # Images attached and not sent yet (chat.attachments): the composer's tray.
        "pending_images": attachments.pending_images(conversation=conversation, user=request.user),
        **_pending_composer(request, conversation),
    }
    return render(request, "chat/conversation.html", context, status=status)


def _pending_composer(request: AuthenticatedHttpRequest, conversation: Conversation) -> dict:
    """The text sent from the home page for this conversation, taken once from the session."""
    pending = request.session.get(PENDING_KEY) or {}
    text = pending.pop(str(conversation.pk), None)
    if text is None:
        return {}
    request.session[PENDING_KEY] = pending
    return {"composer_text": text, "autosend": True}


def _render_home(
    request: AuthenticatedHttpRequest,
    *,
    text: str = "",
    model: str = "",
    error: str = "",
    budget_help: bool = False,
) -> HttpResponse:
    gpts = offered_gpts(request.team.pk if request.team else None)
    models = _models_for(gpts=gpts)
    context = {
        **_sidebar_context(request, q=request.GET.get("q", "")),
        "models": models,
        "gpts": gpts,
        "unavailable_models": _unavailable(models),
        "selected_model": model or _default_model(request),
        "default_model": settings.DEFAULT_MODEL,
        "starter_prompts": STARTER_PROMPTS,
        "composer_text": text,
        "composer_error": error,
        **(_budget_help(request) if budget_help else {}),
    }
    return render(request, "chat/home.html", context, status=400 if error else 200)


@login_required
@require_GET
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _render_home(request)


@login_required
@require_GET
def search(request: AuthenticatedHttpRequest) -> HttpResponse:
    current_id = _current_conversation_id(request)
    context = _sidebar_context(request, q=request.GET.get("q", ""), current_id=current_id)
    return render(request, "chat/conversation_list.html#list", context)


@login_required
@require_POST
def new(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.team is None or request.membership is None:
        return redirect("chat:home")
    if not request.membership.can_write:
        raise PermissionDenied
    text, model = request.POST.get("text"), request.POST.get("model", "")
    if text is not None:  # sent from the home page's composer
        try:
            text, model = services.clean_text(text), _clean_model(model, request)
        except ValidationError as error:
            return _render_home(request, text=text, model=model, error=error.messages[0])
        # Refused before anything is made: a refusal leaves no empty conversation behind.
        refusal = _budget_refusal(request)
        if refusal:
            return _render_home(request, text=text, model=model, error=refusal, budget_help=True)
    conversation = _untouched_chat(request)
    if conversation is None:
        conversation = Conversation.objects.create(
            team=request.team, created_by=request.user, model=model or _default_model(request)
        )
    elif model:
        conversation.model = model
        conversation.save(update_fields=["model"])
    if text is not None:
        pending = request.session.get(PENDING_KEY) or {}
        request.session[PENDING_KEY] = {**pending, str(conversation.pk): text}
    return redirect(conversation)


def _budget_refusal(request: AuthenticatedHttpRequest) -> str:
    """Why this month's budget refuses the member's next message ("" when it does not)."""
    assert request.team is not None
    return budget_help.refused(request.team, request.user)


def _budget_help(request: AuthenticatedHttpRequest) -> dict:
    """What the reader can do about a refusal: an owner raises the budget; a member asks one."""
    assert request.team is not None and request.membership is not None
    if request.membership.is_owner:
        return {"budget_owner": True}
    return {"budget_owners": budget_help.owner_names(request.team)}


def _default_model(request: AuthenticatedHttpRequest) -> str:
    """The user's default model (accounts:settings), else the site's, else the first listed."""
    return request.user.default_model or settings.DEFAULT_MODEL or next(iter(_models_for()), "")


def _clean_model(model: str, request: AuthenticatedHttpRequest) -> str:
    gpts = offered_gpts(request.team.pk if request.team else None)
    if model and model not in _models_for(gpts=gpts) + [gpt.model_id for gpt in gpts]:
        raise ValidationError(_("Choose one of the models offered."))
    return model


def _untouched_chat(request: AuthenticatedHttpRequest) -> Conversation | None:
    """The user's untouched new chat, reused rather than filling the sidebar with empty ones."""
    return (
        Conversation.objects.visible_to(request.user, request.team)
        .filter(created_by=request.user, title="", messages__isnull=True)
        .first()
    )


@login_required
@require_GET
def conversation(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation, membership = access.get_for_user(request.user, Conversation, conversation_id)
    return _render_page(request, conversation, membership)


@login_required
@require_POST
def update_settings(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation, membership = access.get_rw_for_user(request.user, Conversation, conversation_id)
    gpts = offered_gpts(conversation.team_id)
    form = ConversationSettingsForm(
        request.POST, instance=conversation, models=_models_for(conversation, gpts=gpts), gpts=gpts
    )
    saved = form.is_valid()
    if saved:
        conversation.save(update_fields=["model", "system_prompt", "temperature"])
    if request.htmx:
        context = {"conversation": conversation, "settings_form": form, "can_write": True}
        context["unavailable_models"] = _unavailable(form.models)
        return render(request, "chat/conversation.html#settings", {**context, "saved": saved})
    if not saved:
        return _render_page(request, conversation, membership, form=form, status=400)
    return redirect(conversation)


def _set_shared(request: AuthenticatedHttpRequest, conversation_id, shared: bool) -> HttpResponse:
    conversation, _membership = access.get_rw_for_user(request.user, Conversation, conversation_id)
    conversation.is_shared = shared
    conversation.save(update_fields=["is_shared"])  # accounts.signals tells the open tabs
    if request.htmx:
        return render(request, "chat/conversation.html#share", {"conversation": conversation})
    return redirect(conversation)


@login_required
@require_POST
def share(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    return _set_shared(request, conversation_id, True)


@login_required
@require_POST
def unshare(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    return _set_shared(request, conversation_id, False)


@login_required
@require_POST
def fork(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation, membership = access.get_for_user(request.user, Conversation, conversation_id)
    if not membership.can_write:
        raise PermissionDenied
    return redirect(services.fork_conversation(conversation=conversation, user=request.user))


@login_required
@require_POST
def switch_version(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation, membership = access.get_rw_for_user(request.user, Conversation, conversation_id)
    message_id = request.POST.get("message_id")
    tree = MessageTree.for_conversation(conversation)
    message = tree.get(message_id)
    conversation.current_leaf = tree.leaf_under(message)
    conversation.save(update_fields=["current_leaf"])
    if not request.htmx:
        return redirect(conversation)
    thread = tree.thread(conversation.current_leaf_id)
    feedback.attach(request.user, [item.message for item in thread])
    context = {"conversation": conversation, "thread": thread, "can_write": True}
    context["thread_entries"] = thread_entries(request.user, membership, conversation, thread)
    return render(request, "chat/messages.html#thread", context)


@login_required
@require_GET
def regenerate_menu(
    request: AuthenticatedHttpRequest, conversation_id: uuid.UUID, message_id: int
) -> HttpResponse:
    """The models a reply may be regenerated with (loaded when its menu first opens); each
    choice is a ws-send form, as Regenerate is."""
    conversation, membership = access.get_rw_for_user(request.user, Conversation, conversation_id)
    message = conversation.messages.filter(pk=message_id, role="assistant").first()
    if message is None:
        raise Http404
    models = services.regenerate_models(conversation, membership.role)
    context = {"message": message, "models": models, "conversation": conversation}
    return render(request, "chat/messages.html#regenerate-menu", context)


@login_required
@require_POST
def rename(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation, _membership = access.get_rw_for_user(request.user, Conversation, conversation_id)
    form = RenameForm(request.POST, instance=conversation)
    if form.is_valid():
        conversation.save(update_fields=["title"])
    if request.htmx:
        entry = (
            Conversation.objects.filter(pk=conversation.pk)
            .with_can_write(request.user)
            .with_pins(request.user)
            .with_filing(request.user)
            .select_related("created_by")
            .get()
        )
        context = {"entry": entry, "rename_form": form, "folders": _folders(request)}
        context["current_id"] = _current_conversation_id(request)
        return render(request, "chat/conversation_list.html#renamed", context)
    if form.errors:
        messages.error(request, _("The title was not saved: enter 1 to 200 characters."))
    return redirect(conversation)


@login_required
@require_POST
def pin(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    # Reading is enough: a pin is the user's own, it changes nothing for anyone else.
    conversation, _membership = access.get_for_user(request.user, Conversation, conversation_id)
    Pin.toggle(user=request.user, conversation=conversation)
    if not request.htmx:
        return redirect(conversation)
    current_id = _current_conversation_id(request)
    context = _sidebar_context(request, q=request.POST.get("q", ""), current_id=current_id)
    return render(request, "chat/conversation_list.html#list", context)


@login_required
@require_http_methods(["GET", "POST"])
def delete(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation, _membership = access.get_rw_for_user(request.user, Conversation, conversation_id)
    if request.method == "POST":
        conversation.delete()  # accounts.signals tells the open tabs
        messages.success(request, _("Conversation deleted."))
        return redirect("chat:home")
    context = {
        **_sidebar_context(request, current_id=conversation.pk),
        "conversation": conversation,
    }
    return render(request, "chat/confirm_delete.html", context)


EXPORT_FORMATS = {
    "markdown": ("md", "text/markdown; charset=utf-8", export.to_markdown),
    "json": ("json", "application/json; charset=utf-8", export.to_json),
}


@login_required
@require_GET
def export_conversation(
    request: AuthenticatedHttpRequest, conversation_id: uuid.UUID, fmt: str
) -> HttpResponse:
    """The conversation's current thread as a download; reading it is enough."""
    if fmt not in EXPORT_FORMATS:
        raise Http404
    conversation, _membership = access.get_for_user(request.user, Conversation, conversation_id)
    extension, content_type, render_as = EXPORT_FORMATS[fmt]
    response = HttpResponse(render_as(conversation), content_type=content_type)
    name = export.filename(conversation, extension)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
