"""The studio: forms that start jobs, the gallery, a job's page, its card (for live pushes),
the buttons on a card, and the stored files. Every job is loaded through accounts.access; a
job the user may not see is a 404, its files too."""

from __future__ import annotations

import datetime
import mimetypes
import os
import re
from collections.abc import Iterator

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import formats
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from accounts import access
from accounts.http import AuthenticatedHttpRequest
from accounts.models import Membership, User
from chat.models import Conversation
from config.gateway_check import serves
from media_jobs import services
from media_jobs.cards import card_context, jobs_for_cards
from media_jobs.forms import TOOLS, ButtonForm, ImageForm, tool_labels
from media_jobs.models import MediaFile, MediaJob
from media_jobs.providers import adapter_for

# A gallery page (and each "Load more"): tiles are small, a screen holds about this many.
PAGE_SIZE = 30


# The gateway check's family of a tool whose job kind is not its family's name.
TOOL_FAMILIES = {"image": "images", "edit-image": "image_edits"}


def _tools() -> dict[str, object]:
    """The studio's tools (name -> label) of the families the gateway serves (Edit image
    also only once the poller has seen the gateway's edits route: forms.tool_labels)."""
    served = serves()
    return {
        name: label
        for name, label in tool_labels().items()
        if served.get(TOOL_FAMILIES.get(name, str(TOOLS[name].kind)), True)
    }


def _membership(request: AuthenticatedHttpRequest) -> Membership:
    if request.membership is None:
        raise Http404
    return request.membership


# The gallery's filters in words (what its chips send) -> the jobs they keep; the model's own
# kinds and statuses are still taken as they are (older links, the job page's breadcrumbs).
KIND_FILTERS = {
    "images": (MediaJob.Kind.MIDJOURNEY, MediaJob.Kind.IMAGE),
    "music": (MediaJob.Kind.SUNO,),
    "video": (MediaJob.Kind.LUMA,),
}
STATUS_FILTERS = {
    "running": MediaJob.ACTIVE,
    "done": (MediaJob.Status.SUCCEEDED,),
    "failed": (MediaJob.Status.FAILED, MediaJob.Status.CANCELLED),
}


def filtered_jobs(
    user: User, membership: Membership, filters: dict[str, str]
) -> QuerySet[MediaJob]:
    """The team's jobs `user` may see, kept by the gallery's filters (unknown values ignored)."""
    jobs = MediaJob.objects.visible_to(user, membership.team)
    kind, status = filters["kind"], filters["status"]
    if kind in KIND_FILTERS:
        jobs = jobs.filter(kind__in=KIND_FILTERS[kind])
    elif kind in MediaJob.Kind.values:
        jobs = jobs.filter(kind=kind)
    if status in STATUS_FILTERS:
        jobs = jobs.filter(status__in=STATUS_FILTERS[status])
    elif status in MediaJob.Status.values:
        jobs = jobs.filter(status=status)
    if filters["who"] == "mine":
        jobs = jobs.filter(created_by=user)
    elif filters["member"].isdigit():
        jobs = jobs.filter(created_by_id=int(filters["member"]))
    try:
        since = datetime.date.fromisoformat(filters["since"]) if filters["since"] else None
    except ValueError:
        since = None
    if since is not None:
        jobs = jobs.filter(created_at__date__gte=since)
    return jobs


def jobs_for_tiles(queryset: QuerySet[MediaJob]) -> QuerySet[MediaJob]:
    """What a tile shows (its title may name the parent's button; its files): two queries."""
    return queryset.select_related("created_by", "parent").prefetch_related("files")


