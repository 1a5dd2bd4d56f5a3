"""What the gateway serves, as last checked (config.gateway_check writes and reads it).

The model lives in `config`, the app of project-wide pieces: the answer is about the
installation's gateway, read by every app's pages, and owned by no feature app; `gateway/`
stays a package of HTTP calls with no tables. One row per family, replaced by each check, in
the database so that every process reads the same answer.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class GatewayCheck(models.Model):
    class State(models.TextChoices):
        FOUND = "found", _("Found")
        ABSENT = "absent", _("Absent")
        UNKNOWN = "unknown", _("Unknown")

    family = models.CharField(_("family"), max_length=40, unique=True)
    position = models.PositiveSmallIntegerField(default=0, editable=False)  # the page's order
    state = models.CharField(_("state"), max_length=10, choices=State.choices)
    request = models.CharField(_("request"), max_length=200, blank=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    excerpt = models.CharField(_("answer"), max_length=300, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    checked_at = models.DateTimeField(_("checked at"))

    class Meta:
        ordering = ["position", "family"]
        verbose_name = _("gateway check")
        verbose_name_plural = _("gateway check")

    def __str__(self) -> str:
        return f"{self.family}: {self.state}"
