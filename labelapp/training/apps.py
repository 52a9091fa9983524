from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "labelapp.training"
    label = "training"
