"""Public links: a conversation's creator lets anyone with a link read its current thread,
without signing in (chat.models.PublicLink). The public page is read-only and cheap: it
writes nothing, and loads the link with its conversation and team in one query."""

from __future__ import annotations

import re
import uuid

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts import access
from accounts.http import AuthenticatedHttpRequest
from chat.models import Conversation, PublicLink
from chat.threads import build_thread
from usage.audit import log_action

# Stored HTML is our own sanitised markup, so an <img> is always this simple tag. Pictures
# are served only to those who may read the conversation; the public page leaves them out.
IMG_RE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
# A code block that scrolls sideways must take the keyboard's focus to be scrolled by it.
PRE_RE = re.compile(r"<pre\b")


def _public_html(html: str) -> str:
    return PRE_RE.sub('<pre tabindex="0"', IMG_RE.sub("", html))


def live_link(conversation: Conversation) -> PublicLink | None:
    return conversation.public_links.filter(revoked_at__isnull=True).first()


def link_context(request, conversation: Conversation, *, is_creator: bool, can_write: bool) -> dict:
    """What the conversation header's Public link menu shows (only to its creator)."""
    if not (is_creator and can_write and conversation.team.allow_public_links):
        return {"public_links_allowed": False}
    link = live_link(conversation)
    url = request.build_absolute_uri(link.get_absolute_url()) if link else ""
    return {"public_links_allowed": True, "public_link": link, "public_link_url": url}


def _writable(request: AuthenticatedHttpRequest, conversation_id) -> Conversation:
    conversation, _membership = access.get_rw_for_user(request.user, Conversation, conversation_id)
    if not conversation.team.allow_public_links:
        raise PermissionDenied
    return conversation


def _answer(request: AuthenticatedHttpRequest, conversation: Conversation) -> HttpResponse:
    if not request.htmx:
        return redirect(conversation)
    context = {"conversation": conversation, "public_link_open": True}
    context |= link_context(request, conversation, is_creator=True, can_write=True)
    return render(request, "chat/_public_link.html", context)


@login_required
@require_POST
def link_create(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation = _writable(request, conversation_id)
    if live_link(conversation) is None:
        link = PublicLink.objects.create(conversation=conversation, created_by=request.user)
        log_action(
            request,
            action="public link: create",
            target=f"conversation {conversation.pk} (link {link.pk})",
            owner=conversation.created_by,
        )
    return _answer(request, conversation)


@login_required
@require_POST
def link_revoke(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation = _writable(request, conversation_id)
    live = conversation.public_links.filter(revoked_at__isnull=True)
    ids = list(live.values_list("pk", flat=True))
    if ids:
        live.update(revoked_at=timezone.now())
        log_action(
            request,
            action="public link: revoke",
            target=f"conversation {conversation.pk} (link {', '.join(map(str, ids))})",
            owner=conversation.created_by,
        )
    return _answer(request, conversation)


@never_cache
@require_GET
def public(request, token: str) -> HttpResponse:
    """The read-only page of a live link; 404 for any other token."""
    link = (
        PublicLink.objects.live()
        .select_related("conversation", "conversation__team")
        .filter(token=token)
        .first()
    )
    if link is None:
        raise Http404
    conversation = link.conversation
    items = [
        {
            "message": item.message,
            "html": _public_html(item.message.html) if item.message.html else "",
            "had_pictures": bool(IMG_RE.search(item.message.html))
            or getattr(item.message, "has_attachments", False),
        }
        for item in build_thread(conversation)
        if not item.message.is_streaming
    ]
    response = render(request, "chat/public.html", {"conversation": conversation, "items": items})
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response
