"""The only way views and consumers load team-owned objects.

Each function starts from the user, so an object the user may not see is a 404, exactly as
if it did not exist: a private conversation of a teammate looks the same as one of another
team. Write helpers raise 403 only when the user can already see the object.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.models import Membership, Team, User
from chat.models import Conversation, Message


def get_membership(user: User, team_id: int) -> Membership:
    """Return the user's membership of a team, or raise 404."""
    if not user.is_authenticated:
        raise Http404
    try:
        return Membership.objects.select_related("team").get(team_id=team_id, user=user)
    except (Membership.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def get_team_for_user(user: User, team_id: int) -> tuple[Team, Membership]:
    membership = get_membership(user, team_id)
    return membership.team, membership


def get_owned_team_for_user(user: User, team_id: int) -> tuple[Team, Membership]:
    """Return a team the user owns; 404 for outsiders, 403 for other members."""
    team, membership = get_team_for_user(user, team_id)
    if not membership.is_owner:
        raise PermissionDenied
    return team, membership


def get_conversation_for_user(user: User, conversation_id) -> tuple[Conversation, Membership]:
    """Return a conversation the user may read (their own, or shared with their team)."""
    if not user.is_authenticated:
        raise Http404
    try:
        conversation = Conversation.objects.select_related("team", "created_by").get(
            pk=conversation_id
        )
    except (Conversation.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    membership = Membership.objects.filter(team_id=conversation.team_id, user=user).first()
    if membership is None:
        raise Http404
    if conversation.created_by_id != user.pk and not conversation.is_shared:
        raise Http404
    return conversation, membership


def may_write(user: User, conversation: Conversation, membership: Membership) -> bool:
    """The one rule for changing a conversation: its creator, with a writing role."""
    return conversation.created_by_id == user.pk and membership.can_write


def get_rw_conversation_for_user(user: User, conversation_id) -> tuple[Conversation, Membership]:
    """Return a conversation the user may change: their own, with a writing role."""
    conversation, membership = get_conversation_for_user(user, conversation_id)
    if not may_write(user, conversation, membership):
        raise PermissionDenied
    return conversation, membership


def get_message_for_user(user: User, conversation: Conversation, message_id) -> Message:
    """Return a message of a conversation already loaded through this module."""
    try:
        return conversation.messages.get(pk=message_id)
    except (Message.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
