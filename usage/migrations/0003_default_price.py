"""The site default price ("*") with plausible amounts, so a model or action without a price
of its own is never free by accident. An admin may change it (even to zero: the usage page
then warns). Left alone where a "*" row already exists."""

from decimal import Decimal

from django.db import migrations

# Written out (not imported from usage.models): a migration keeps the values it shipped with.
DEFAULT_PRICE = {
    "prompt_per_1k": Decimal("0.005"),
    "completion_per_1k": Decimal("0.015"),
    "per_action": Decimal("0.10"),
    "per_image": Decimal("0.04"),
    "per_audio_second": Decimal("0.0001"),
    "per_1k_characters": Decimal("0.015"),
}


def add_default(apps, schema_editor):
    Price = apps.get_model("usage", "Price")
    Price.objects.get_or_create(model="*", defaults={**DEFAULT_PRICE, "source": "default"})


def remove_default(apps, schema_editor):
    apps.get_model("usage", "Price").objects.filter(model="*", source="default").delete()


class Migration(migrations.Migration):
    dependencies = [("usage", "0002_ledger_rules")]

    operations = [migrations.RunPython(add_default, remove_default)]
