"""Every change of access tells the open sockets, whatever made it: a view, the Django admin,
a shell or a management command. Model signals; the sockets are told once the transaction
commits.

- a membership given another role, moved or deleted: the member's sockets (user group);
- a team-owned object (any accounts.models.TeamOwned subclass) shared, unshared, moved or
  deleted: the object's sockets (its group_name);
- a user deactivated, given a new password, or logged out: the user's sockets.

What a socket does when told (reload its access, close) is the consumer's business.

The same changes bump User.access_version of the users concerned (the member, and the former
one when a membership moves; every member of the object's team, and of its former team when it
moves; the user), and so does a session row deleted any other way (the admin, `clearsessions`,
a cycled key): right away, in the change's own transaction, never on commit. A reply start
that finds a socket's version unchanged trusts the access the socket checked at connect; a bump
that came after the commit would leave a moment in which a start passes on access already gone.
Saves of these models are atomic (accounts.models.SavedAtomically), so post_save bumps in the
save's transaction even outside any atomic block.

`QuerySet.update()` sends no signal: code that changes access with it must call
accounts.access.bump_access_version and accounts.live.access_changed itself.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.signals import user_logged_out
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save, pre_save

from accounts import access, live
from accounts.models import Membership, Team, TeamOwned, User

MEMBERSHIP_FIELDS = ("role", "user_id", "team_id")
USER_FIELDS = ("is_active", "password")
# Set by pre_save on the instance being saved: its access fields as stored before the save.
STORED = "_access_before_save"


def _tell(group_name: str) -> None:
    transaction.on_commit(lambda: live.access_changed(group_name))


def _concerned(update_fields: frozenset[str] | None, fields: tuple[str, ...]) -> bool:
    if update_fields is None:
        return True
    names = {name.removesuffix("_id") for name in fields}
    return any(name.removesuffix("_id") in names for name in update_fields)


def _remember(
    sender: type[models.Model], instance: models.Model, fields: tuple[str, ...], update_fields
) -> None:
    """Keep the stored values of `fields` on the instance, for post_save to compare."""
    setattr(instance, STORED, None)
    if instance._state.adding or not _concerned(update_fields, fields):
        return
    setattr(instance, STORED, sender._base_manager.filter(pk=instance.pk).values(*fields).first())


def _changed(instance: models.Model, fields: tuple[str, ...]) -> dict[str, Any]:
    """The stored values of the access fields this save changed (empty if none)."""
    before = getattr(instance, STORED, None)
    if before is None:
        return {}
    return {f: before[f] for f in fields if before[f] != getattr(instance, f)}


def membership_pre_save(sender, instance: Membership, update_fields=None, **kwargs) -> None:
    _remember(sender, instance, MEMBERSHIP_FIELDS, update_fields)


def membership_post_save(sender, instance: Membership, created: bool, **kwargs) -> None:
    changed = _changed(instance, MEMBERSHIP_FIELDS)
    if not changed:
        return
    users = [instance.user_id]
    if "user_id" in changed:  # moved to someone else: the former member loses access
        users.append(changed["user_id"])
    access.bump_access_version(user_ids=users)
    for user_id in users:
        _tell(live.user_group(user_id))


def membership_post_delete(sender, instance: Membership, **kwargs) -> None:
    access.bump_access_version(user_ids=[instance.user_id])
    _tell(live.user_group(instance.user_id))


def team_owned_pre_save(sender, instance: TeamOwned, update_fields=None, **kwargs) -> None:
    _remember(sender, instance, TeamOwned.ACCESS_FIELDS, update_fields)


def team_owned_post_save(sender, instance: TeamOwned, created: bool, **kwargs) -> None:
    changed = _changed(instance, TeamOwned.ACCESS_FIELDS)
    if not changed:
        return
    access.bump_access_version(team_id=instance.team_id)
    if "team_id" in changed:  # moved: the former team's members lose it
        access.bump_access_version(team_id=changed["team_id"])
    _tell(instance.group_name)


def team_owned_post_delete(sender, instance: TeamOwned, origin=None, **kwargs) -> None:
    # A team deleted takes its memberships too, each bumping its member: the objects it takes
    # need no bump of their own (one UPDATE each made deleting a big team four times slower).
    if not (isinstance(origin, Team) and origin.pk == instance.team_id):
        access.bump_access_version(team_id=instance.team_id)
    _tell(instance.group_name)


def user_pre_save(sender, instance: User, update_fields=None, **kwargs) -> None:
    _remember(sender, instance, USER_FIELDS, update_fields)


def user_post_save(sender, instance: User, created: bool, **kwargs) -> None:
    changed = _changed(instance, USER_FIELDS)
    if "password" in changed or ("is_active" in changed and not instance.is_active):
        access.bump_access_version(user_ids=[instance.pk])
        _tell(live.user_group(instance.pk))


def user_logged_out_receiver(sender, request, user: User | None, **kwargs) -> None:
    if user is None:
        return
    # django.contrib.auth.logout sends this signal before it ends the session: end it first,
    # so a socket that re-checks its session when told finds it gone (logout's own flush
    # then has nothing left to do), and bump in the same transaction.
    with transaction.atomic():
        if request is not None and hasattr(request, "session"):
            request.session.flush()
        access.bump_access_version(user_ids=[user.pk])
    _tell(live.user_group(user.pk))


def session_post_delete(sender, instance: Session, **kwargs) -> None:
    """A session row deleted (a logout, a cycled key, the admin, `clearsessions`): its user's
    sockets opened with it may no longer start replies. Sessions without a user are skipped.
    With this receiver `clearsessions` loads each expired row, one UPDATE per signed-in one."""
    try:
        user_id = User._meta.pk.to_python(instance.get_decoded().get(SESSION_KEY))
    except ValidationError:
        return
    if user_id is not None:
        access.bump_access_version(user_ids=[user_id])


def connect() -> None:
    """Called once by AccountsConfig.ready, when every model is loaded. Receivers are
    connected per concrete model, so models without one keep Django's fast deletes."""
    uid = "accounts.signals"
    pre_save.connect(membership_pre_save, Membership, dispatch_uid=f"{uid}.m.pre")
    post_save.connect(membership_post_save, Membership, dispatch_uid=f"{uid}.m.post")
    post_delete.connect(membership_post_delete, Membership, dispatch_uid=f"{uid}.m.delete")
    pre_save.connect(user_pre_save, User, dispatch_uid=f"{uid}.u.pre")
    post_save.connect(user_post_save, User, dispatch_uid=f"{uid}.u.post")
    user_logged_out.connect(user_logged_out_receiver, dispatch_uid=f"{uid}.u.logout")
    post_delete.connect(session_post_delete, Session, dispatch_uid=f"{uid}.session.delete")
    for model in apps.get_models():
        if issubclass(model, TeamOwned):
            label = model._meta.label_lower
            pre_save.connect(team_owned_pre_save, model, dispatch_uid=f"{uid}.{label}.pre")
            post_save.connect(team_owned_post_save, model, dispatch_uid=f"{uid}.{label}.post")
            post_delete.connect(team_owned_post_delete, model, dispatch_uid=f"{uid}.{label}.delete")
