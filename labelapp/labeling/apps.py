from django.apps import AppConfig
from django.core.signals import request_finished
from django.db import close_old_connections
from django.db.models.signals import post_delete, post_save


class LabelingConfig(AppConfig):
    name = "labelapp.labeling"
    label = "labeling"

    def ready(self) -> None:
        from labelapp.images.models import Image
        from labelapp.images.signals import images_labeled
        from labelapp.labeling.models import Annotation, ReviewDecision
        from labelapp.labeling.signals import (
            annotation_saved,
            counted_row_changed,
            counts_refresh_after_response,
            imported_labels_save,
            queue_rank_for_version,
            queue_rank_upcoming_version,
        )
        from labelapp.training.signals import version_publishing, version_ready

        for model in (Annotation, ReviewDecision, Image):
            for name, signal in (("saved", post_save), ("deleted", post_delete)):
                signal.connect(counted_row_changed, sender=model, dispatch_uid=f"counts-{model.__name__}-{name}")
        # the refresh runs before Django closes the request's database connection, and so reuses it instead
        # of opening one that nothing would close in this request's thread (or take one from a pool for good)
        request_finished.disconnect(close_old_connections)
        request_finished.connect(counts_refresh_after_response, dispatch_uid="labeling-counts-refresh-ahead")
        request_finished.connect(close_old_connections)
        post_save.connect(annotation_saved, sender=Annotation, dispatch_uid="training-annotation-saved")
        version_publishing.connect(queue_rank_upcoming_version, dispatch_uid="labeling-queue-order-upcoming")
        version_ready.connect(queue_rank_for_version, dispatch_uid="labeling-queue-order")
        images_labeled.connect(imported_labels_save, dispatch_uid="labeling-imported-labels")
