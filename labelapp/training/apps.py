from django.apps import AppConfig
from django.db.models.signals import post_save


class TrainingConfig(AppConfig):
    name = "labelapp.training"
    label = "training"

    def ready(self) -> None:
        from labelapp.labeling.models import Annotation
        from labelapp.training.signals import annotation_saved

        post_save.connect(annotation_saved, sender=Annotation, dispatch_uid="training-annotation-saved")
