"""A person's own filing of conversations: folders and the archive (chat.models.Folder,
FolderItem, Archive). Like a pin, reading a conversation is enough to file it, and nobody
else's sidebar changes. Each view answers an htmx request with the sidebar's list."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import access
from accounts.http import AuthenticatedHttpRequest
from chat.models import Archive, Conversation, Folder, FolderItem
from chat.views import _current_conversation_id, _sidebar_context

FOLDER_NAME_MAX = Folder._meta.get_field("name").max_length or 80


def _list(request: AuthenticatedHttpRequest, fallback: str = "chat:home") -> HttpResponse:
    if not request.htmx:
        return redirect(fallback)
    current_id = _current_conversation_id(request)
    context = _sidebar_context(request, q=request.POST.get("q", ""), current_id=current_id)
    return render(request, "chat/conversation_list.html#list", context)


def _clean_name(request: AuthenticatedHttpRequest) -> str:
    name = " ".join(request.POST.get("name", "").split())[:FOLDER_NAME_MAX]
    if not name:
        raise Http404  # the form requires one; only a hand-made request gets here
    return name


def _own_folder(request: AuthenticatedHttpRequest, folder_id) -> Folder:
    if request.team is None:
        raise Http404
    return access.get_own(request.user, Folder, folder_id, team=request.team)


@login_required
@require_POST
def folder_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.team is None:
        raise Http404
    Folder.objects.create(user=request.user, team=request.team, name=_clean_name(request))
    return _list(request)


@login_required
@require_POST
def folder_rename(request: AuthenticatedHttpRequest, folder_id: int) -> HttpResponse:
    folder = _own_folder(request, folder_id)
    folder.name = _clean_name(request)
    folder.save(update_fields=["name"])
    return _list(request)


@login_required
@require_POST
def folder_delete(request: AuthenticatedHttpRequest, folder_id: int) -> HttpResponse:
    # Its FolderItems go with it: the conversations stay, back in the ungrouped list.
    _own_folder(request, folder_id).delete()
    return _list(request)


@login_required
@require_POST
def move(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation, _membership = access.get_for_user(request.user, Conversation, conversation_id)
    folder_id = request.POST.get("folder", "")
    folder = None
    if folder_id:
        folder = access.get_own(request.user, Folder, folder_id, team_id=conversation.team_id)
    FolderItem.place(user=request.user, conversation=conversation, folder=folder)
    return _list(request, conversation.get_absolute_url())


def _set_archived(
    request: AuthenticatedHttpRequest, conversation_id: uuid.UUID, archived: bool
) -> HttpResponse:
    conversation, _membership = access.get_for_user(request.user, Conversation, conversation_id)
    Archive.set(user=request.user, conversation=conversation, archived=archived)
    return _list(request, conversation.get_absolute_url())


@login_required
@require_POST
def archive(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    return _set_archived(request, conversation_id, True)


@login_required
@require_POST
def unarchive(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    return _set_archived(request, conversation_id, False)
