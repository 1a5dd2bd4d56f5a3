"""The only way views and consumers load team-owned objects, teams, memberships and invites.

Each function starts from the user, so an object the user may not see is a 404, exactly as
if it did not exist: a private conversation of a teammate looks the same as one of another
team. Write helpers raise 403 only when the user can already see the object. Any id that is
not one (40 digits, negative, "Infinity", a float, a malformed UUID) is a 404, never a 500.

Generic over every accounts.models.TeamOwned subclass: pass the model or a queryset of it,
e.g. `get_for_user(user, Conversation, pk)`. This module imports no other project app.

It also keeps each user's access version (User.access_version): a number that goes up in the
same transaction as every change that may revoke the user's access, so a socket that checked
access at connect need only compare one number later (`bump_access_version`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar, cast

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models
from django.db.models import F, Q
from django.http import Http404

from accounts.models import Invite, Membership, Team, TeamOwned, TeamOwnedQuerySet, User

T = TypeVar("T", bound=TeamOwned)
M = TypeVar("M", bound=models.Model)

# The largest id any of our databases stores (a signed 64-bit integer).
MAX_ID = 2**63 - 1


def clean_id(model: type[models.Model], value: Any) -> Any:
    """`value` as a primary key of `model`, or Http404 if it cannot be one."""
    field = model._meta.pk
    if isinstance(field, models.IntegerField):
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
            raise Http404
        return value
    try:
        return field.to_python(value)
    except (ValidationError, ValueError, TypeError, OverflowError, AttributeError):
        raise Http404 from None


def _queryset(model_or_qs: type[M] | models.QuerySet[M]) -> models.QuerySet[M]:
    if isinstance(model_or_qs, models.QuerySet):
        return model_or_qs.all()
    return model_or_qs._default_manager.all()


def get_membership(user: User, team_id: Any) -> Membership:
    """Return the user's membership of a team, or raise 404."""
    if not user.is_authenticated:
        raise Http404
    team_id = clean_id(Team, team_id)
    try:
        return Membership.objects.select_related("team").get(team_id=team_id, user=user)
    except Membership.DoesNotExist:
        raise Http404 from None


def get_team_for_user(user: User, team_id: Any) -> tuple[Team, Membership]:
    membership = get_membership(user, team_id)
    return membership.team, membership


def get_owned_team_for_user(user: User, team_id: Any) -> tuple[Team, Membership]:
    """Return a team the user owns; 404 for outsiders, 403 for other members."""
    team, membership = get_team_for_user(user, team_id)
    if not membership.is_owner:
        raise PermissionDenied
    return team, membership


def get_current_membership(user: User, team_id: Any = None) -> Membership | None:
    """The membership a request works in: of the team chosen in the session if the user
    still belongs to it, else of the user's first team; None for users without a team."""
    if not user.is_authenticated:
        return None
    if team_id is not None:
        try:
            return get_membership(user, team_id)
        except Http404:
            pass
    memberships = Membership.objects.filter(user=user).select_related("team")
    return memberships.order_by("created_at", "pk").first()


def find_invite(token: Any) -> Invite | None:
    """The invite a link carries, used or expired ones included (the page says which);
    None for a token that matches no invite."""
    if not isinstance(token, str) or not token:
        return None
    return Invite.objects.select_related("team").filter(token=token).first()


def get_for_user(
    user: User, model_or_qs: type[T] | models.QuerySet[T], pk: Any
) -> tuple[T, Membership]:
    """Return a team-owned object the user may read (their own, or shared with their team)
    and the user's membership of its team."""
    if not user.is_authenticated:
        raise Http404
    queryset = _queryset(model_or_qs)
    pk = clean_id(queryset.model, pk)
    # visible_to in two halves: readable_by here, and the membership it would test with a
    # subquery loaded instead (it is returned anyway; the subquery cost a reply start ~1 ms).
    readable = cast(TeamOwnedQuerySet, queryset).readable_by(user)
    try:
        obj = readable.select_related("team", "created_by").get(pk=pk)
    except queryset.model.DoesNotExist:
        raise Http404 from None
    try:
        membership = Membership.objects.get(team_id=obj.team_id, user=user)
    except Membership.DoesNotExist:  # not (or no longer) in the object's team
        raise Http404 from None
    membership.team = obj.team
    return obj, membership


