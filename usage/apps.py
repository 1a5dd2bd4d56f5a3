from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = _("Usage and budgets")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from chat.billing import set_meter
        from chat.signals import content_viewed, reply_ended
        from usage import audit, hooks
        from usage.models import TeamBudget

        set_meter(hooks.UsageMeter())
        reply_ended.connect(hooks.refund_ended_reply, dispatch_uid="usage-refund-ended-reply")
        post_save.connect(hooks.budget_saved, sender=TeamBudget, dispatch_uid="usage-budget")
        content_viewed.connect(audit.log_admin_view, dispatch_uid="usage-audit-admin-view")
