from django.db import migrations, models
from django.db.models import F


def finished_existing(apps, schema_editor):
    """Versions that exist already were all made current once (leftovers were deleted by every round); their
    earlier rounds' times are unknown, so their total is their own round's."""
    apps.get_model("training", "ModelVersion").objects.update(finished_at=F("created_at"), total_seconds=F("seconds"))


class Migration(migrations.Migration):

    dependencies = [
        ('training', '0002_labels_until'),
    ]

    operations = [
        migrations.AddField(
            model_name='modelversion',
            name='finished_at',
            field=models.DateTimeField(blank=True, help_text="When the round made it current; a version without it is a dead round's leftover.", null=True),
        ),
        migrations.AlterField(
            model_name='modelversion',
            name='seconds',
            field=models.FloatField(default=0.0, help_text='Training time of the round that made it.'),
        ),
        migrations.AddField(
            model_name='modelversion',
            name='total_seconds',
            field=models.FloatField(default=0.0, help_text='Training time since the first round (like steps).'),
        ),
        migrations.AddField(
            model_name='modelversion',
            name='pinned',
            field=models.BooleanField(default=False, help_text='Its bulky data is never pruned (set by owners and by exports).'),
        ),
        migrations.AddField(
            model_name='modelversion',
            name='pruned_at',
            field=models.DateTimeField(blank=True, help_text='When its predictions, checkpoint and embeddings were deleted (the row stays).', null=True),
        ),
        migrations.RunPython(finished_existing, migrations.RunPython.noop),
    ]
