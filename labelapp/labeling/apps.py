from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labelapp.labeling"
    label = "labeling"
