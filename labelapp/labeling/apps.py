from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class LabelingConfig(AppConfig):
    name = "labelapp.labeling"
    label = "labeling"

    def ready(self) -> None:
        from labelapp.images.models import Image
        from labelapp.labeling.models import Annotation, ReviewDecision
        from labelapp.labeling.signals import counted_row_changed

        for model in (Annotation, ReviewDecision, Image):
            for name, signal in (("saved", post_save), ("deleted", post_delete)):
                signal.connect(counted_row_changed, sender=model, dispatch_uid=f"counts-{model.__name__}-{name}")
