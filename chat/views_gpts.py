"""GPTs (chat.models.GPT): the team's list, managed by its owners on a page linked from the Team
page, and which of them the model picker offers."""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import access
from accounts.http import AuthenticatedHttpRequest
from chat.forms import GPTForm
from chat.models import GPT, Conversation
from gateway import catalogue


def gizmos_accepted() -> bool:
    """Whether the gateway takes GPT model ids: it lists one, or the operator says it takes
    ids it does not list (GATEWAY_ACCEPTS_UNLISTED_GIZMOS)."""
    if settings.GATEWAY_ACCEPTS_UNLISTED_GIZMOS:
        return True
    return any(m.lower().startswith(GPT.MODEL_PREFIX) for m in catalogue.list_chat_models())


def offered_gpts(team_id: int | None) -> list[GPT]:
    """The team's GPTs for the model picker; none when the gateway does not take them."""
    if team_id is None or not gizmos_accepted():
        return []
    return list(GPT.objects.for_team(team_id))


def gpt_of(conversation: Conversation) -> GPT | None:
    """The team's GPT a conversation talks to, for its header; None for any other model."""
    if not conversation.model.startswith(GPT.MODEL_PREFIX):
        return None
    gizmo_id = conversation.model.removeprefix(GPT.MODEL_PREFIX)
    return GPT.objects.for_team(conversation.team_id).filter(gizmo_id=gizmo_id).first()


@login_required
@require_http_methods(["GET", "POST"])
def gpts(request: AuthenticatedHttpRequest, team_id: int) -> HttpResponse:
    team, membership = access.get_owned_team_for_user(request.user, team_id)
    posted = request.method == "POST"
    form = GPTForm(request.POST if posted else None, request.FILES or None, team=team)
    if posted and form.is_valid():
        gpt = form.save_for(user=request.user)
        messages.success(request, _("%(name)s was added to the GPTs.") % {"name": gpt.name})
        return redirect("chat:gpts", team.pk)
    context = {
        "team": team,
        "membership": membership,
        "gpts": GPT.objects.for_team(team.pk),
        "form": form,
        "accepted": gizmos_accepted(),
    }
    return render(request, "chat/gpts.html", context, status=400 if posted else 200)


@login_required
@require_POST
def gpt_delete(request: AuthenticatedHttpRequest, team_id: int, gpt_id: int) -> HttpResponse:
    team, _membership = access.get_owned_team_for_user(request.user, team_id)
    gpt: GPT = access.get_child(team, "gpts", gpt_id)
    icon = gpt.icon.name
    gpt.delete()
    if icon:
        transaction.on_commit(partial(gpt.icon.storage.delete, icon), robust=True)
    messages.success(request, _("%(name)s was removed from the GPTs.") % {"name": gpt.name})
    return redirect("chat:gpts", team.pk)


@login_required
@require_GET
def gpt_icon(request: AuthenticatedHttpRequest, team_id: int, gpt_id: int) -> FileResponse:
    """A GPT's icon, for the members of its team."""
    team, _membership = access.get_team_for_user(request.user, team_id)
    gpt: GPT = access.get_child(team, "gpts", gpt_id)
    if not gpt.icon:
        raise Http404
    try:
        handle = gpt.icon.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    response = FileResponse(handle, content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    return response