@login_required
@require_GET
def gallery(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = _membership(request)
    filters = {
        name: request.GET.get(name, "") for name in ("kind", "status", "who", "member", "since")
    }
    jobs = filtered_jobs(request.user, membership, filters)
    page = Paginator(jobs_for_tiles(jobs.order_by("-created_at", "-pk")), PAGE_SIZE)
    page_obj = page.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        **card_context(request.user, membership),
        "page_obj": page_obj,
        "jobs": page_obj.object_list,
        "filters": filters,
        "kind_filters": [
            ("", _("All")),
            ("images", _("Images")),
            ("music", _("Music")),
            ("video", _("Video")),
        ],
        "status_filters": [
            ("", _("All")),
            ("running", _("Running")),
            ("done", _("Done")),
            ("failed", _("Failed")),
        ],
        "who_filters": [("", _("Team")), ("mine", _("Mine"))],
        "query": query.urlencode(),
        "tools": _tools(),
    }
    template = "media_jobs/gallery.html"
    target = request.headers.get("HX-Target", "")
    if request.htmx and target == "job-list":
        template = "media_jobs/gallery.html#job-list"
    elif request.htmx and target.startswith("job-more"):
        template = "media_jobs/gallery.html#tiles"
    return render(request, template, context)


@login_required
@require_GET
def tile(request: AuthenticatedHttpRequest, job_id) -> HttpResponse:
    """A job's tile in the gallery, as the requesting user sees it: what live pushes load."""
    job, _membership = access.get_for_user(
        request.user, jobs_for_tiles(MediaJob.objects.all()), job_id
    )
    return render(request, "media_jobs/_tile.html#tile", {"job": job})


@login_required
@require_GET
def detail(request: AuthenticatedHttpRequest, job_id) -> HttpResponse:
    job, membership = access.get_for_user(
        request.user, jobs_for_cards(request.user, MediaJob.objects.all()), job_id
    )
    lineage: list[MediaJob] = []
    parent_id = job.parent_id
    visible = MediaJob.objects.visible_to(request.user)
    while parent_id and len(lineage) < 50:
        parent = visible.filter(pk=parent_id).first()
        if parent is None:
            break
        lineage.append(parent)
        parent_id = parent.parent_id
    lineage.reverse()
    children = jobs_for_cards(request.user, visible.filter(parent=job)).order_by("created_at")
    context = {
        **card_context(request.user, membership),
        "job": job,
        "lineage": lineage,
        "children": children,
    }
    # The gallery's lightbox loads the same page's body into its <dialog>.
    if request.htmx and request.headers.get("HX-Target") == "lightbox-body":
        return render(request, "media_jobs/_lightbox.html", context)
    return render(request, "media_jobs/detail.html", context)


@login_required
@require_GET
def card(request: AuthenticatedHttpRequest, job_id) -> HttpResponse:
    """The card as the requesting user sees it: what live pushes (hx-get stubs) load."""
    return _card_response(request, job_id)


def _card_response(request: AuthenticatedHttpRequest, job_id) -> HttpResponse:
    job, membership = access.get_for_user(
        request.user, jobs_for_cards(request.user, MediaJob.objects.all()), job_id
    )
    context = {**card_context(request.user, membership), "job": job}
    return render(request, "media_jobs/_card.html#card", context)


def _download_name(media: MediaFile, stored_name: str) -> str:
    """The name a download is saved under: the file's own (from the prompt and kind, by
    MediaFile.download_name), else the stored file's."""
    return getattr(media, "download_name", "") or stored_name


