from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts import access, ratelimit
from accounts.forms import (
    InviteForm,
    LoginForm,
    RoleForm,
    SettingsForm,
    SetupForm,
    SignupForm,
    TeamForm,
    ThemeForm,
    offered_chat_models,
)
from accounts.http import AuthenticatedHttpRequest
from accounts.middleware import FIRST_RUN_CACHE_KEY, SESSION_TEAM_KEY, site_has_users
from accounts.models import Invite, Membership, Team, User

OWNER = Membership.Role.OWNER
ROLE_ORDER = {role: rank for rank, role in enumerate(Membership.Role.values)}
NEW_INVITE_SESSION_KEY = "accounts:new-invite-id"
LAST_OWNER_ERROR = gettext_lazy(
    "A team needs at least one owner. Make someone else an owner first."
)
# The session flag behind the demo notice's close button (read by config.context_processors).
DEMO_NOTICE_DISMISSED = "demo_notice_dismissed"
# Any constant works: PostgreSQL advisory locks are keyed by a number of our choosing.
FIRST_RUN_LOCK_KEY = 0x7061726C


def _switch_team(request: HttpRequest, team: Team) -> None:
    request.session[SESSION_TEAM_KEY] = team.pk


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _lock_first_run() -> None:
    """Serialise first-run submissions inside the caller's transaction. SQLite's
    BEGIN IMMEDIATE already does; PostgreSQL has no row to lock in an empty table."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FIRST_RUN_LOCK_KEY])


@sensitive_post_parameters()
@never_cache
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    if site_has_users():
        raise Http404
    form = SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            _lock_first_run()
            if User.objects.exists():  # another submission won the race
                raise Http404
            user, team = form.create_admin()
        cache.set(FIRST_RUN_CACHE_KEY, True, None)
        auth_login(request, user)
        _switch_team(request, team)
        return redirect("chat:home")
    return render(request, "accounts/setup.html", {"form": form})


@sensitive_post_parameters()
@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    form = LoginForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        auth_login(request, user)
        # The language saved in the user's settings follows them to this browser.
        return apply_language(redirect(_next_url(request)), user.language)
    next_url = request.POST.get("next") or request.GET.get("next", "")
    context = {"form": form, "next": next_url}
    if not form.retry_after:
        return render(request, "accounts/login.html", context)
    # Too many failures: the form again, with a status and header clients and proxies understand.
    response = render(request, "accounts/login.html", context, status=429)
    response["Retry-After"] = str(form.retry_after)
    return response


@login_required
def team(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.team is None:
        return render(request, "accounts/no_team.html")
    team, membership = access.get_team_for_user(request.user, request.team.pk)
    members = sorted(
        team.memberships.select_related("user"),
        key=lambda m: (ROLE_ORDER[m.role], m.user.get_username().casefold()),
    )
    context = {"team": team, "membership": membership, "members": members}
    if membership.is_owner:
        context |= _owner_context(request, team)
    return render(request, "accounts/team.html", context)


def _owner_context(request: HttpRequest, team: Team) -> dict:
    """Pending invites, and the link of one just created (shown once, like an API key)."""
    pending = list(team.invites.usable().select_related("created_by").order_by("-created_at"))
    new_id = request.session.pop(NEW_INVITE_SESSION_KEY, None)
    new_invite = next((invite for invite in pending if invite.pk == new_id), None)
    new_url = None
    if new_invite is not None:
        path = reverse("accounts:invite_accept", args=[new_invite.token])
        new_url = request.build_absolute_uri(path)
    return {
        "invite_form": InviteForm(),
        "pending_invites": pending,
        "new_invite": new_invite,
        "new_invite_url": new_url,
        "roles": Membership.Role.choices,
    }


@login_required
@require_POST
def invite_create(request: AuthenticatedHttpRequest, team_id: int) -> HttpResponse:
    team, _membership = access.get_owned_team_for_user(request.user, team_id)
    form = InviteForm(request.POST)
    if form.is_valid():
        invite = form.save(commit=False)
        invite.team = team
        invite.created_by = request.user
        invite.save()
        request.session[NEW_INVITE_SESSION_KEY] = invite.pk
    else:
        messages.error(request, _("Choose a role for the invite."))
    return redirect("accounts:team")


@login_required
@require_POST
def invite_revoke(request: AuthenticatedHttpRequest, team_id: int, invite_id: int) -> HttpResponse:
    team, _membership = access.get_owned_team_for_user(request.user, team_id)
    invite = access.get_child(team, "invites", invite_id)
    # Revoking ends the invite's life now, so the admin keeps a record of it.
    revoked = team.invites.filter(pk=invite.pk, used_at__isnull=True).update(
        expires_at=timezone.now()
    )
    if revoked:
        messages.success(request, _("Invite revoked."))
    else:
        messages.error(request, _("This invite was already used."))
    return redirect("accounts:team")


@login_required
@require_POST
def team_public_links(request: AuthenticatedHttpRequest, team_id: int) -> HttpResponse:
    """Turn public links of the team's conversations on or off: off stops every link at once
    (they answer 404); on again, the links not revoked work again."""
    team, _membership = access.get_owned_team_for_user(request.user, team_id)
    team.allow_public_links = request.POST.get("allow") == "on"
    team.save(update_fields=["allow_public_links"])
    if team.allow_public_links:
        messages.success(request, _("Public links are on for this team."))
    else:
        messages.success(request, _("Public links are off: the team's links no longer open."))
    return redirect("accounts:team")


def _invite_gone(request: HttpRequest, invite: Invite | None) -> HttpResponse:
    if invite is None:
        reason, status = "invalid", 404
    elif invite.used_at is not None:
        reason, status = "used", 410
    else:
        reason, status = "expired", 410
    return render(request, "accounts/invite_gone.html", {"reason": reason}, status=status)


def _claim_invite(invite: Invite, user: User) -> bool:
    """Mark the invite used by this user, unless someone else already did (single use)."""
    claimed = (
        Invite.objects.filter(pk=invite.pk).usable().update(used_at=timezone.now(), used_by=user)
    )
    return claimed == 1


@sensitive_post_parameters()
@never_cache
@require_http_methods(["GET", "POST"])
def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    invite = access.find_invite(token)
    if invite is None or not invite.is_usable():
        return _invite_gone(request, invite)
    if request.user.is_authenticated:
        return _join_team(request, invite)
    if request.method == "POST" and (wait := ratelimit.signup_retry_after(invite.pk)):
        return _too_many_names(request, invite, wait)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = _signup_with_invite(form, invite)
        if user is None:
            invite.refresh_from_db()
            return _invite_gone(request, invite)
        auth_login(request, user)
        _switch_team(request, invite.team)
        return redirect("chat:home")
    if form.has_error("username", "unique") or form.has_error("username", "look_alike"):
        # The invitee must learn a name is taken; a leaked link must not list the users.
        ratelimit.record_signup_name_refused(invite.pk)
    return render(request, "accounts/invite_accept.html", {"invite": invite, "form": form})


def _too_many_names(request: HttpRequest, invite: Invite, wait: int) -> HttpResponse:
    """The same answer whatever the name: the sign-up has refused too many just now."""
    context = {
        "invite": invite,
        "form": SignupForm(),
        "blocked": _("Too many names were tried with this invite. Try again in a few minutes."),
    }
    response = render(request, "accounts/invite_accept.html", context, status=429)
    response["Retry-After"] = str(wait)
    return response


def _signup_with_invite(form: SignupForm, invite: Invite) -> User | None:
    """Create the account and its membership, or nothing if the invite was just used."""
    with transaction.atomic():
        user = form.save()
        if not _claim_invite(invite, user):
            transaction.set_rollback(True)
            return None
        Membership.objects.create(team=invite.team, user=user, role=invite.role)
    return user


def _join_team(request: HttpRequest, invite: Invite) -> HttpResponse:
    user = cast(User, request.user)
    already = user.memberships.filter(team=invite.team).exists()
    if request.method == "GET":
        context = {"invite": invite, "already_member": already}
        return render(request, "accounts/invite_accept.html", context)
    if already:  # the invite stays unused, so it can still go to someone else
        messages.info(request, _("You are already a member of %(team)s.") % {"team": invite.team})
    else:
        with transaction.atomic():
            if not _claim_invite(invite, user):
                invite.refresh_from_db()
                return _invite_gone(request, invite)
            Membership.objects.create(team=invite.team, user=user, role=invite.role)
        messages.success(request, _("You joined %(team)s.") % {"team": invite.team})
    _switch_team(request, invite.team)
    return redirect("chat:home")


def _locked_owner_ids(team: Team) -> list[int]:
    """Lock the team's owner rows in a stable order, so two owners demoting or removing
    each other at once cannot leave the team without an owner."""
    owners = team.memberships.select_for_update().filter(role=OWNER).order_by("pk")
    return list(owners.values_list("pk", flat=True))


@login_required
@require_POST
def member_role(
    request: AuthenticatedHttpRequest, team_id: int, membership_id: int
) -> HttpResponse:
    team, _membership = access.get_owned_team_for_user(request.user, team_id)
    with transaction.atomic():
        owner_ids = _locked_owner_ids(team)
        target = access.get_child(team, "memberships", membership_id)
        form = RoleForm(request.POST, instance=target)
        if not form.is_valid():
            messages.error(request, _("Choose a valid role."))
        elif owner_ids == [target.pk] and form.cleaned_data["role"] != OWNER:
            messages.error(request, LAST_OWNER_ERROR)
        else:
            form.save()  # accounts.signals tells the member's open tabs
            context = {"user": target.user, "role": target.get_role_display()}
            messages.success(request, _("%(user)s is now: %(role)s.") % context)
    return redirect("accounts:team")


@login_required
@require_http_methods(["GET", "POST"])
def member_remove(
    request: AuthenticatedHttpRequest, team_id: int, membership_id: int
) -> HttpResponse:
    team, _membership = access.get_owned_team_for_user(request.user, team_id)
    target = access.get_child(team, "memberships", membership_id)
    if request.method == "GET":
        return render(request, "accounts/member_remove.html", {"team": team, "target": target})
    with transaction.atomic():
        if _locked_owner_ids(team) == [target.pk]:
            messages.error(request, LAST_OWNER_ERROR)
        else:
            target.delete()  # accounts.signals tells the member's open tabs
            context = {"user": target.user, "team": team}
            messages.success(request, _("%(user)s was removed from %(team)s.") % context)
    return redirect("accounts:team")


@login_required
@require_http_methods(["GET", "POST"])
def team_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            team = form.save()
            Membership.objects.create(team=team, user=request.user, role=OWNER)
        _switch_team(request, team)
        messages.success(request, _("Team %(team)s created.") % {"team": team})
        return redirect("accounts:team")
    return render(request, "accounts/team_create.html", {"form": form})


@login_required
@require_POST
def team_switch(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = access.get_membership(request.user, request.POST.get("team_id"))
    _switch_team(request, membership.team)
    return redirect("chat:home")


def apply_language(response: HttpResponse, language: str) -> HttpResponse:
    """Set (or, for blank, clear) the language cookie as django.views.i18n.set_language does."""
    if language and translation.check_for_language(language):
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,  # type: ignore[arg-type]
        )
    elif not language:
        response.delete_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,  # type: ignore[arg-type]
        )
    return response


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The signed-in user's own settings: no id in the URL, nobody else's to reach."""
    form = SettingsForm(request.POST or None, instance=request.user, models=offered_chat_models())
    if request.method == "POST" and form.is_valid():
        user = form.save()
        if user.language:
            translation.activate(user.language)  # the confirmation in the chosen language
        messages.success(request, _("Settings saved."))
        return apply_language(redirect("accounts:settings"), user.language)
    status = 400 if form.errors else 200
    return render(request, "accounts/settings.html", {"form": form}, status=status)


@login_required
@require_POST
def theme(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The top bar's theme toggle saves the choice here (app.js); 204, or 400 if invalid."""
    form = ThemeForm(request.POST, instance=request.user)
    if not form.is_valid():
        return HttpResponse(status=400)
    form.save()
    return HttpResponse(status=204)


@require_POST
def dismiss_demo_notice(request: HttpRequest) -> HttpResponse:
    """Hide the demo notice for the rest of the session (the banner's close button)."""
    request.session[DEMO_NOTICE_DISMISSED] = True
    if request.htmx:  # type: ignore[attr-defined]
        return HttpResponse("")
    return redirect(_next_url(request))
