from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UsageConfig(AppConfig):
    """usage imports only accounts and gateway: the apps that charge call usage.services
    and register their sweep closers (usage.services.register_closer) themselves."""

    name = "usage"
    verbose_name = _("Usage and budgets")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from accounts.admin_audit import content_viewed
        from usage.audit import log_admin_view
        from usage.models import TeamBudget

        post_save.connect(budget_saved, sender=TeamBudget, dispatch_uid="usage-budget")
        # A site admin opening a member's content in the admin goes into the audit log.
        content_viewed.connect(log_admin_view, dispatch_uid="usage-audit-admin-view")


def budget_saved(sender: Any, *, instance: Any, **kwargs: Any) -> None:
    """A saved budget's limits are copied into this month's counters."""
    from usage import services

    services.apply_budget(instance)
