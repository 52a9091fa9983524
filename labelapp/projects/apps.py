from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "labelapp.projects"
    label = "projects"
