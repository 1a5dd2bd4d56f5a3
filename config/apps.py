from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """Project-wide pieces that belong to no feature app: process start-up (`startup.py`)
    and the `manage.py serve` command."""

    name = "config"
    verbose_name = "Parlor"