@login_required
@require_GET
def file(
    request: AuthenticatedHttpRequest, job_id, file_id, variant: str = "file"
) -> HttpResponseBase:
    if variant not in ("file", "thumb", "download"):
        raise Http404
    job, _membership = access.get_for_user(request.user, MediaJob, job_id)
    media: MediaFile = access.get_child(job, "files", file_id)
    stored = media.thumbnail if variant == "thumb" and media.thumbnail else media.file
    if not stored:
        raise Http404
    try:
        handle = stored.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    name = os.path.basename(stored.name or "")
    content_type = media.content_type if stored is media.file else None
    content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if variant == "download":
        name = _download_name(media, name)
    size = stored.size
    wanted = _byte_range(request, size)
    response: HttpResponseBase
    if wanted is None:
        response = FileResponse(
            handle, content_type=content_type, as_attachment=variant == "download", filename=name
        )
    elif wanted == ():
        handle.close()
        response = HttpResponse(status=416, content_type=content_type)
        response["Content-Range"] = f"bytes */{size}"
    else:
        start, end = wanted
        response = StreamingHttpResponse(
            _read_range(handle, start, end), status=206, content_type=content_type
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
        if variant == "download":
            response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Accept-Ranges"] = "bytes"
    response["X-Content-Type-Options"] = "nosniff"
    if variant != "download":
        response["Content-Disposition"] = f'inline; filename="{name}"'
    return response


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_CHUNK = 64 * 1024


def _byte_range(request: AuthenticatedHttpRequest, size: int) -> tuple[int, ...] | None:
    """The one byte range asked for (what players send to read a song's length or to seek):
    (start, end) inclusive; () when it starts past the end (416); None for the whole file
    (no Range, several ranges, a malformed one, or an If-Range we do not check)."""
    header = request.headers.get("Range", "").strip()
    match = _RANGE.fullmatch(header)
    if not match or request.headers.get("If-Range") or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:  # the last N bytes
        suffix = int(last)
        return (max(size - suffix, 0), size - 1) if suffix and size else ()
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None
    return (start, end) if start < size else ()


def _read_range(handle, start: int, end: int) -> Iterator[bytes]:
    try:
        handle.seek(start)
        left = end - start + 1
        while left > 0:
            chunk = handle.read(min(_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _created(request: AuthenticatedHttpRequest, job: MediaJob, membership: Membership):
    """The answer to a POST that started a job: its card for htmx, else its page."""
    if request.htmx:
        job = jobs_for_cards(request.user, MediaJob.objects.all()).get(pk=job.pk)
        context = {**card_context(request.user, membership), "job": job}
        return render(request, "media_jobs/_card.html#card", context, status=201)
    return redirect("media_jobs:detail", job.pk)


def _child_conversation(user: User, parent: MediaJob, membership: Membership):
    """A child joins its parent's conversation only if the presser may write there."""
    conversation = parent.conversation
    if conversation is not None and conversation.may_write(user, membership):
        return conversation
    return None


def _writer(request: AuthenticatedHttpRequest, job_id) -> tuple[MediaJob, Membership]:
    job, membership = access.get_for_user(request.user, MediaJob, job_id)
    if not membership.can_write:
        raise PermissionDenied
    return job, membership


@login_required
@require_POST
def press(request: AuthenticatedHttpRequest, job_id) -> HttpResponse:
    """A button on a card: a child job of this one, as the kind's adapter makes it
    (media_jobs.providers: a Midjourney customId offered on the job, with a modal's
    `prompt` and `mask`; our own seed, extend and continue)."""
    job, membership = _writer(request, job_id)
    form = ButtonForm(request.POST)
    if "mask" in form.errors:  # the one field a person fills in: say what is wrong
        return _refused(request, job, ValidationError(list(form.errors["mask"])))
    if not form.is_valid() or job.status != MediaJob.Status.SUCCEEDED:
        return HttpResponse(status=400)
    data = form.cleaned_data
    fields = adapter_for(job.kind).child_params(job, data["custom_id"], data)
    if fields is None:
        return HttpResponse(status=400)
    try:
        child = services.create_job(
            user=request.user,
            membership=membership,
            conversation=_child_conversation(request.user, job, membership),
            parent=job,
            idempotency_key=str(data["idempotency_key"]),
            kind=job.kind,
            **fields,
        )
    except ValidationError as exc:  # over budget, or a model the role may not use
        return _refused(request, job, exc)
    return _created(request, child, membership)


def _refused(request: AuthenticatedHttpRequest, job: MediaJob, exc: ValidationError):
    """A job refused before it reached the gateway: the reason as a flash message on the
    job's page (an htmx request reloads the page to show it)."""
    messages.error(request, " ".join(exc.messages))
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Refresh": "true"})
    return redirect("media_jobs:detail", job.pk)


@login_required
@require_POST
def retry(request: AuthenticatedHttpRequest, job_id) -> HttpResponse:
    """Queue a failed, cancelled or stuck job again, as the same job: a second click
    changes nothing (the job is queued already). A stuck job is still someone's running
    job: only those who may cancel it may retry it."""
    job, membership = access.get_rw_for_user(request.user, MediaJob, job_id)
    if job.is_active and not job.may_cancel(request.user, membership):
        raise PermissionDenied
    try:
        services.retry_job(job)
    except ValidationError as exc:
        return _refused(request, job, exc)
    return (
        _card_response(request, job_id) if request.htmx else redirect("media_jobs:detail", job.pk)
    )


@login_required
@require_POST
def cancel(request: AuthenticatedHttpRequest, job_id) -> HttpResponse:
    """Cancel an active job of any kind (MediaJob.may_cancel: its creator or a team owner):
    it ends at once, refunded; the upstream task is cancelled by the poller where it can."""
    job, membership = access.get_for_user(request.user, MediaJob, job_id)
    if not job.may_cancel(request.user, membership):
        raise PermissionDenied
    if not job.is_active:
        return HttpResponse(status=400)
    services.cancel_job(job)
    return (
        _card_response(request, job_id) if request.htmx else redirect("media_jobs:detail", job.pk)
    )


@login_required
def new(request: AuthenticatedHttpRequest, tool: str = "imagine") -> HttpResponse:
    form_class = TOOLS.get(tool)
    if form_class is None or tool not in tool_labels():
        raise Http404
    membership = _membership(request)
    if not membership.can_write:
        raise PermissionDenied
    conversation = None
    conversation_id = request.GET.get("conversation") or request.POST.get("conversation")
    if conversation_id:
        # The job belongs to the conversation's team, whichever team the page is in.
        conversation, membership = access.get_rw_for_user(
            request.user, Conversation, conversation_id
        )
        if not membership.can_write:
            raise PermissionDenied
    options: dict = {}
    if issubclass(form_class, ImageForm):
        options["options_url"] = f"{request.path}?options=1"
        if request.method == "GET" and request.GET.get("options"):
            return _image_options(request, form_class, options["options_url"])
    if request.method == "POST":
        form = form_class(request.POST, request.FILES, **options)
        if form.is_valid():
            try:
                job = services.create_job(
                    user=request.user,
                    membership=membership,
                    conversation=conversation,
                    **form.job_fields(),
                )
            except ValidationError as exc:  # over budget, or a model the role may not use
                form.add_error(None, exc)
            else:
                if conversation is not None:
                    return redirect(conversation)
                return redirect("media_jobs:detail", job.pk)
    elif request.method == "GET":
        initial = {"prompt": request.GET.get("prompt", "")[:4000]}
        form = form_class(initial=initial, **options)
    else:
        return HttpResponse(status=405)
    context = {
        "form": form,
        "tool": tool,
        "tools": _tools(),
        "conversation": conversation,
        **_price_context(form),
    }
    return render(request, "media_jobs/new.html", context, status=400 if form.errors else 200)


def _price_context(form) -> dict:
    """The price an image form shows before sending (what is reserved when it is sent)."""
    if not isinstance(form, ImageForm):
        return {}
    price = form.price()
    places = max(2, -price.amount.normalize().as_tuple().exponent)
    shown = formats.number_format(price.amount, decimal_pos=places)
    return {"price": price, "price_shown": shown, "currency": settings.USAGE_CURRENCY}


def _image_options(request: AuthenticatedHttpRequest, form_class, options_url: str):
    """The options of an image form for the model, size, quality and count chosen (htmx):
    the choices that model has, and the price of what they show."""
    initial = {name: request.GET.get(name, "") for name in form_class.OPTIONS}
    initial = {name: value for name, value in initial.items() if value}
    form = form_class(initial=initial, options_url=options_url)
    context = {"form": form, **_price_context(form)}
    return render(request, "media_jobs/_image_form.html#options", context)
