from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "labelapp.api"
    label = "api"
