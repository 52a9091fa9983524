from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "labelapp.exports"
    label = "exports"