def reload_checked(model: type[T], pks: Iterable[Any], *, lock: bool = False) -> dict[Any, T]:
    """Objects whose access was checked already, loaded again by id for their current
    fields (their team with them): one query for all of them; locked for update with
    `lock` where the database has row locks. Only for ids the caller checked through
    get_for_user under a member's access version (`access_version`) that is still the
    stored one: every change that could revoke that access bumps it (accounts.signals), so
    an unchanged version means the check still holds. An id that is gone is left out."""
    queryset = _queryset(model).select_related("team").filter(pk__in=set(pks))
    if lock and connection.features.has_select_for_update:
        queryset = queryset.select_for_update(of=("self",)).order_by("pk")  # one lock order
    return {obj.pk: obj for obj in queryset}


def get_rw_for_user(
    user: User, model_or_qs: type[T] | models.QuerySet[T], pk: Any
) -> tuple[T, Membership]:
    """Return a team-owned object the user may change: 404 if they may not even read it,
    403 if they may read it only."""
    obj, membership = get_for_user(user, model_or_qs, pk)
    if not obj.may_write(user, membership):
        raise PermissionDenied
    return obj, membership


@database_sync_to_async
def aget_for_user(
    user: User, model_or_qs: type[T] | models.QuerySet[T], pk: Any
) -> tuple[T, Membership]:
    """get_for_user for async code (consumers, workers): one trip to a database thread."""
    return get_for_user(user, model_or_qs, pk)


@database_sync_to_async
def aget_rw_for_user(
    user: User, model_or_qs: type[T] | models.QuerySet[T], pk: Any
) -> tuple[T, Membership]:
    """get_rw_for_user for async code."""
    return get_rw_for_user(user, model_or_qs, pk)


def get_child(parent: models.Model, related_name: str, pk: Any) -> Any:
    """Return one object of `parent.<related_name>` (e.g. a message of a conversation, a
    membership of a team) for a parent already loaded through this module; 404 otherwise."""
    queryset = getattr(parent, related_name).all()
    pk = clean_id(queryset.model, pk)
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise Http404 from None


def get_own(user: User, model_or_qs: type[M] | models.QuerySet[M], pk: Any, **lookups: Any) -> M:
    """Return a personal object (one whose `user` is `user`, such as a folder of
    conversations), narrowed by `lookups` (e.g. team=...); 404 for anyone else's."""
    if not user.is_authenticated:
        raise Http404
    queryset = _queryset(model_or_qs)
    pk = clean_id(queryset.model, pk)
    obj = queryset.filter(pk=pk, user=user, **lookups).first()
    if obj is None:
        raise Http404
    return obj


def bump_access_version(*, user_ids: Iterable[int] = (), team_id: int | None = None) -> None:
    """Raise the access version of `user_ids` and of every member of team `team_id`, in one
    UPDATE; nothing when both are empty.

    The rule: every change that may revoke a user's access (a membership's role, user or team
    changed or the membership deleted; a team-owned object shared, unshared, moved or deleted;
    a password changed, an account deactivated, a session ended) bumps the version of the users
    concerned inside the change's own transaction, never once it commits: a reply start that
    compares versions between the commit and a later bump would pass on access that is gone.
    accounts.signals does it for every save and delete. `QuerySet.update()` sends no signal:
    code that changes access with it must call this itself, as well as
    accounts.live.access_changed.
    """
    ids = set(user_ids)
    if not ids and team_id is None:
        return
    users = Q(pk__in=ids)
    if team_id is not None:
        users |= Q(pk__in=Membership.objects.filter(team_id=team_id).values("user_id"))
    User.objects.filter(users).update(access_version=F("access_version") + 1)


def access_version(user_id: int) -> int:
    """The user's access version as stored now (0 if the user is gone): what a socket reads at
    connect, next to the access it checks, to compare later (see bump_access_version)."""
    stored = User.objects.filter(pk=user_id).values_list("access_version", flat=True)
    return stored.first() or 0
