from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class TrainingConfig(AppConfig):
    name = "labelapp.training"
    label = "training"

    def ready(self) -> None:
        from labelapp.labeling.models import Annotation
        from labelapp.training.signals import annotation_deleted, annotation_saved

        post_save.connect(annotation_saved, sender=Annotation, dispatch_uid="training-annotation-saved")
        post_delete.connect(annotation_deleted, sender=Annotation, dispatch_uid="training-annotation-deleted")
