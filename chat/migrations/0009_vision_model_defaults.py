"""The models that can see images, by name, as gateways commonly list them. The site admin edits
the list (Django admin, Chat > Vision models); the longest matching pattern decides."""

from django.db import migrations

SEES = [
    "gpt-4o*",
    "chatgpt-4o*",
    "gpt-4-vision*",
    "gpt-4-turbo*",
    "gpt-4.1*",
    "gpt-4.5*",
    "gpt-5*",
    "o1",
    "o1-20*",
    "o3",
    "o3-20*",
    "o4-mini*",
    "gpt-4-all",
    "*-all",
    "claude-3*",
    "claude-sonnet-4*",
    "claude-opus-4*",
    "claude-haiku-4*",
    "gemini*",
    "*vision*",
    "*-vl*",
    "glm-4v*",
    "llava*",
    "pixtral*",
]
# Exceptions to the patterns above: same family, no image input.
BLIND = [
    "gpt-4o*-audio*",
    "gpt-4o*-realtime*",
    "gpt-4o*-transcribe*",
    "gpt-4o-mini-tts*",
    "gpt-4o*-search*",
    "gemini*-embedding*",
    "gemini*-tts*",
]


def seed(apps, schema_editor):
    VisionModel = apps.get_model("chat", "VisionModel")
    for pattern in SEES:
        VisionModel.objects.get_or_create(pattern=pattern, defaults={"sees": True})
    for pattern in BLIND:
        VisionModel.objects.get_or_create(pattern=pattern, defaults={"sees": False})


def unseed(apps, schema_editor):
    apps.get_model("chat", "VisionModel").objects.filter(pattern__in=SEES + BLIND).delete()


class Migration(migrations.Migration):
    dependencies = [("chat", "0008_vision_model")]

    operations = [migrations.RunPython(seed, unseed)]
