from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class TrainingConfig(AppConfig):
    name = "labelapp.training"
    label = "training"

    def ready(self) -> None:
        from labelapp.projects.models import Membership
        from labelapp.training.receivers import membership_changed

        post_save.connect(membership_changed, sender=Membership, dispatch_uid="training-membership-saved")
        post_delete.connect(membership_changed, sender=Membership, dispatch_uid="training-membership-deleted")
