"""Pictures jobs carried inside their params (data URLs) move into JobUpload files; the
params keep references (media_jobs.uploads). Going back leaves them as files: reading a
job's params for a gateway call turns references into data URLs either way."""

from django.db import migrations


def forwards(apps, schema_editor) -> None:
    from media_jobs.uploads import move_inline_images

    move_inline_images(apps.get_model("media_jobs", "MediaJob"),
                       apps.get_model("media_jobs", "JobUpload"))  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("media_jobs", "0007_job_uploads")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
